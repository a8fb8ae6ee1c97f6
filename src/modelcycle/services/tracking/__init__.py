"""Experiment tracking: projects, runs, params, metrics, tags, artifacts, inputs."""

from modelcycle.services.tracking.buffer import RunBuffer
from modelcycle.services.tracking.runs import LocalTrackingService

__all__ = ["LocalTrackingService", "RunBuffer"]
