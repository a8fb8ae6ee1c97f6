"""The self-contained HTML report: one Jinja2 template, plotly.js inline, figures as JSON."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.services.data.profile._figures import profile_figures

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import jinja2

    from modelcycle.services.data.profile._model import ColumnProfile, Profile

_TEMPLATES = Path(__file__).parent / "templates"
NONE_MARK = "\N{EN DASH}"


def report_environment(
    templates: Path, filters: Mapping[str, Callable[..., Any]] | None = None
) -> jinja2.Environment:
    """The Jinja2 setup every self-contained report shares: autoescape, ``num``/``pct`` filters.

    Args:
        templates: The folder of the report's templates.
        filters: More filters, by name.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt
    env.filters["pct"] = pct
    env.filters.update(filters or {})
    return env


@functools.cache
def plotly_js() -> str:
    """plotly.js from the installed plotly package, to inline once per report."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@functools.cache
def _environment() -> jinja2.Environment:
    return report_environment(_TEMPLATES, {"size": size})


def fmt(value: Any) -> str:
    """A number for people: thousands separators, four significant digits, a dash for none."""
    if value is None:
        return NONE_MARK
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.4g}" if 1e-4 <= abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal."""
    if value is None:
        return NONE_MARK
    if 0 < value < 0.001:
        return "< 0.1%"
    return f"{value:.1%}"


def size(n: int) -> str:
    """A byte count in binary units."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TiB"  # pragma: no cover - the loop always returns


def script_json(data: Any) -> str:
    """JSON safe to embed in a ``<script>`` element: no ``<`` can close it."""
    import orjson

    return orjson.dumps(data).decode().replace("<", "\\u003c")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE_MARK
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{int(days)} d" if days else "", f"{int(hours)} h" if hours else ""]
    parts += [f"{int(minutes)} min" if minutes else "", f"{secs:g} s" if secs else ""]
    return " ".join(p for p in parts if p) or "0 s"


def column_rows(c: ColumnProfile) -> list[tuple[str, str]]:
    """The statistics table of a column: (label, formatted value)."""
    rows = [
        ("Present", fmt(c.count)),
        ("Missing", f"{fmt(c.missing)} ({pct(c.missing_share)})"),
        ("Distinct", f"{fmt(c.distinct)} ({pct(c.distinct_share)})"),
        ("Memory", size(c.memory_bytes)),
    ]
    if c.numeric is not None:
        n = c.numeric
        rows += [
            (label, fmt(getattr(n, key)))
            for label, key in (
                ("Mean", "mean"), ("Std", "std"), ("Min", "min"), ("5 %", "p5"),
                ("25 %", "p25"), ("Median", "p50"), ("75 %", "p75"), ("95 %", "p95"),
                ("Max", "max"), ("Zeros", "zeros"), ("Negatives", "negatives"),
                ("Infinite", "infinite"), ("Skewness", "skewness"), ("Kurtosis", "kurtosis"),
            )
        ]  # fmt: skip
    if c.datetime is not None:
        d = c.datetime
        rows += [
            ("Min", d.min or NONE_MARK),
            ("Max", d.max or NONE_MARK),
            ("Range", _duration(d.range_seconds)),
        ]
    if c.text is not None:
        t = c.text
        rows += [
            ("Min length", fmt(t.min_length)),
            ("Mean length", fmt(t.mean_length)),
            ("Median length", fmt(t.median_length)),
            ("Max length", fmt(t.max_length)),
        ]
    return rows


def render_html(profile: Profile) -> str:
    """The report of ``profile`` as one HTML document."""
    ids = {name: f"col-{i}" for i, name in enumerate(profile.columns)}
    figures = profile_figures(profile, ids)
    columns = []
    for name, c in profile.columns.items():
        figs = [f"{ids[name]}-{role}" for role in ("hist", "top")]
        present = [f for f in figs if f in figures]
        columns.append({"id": ids[name], "p": c, "rows": column_rows(c), "figs": present})
    dup_columns = list(profile.columns)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            profile=profile,
            columns=columns,
            figures_json=script_json(figures),
            figure_ids=set(figures),
            dup_columns=dup_columns,
            plotly_js=plotly_js(),
        )
    )


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise
