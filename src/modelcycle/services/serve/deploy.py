"""Deployment artefacts for one model version: a Dockerfile and a Kubernetes manifest.

The image installs ModelCycle with the ``serve`` extra and the version's pinned requirements,
runs as a non-root user, and serves the reference with ``modelcycle serve``; the store comes
from ``MODELCYCLE_URI`` (and ``MODELCYCLE_ARTIFACTS``) at run time, so one image serves any
store. The manifest holds a Deployment (readiness on ``/ready``, liveness on ``/health``,
resources, Prometheus scrape annotations, the store settings from a Secret), a Service and a
HorizontalPodAutoscaler. Building the image needs a Docker engine; nothing here runs one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from modelcycle._version import __version__

if TYPE_CHECKING:
    from modelcycle.core.entities.model import ModelVersion

PORT = 8080
USER_ID = 10001
PYTHON_IMAGE = "python:3.11-slim"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a container listens on its own network namespace


@dataclass(frozen=True, slots=True)
class Artefacts:
    """The files written and the names they use."""

    dockerfile: Path
    manifest: Path
    app_name: str
    image: str


def app_name(version: ModelVersion) -> str:
    """A DNS-1123 name for the version's Kubernetes objects, e.g. ``churn-v3``."""
    base = re.sub(r"[^a-z0-9-]+", "-", version.name.lower()).strip("-")[:50] or "model"
    return f"{base}-v{version.version}"


def dockerfile(version: ModelVersion, ref: str) -> str:
    """The Dockerfile serving ``ref`` (the version's requirements pinned)."""
    pins = " ".join(f'"{r}"' for r in version.model.requirements)
    return f"""# Serves {ref} ({version.ref}, sha256 {version.model.digest[:12]}).
# Build: docker build -t {app_name(version)} .   Run with MODELCYCLE_URI set to the store.
FROM {PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN pip install "modelcycle[serve,postgres,s3]=={__version__}" {pins}
RUN useradd --create-home --uid {USER_ID} modelcycle
USER {USER_ID}
WORKDIR /home/modelcycle
EXPOSE {PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \\
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:{PORT}/health', timeout=2)"
CMD ["modelcycle", "serve", "{ref}", "--project", "{version.project}", \\
     "--host", "{ALL_INTERFACES}", "--port", "{PORT}"]
"""


def manifest(version: ModelVersion, ref: str, image: str, *, replicas: int = 2) -> str:
    """The Kubernetes Deployment, Service and HorizontalPodAutoscaler, as one YAML stream."""
    name = app_name(version)
    labels = {
        "app": name,
        "modelcycle/model": version.name,
        "modelcycle/version": str(version.version),
    }
    probe = {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 10}
    ready = {"httpGet": {"path": "/ready", "port": PORT}, "periodSeconds": 5}
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": USER_ID},
                    "containers": [
                        {
                            "name": "model",
                            "image": image,
                            "args": [
                                "modelcycle",
                                "serve",
                                ref,
                                "--project",
                                version.project,
                                "--host",
                                ALL_INTERFACES,
                                "--port",
                                str(PORT),
                            ],
                            "ports": [{"containerPort": PORT, "name": "http"}],
                            "envFrom": [{"secretRef": {"name": "modelcycle-store"}}],
                            "readinessProbe": {**ready, "initialDelaySeconds": 2},
                            "livenessProbe": {**probe, "initialDelaySeconds": 10},
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"app": name},
            "ports": [{"port": 80, "targetPort": PORT, "name": "http"}],
        },
    }
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": replicas,
            "maxReplicas": max(replicas * 5, 10),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    head = (
        f"# {ref} ({version.ref}). The Secret 'modelcycle-store' holds MODELCYCLE_URI "
        "(and MODELCYCLE_ARTIFACTS).\n"
    )
    return head + yaml.safe_dump_all([deployment, service, autoscaler], sort_keys=False)


def write_artefacts(
    version: ModelVersion, ref: str, out: str | Path, *, image: str | None = None
) -> Artefacts:
    """Write ``Dockerfile`` and ``kubernetes.yaml`` for ``ref`` into the folder ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = image or f"{app_name(version)}:latest"
    docker_path = folder / "Dockerfile"
    manifest_path = folder / "kubernetes.yaml"
    _write(docker_path, dockerfile(version, ref))
    _write(manifest_path, manifest(version, ref, chosen))
    return Artefacts(docker_path, manifest_path, app_name(version), chosen)


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
