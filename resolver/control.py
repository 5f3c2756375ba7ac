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
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from dnssec.errors import HoldfastError
from resolver.control_client import ControlError as ControlError
from resolver.control_client import default_socket_path as default_socket_path
from resolver.control_client import request as request

log = logging.getLogger("holdfast.control")

#: A request or reply larger than this is refused: commands are one line.
MAX_REQUEST_BYTES = 64 * 1024
#: Seconds the check for a live server on an existing socket may take.
PROBE_TIMEOUT = 1.0


class ChannelClosed(ControlError):
    """The other end of a worker's control channel is gone (it exited)."""


class ControlSocketTaken(ControlError):
    """The control socket path is in use by a live server, or is not a socket at all."""


#: From a decoded request to a JSON-able result, or an awaitable of one.
Handler = Callable[[dict[str, Any]], Any]


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
    _claim_socket_path(path)
    listener = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    bound: os.stat_result | None = None
    try:
        try:
            await listener.bind(str(path))
        except OSError as error:  # another server bound it since the check
            raise ControlSocketTaken(
                f"cannot create the control socket {path}: {error.strerror}") from error
        bound = os.lstat(path)
        os.chmod(path, 0o600)
        listener.listen(16)
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                connection, _ = await listener.accept()
                nursery.start_soon(_serve_one, trio.SocketStream(connection), handler)
    finally:
        listener.close()
        if bound is not None:
            _remove_socket_path(path, bound)


def _claim_socket_path(path: Path) -> None:
    """Make the run directory, and clear the path only of a socket nobody answers on.

    Unbound unlinks whatever is at the path before binding
    (util/net_help.c, create_local_accept_sock): a second instance started
    by mistake then takes the socket over, and the first one keeps running
    with no way to control it. Here a socket a live server accepts on is
    refused, and so is anything that is not a socket; only a socket whose
    connect is refused (its server died without removing it) is replaced.

    Raises:
        ControlSocketTaken: a live server answers there, or the path is not a socket.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    elsewhere = "give this server another control socket (--control, [control] socket)"
    if not stat.S_ISSOCK(mode):
        raise ControlSocketTaken(f"{path} exists and is not a socket: remove it, or {elsewhere}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT)
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            path.unlink(missing_ok=True)
            log.info("replaced the stale control socket %s (no server answered on it)", path,
                     extra={"event": "control_socket_replaced"})
            return
        except OSError as error:
            raise ControlSocketTaken(
                f"cannot check the control socket {path}: {error.strerror or error}; {elsewhere}"
            ) from error
    raise ControlSocketTaken(
        f"another server answers on the control socket {path}: stop it, or {elsewhere}")


def _remove_socket_path(path: Path, bound: os.stat_result) -> None:
    """Unlink the socket we bound, and only it: never one another server put there since."""
    with contextlib.suppress(OSError):  # after a privilege drop the directory may not be ours
        now = path.lstat()
        if (now.st_dev, now.st_ino) == (bound.st_dev, bound.st_ino):
            path.unlink()


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
