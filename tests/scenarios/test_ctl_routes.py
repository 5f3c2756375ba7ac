"""End to end: ``holdfast ctl route`` and ``holddown`` against a running ``holdfast serve``.

The lab and the resolver are real processes on loopback (the lab on
127.53.0.0/16, port 53 only inside run-isolated's namespace); ``holdfast
ctl`` is run as a command, as an operator would, and the resolver is asked
with dig. Faults are set on the lab through its control socket directly
(what ``holdfast lab-fault`` sends), to keep the test fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resolver.control import request
from resolver.lab.control import send_lab_command
from tests.scenarios.processes import (
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    serving,
)

pytestmark = [
    pytest.mark.integration,
    NEEDS_DIG,
]

REPOSITORY = Path(__file__).resolve().parents[2]
GTLD = ("127.53.1.1", "127.53.1.2", "127.53.1.3", "127.53.1.4")


@pytest.fixture
def resolver(lab: LabProcess, tmp_path: Path) -> Iterator[ResolverProcess]:
    """``holdfast serve`` with its control socket in ``tmp_path``; lab faults cleared after."""
    try:
        with serving(ResolverProcess.start(lab, tmp_path)) as resolver:
            yield resolver
    finally:
        for address in GTLD:
            send_lab_command(lab.directory, {"op": "clear", "address": address})


def ctl(resolver: ResolverProcess, *words: str) -> subprocess.CompletedProcess[str]:
    """Run ``holdfast ctl --control SOCKET WORDS...`` (as ``python -m resolver``)."""
    return subprocess.run(
        [sys.executable, "-m", "resolver", "ctl", "--control", str(resolver.control), *words],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPOSITORY,
    )


def ctl_json(resolver: ResolverProcess, *words: str) -> Any:
    """``holdfast ctl WORDS...``, which must succeed and print JSON."""
    result = ctl(resolver, *words)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def routes(resolver: ResolverProcess) -> Any:
    """``route list`` over the control socket in process (no interpreter to start)."""
    return request(resolver.control, {"command": ["route", "list"]})


def test_ctl_route_add_list_del_steer_a_running_resolver(
    lab: LabProcess, resolver: ResolverProcess
) -> None:
    added = ctl_json(resolver, "route", "add", "com", "--only", "127.53.1.3", "--expires", "30m")
    assert added["replaced"] is None
    route = added["added"]
    assert {key: route[key] for key in ("zone", "mode", "addresses", "origin", "expires_in")} == {
        "zone": "com.",
        "mode": "only",
        "addresses": ["127.53.1.3"],
        "origin": "control",
        "expires_in": 1800,
    }
    assert route["expires"].endswith("Z")
    [listed] = ctl_json(resolver, "route", "list")
    assert listed == {**route, "expires_in": listed["expires_in"]}
    assert 1790 <= listed["expires_in"] <= 1800  # counting down on the wall clock

    reply = resolver.dig("www.nonsec.com", "A", "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert reply.answers("A") == ["192.0.2.35"]
    assert "ad" in reply.flags, reply.output

    # Only .3 is asked for com: once it fails for com., a fresh com name fails too.
    send_lab_command(
        lab.directory, {"op": "fault", "address": "127.53.1.3", "kind": "servfail", "zone": "com."}
    )
    reply = resolver.dig("www.bench.com", "A", "+dnssec")
    assert reply.status == "SERVFAIL", reply.output
    assert "no usable server for com." in reply.ede, reply.output
    assert "127.53.1.3" in reply.ede, reply.output
    held = ctl_json(resolver, "holddown", "list")
    assert isinstance(held, list)
    assert held == []  # a SERVFAIL is not bogus data: no hold-down

    deleted = ctl_json(resolver, "route", "del", "com")
    assert deleted == {"deleted": {**route, "expires_in": deleted["deleted"]["expires_in"]}}
    assert routes(resolver) == []
    # Without the route the other com servers are asked again.
    reply = resolver.dig("www.example.com", "A", "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert "ad" in reply.flags, reply.output

    again = ctl(resolver, "route", "del", "com")
    assert again.returncode != 0
    assert again.stdout == ""
    assert "no route for 'com'" in again.stderr
    assert "holdfast ctl route list" in again.stderr

    bad = ctl(resolver, "route", "add", "com", "--avoid", "not-an-ip")
    assert bad.returncode != 0
    assert bad.stdout == ""
    assert "'not-an-ip' is not an IP address" in bad.stderr
    assert routes(resolver) == []
