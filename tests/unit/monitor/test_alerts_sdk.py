"""The SDK's alert calls in the current project of a real folder store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.unit.monitor.test_alerts import T0, register

import modelcycle as mc
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.sdk import alerts as sdk_alerts
from modelcycle.sdk import session
from modelcycle.services.monitor.alerts import StateChange, evaluate_alerts
from modelcycle.store.metadata import AlertKind, AlertState

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from modelcycle.core.entities.model import ModelVersion


@pytest.fixture
def version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelVersion]:
    monkeypatch.setenv("MODELCYCLE_USER", "sdk-user")
    mc.configure(str(tmp_path / "store"))
    mc.set_project("shop", task="classification", target="y", metric="roc_auc")
    yield register(session.get_session().metadata, project="shop")
    session.configure()


def test_rules_are_added_listed_and_their_alerts_read(version: ModelVersion) -> None:
    rule = sdk_alerts.add_alert_rule(
        "churn", "drift_share", 0.3, webhook="https://hooks.example.com/x"
    )
    assert (rule.kind, rule.threshold, rule.created_by) == (AlertKind.DRIFT_SHARE, 0.3, "sdk-user")
    drop = sdk_alerts.add_alert_rule("churn", AlertKind.METRIC_DROP, 0.05, metric="f1")
    assert [r.id for r in sdk_alerts.alert_rules()] == [rule.id, drop.id]
    assert sdk_alerts.alert_rules("fraud") == []
    metadata = session.get_session().metadata
    outcomes = evaluate_alerts(
        metadata,
        project_id="shop",
        model_name="churn",
        model_version_id=version.id,
        report_id=None,
        values={"drift.share": 0.1, "metric_drop.f1": 0.2},
        at_ms=T0,
        deliver=False,
    )
    assert [o.change for o in outcomes] == [StateChange.OK, StateChange.OPENED]
    [alert] = sdk_alerts.alerts("churn", state="firing")
    assert (alert.rule_id, alert.value, alert.state) == (drop.id, 0.2, AlertState.FIRING)
    assert sdk_alerts.alerts(state=AlertState.RESOLVED) == []
    assert sdk_alerts.set_alert_rule_enabled(drop.id, False).enabled is False
    sdk_alerts.remove_alert_rule(drop.id)
    assert sdk_alerts.alerts() == []
    with pytest.raises(NotFound, match="no alert rule with id"):
        sdk_alerts.remove_alert_rule(drop.id)


def test_bad_rules_are_refused(version: ModelVersion) -> None:
    with pytest.raises(InvalidInput, match="must be an http:// or https:// URL"):
        sdk_alerts.add_alert_rule("churn", "drift_share", 0.3, webhook="smtp://mail")
    with pytest.raises(NotFound, match="no model 'fraud' is registered in project 'shop'"):
        sdk_alerts.add_alert_rule("fraud", "drift_share", 0.3)
    assert sdk_alerts.alert_rules() == []
    mc.set_project("other")
    with pytest.raises(NotFound, match="no model 'churn' is registered in project 'other'"):
        sdk_alerts.add_alert_rule("churn", "drift_share", 0.3)
