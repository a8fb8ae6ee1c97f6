from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelcycle.core.errors import InvalidInput
from modelcycle.core.paths import check_uri, confine, normalize_artifact_name

# Pieces that hostile names are made of; joined at random they reach the interesting branches
# far more often than uniform text does.
FRAGMENTS = [
    "..", ".", "/", "\\", ";", "%", "%2e", "%2E", "%2f", "%5c", "%25", "%252e", "%252f", "2e",
    "25", "%00", "%c0%ae", "#", "?", "~", "C:", "c", ":", "file:", "a", "b", " ", "\uff0e",
    "\u2025", "\x00", "\n",
]  # fmt: skip
hostile_names = st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)
any_names = st.one_of(st.text(), hostile_names)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts").resolve()


def _normalise(name: str) -> str | None:
    try:
        return normalize_artifact_name(name)
    except InvalidInput:
        return None


@given(name=any_names)
def test_a_normalised_name_never_escapes_the_root(root: Path, name: str) -> None:
    canonical = _normalise(name)
    if canonical is None:
        return
    target = confine(root, canonical)
    assert target.is_relative_to(root)
    assert target != root
    assert target == root.joinpath(*canonical.split("/"))


@given(name=any_names)
def test_normalisation_is_idempotent(name: str) -> None:
    canonical = _normalise(name)
    if canonical is not None:
        assert normalize_artifact_name(canonical) == canonical


@given(name=any_names)
def test_a_normalised_name_is_plain_relative_posix(name: str) -> None:
    canonical = _normalise(name)
    if canonical is None:
        return
    segments = canonical.split("/")
    assert all(segment not in ("", ".", "..") for segment in segments)
    assert "\\" not in canonical
    assert "\x00" not in canonical


@given(name=any_names)
def test_confine_agrees_with_normalise(root: Path, name: str) -> None:
    canonical = _normalise(name)
    if canonical is None:
        with pytest.raises(InvalidInput, match=r"^artifact name"):
            confine(root, name)
    else:
        assert confine(root, name) == confine(root, canonical)


@given(uri=st.one_of(st.text(), hostile_names.map(lambda tail: "s3://bucket/" + tail)))
def test_check_uri_returns_the_uri_or_raises_invalid_input(uri: str) -> None:
    try:
        result = check_uri(uri)
    except InvalidInput:
        return
    assert result is uri
