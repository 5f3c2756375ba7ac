"""End to end: SIGTERM during load loses no answered query.

A real ``holdfast serve`` answers a few hundred UDP queries from a client
with sockets of its own: names it has cached (the ready-made path) and
names under example.org, whose two servers the lab delays, so that their
answers take half a second and some are in flight when SIGTERM arrives.
Which queries the resolver "had received" is made exact with a marker: the
server reads its UDP socket in order, so once the answer to a query sent
after a batch is back, every query of the batch was read. Then:

* every query read before SIGTERM gets its answer (their resolution needs
  well under the 2 s grace);
* every answer, before or after the signal, is a whole, matching response
  (no truncated or garbage reply from a half-stopped server);
* the process exits 0, within the grace and a second.
"""

from __future__ import annotations

import itertools
import select
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from resolver.daemon import SHUTDOWN_GRACE
from tests.scenarios.processes import LabProcess, ResolverProcess, stop, zone_delayed

pytestmark = pytest.mark.integration

SLOW_ZONE = "example.org."
#: How late the slow zone's servers answer: longer than a marker's round
#: trip by far, shorter than the grace by far.
DELAY_MS = 500
#: Cached by the warm-up; answered from ready-made responses.
CACHED = [("www.example.com.", "A"), ("www.example.com.", "AAAA"), ("www.example.net.", "A"),
          ("www.example.org.", "A")]
#: Queries before the marker, and after SIGTERM; every third one is slow.
BEFORE, AFTER = 240, 120
#: Seconds between two queries (a steady load, not a burst the socket drops).
SPACING = 0.002
#: What the exit may take beyond the grace: the event loop's and Python's teardown.
EXIT_MARGIN = 1.0


@dataclass
class Sent:
    name: str
    rdtype: str
    at: float
    slow: bool


class Client:
    """UDP queries from sockets of its own; each answer is matched by socket and ID."""

    def __init__(self, host: str, port: int, sockets: int = 16) -> None:
        self.server = (host, port)
        self.sockets = []
        for _ in range(sockets):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            self.sockets.append(sock)
        self._ids = itertools.count(1)
        self.sent: dict[tuple[int, int], Sent] = {}
        self.answers: dict[tuple[int, int], tuple[float, bytes]] = {}

    def send(self, name: str, rdtype: str, *, slow: bool = False) -> tuple[int, int]:
        number = next(self._ids)
        index, query_id = number % len(self.sockets), number % 65536
        query = dns.message.make_query(name, rdtype, id=query_id)
        self.sockets[index].sendto(query.to_wire(), self.server)
        key = (index, query_id)
        self.sent[key] = Sent(name, rdtype, time.monotonic(), slow)
        return key

    def receive(self, timeout: float) -> None:
        """Read every answer that arrives within ``timeout`` seconds (at least one look)."""
        readable, _, _ = select.select(self.sockets, [], [], timeout)
        for sock in readable:
            index = self.sockets.index(sock)
            while True:
                try:
                    wire = sock.recv(65535)
                except BlockingIOError:
                    break
                query_id = int.from_bytes(wire[:2], "big") if len(wire) >= 2 else -1
                self.answers[(index, query_id)] = (time.monotonic(), wire)

    def wait_for(self, key: tuple[int, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while key not in self.answers:
            left = deadline - time.monotonic()
            assert left > 0, f"no answer to {self.sent[key]} within {timeout} s"
            self.receive(left)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def queries(start: int) -> Iterator[tuple[str, str, bool]]:
    """The load: cached names, and every third query a new name in the slow zone."""
    for number in itertools.count(start):
        if number % 3 == 0:
            yield f"q{number}.{SLOW_ZONE}", "A", True
        else:
            name, rdtype = CACHED[number % len(CACHED)]
            yield name, rdtype, False


def check_answer(sent: Sent, wire: bytes) -> None:
    """A whole response to ``sent``: it parses, matches, is not truncated, has the right rcode."""
    response = dns.message.from_wire(wire)
    assert response.flags & dns.flags.QR
    assert not response.flags & dns.flags.TC, response
    assert [(q.name.to_text(), dns.rdatatype.to_text(q.rdtype)) for q in response.question] == [
        (sent.name, sent.rdtype)
    ]
    expected = dns.rcode.NXDOMAIN if sent.slow else dns.rcode.NOERROR
    assert response.rcode() == expected, response
    if not sent.slow:
        assert response.answer, response


@pytest.fixture
def slow_zone(lab: LabProcess) -> Iterator[list[str]]:
    """The slow zone's servers answer ``DELAY_MS`` late; cleared after the test."""
    with zone_delayed(lab, SLOW_ZONE, DELAY_MS) as servers:
        yield servers


def test_sigterm_during_load_loses_no_answered_query(
    lab: LabProcess, tmp_path: Path, slow_zone: list[str]
) -> None:
    resolver = ResolverProcess.start(lab, tmp_path)
    client = Client(resolver.host, resolver.port)
    try:
        for name, rdtype in CACHED:  # the slow zone's keys too, so a slow name costs one delay
            client.wait_for(client.send(name, rdtype), timeout=30)
        load = queries(0)
        before = []
        for name, rdtype, slow in itertools.islice(load, BEFORE):
            before.append(client.send(name, rdtype, slow=slow))
            client.receive(SPACING)
        # Markers: once one is answered, the server has read every query sent
        # before it. The slow queries sent just before the last marker are
        # then in flight: they take DELAY_MS, a marker a few milliseconds.
        client.wait_for(client.send(*CACHED[0]), timeout=30)
        before += [client.send(f"last{n}.{SLOW_ZONE}", "A", slow=True) for n in range(5)]
        marker = client.send(*CACHED[0])
        client.wait_for(marker, timeout=30)
        before.append(marker)

        resolver.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        after = []
        for name, rdtype, slow in itertools.islice(load, AFTER):
            if resolver.process.poll() is not None:
                break
            after.append(client.send(name, rdtype, slow=slow))
            client.receive(SPACING)
        while resolver.process.poll() is None and time.monotonic() < signalled + 10:
            client.receive(0.01)
        stopped = time.monotonic()
        client.receive(0.2)  # answers sent just before the exit
        status = resolver.process.wait(timeout=10)
    finally:
        client.close()
        stop(resolver.process)

    log = resolver.log.read_text()
    assert status == 0, log
    assert stopped - signalled <= SHUTDOWN_GRACE + EXIT_MARGIN, log
    missing = [client.sent[key] for key in before if key not in client.answers]
    assert missing == [], log
    for key, (_, wire) in client.answers.items():
        check_answer(client.sent[key], wire)
    in_flight = [key for key in before if client.answers[key][0] > signalled]
    assert in_flight, "no query was in flight at SIGTERM: the test tested nothing"
    assert all(client.sent[key].slow for key in in_flight)
