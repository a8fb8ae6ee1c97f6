"""The listening socket of a server, bound once and shared by every worker.

Why the socket is made here and not by uvicorn. asyncio turns Nagle's algorithm off
(``TCP_NODELAY``) on each accepted connection only when the socket says it is TCP:
``asyncio.base_events._set_nodelay`` checks ``family`` (IPv4/IPv6), ``type`` (stream) *and*
``proto == IPPROTO_TCP``. uvicorn's multi-worker path binds with
``socket.socket(family=AF_INET)``, whose ``proto`` is 0; the workers receive that socket
through ``multiprocessing`` (which rebuilds it with the same family, type and proto), every
accepted connection inherits ``proto`` 0, and Nagle stays on. A response written in two sends
(headers, then body) then waits for the client's delayed ACK: about 40 ms per response.
(uvloop sets ``TCP_NODELAY`` on every TCP connection itself, so only the asyncio loop shows
it.) ``bind_listener`` takes the family, type and proto from ``getaddrinfo``, as
``loop.create_server(host=, port=)`` does for a single process, so ``proto`` is
``IPPROTO_TCP`` in the parent, in every worker, and on every accepted connection.

Binding in the parent (rather than each worker binding with ``SO_REUSEPORT``) also makes a
busy port an immediate error, keeps connections queued while a worker restarts, and cannot
silently share the port with another server.
"""

from __future__ import annotations

import errno
import socket

from modelcycle.core.errors import Conflict, InvalidInput

BACKLOG = 2048


def bind_listener(host: str, port: int, *, backlog: int = BACKLOG) -> socket.socket:
    """A listening TCP socket on ``host:port`` whose accepted connections get TCP_NODELAY.

    The socket is inheritable, for worker processes.

    Raises:
        InvalidInput: the port is out of range, or the host cannot be bound here.
        Conflict: another process listens on the port.
    """
    if not 0 <= port <= 65535:
        raise InvalidInput(f"port {port!r} is not a TCP port number (0 to 65535)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot listen on host {host!r}: {exc.strerror}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(f"port {port} on {host} is already in use by another process") from exc
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def is_tcp(sock: socket.socket) -> bool:
    """Whether asyncio will set TCP_NODELAY on connections ``sock`` accepts."""
    return (
        sock.family in (socket.AF_INET, socket.AF_INET6)
        and sock.type == socket.SOCK_STREAM
        and sock.proto == socket.IPPROTO_TCP
    )
