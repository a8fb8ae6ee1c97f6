"""Reliability of ``modelcycle serve`` on loopback: bad bodies under load, and a SIGKILL."""

from __future__ import annotations

import http.client
import json
import signal
import time
from threading import Thread
from typing import TYPE_CHECKING, Any

import pytest
from tests.integration.test_serve_workers import (
    Answer,
    ServeProcess,
    logged_ids,
    make_store,
    one_row,
    send,
)

import modelcycle as mc
from modelcycle.sdk import session
from modelcycle.store.predictions import find_prediction, read_predictions

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("uvicorn")


@pytest.fixture
def store(tmp_path: Path) -> str:
    return make_store(tmp_path / "store")


def _cases() -> list[tuple[str, str, str, bytes | None, dict[str, str], int]]:
    """(name, method, path, body, headers, expected status)."""
    row = one_row()
    good = json.dumps(row).encode()
    first = next(iter(row))
    js = {"Content-Type": "application/json"}
    return [
        ("one row", "POST", "/predict", good, js, 200),
        ("three rows", "POST", "/predict", json.dumps([row] * 3).encode(), js, 200),
        (
            "mlflow split",
            "POST",
            "/invocations",
            json.dumps(
                {"dataframe_split": {"columns": list(row), "data": [list(row.values())]}}
            ).encode(),
            js,
            200,
        ),
        ("malformed JSON", "POST", "/predict", good[:-7], js, 400),
        ("empty body", "POST", "/predict", b"", js, 400),
        ("not UTF-8", "POST", "/predict", b'{"mean radius": "\xff\xfe"}', js, 400),
        ("huge number", "POST", "/predict", good.replace(b"17.99", b"1e999", 1), js, 400),
        ("a scalar", "POST", "/predict", b"42", js, 400),
        (
            "wrong column",
            "POST",
            "/predict",
            json.dumps({("nope" if k == first else k): v for k, v in row.items()}).encode(),
            js,
            422,
        ),
        (
            "missing column",
            "POST",
            "/predict",
            json.dumps({k: v for k, v in row.items() if k != first}).encode(),
            js,
            422,
        ),
        ("wrong type", "POST", "/predict", json.dumps({**row, first: "abc"}).encode(), js, 422),
        ("unknown route", "POST", "/nope", good, js, 404),
        ("wrong method", "GET", "/predict", None, {}, 405),
        ("oversize body", "POST", "/predict", b"[" + b" " * (2 * 1024 * 1024) + b"]", js, 413),
    ]


def _hammer(server: ServeProcess, per_thread: int, threads: int) -> list[tuple[str, int, Answer]]:
    """Every case in turn from ``threads`` keep-alive clients; (case, expected, answer)."""
    cases = _cases()
    results: list[tuple[str, int, Answer]] = []
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            for n in range(per_thread):
                name, method, path, body, headers, expected = cases[(offset + n) % len(cases)]
                try:
                    answer = send(connection, method, path, body, headers)
                except (http.client.HTTPException, ConnectionError):
                    connection.close()  # the server may close after an error; reconnect once
                    answer = send(connection, method, path, body, headers)
                results.append((name, expected, answer))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            connection.close()

    pool = [Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not failures, failures
    return results


@pytest.mark.slow
def test_a_bounded_load_with_bad_bodies_gets_no_5xx(store: str, tmp_path: Path) -> None:
    server = ServeProcess(store, tmp_path / "serve.log", "--max-body-mb", "1")
    try:
        server.wait_ready()
        results = _hammer(server, per_thread=350, threads=8)
        assert len(results) == 2800
        wrong = [(name, expected, a[0], a[2]) for name, expected, a in results if a[0] != expected]
        assert not wrong, wrong[:5]
        good = [answer for _, expected, answer in results if expected == 200]
        assert len(good) > 500
        for _, headers, body in good:
            assert body["ids"]
            assert len(body["ids"]) == len(body["predictions"])
            assert headers["x-prediction-id"].split(",") == body["ids"]
            assert body["model"] == "bc@1"
        statuses = server.metric("modelcycle_requests_total")
        assert not [labels for labels in statuses if 'status="5' in labels]
        assert server.call("GET", "/ready")[0] == 200
        assert server.stop() in (0, -signal.SIGTERM)
    finally:
        server.stop()
    errors = [line for line in server.lines() if line["level"] in ("error", "critical")]
    assert not errors
    ids = [i for _, _, body in good for i in body["ids"]]
    assert logged_ids(store, ids) == set(ids)


def _wait_logged(store: str, ids: list[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while logged_ids(store, ids) != set(ids):
        assert time.monotonic() < deadline, "the prediction log was not flushed in time"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_sigkilled_server_restarts_with_every_flushed_prediction_readable(
    store: str, tmp_path: Path
) -> None:
    body = json.dumps([one_row()] * 2).encode()
    server = ServeProcess(store, tmp_path / "first.log", "--flush-seconds", "0.3")
    try:
        server.wait_ready()
        flushed = [i for _ in range(30) for i in server.call("POST", "/predict", body)[2]["ids"]]
        _wait_logged(store, flushed)
        unflushed = [i for _ in range(10) for i in server.call("POST", "/predict", body)[2]["ids"]]
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        server.stop(signal.SIGKILL)

    again = ServeProcess(store, tmp_path / "second.log", "--flush-seconds", "0.3")
    try:
        again.wait_ready()
        status, _, answer = again.call("POST", "/predict", body)
        assert status == 200
        assert again.stop() in (0, -signal.SIGTERM)
    finally:
        again.stop()
    mc.configure(store)
    try:
        current = session.get_session()
        everything = read_predictions(current.metadata, current.artifacts)  # every segment verified
        ids = everything.column("id").to_pylist()
        assert len(ids) == len(set(ids))
        assert set(flushed) <= set(ids)
        assert set(answer["ids"]) <= set(ids)
        # whatever of the last 2 x 0.3 s was written is whole; the rest is the loss window
        assert set(ids) - set(flushed) - set(answer["ids"]) <= set(unflushed)
        logged: Any = find_prediction(current.metadata, current.artifacts, flushed[0])
        assert logged is not None
        assert logged.source == "http"
    finally:
        session.configure()


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow
def test_workers_of_a_sigkilled_supervisor_flush_and_free_the_port(
    store: str, tmp_path: Path
) -> None:
    server = ServeProcess(store, tmp_path / "serve.log", "--workers", "2", "--flush-seconds", "600")
    try:
        server.wait_ready()
        body = json.dumps(one_row()).encode()
        ids = [i for _ in range(20) for i in server.call("POST", "/predict", body)[2]["ids"]]
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        server.stop(signal.SIGKILL)
    # each worker stops by itself: it flushes, and its process ends
    server.wait_for(
        lambda lines: sum(line["message"].startswith("Finished server") for line in lines) == 2
    )
    deadline = time.monotonic() + 10
    while not _port_is_free(server.port):
        assert time.monotonic() < deadline, server.log.read_text()[-3000:]
        time.sleep(0.2)
    stopping = [
        line for line in server.lines() if line["message"] == "the supervisor is gone; stopping"
    ]
    assert len(stopping) == 2
    assert logged_ids(store, ids) == set(ids)
