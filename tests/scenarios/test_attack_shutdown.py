"""SIGTERM stops ``holdfast serve`` while the glueless fan-out is being resolved.

Issue 16: one query whose referral lists N NS names without glue, each in a
zone that refers the same way one level deeper, held the event loop for
minutes and SIGTERM was ignored. The lab serves that attack for real
(``fanout.com.``, ``resolver/lab/fanout.py``). Several never-asked fan-out
queries are sent, their servers answering late so that the queries are
surely in flight (seen in ``/proc/net/udp``) when SIGTERM comes; the
process must exit cleanly (0) within the shutdown grace (2 s) and the
teardown margin the other shutdown scenario allows.
"""

from __future__ import annotations

import random
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import pytest

from resolver.daemon import SHUTDOWN_GRACE
from resolver.lab.fanout import cut_label
from tests.scenarios.processes import LabProcess, ResolverProcess, stop, zone_delayed
from tests.scenarios.spoofing import upstream_sockets

pytestmark = pytest.mark.integration

FANOUT = "fanout.com."
#: How late the fan-out servers answer: each fan-out query then lasts
#: seconds (its upstream queries one after another), longer than the grace.
DELAY_MS = 100
#: Fan-out queries in flight at SIGTERM.
ATTACKS = 4
#: What the exit may take beyond the grace: the event loop's and Python's teardown.
EXIT_MARGIN = 1.0


@pytest.fixture
def slow_fanout(lab: LabProcess) -> Iterator[list[str]]:
    with zone_delayed(lab, FANOUT, DELAY_MS) as servers:
        yield servers


def test_sigterm_stops_the_server_during_the_fan_out_attack(
    lab: LabProcess, tmp_path: Path, slow_fanout: list[str]
) -> None:
    resolver = ResolverProcess.start(lab, tmp_path)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rng = random.Random(16)
        for number in range(ATTACKS):
            name = f"www.{cut_label(rng.randrange(10**9))}.{FANOUT}"
            client.sendto(dns.message.make_query(name, "A", id=number).to_wire(),
                          (resolver.host, resolver.port))
        deadline = time.monotonic() + 10
        while not upstream_sockets(slow_fanout):  # the fan-out is being resolved
            assert time.monotonic() < deadline, resolver.log.read_text()
            time.sleep(0.005)
        resolver.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        status = resolver.process.wait(timeout=SHUTDOWN_GRACE + 10)
        stopped = time.monotonic()
    finally:
        client.close()
        stop(resolver.process)
    log = resolver.log.read_text()
    assert status == 0, log
    assert stopped - signalled <= SHUTDOWN_GRACE + EXIT_MARGIN, (stopped - signalled, log)
