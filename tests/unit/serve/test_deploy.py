"""``modelcycle deploy build``: the Dockerfile and Kubernetes manifest, parsed and checked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli.app import app
from modelcycle.sdk import session

if TYPE_CHECKING:
    from pathlib import Path


def test_deploy_build_writes_a_dockerfile_and_a_manifest(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    mc.configure(store)
    mc.set_project("bc")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with mc.start_run() as run:
        logged = mc.log_model(LogisticRegression(max_iter=5000).fit(X, y), input_example=X.head(5))
    mc.models.register(run, "Churn_Model")
    session.configure()
    out = tmp_path / "deploy"
    result = CliRunner().invoke(
        app,
        [
            "--uri",
            store,
            "deploy",
            "build",
            "Churn_Model@1",
            "--out",
            str(out),
            "-p",
            "bc",
            "--image",
            "registry.local/churn:1",
            "--json",
        ],
        env={"NO_COLOR": "1", "MODELCYCLE_URI": None},
    )
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert written["image"] == "registry.local/churn:1"

    dockerfile = (out / "Dockerfile").read_text()
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("FROM python:3.11")
    install = next(line for line in lines if line.startswith("RUN pip install"))
    for requirement in logged.requirements:
        assert f'"{requirement}"' in install
    assert "modelcycle[serve" in install
    user = next(line for line in lines if line.startswith("USER "))
    assert user != "USER root"
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/health" in dockerfile
    assert '"serve", "Churn_Model@1"' in dockerfile

    deployment, service, autoscaler = list(
        yaml.safe_load_all((out / "kubernetes.yaml").read_text())
    )
    assert deployment["kind"] == "Deployment"
    assert deployment["metadata"]["name"] == "churn-model-v1"
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "registry.local/churn:1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert service["kind"] == "Service"
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["containerPort"]
    assert autoscaler["kind"] == "HorizontalPodAutoscaler"
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "churn-model-v1"
