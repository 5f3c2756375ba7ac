"""The HTTP endpoint Prometheus scrapes: ``GET /metrics`` and nothing else.

A few dozen lines of HTTP/1.1 on Trio rather than prometheus_client's
``start_http_server``, which runs a thread: the resolver is one Trio
thread, and a snapshot must be taken on it (``source`` may also ask the
workers of a ``--workers`` supervisor over their control sockets).

Each connection gets one response and is closed. What a client can make
it hold is bounded: the request head (``MAX_REQUEST`` bytes, read within
``READ_TIMEOUT`` seconds), the time to take the response
(``SEND_TIMEOUT``), and ``MAX_CONNECTIONS`` at a time (more are closed at
once). Anything but ``GET`` or ``HEAD`` of ``/metrics`` gets 404 or 405,
garbage 400; a ``source`` that fails gets 500 and a log line, never the
end of the endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from resolver.metrics import Snapshot, exposition
from resolver.server import BindError, Endpoint

log = logging.getLogger("holdfast.metrics")

MAX_REQUEST = 8192
READ_TIMEOUT = 5.0
SEND_TIMEOUT = 10.0
MAX_CONNECTIONS = 16
PATH = "/metrics"

#: Gives the snapshot to show at each scrape.
Source = Callable[[], Awaitable[Snapshot]]


async def serve_metrics(
    endpoint: Endpoint,
    source: Source,
    *,
    task_status: trio.TaskStatus[Endpoint] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``GET /metrics`` on ``endpoint`` until cancelled.

    Port 0 picks a free port; ``task_status.started`` receives the bound
    ``(host, port)``, which is also logged (event ``metrics_listening``).

    Raises:
        BindError: the endpoint cannot be bound.
    """
    host, port = endpoint
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as error:
        raise BindError(f"cannot listen for metrics on {host}:{port}: {error.strerror}") from error
    bound_host, bound_port = listeners[0].socket.getsockname()[:2]
    bound = (str(bound_host), int(bound_port))
    log.info(
        "metrics on http://%s:%d%s",
        f"[{bound[0]}]" if ":" in bound[0] else bound[0],
        bound[1],
        PATH,
        extra={"event": "metrics_listening", "address": bound[0], "port": bound[1]},
    )
    limiter = trio.CapacityLimiter(MAX_CONNECTIONS)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            limiter.acquire_nowait()
        except trio.WouldBlock:
            await trio.aclose_forcefully(stream)
            return
        try:
            async with stream:
                await _serve_one(stream, source)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the client went away
        finally:
            limiter.release()

    task_status.started(bound)
    await trio.serve_listeners(handle, listeners)


async def _serve_one(stream: trio.SocketStream, source: Source) -> None:
    """Read one request head and send one response."""
    head = await _read_head(stream)
    if head is None:
        return
    status, body = await _respond(head, source)
    method = head.split(b" ", 1)[0]
    response = (
        f"HTTP/1.1 {status}\r\n"
        f"Content-Type: {CONTENT_TYPE_LATEST if status.startswith('200') else 'text/plain'}\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("Allow: GET, HEAD\r\n" if status.startswith("405") else "")
        + "Connection: close\r\n\r\n"
    ).encode("ascii") + (b"" if method == b"HEAD" else body)
    with trio.move_on_after(SEND_TIMEOUT):
        await stream.send_all(response)


async def _read_head(stream: trio.SocketStream) -> bytes | None:
    """The request up to its blank line; None if it is too long, too slow or cut short."""
    data = b""
    with trio.move_on_after(READ_TIMEOUT):
        while b"\r\n\r\n" not in data and b"\n\n" not in data:
            if len(data) > MAX_REQUEST:
                return None
            chunk = await stream.receive_some(MAX_REQUEST)
            if not chunk:
                return None
            data += chunk
        return data
    return None


async def _respond(head: bytes, source: Source) -> tuple[str, bytes]:
    """The status line's text and the body for a request head."""
    parts = head.split(b"\n", 1)[0].split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return "400 Bad Request", b"bad request\n"
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if target != PATH.encode():
        return "404 Not Found", b"not found: try /metrics\n"
    if method not in (b"GET", b"HEAD"):
        return "405 Method Not Allowed", b"method not allowed\n"
    try:
        return "200 OK", exposition(await source())
    except Exception:
        log.exception("cannot produce the metrics")
        return "500 Internal Server Error", b"cannot produce the metrics; see the log\n"
