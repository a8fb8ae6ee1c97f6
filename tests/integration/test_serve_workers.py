"""``modelcycle serve --workers N``: real processes on loopback sharing one port.

Also holds ``ServeProcess`` and ``make_store``, which ``test_serve_reliability`` uses.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.reduction import ForkingPickler
from threading import Thread
from typing import TYPE_CHECKING, Any

import pytest

import modelcycle as mc
from modelcycle.sdk import session
from modelcycle.services.serve.listener import bind_listener, is_tcp
from modelcycle.store.predictions import read_predictions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

uvicorn = pytest.importorskip("uvicorn")

Answer = tuple[int, dict[str, str], Any]


def make_store(path: Path, versions: int = 1) -> str:
    """A store at ``path`` with ``versions`` versions of model ``bc`` (alias production: 1)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    uri = str(path)
    mc.configure(uri)
    mc.set_project("bc")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    try:
        for c in (1.0, 0.01)[:versions]:
            with mc.start_run() as run:
                mc.log_model(
                    LogisticRegression(C=c, max_iter=5000).fit(X, y), input_example=X.head(5)
                )
            mc.models.register(run, "bc")
        mc.models.set_alias("bc", "production", 1, force=True, reason="test")
    finally:
        session.configure()
    return uri


def one_row() -> dict[str, float]:
    from sklearn.datasets import load_breast_cancer

    row: dict[str, float] = load_breast_cancer(as_frame=True).data.iloc[0].to_dict()
    return row


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """``modelcycle serve bc@production`` in a subprocess; its stderr (JSON lines) in a file."""

    def __init__(self, store: str, log: Path, *options: str) -> None:
        self.port = free_port()
        self.log = log
        self._stderr = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelcycle",
                "serve",
                "bc@production",
                "-p",
                "bc",
                "--port",
                str(self.port),
                "--log-format",
                "json",
                *options,
            ],
            env={**os.environ, "MODELCYCLE_URI": store},
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.call("GET", "/ready")[0] == 200:
                    return
            except OSError:
                pass
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request on a new connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            return send(connection, method, path, body, headers)
        finally:
            connection.close()

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def wait_for(self, found: Callable[[list[dict[str, Any]]], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not found(self.lines()):
            assert time.monotonic() < deadline, self.log.read_text()[-4000:]
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self._stderr.close()

    def metric(self, name: str) -> dict[str, float]:
        """The samples of ``name`` in /metrics, keyed by their label text."""
        status, _, text = self.call("GET", "/metrics")
        assert status == 200
        samples = {}
        for line in text.splitlines():
            match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)
            if match:
                samples[match.group(1) or ""] = float(match.group(2))
        return samples


def send(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    content: Any = data.decode("utf-8", "replace")
    if response.getheader("content-type", "").startswith("application/json"):
        content = json.loads(data)
    return response.status, {k.lower(): v for k, v in response.getheaders()}, content


def predict_many(server: ServeProcess, count: int, threads: int = 8) -> list[Answer]:
    """``count`` one-row predictions from ``threads`` threads, each on a new connection."""
    body = json.dumps(one_row()).encode()
    answers: list[Answer] = []

    def work(n: int) -> None:
        for _ in range(n):
            answers.append(server.call("POST", "/predict", body))

    pool = [Thread(target=work, args=(count // threads,)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return answers


def answered_by(lines: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Request id -> pid of the worker that answered it (from the request lines)."""
    return {
        line["request_id"]: line["pid"]
        for line in lines
        if line.get("logger") == "modelcycle.serve.access" and line.get("path") == "/predict"
    }


def wait_counted(server: ServeProcess, answers: list[Answer]) -> None:
    """Wait for the request lines of ``answers``.

    A worker counts a request and writes its line just after sending the answer: a client can
    hold the answer before either is done.
    """
    wanted = {headers["x-request-id"] for _, headers, _ in answers}
    server.wait_for(lambda lines: wanted <= answered_by(lines).keys())


def ready_workers(lines: Iterable[dict[str, Any]]) -> list[int]:
    return [line["pid"] for line in lines if line.get("message") == "worker ready"]


def logged_ids(store: str, ids: Iterable[str]) -> set[str]:
    mc.configure(store)
    try:
        current = session.get_session()
        table = read_predictions(current.metadata, current.artifacts, ids=list(ids))
        return set(table.column("id").to_pylist())
    finally:
        session.configure()


# -- the listening socket -----------------------------------------------------------------


def _accepted_nodelay(listener: socket.socket, loop: str) -> int:
    """TCP_NODELAY of a connection accepted by an event loop serving ``listener``."""

    async def main() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        try:
            return await asyncio.wait_for(accepted, 5)
        finally:
            writer.close()
            server.close()

    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return int(uvloop.run(main()))
    return asyncio.run(main())


def _as_a_worker_gets_it(sock: socket.socket) -> socket.socket:
    """``sock`` as a spawned worker receives it: pickled by multiprocessing's reducer."""
    # multiprocessing's own round trip (what spawn does with a worker's arguments)
    rebuilt: socket.socket = ForkingPickler.loads(ForkingPickler.dumps(sock))
    sock.close()
    return rebuilt


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_connections_accepted_by_a_worker_get_tcp_nodelay(loop: str) -> None:
    listener = _as_a_worker_gets_it(bind_listener("127.0.0.1", 0))
    assert is_tcp(listener)
    assert _accepted_nodelay(listener, loop) == 1


def test_uvicorns_own_worker_socket_loses_tcp_nodelay_under_asyncio() -> None:
    # The cause this design avoids: uvicorn binds socket.socket(AF_INET), whose proto is 0.
    config = uvicorn.Config(app=None, host="127.0.0.1", port=0, log_config=None)
    listener = _as_a_worker_gets_it(config.bind_socket())
    listener.listen()
    assert listener.family == socket.AF_INET  # the family survives the trip to the worker
    assert not is_tcp(listener)
    assert _accepted_nodelay(listener, "asyncio") == 0


# -- real servers ---------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> str:
    return make_store(tmp_path / "store", versions=2)


def _until_both_answer(server: ServeProcess, model: str) -> list[Answer]:
    """Predict until two workers have answered with ``model``; every answer."""
    answers: list[Answer] = []
    for _ in range(25):
        answers += predict_many(server, 40)
        lines = server.lines()
        by_request = answered_by(lines)
        # (a line is written just after its answer is sent; a missing one shows up later)
        pids = {by_request.get(a[1]["x-request-id"]) for a in answers if a[2].get("model") == model}
        pids.discard(None)
        if len(pids) == 2:
            return answers
    pytest.fail(f"two workers never both answered with {model}: {server.log.read_text()[-3000:]}")


@pytest.mark.slow
def test_two_workers_answer_follow_the_alias_and_flush_on_a_graceful_stop(
    store: str, tmp_path: Path
) -> None:
    server = ServeProcess(
        store,
        tmp_path / "serve.log",
        "--workers",
        "2",
        "--loop",
        "asyncio",
        "--poll-seconds",
        "0.2",
        "--flush-seconds",
        "600",  # nothing is written before the graceful stop: it must flush every worker
    )
    try:
        server.wait_ready()
        server.wait_for(lambda lines: len(ready_workers(lines)) == 2)
        answers = _until_both_answer(server, "bc@1")
        assert all(status == 200 for status, _, _ in answers)
        assert all(len(headers["x-request-id"]) == 32 for _, headers, _ in answers)
        # /metrics counts for the whole server, whichever worker answers it
        wait_counted(server, answers)
        for _ in range(4):
            total = server.metric("modelcycle_requests_total")
            assert total['{route="/predict",status="200"}'] == len(answers)
        in_flight = server.metric("modelcycle_requests_in_flight")
        assert {re.search(r'pid="(\d+)"', k).group(1) for k in in_flight} == {  # type: ignore[union-attr]
            str(pid) for pid in ready_workers(server.lines())
        }
        # each worker follows the alias on its own
        mc.configure(store)
        mc.set_project("bc")
        try:
            mc.models.set_alias("bc", "production", 2, force=True, reason="test")
        finally:
            session.configure()
        answers += _until_both_answer(server, "bc@2")
        assert server.stop() == 0
    finally:
        server.stop()
    lines = server.lines()
    flushed = [line for line in lines if line["message"] == "prediction log flushed"]
    assert sorted(line["pid"] for line in flushed) == sorted(ready_workers(lines))
    ids = [i for _, _, body in answers for i in body["ids"]]
    assert logged_ids(store, ids) == set(ids)
    assert lines[-1]["message"] == "stopped"


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_others_predictions_are_kept(
    store: str, tmp_path: Path
) -> None:
    server = ServeProcess(store, tmp_path / "serve.log", "--workers", "2", "--flush-seconds", "600")
    try:
        server.wait_ready()
        server.wait_for(lambda lines: len(ready_workers(lines)) == 2)
        before = _until_both_answer(server, "bc@1")
        wait_counted(server, before)  # so that the kill below cannot land in between
        victim = ready_workers(server.lines())[0]
        os.kill(victim, signal.SIGKILL)
        server.wait_for(lambda lines: len(ready_workers(lines)) == 3)
        died = [
            line for line in server.lines() if line["message"] == "a worker died; starting another"
        ]
        assert [(line["worker_pid"], line["exitcode"]) for line in died] == [
            (victim, -signal.SIGKILL)
        ]
        after = predict_many(server, 40)
        assert all(status == 200 for status, _, _ in after)
        # the dead worker's requests still count; its gauges and process figures are gone
        wait_counted(server, after)
        total = server.metric("modelcycle_requests_total")
        assert total['{route="/predict",status="200"}'] == len(before) + len(after)
        memory = server.metric("process_resident_memory_bytes")
        assert f'{{pid="{victim}"}}' not in memory
        assert len(memory) == 2
        assert server.stop() == 0
    finally:
        server.stop()
    by_request = answered_by(server.lines())
    kept = [
        i
        for _, headers, body in before + after
        if by_request[headers["x-request-id"]] != victim
        for i in body["ids"]
    ]
    assert kept
    assert logged_ids(store, kept) == set(kept)


@pytest.mark.slow
def test_workers_that_cannot_load_the_model_stop_the_server_with_an_error(
    store: str, tmp_path: Path
) -> None:
    # Every stored blob altered: the reference still resolves, but no worker can load the model.
    for blob in (tmp_path / "store" / "artifacts").rglob("*"):
        if blob.is_file():
            blob.write_bytes(b"altered")
    server = ServeProcess(store, tmp_path / "serve.log", "--workers", "2")
    assert server.process.wait(60) == 1
    server.stop()
    text = server.log.read_text()
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if not line.startswith("{")]
    assert lines == [
        "error: a worker could not start serving bc@production; its log line above says why"
    ]
    failed = [
        line for line in server.lines() if line["message"].startswith("worker could not load")
    ]
    assert failed
    assert "IntegrityError" in failed[0]["error"]
