"""The floor program's steps and shell over the in-memory lab, and the cold-floor report.

The floor (``bench.floor``) is a measuring instrument: these keep it honest
(it verifies what it claims to, refuses what a validator must refuse, and
its dnspython and hand-written variants give the same bytes), and keep it
running, without NSD.
"""

from __future__ import annotations

import socket

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
import trio

from bench import floor_costs, floor_steps, floor_wire
from bench.cold_floor import report
from bench.cold_nsd import ColdFigures
from bench.dnsperf import DnsperfRun
from bench.floor import VARIANTS, serve
from bench.floor_steps import Answer, ZoneTrust
from resolver.clock import FakeClock
from resolver.lab import Lab

SERVER = floor_costs.BENCH_SERVER


@pytest.fixture(scope="module")
def trust(session_lab: Lab) -> ZoneTrust:
    query = dns.message.make_query(floor_costs.BENCH_ZONE, dns.rdatatype.DNSKEY)
    wire = session_lab.handle(SERVER, query.to_wire(), tcp=False).wire
    assert wire is not None
    return ZoneTrust.of(dns.message.from_wire(wire).answer[0])


def _upstream(lab: Lab, wire: bytes) -> bytes:
    reply = lab.handle(SERVER, wire, tcp=False).wire
    assert reply is not None
    return reply


def _client(name: str, dnssec: bool) -> bytes:
    query = dns.message.make_query(name, dns.rdatatype.A, want_dnssec=dnssec)
    return query.to_wire() if dnssec else floor_costs.client_query(name)


def _corrupted(reply: bytes) -> bytes:
    """The reply with one bit of its answer's RRSIG signature flipped."""
    signature = dns.message.from_wire(reply).answer[1][0].signature
    assert reply.count(signature) == 1
    return reply.replace(signature, signature[:-1] + bytes([signature[-1] ^ 1]))


def _asked(
    lab: Lab, name: str, dnssec: bool, *, corrupt: bool = False
) -> tuple[bytes, dns.message.Message, bytes, Answer]:
    """The client's query for ``name`` (wire and read), the lab's reply, its answer and RRSIG."""
    wire = _client(name, dnssec)
    query = floor_steps.read_query(wire)
    reply = _upstream(lab, floor_steps.upstream_query(query, 7))
    if corrupt:
        reply = _corrupted(reply)
    answer = floor_steps.answer_of(query, floor_steps.read_reply(reply))
    assert answer is not None
    return wire, query, reply, answer


@pytest.mark.parametrize("dnssec", [False, True])
def test_both_step_sets_verify_the_lab_answer_and_write_the_same_response(
    session_lab: Lab, lab_clock: FakeClock, trust: ZoneTrust, dnssec: bool
) -> None:
    wire, query, reply, answer = _asked(session_lab, "N123.bench.com.", dnssec)
    now = lab_clock.wall()
    assert floor_steps.verify_with_dnspython(answer, trust, now)
    assert floor_steps.verify_by_hand(answer, trust, now)
    wire_query = floor_wire.read_query(wire)
    assert floor_wire.upstream_query(wire_query, 7) == floor_steps.upstream_query(query, 7)
    wire_answer = floor_wire.read_reply(reply, wire_query)
    assert wire_answer is not None
    assert floor_wire.verify(wire_answer, wire_query, trust, now)
    response = floor_steps.render(query, answer, True)
    assert floor_wire.render(wire_query, wire_answer, True) == response
    message = dns.message.from_wire(response)
    assert message.id == query.id
    assert [rrset.rdtype for rrset in message.answer] == (
        [dns.rdatatype.A, dns.rdatatype.RRSIG] if dnssec else [dns.rdatatype.A])
    assert bool(message.flags & dns.flags.AD) is dnssec  # RFC 6840 5.8: only if asked


def test_a_broken_signature_is_refused_and_answered_servfail(
    session_lab: Lab, lab_clock: FakeClock, trust: ZoneTrust
) -> None:
    wire, query, reply, answer = _asked(session_lab, "n124.bench.com.", True, corrupt=True)
    now = lab_clock.wall()
    assert not floor_steps.verify_with_dnspython(answer, trust, now)
    assert not floor_steps.verify_by_hand(answer, trust, now)
    wire_query = floor_wire.read_query(wire)
    wire_answer = floor_wire.read_reply(reply, wire_query)
    assert wire_answer is not None
    assert not floor_wire.verify(wire_answer, wire_query, trust, now)
    servfail = floor_wire.render(wire_query, None, False)
    assert servfail == floor_steps.render(query, None, False)
    assert dns.message.from_wire(servfail).rcode() == dns.rcode.SERVFAIL


