"""``POST /feedback`` mounted on a small Starlette app, served by uvicorn on loopback."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from tests.unit.serve.apps import uvicorn_on_loopback

from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.services.monitor.feedback_route import feedback_route
from modelcycle.store.artifacts import ArtifactStore, open_artifact_store
from modelcycle.store.metadata import SqlMetadataStore, open_metadata_store
from modelcycle.store.predictions import PredictionLogWriter

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

uvicorn = pytest.importorskip("uvicorn")
BASE_MS = 1_800_000_000_000
V1 = "1" * 32


def _id_at(at: int) -> str:
    return f"{at:012x}{os.urandom(10).hex()}"


class Server:
    """The route served on a free loopback port, over stores with logged predictions."""

    def __init__(self, port: int, metadata: SqlMetadataStore, ids: list[str]) -> None:
        self.port = port
        self.metadata = metadata
        self.ids = ids

    def post(self, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/feedback",
            data=data,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    from starlette.applications import Starlette

    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'mc.db'}")
    artifacts: ArtifactStore = open_artifact_store(str(tmp_path / "artifacts"))
    records = [
        PredictionRecord(_id_at(BASE_MS + i), BASE_MS + i, V1, 1.0, {"x": i}, {"prediction": i % 2})
        for i in range(20)
    ]
    with PredictionLogWriter(metadata, artifacts) as writer:
        writer.submit_many(records)
    app = Starlette(routes=[feedback_route(metadata, artifacts, actor="endpoint", max_bytes=4096)])
    with uvicorn_on_loopback(app) as port:
        yield Server(port, metadata, [r.id for r in records])
    metadata.close()


def test_one_label_is_stored_then_relabelled(server: Server) -> None:
    target = server.ids[3]
    status, body = server.post({"prediction_id": target, "label": 1})
    assert (status, body["recorded"], body["relabelled"]) == (200, 1, 0)
    status, body = server.post({"prediction_id": target, "label": "yes"})
    assert (status, body["recorded"], body["relabelled"]) == (200, 1, 1)
    stored = server.metadata.feedback.get(target)
    assert (stored.label, stored.source, stored.actor, stored.revision) == (
        "yes",
        "http",
        "endpoint",
        2,
    )


def test_an_unknown_id_is_a_404_naming_it(server: Server) -> None:
    unknown = _id_at(BASE_MS + 5)
    status, body = server.post({"prediction_id": unknown, "label": 1})
    assert status == 404
    assert body["code"] == "not_found"
    assert unknown in body["detail"]
    assert server.metadata.feedback.count() == 0


def test_many_labels_answer_200_207_or_404_with_counts(server: Server) -> None:
    ids = server.ids
    status, body = server.post({"items": [{"prediction_id": i, "label": 0} for i in ids[:5]]})
    assert (status, body["recorded"], body["unknown"]) == (200, 5, 0)
    unknown = _id_at(BASE_MS + 7)
    items = [
        {"prediction_id": ids[5], "label": [1, 2]},
        {"prediction_id": ids[6], "label": {"a": 1}},
        {"prediction_id": unknown, "label": 1},
        {"prediction_id": 42, "label": 1},
        {"prediction_id": ids[7]},
        {"prediction_id": ids[0], "label": 1},
    ]
    status, body = server.post({"items": items})
    assert status == 207
    assert (body["received"], body["recorded"], body["relabelled"]) == (6, 3, 1)
    assert (body["unknown"], body["unknown_ids"], body["invalid"]) == (1, [unknown], 2)
    assert body["invalid_rows"][0] == "row 3: prediction id 42 is not a 32-character hex id"
    assert server.metadata.feedback.get(ids[5]).label == [1, 2]
    assert server.metadata.feedback.get(ids[6]).label == {"a": 1}
    assert server.metadata.feedback.get(ids[0]).label == 1
    status, body = server.post({"items": [{"prediction_id": unknown, "label": 1}]})
    assert (status, body["recorded"], body["code"]) == (404, 0, "not_found")
    assert unknown in body["detail"]


@pytest.mark.parametrize(
    ("body", "raw", "status", "detail"),
    [
        (None, b"{not json", 400, "the body is not JSON"),
        (None, b"", 400, "the body is not JSON"),
        (None, b"x" * 5000, 413, "the body is over 4096 bytes"),
        ([1, 2], None, 422, 'the body must be {"prediction_id"'),
        ({"label": 1}, None, 422, "the body lacks prediction_id"),
        ({"prediction_id": 7, "label": 1}, None, 422, "prediction_id 7 must be a string"),
        ({"prediction_id": "abc", "label": 1}, None, 422, "'abc' is not a 32-character hex id"),
        ({"prediction_id": "a" * 32, "label": None}, None, 422, "label is None"),
        ({"items": []}, None, 422, "items must be a non-empty list"),
        ({"items": [1]}, None, 422, r"items[0] is not an object"),
        ({"items": [{"prediction_id": "x", "label": 1}]}, None, 422, "no item is valid"),
    ],
)
def test_a_callers_mistake_is_a_4xx_with_a_detail(
    server: Server, body: Any, raw: bytes | None, status: int, detail: str
) -> None:
    got, answer = server.post(body, raw)
    assert got == status
    assert detail in answer["detail"]
    assert server.metadata.feedback.count() == 0


def test_a_store_that_fails_is_a_503(server: Server, tmp_path: Path) -> None:
    (tmp_path / "artifacts").rename(tmp_path / "moved")  # the segments are gone
    status, body = server.post({"prediction_id": server.ids[0], "label": 1})
    assert status == 503
    assert body["code"] == "store_error"
    assert "names a segment the artifact store does not hold" in body["detail"]
    assert server.metadata.feedback.count() == 0
