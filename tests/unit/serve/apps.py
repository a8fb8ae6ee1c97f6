"""Serving apps for tests: a registered version's app, a request through it in this process, and
the app served by uvicorn on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import uvicorn

from modelcycle.sdk import session
from modelcycle.services.serve.app import build_app
from modelcycle.services.serve.endpoint import wrap_app
from modelcycle.services.serve.metrics import ServingMetrics
from modelcycle.services.serve.model_holder import ModelHolder, load_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator

    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.services.serve.request_log import ASGIApp, Message

SHOP_ROW: dict[str, Any] = {"city": "paris", "plan": "pro", "age": 30, "spend": 12.5, "vip": True}
"""One row for the ``shop_app`` fixture's model (``conftest.py``)."""


def model_app(
    project: str,
    ref: str,
    *,
    max_body_bytes: int = 1 << 20,
    prefer_onnx: bool = True,
    access: bool = True,
) -> tuple[Any, ModelHolder]:
    """The whole serving stack (request log, body limit, app) for ``ref`` of the session's store.

    The version is loaded before this returns; the holder never polls for alias moves.
    """
    current = session.get_session()
    holder = ModelHolder(
        lambda: current.registry.get(project, ref),
        lambda found: load_runtime(current.artifacts, found, prefer_onnx=prefer_onnx),
        poll_seconds=3600,
    )
    holder.load_now()
    metrics = ServingMetrics(lambda: 0, lambda: 0)
    app = wrap_app(
        build_app(holder, metrics), metrics, max_body_bytes=max_body_bytes, access=access
    )
    return app, holder


@contextmanager
def uvicorn_on_loopback(app: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn on a free loopback port, in a thread; yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def call(
    app: ASGIApp,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: bytes = b"application/json",
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one request (JSON unless said otherwise) to ``app``: its status, headers and body."""
    sent: list[Message] = []
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def run() -> None:
        await app(scope, receive, send)

    asyncio.run(run())
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def cancer_rows(seed: int, count: int) -> Any:
    """``count`` rows of breast_cancer's features drawn with replacement (a pandas frame)."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    features = load_breast_cancer(as_frame=True).data
    picks = np.random.default_rng(seed).integers(0, len(features), count)
    return features.iloc[picks].reset_index(drop=True)


def estimator(model: LoadedModel) -> Any:
    """The model object a ``LoadedModel`` wraps, to call its own ``predict`` on."""
    return model.raw
