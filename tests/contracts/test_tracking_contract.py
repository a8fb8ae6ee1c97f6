"""The TrackingService contract on every metadata backend (see ``tracking_location``)."""

from __future__ import annotations

from modelcycle.testing.store_contract import TrackingServiceContract


class TestLocalTrackingService(TrackingServiceContract):
    """``LocalTrackingService`` over SQLite and PostgreSQL."""
