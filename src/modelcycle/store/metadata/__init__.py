"""The metadata store: one SQL implementation, SQLite and PostgreSQL dialects."""

from __future__ import annotations

from modelcycle.store.metadata._engine import create_store_engine
from modelcycle.store.metadata._unit_of_work import UnitOfWork, translate_errors
from modelcycle.store.metadata.alerts import (
    Alert,
    AlertKind,
    AlertRepository,
    AlertRule,
    AlertState,
    DeliveryStatus,
)
from modelcycle.store.metadata.datasets import DatasetRepository, NewVersion, StoredProfile
from modelcycle.store.metadata.feedback import Feedback, FeedbackRepository, FeedbackWrite
from modelcycle.store.metadata.logged_models import LoggedModelRepository, StoredEvaluation
from modelcycle.store.metadata.monitor_reports import (
    MonitorReport,
    MonitorReportRepository,
    SeriesPoint,
)
from modelcycle.store.metadata.predictions import PredictionRepository, PredictionSegment
from modelcycle.store.metadata.projects import ProjectRepository
from modelcycle.store.metadata.registry import RegisteredModel, RegistryEvent, RegistryRepository
from modelcycle.store.metadata.runs import LiveRun, NewRun, RunRepository
from modelcycle.store.metadata.schema import (
    HEAD_REVISION,
    current_revision,
    ensure_current,
    upgrade,
)


class SqlMetadataStore:
    """The repositories of one database, sharing one engine."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        if create:
            with translate_errors(self.engine):
                ensure_current(self.engine)
        self.uow = UnitOfWork(self.engine)
        self.projects = ProjectRepository(self.uow)
        self.runs = RunRepository(self.uow)
        self.datasets = DatasetRepository(self.uow)
        self.logged_models = LoggedModelRepository(self.uow)
        self.registry = RegistryRepository(self.uow)
        self.predictions = PredictionRepository(self.uow)
        self.feedback = FeedbackRepository(self.uow)
        self.monitor_reports = MonitorReportRepository(self.uow)
        self.alerts = AlertRepository(self.uow)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()


def open_metadata_store(url: str) -> SqlMetadataStore:
    """Open the store at ``url``, creating the schema in an empty database.

    Raises:
        SchemaOutdated: the store was written by an older revision (run ``modelcycle db
            upgrade``) or a newer ModelCycle.
        StoreError: the database cannot be reached or holds foreign tables.
    """
    return SqlMetadataStore(url)


__all__ = [
    "HEAD_REVISION",
    "Alert",
    "AlertKind",
    "AlertRule",
    "AlertState",
    "DeliveryStatus",
    "Feedback",
    "FeedbackWrite",
    "LiveRun",
    "MonitorReport",
    "NewRun",
    "NewVersion",
    "PredictionSegment",
    "RegisteredModel",
    "RegistryEvent",
    "SeriesPoint",
    "SqlMetadataStore",
    "StoredEvaluation",
    "StoredProfile",
    "create_store_engine",
    "current_revision",
    "open_metadata_store",
    "upgrade",
]
