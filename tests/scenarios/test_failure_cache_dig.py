"""End to end: RFC 9520 failure caching in a running ``holdfast serve``, asked with dig.

Both lab servers of ``example.com.`` go silent (the lab's ``drop`` fault).
The first client query for a name there fails the slow way, asking
upstream; the next ones, within the hold (``[cache] failure_ttl``), are
answered SERVFAIL with EDE 13 "Cached Error" at once and ask nothing
upstream, which the resolver's own per-server query counters (``ctl
stats``) and its ``holdfast_failure_cache_*`` series show. The hold is set
long (60 s) so that no step depends on how fast the machine is.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resolver.lab import send_lab_command
from resolver.metrics import exposition
from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving

pytestmark = [pytest.mark.integration, NEEDS_DIG]

#: Seconds a failure is held: far longer than the test runs.
HOLD = 60
#: A client answered from the failure cache waits less than this, seconds (a
#: resolution against silent servers takes several).
QUICK = 0.5


@pytest.fixture
def resolver(lab: LabProcess, tmp_path: Path) -> Iterator[ResolverProcess]:
    config = tmp_path / "holdfast.toml"
    config.write_text(f"[cache]\nfailure_ttl = {HOLD}\n")
    with serving(ResolverProcess.start(lab, tmp_path, "--config", str(config))) as resolver:
        yield resolver


@pytest.fixture
def silenced(lab: LabProcess) -> Iterator[list[str]]:
    """Silence example.com.'s lab servers when called; they answer again afterwards."""
    servers = [a for a, zones in lab.zones_by_address().items() if "example.com." in zones]
    assert len(servers) == 2
    yield servers
    for address in servers:
        send_lab_command(lab.directory, {"op": "clear", "address": address})


def stats(resolver: ResolverProcess) -> Any:
    reply = resolver.ctl("stats")
    assert reply.returncode == 0, reply.stderr
    return json.loads(reply.stdout)


def upstream_queries(resolver: ResolverProcess) -> int:
    """Queries the resolver has sent to any server (its per-server counters, summed)."""
    return sum(stats(resolver)["upstream"]["queries"].values())


def ede_codes(output: str) -> list[int]:
    return [int(code) for code in re.findall(r"; EDE: (\d+)", output)]


def test_a_failed_name_is_not_asked_again_during_its_hold(
    lab: LabProcess, resolver: ResolverProcess, silenced: list[str]
) -> None:
    # Serve-stale during a hold needs TTLs to run out: it is tested on a fake
    # clock (tests/resolver/test_failure_cache.py), not by sleeping here.
    for address in silenced:
        send_lab_command(lab.directory, {"op": "fault", "address": address, "kind": "drop"})

    first = resolver.dig("www.example.com", "A")
    assert first.status == "SERVFAIL", first.output
    assert 13 not in ede_codes(first.output), "the first failure is not a cached one"
    asked = upstream_queries(resolver)
    hits = stats(resolver)["failure_cache"]["question"]["hits"]

    for _ in range(3):
        started = time.monotonic()
        again = resolver.dig("www.example.com", "A")
        assert time.monotonic() - started < QUICK, again.output
        assert again.status == "SERVFAIL", again.output
        assert 13 in ede_codes(again.output), again.output  # Cached Error (RFC 8914)
    after = stats(resolver)
    assert sum(after["upstream"]["queries"].values()) == asked, "asked upstream during the hold"
    assert after["failure_cache"]["question"]["hits"] == hits + 3
    assert after["failure_cache"]["question"]["entries"] >= 1
    series = exposition(after).decode()
    assert re.search(r'holdfast_failure_cache_hits_total\{[^}]*"question"\} [1-9]', series), series
    assert "holdfast_failure_cache_entries" in series
