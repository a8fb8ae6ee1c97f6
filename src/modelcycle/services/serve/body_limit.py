"""A bound on request bodies: a pure ASGI middleware answering 413 past ``max_bytes``.

A body announced by ``Content-Length`` is refused before a byte of it is read (the server
discards the rest). A chunked body (no length) is read here, up to the bound, and handed to
the app in one piece; past the bound it is refused. Either way a scoring request can never
hold more than ``max_bytes`` of body in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from modelcycle.services.serve.request_log import ASGIApp, Message, Receive, Scope, Send

_CONTENT_LENGTH = b"content-length"
_TRANSFER_ENCODING = b"transfer-encoding"


class BodyLimit:
    """Answers 413 to a request whose body is larger than ``max_bytes``.

    Raises:
        InvalidInput: ``max_bytes`` is not a positive int.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise InvalidInput(f"max_bytes={max_bytes!r} must be a positive number of bytes")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI event, refusing an oversize body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == _CONTENT_LENGTH:
                length = value
            elif name == _TRANSFER_ENCODING:
                chunked = True
        if length is not None and not chunked:
            if length.isdigit() and int(length) > self.max_bytes:
                await self._refuse(send, int(length))
                return
            await self.app(scope, receive, send)
            return
        if not chunked:  # no body at all
            await self.app(scope, receive, send)
            return
        await self._chunked(scope, receive, send)

    async def _chunked(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the caller went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def replay() -> Message:
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, length: int | None) -> None:
        size = f"{length} bytes" if length is not None else "more than that"
        body = orjson.dumps(
            {
                "detail": f"the body is too large: this server takes at most {self.max_bytes} "
                f"bytes, the request sent {size}"
            }
        )
        start: dict[str, Any] = {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})
