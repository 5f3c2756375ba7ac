"""The control channel: JSON lines over a Unix socket (mode 0600).

``holdfast ctl`` sends one request, ``{"command": ["status"]}``, and reads one
reply, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.
The server side takes a plain function from the command words to a result,
so the commands themselves stay testable without sockets (``commands.py``).

With ``--workers N`` the same protocol also runs over a private, already
connected stream between the supervisor and each worker (``serve_stream``
and ``Channel``): many requests per connection, each tagged with an ``id``
the reply repeats, so a reply that comes after its request was given up
on is recognised and skipped instead of answering the next request.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from dnssec.errors import HoldfastError

log = logging.getLogger("holdfast.control")

#: A request or reply larger than this is refused: commands are one line.
MAX_REQUEST_BYTES = 64 * 1024


class ControlError(HoldfastError):
    """A control command failed, or the server could not be reached."""


class ChannelClosed(ControlError):
    """The other end of a worker's control channel is gone (it exited)."""


#: From a decoded request to a JSON-able result, or an awaitable of one.
Handler = Callable[[dict[str, Any]], Any]


def default_socket_path() -> Path:
    """Where the control socket lives unless configured: the run directory."""
    if os.geteuid() == 0:
        return Path("/run/holdfast/control.sock")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path("/tmp") / f"holdfast-{os.geteuid()}"
    return base / "holdfast-control.sock"


async def serve_control(
    path: Path,
    handler: Handler,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer JSON-lines requests on ``path`` with ``handler`` until cancelled.

    ``handler`` gets the decoded request and returns a JSON-able result (or
    an awaitable of one) or raises ``HoldfastError`` (reported to the client
    as an error).
    """
    _prepare_socket_path(path)
    listener = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        await listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(16)
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                connection, _ = await listener.accept()
                nursery.start_soon(_serve_one, trio.SocketStream(connection), handler)
    finally:
        listener.close()
        _remove_socket_path(path)


def _prepare_socket_path(path: Path) -> None:
    """Make the run directory and clear a socket left by a previous run."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)


def _remove_socket_path(path: Path) -> None:
    # After a privilege drop the run directory may no longer be ours to change.
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


async def _serve_one(stream: trio.SocketStream, handler: Handler) -> None:
    async with stream:
        data = b""
        with trio.move_on_after(5):
            while b"\n" not in data and len(data) < MAX_REQUEST_BYTES:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                data += chunk
        reply = await _reply(data.split(b"\n", 1)[0], handler)
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(_line(reply))


async def _reply(line: bytes, handler: Handler) -> dict[str, Any]:
    """The reply to one request line: the handler's result, or the error it raised."""
    request: Any = None
    try:
        request = json.loads(line or b"null")
        if not isinstance(request, dict):
            raise ControlError("a request is one JSON object on one line")
        result = handler(request)
        if inspect.isawaitable(result):
            result = await result
        reply: dict[str, Any] = {"ok": True, "result": result}
    except (HoldfastError, ValueError) as exc:
        reply = {"ok": False, "error": str(exc)}
    except Exception:
        log.exception("control command failed")
        reply = {"ok": False, "error": "internal error (see the server's log)"}
    if isinstance(request, dict) and "id" in request:
        reply["id"] = request["id"]
    return reply


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


async def serve_stream(stream: trio.abc.Stream, handler: Handler) -> None:
    """Answer JSON-lines requests on a connected ``stream``, one by one, until it ends.

    A worker's end of its private channel to the supervisor. Returns when
    the other end closes (the supervisor is gone).
    """
    lines = _Lines(stream)
    async with stream:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while (line := await lines.next(MAX_REQUEST_BYTES)) is not None:
                await stream.send_all(_line(await _reply(line, handler)))


class _Lines:
    """Newline-terminated lines from a stream, however it splits them."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def next(self, limit: int | None = None) -> bytes | None:
        """The next line, without its newline; None at end of stream.

        Raises:
            ControlError: the line is longer than ``limit`` bytes.
        """
        while (end := self._buffer.find(b"\n")) < 0:
            if limit is not None and len(self._buffer) > limit:
                raise ControlError(f"a control message is longer than {limit} bytes")
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                return None
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line


class Channel:
    """The supervisor's end of a worker's control channel.

    Requests go one at a time (a lock keeps them in order); each carries an
    ``id``, and a reply with an older ``id`` (its request was cancelled,
    e.g. timed out) is skipped.
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._lines = _Lines(stream)
        self._lock = trio.Lock()
        self._ids = itertools.count()

    async def request(self, message: dict[str, Any]) -> Any:
        """Send one request and return its result.

        Raises:
            ControlError: the worker answered with an error.
            ChannelClosed: the worker is gone.
        """
        async with self._lock:
            ident = next(self._ids)
            try:
                await self._stream.send_all(_line({**message, "id": ident}))
                reply = await self._reply_to(ident)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ChannelClosed("the worker's control channel is closed") from exc
        if not reply.get("ok"):
            raise ControlError(str(reply.get("error")))
        return reply.get("result")

    async def _reply_to(self, ident: int) -> dict[str, Any]:
        while (line := await self._lines.next()) is not None:
            reply = json.loads(line)
            if isinstance(reply, dict) and reply.get("id") == ident:
                return reply
        raise ChannelClosed("the worker closed its control channel")


def request(path: Path, message: dict[str, Any], *, timeout: float = 5.0) -> Any:
    """Send one request to a control socket and return its result.

    Raises:
        ControlError: the socket is unreachable, or the server said no.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlError(f"not running: no control socket answers at {path}") from exc
    except OSError as exc:
        raise ControlError(f"cannot reach the control socket {path}: {exc}") from exc
    try:
        reply = json.loads(data)
    except ValueError as exc:
        raise ControlError(f"unreadable reply from {path}: {data[:200]!r}") from exc
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else reply
        raise ControlError(str(error))
    return reply.get("result")