def test_a_signature_outside_its_window_is_refused_though_it_verifies(
    session_lab: Lab, lab_clock: FakeClock, trust: ZoneTrust
) -> None:
    wire, _, reply, answer = _asked(session_lab, "n125.bench.com.", True)
    expired = answer[1][0].expiration + 1
    assert floor_steps.verify_by_hand(answer, trust, lab_clock.wall())
    assert not floor_steps.verify_by_hand(answer, trust, expired)
    assert not floor_steps.verify_with_dnspython(answer, trust, expired)
    wire_query = floor_wire.read_query(wire)
    wire_answer = floor_wire.read_reply(reply, wire_query)
    assert wire_answer is not None
    assert not floor_wire.verify(wire_answer, wire_query, trust, expired)


def test_a_reply_to_another_question_is_no_answer(session_lab: Lab) -> None:
    asked = floor_steps.read_query(_client("n126.bench.com.", False))
    other = floor_steps.read_query(_client("n127.bench.com.", False))
    reply = _upstream(session_lab, floor_steps.upstream_query(other, 7))
    assert floor_steps.answer_of(asked, floor_steps.read_reply(reply)) is None
    assert floor_wire.read_reply(reply, floor_wire.read_query(_client("n126.bench.com.", False))
                                 ) is None


@pytest.mark.parametrize(
    "wire",
    [b"\x00\x01", floor_costs.client_query()[:-3],
     _client("n1.bench.com.", False)[:2] + b"\x81\x00" + _client("n1.bench.com.", False)[4:]],
    ids=["header cut", "question cut", "a response"])
def test_the_wire_reader_refuses_what_it_cannot_take(wire: bytes) -> None:
    with pytest.raises(floor_wire.WireError):
        floor_wire.read_query(wire)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
async def test_the_floor_answers_over_udp_with_replies_matched_by_id(
    session_lab: Lab, lab_clock: FakeClock, trust: ZoneTrust, variant: str
) -> None:
    """The Trio shell: clients in, one socket to the authority, replies matched by ID."""
    authority = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with authority, client:
        await authority.bind(("127.0.0.1", 0))
        await client.bind(("127.0.0.1", 0))

        async def lab_server() -> None:
            while True:
                wire, source = await authority.recvfrom(4096)
                await authority.sendto(_upstream(session_lab, wire), source)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(lab_server)
            listen = await nursery.start(serve, ("127.0.0.1", 0), authority.getsockname(),
                                         VARIANTS[variant](trust, lab_clock.wall))
            names = [f"n{index}.bench.com." for index in range(130, 134)]
            for name in names:
                await client.sendto(_client(name, True), listen)
            with trio.fail_after(5):
                responses = [dns.message.from_wire((await client.recvfrom(4096))[0])
                             for _ in names]
            nursery.cancel_scope.cancel()
    assert sorted(str(r.question[0].name) for r in responses) == names
    assert all(r.rcode() == dns.rcode.NOERROR and r.answer for r in responses)
    assert all(bool(r.flags & dns.flags.AD) is (variant != "unvalidated") for r in responses)


def test_every_step_timing_runs_through(session_lab: Lab, trust: ZoneTrust) -> None:
    query = floor_costs.client_query()
    upstream = floor_steps.upstream_query(floor_steps.read_query(query), 1)
    figures = floor_costs.costs(query, _upstream(session_lab, upstream), trust, repeat=2,
                                rounds=1)
    assert set(floor_costs.per_answer(figures)) == set(VARIANTS)
    assert all(cost >= 0 for cost in figures.values())


def test_the_report_has_every_resolver_and_the_steps() -> None:
    run = DnsperfRun(sent=100, completed=100, lost=0, qps=500, elapsed=0.2, latencies=[0.01])
    figures = [ColdFigures(name, "", True, [run] * 3, [share] * 3, [0.01] * 3)
               for name, share in (("Unbound", 0.1), ("Holdfast", 0.5), ("Floor wire", 0.2))]
    steps = dict.fromkeys({step for uses in floor_costs.VARIANTS.values() for step in uses}, 1.0)
    text = report(figures, 100, {**steps, "wire: read query": 3.0}, b"x" * 548,
                  ((0.5, 0.4, 0.3), (1.0, 0.9, 0.8)))
    assert "| | Unbound | Holdfast | Floor wire |" in text
    assert "| resolver CPU per answer (ms) | 0.20 (0.20-0.20) | 1.00 (1.00-1.00) |" in text
    assert "| Unbound's CPU per answer / this | 1 | **0.20x** | **0.50x** |" in text
    assert "before: 0.50 0.40 0.30; after: 1.00 0.90 0.80" in text
    assert "NSD's reply (548 bytes)" in text
    assert "| wire: read query | 3.0 |" in text
    assert "| **sum per answer, floor wire** (Trio datagram twice) | **10.0** |" in text
