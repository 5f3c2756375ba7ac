"""The client end of the control socket: what ``holdfast ctl`` needs, and nothing more.

Kept apart from ``control.py`` (the server end, on Trio) so that ``holdfast
ctl`` starts in a tenth of a second: it imports neither Trio nor the
resolver, only the standard library and the root of Holdfast's exceptions
(``bench/ctl_startup.py`` measures it). ``control.py`` re-exports these
names.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from dnssec.errors import HoldfastError


class ControlError(HoldfastError):
    """A control command failed, or the server could not be reached."""


def default_socket_path() -> Path:
    """Where the control socket lives unless configured: the run directory."""
    if os.geteuid() == 0:
        return Path("/run/holdfast/control.sock")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path("/tmp") / f"holdfast-{os.geteuid()}"
    return base / "holdfast-control.sock"


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
