"""The lab's control requests: what each one does, and the client.

A running lab (``serve_lab``) answers on ``<directory>/lab.sock`` through the
same JSON-lines channel as the resolver's control socket
(``resolver.control``): ``{"op": "ping"}``, ``{"op": "fault", "address": A,
"kind": K, "zone": Z}`` (``zone`` optional) and ``{"op": "clear", "address":
A}``. ``apply_request`` applies a request to a ``Lab`` (pure, the server's
handler); ``send_lab_command`` is the blocking client behind
``holdfast lab-fault``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resolver import control
from resolver.lab.errors import LabError
from resolver.lab.faults import parse_fault
from resolver.lab.lab import Lab

SOCKET_NAME = "lab.sock"
#: Seconds the client waits for the lab to answer.
CLIENT_TIMEOUT = 5.0


def apply_request(lab: Lab, request: dict[str, Any]) -> dict[str, object]:
    """Apply one decoded request to ``lab`` and say what was done.

    Raises:
        LabError: unknown op, missing field, bad fault text, unknown address.
    """
    op = request.get("op")
    if op == "ping":
        return {}
    address = _text(request, "address")
    if op == "fault":
        fault = parse_fault(_text(request, "kind"))
        zone = request.get("zone")
        if zone is not None and not isinstance(zone, str):
            raise LabError("'zone' must be a string")
        lab.set_fault(address, fault, zone)
        return {"address": address, "fault": str(fault), "zone": zone}
    if op == "clear":
        lab.clear_faults(address)
        return {"address": address}
    raise LabError(f"unknown op {op!r}; expected ping, fault or clear")


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str):
        raise LabError(f"request needs a string {key!r}")
    return value


def send_lab_command(directory: Path, request: Mapping[str, object]) -> dict[str, object]:
    """Send ``request`` to the lab running in ``directory``; return what it did.

    Raises:
        LabError: the lab is not running there, did not answer, or rejected
            the request (the message is the lab's).
    """
    path = directory / SOCKET_NAME
    try:
        result = control.request(path, dict(request), timeout=CLIENT_TIMEOUT)
    except control.ControlError as error:
        raise LabError(f"lab at {directory}: {error}") from None
    if not isinstance(result, dict):
        raise LabError(f"the lab at {path} sent no valid reply")
    return result
