"""The lab's control socket protocol: requests, their effect, the client.

A running lab (``serve_lab``) listens on ``<directory>/lab.sock`` (Unix
stream) for one JSON object per line and replies with one JSON object per
line: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. Requests:
``{"op": "ping"}``, ``{"op": "fault", "address": A, "kind": K, "zone": Z}``
(``zone`` optional) and ``{"op": "clear", "address": A}``. ``execute``
applies a request to a ``Lab`` (pure, used by the server);
``send_lab_command`` is the blocking client used by ``holdfast lab-fault``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from pathlib import Path

from resolver.lab.errors import LabError
from resolver.lab.faults import parse_fault
from resolver.lab.lab import Lab

SOCKET_NAME = "lab.sock"
#: Seconds the client waits for the lab to answer.
CLIENT_TIMEOUT = 5.0
_MAX_REPLY = 1 << 20


def execute(lab: Lab, line: bytes) -> dict[str, object]:
    """Apply one request line to ``lab``; return the reply (never raises)."""
    try:
        request = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return {"ok": False, "error": f"request is not JSON: {error}"}
    if not isinstance(request, dict):
        return {"ok": False, "error": "request must be a JSON object"}
    try:
        return _apply(lab, request)
    except LabError as error:
        return {"ok": False, "error": str(error)}


def _apply(lab: Lab, request: dict[str, object]) -> dict[str, object]:
    op = request.get("op")
    if op == "ping":
        return {"ok": True}
    address = _text(request, "address")
    if op == "fault":
        fault = parse_fault(_text(request, "kind"))
        zone = request.get("zone")
        if zone is not None and not isinstance(zone, str):
            raise LabError("'zone' must be a string")
        lab.set_fault(address, fault, zone)
        return {"ok": True, "address": address, "fault": str(fault), "zone": zone}
    if op == "clear":
        lab.clear_faults(address)
        return {"ok": True, "address": address}
    raise LabError(f"unknown op {op!r}; expected ping, fault or clear")


def _text(request: dict[str, object], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str):
        raise LabError(f"request needs a string {key!r}")
    return value


def send_lab_command(directory: Path, request: Mapping[str, object]) -> dict[str, object]:
    """Send ``request`` to the lab running in ``directory``; return its reply.

    Raises:
        LabError: the lab is not running there, did not answer, or rejected
            the request (the message is the lab's).
    """
    path = directory / SOCKET_NAME
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(CLIENT_TIMEOUT)
            client.connect(str(path))
            client.sendall(json.dumps(dict(request)).encode() + b"\n")
            received = b""
            while not received.endswith(b"\n") and len(received) < _MAX_REPLY:
                chunk = client.recv(65536)
                if not chunk:
                    break
                received += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise LabError(f"the lab is not running (no control socket at {path})") from None
    except OSError as error:
        raise LabError(f"cannot talk to the lab at {path}: {error}") from None
    try:
        reply = json.loads(received)
    except json.JSONDecodeError:
        raise LabError(f"the lab at {path} sent no valid reply") from None
    if not isinstance(reply, dict):
        raise LabError(f"the lab at {path} sent no valid reply")
    if reply.get("ok") is not True:
        raise LabError(f"the lab rejected {dict(request)}: {reply.get('error', 'no reason given')}")
    return reply
