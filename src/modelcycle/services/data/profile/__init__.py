"""Exploratory profile of a polars DataFrame: statistics, charts, correlations, warnings.

``compute_profile(frame)`` returns a ``Profile``; ``Profile.to_html(path)`` writes a
self-contained report that works offline (plotly.js inline), ``Profile.to_json()`` its JSON
form, and ``Profile.from_dict`` reloads a stored one. Every statistic is computed by polars
over whole columns; a sample, when ``max_rows`` asks for one, is stated in the report.
"""

from __future__ import annotations

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.services.data.profile._compute import compute_profile
from modelcycle.services.data.profile._model import (
    ColumnProfile,
    Correlations,
    DatetimeStats,
    DuplicateRow,
    Duplicates,
    Histogram,
    Matrix,
    NumericStats,
    Overview,
    Profile,
    ProfileWarning,
    TextStats,
    ValueCount,
    WarningKind,
)

__all__ = [
    "ColumnKind",
    "ColumnProfile",
    "Correlations",
    "DatetimeStats",
    "DuplicateRow",
    "Duplicates",
    "Histogram",
    "Matrix",
    "NumericStats",
    "Overview",
    "Profile",
    "ProfileWarning",
    "TextStats",
    "ValueCount",
    "WarningKind",
    "compute_profile",
]
