"""The control channel: JSON lines over a Unix socket (mode 0600).

``holdfast ctl`` sends one request, ``{"command": ["status"]}``, and reads one
reply, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.
The server side takes a plain function from the command words to a result,
so the commands themselves stay testable without sockets. Later issues add
commands (flush, reload, local-root, route, holddown).
"""

from __future__ import annotations

import contextlib
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

    ``handler`` gets the decoded request and returns a JSON-able result or
    raises ``HoldfastError`` (reported to the client as an error).
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
        reply: dict[str, Any]
        try:
            request = json.loads(data.split(b"\n", 1)[0] or b"null")
            if not isinstance(request, dict):
                raise ControlError("a request is one JSON object on one line")
            reply = {"ok": True, "result": handler(request)}
        except (HoldfastError, ValueError) as exc:
            reply = {"ok": False, "error": str(exc)}
        except Exception:
            log.exception("control command failed")
            reply = {"ok": False, "error": "internal error (see the server's log)"}
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(json.dumps(reply).encode() + b"\n")


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
