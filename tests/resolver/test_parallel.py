"""Independent sub-questions at once (``resolver.parallel``): the combinator alone,
then glueless delegations over scripted authorities and the lab.

Trio's clock autojumps, so every time asserted is exact and costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio
import trio.testing

from dnssec.status import Security
from resolver import parallel
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import (
    Abandon,
    Await,
    Exchange,
    Landed,
    Launch,
    Launched,
    Tick,
    UpstreamQuery,
    UpstreamReply,
    ask,
)
from resolver.hedging import Race
from resolver.lab import Lab
from resolver.lab.network import LabTransport
from resolver.limits import Limits, WorkLimitExceeded
from resolver.question import Question
from tests.resolver.test_iterator import Harness, addresses
from tests.resolver.test_iterator_limits import _referral, _reply
from tests.resolver.test_work_budget import fan_out
from tests.resolver.test_work_budget import iterator as unsigned_iterator

A = dns.rdatatype.A


def _query(address: str, name: str = "ns.example.") -> UpstreamQuery:
    return UpstreamQuery(address, dns.name.from_text(name), A)


def _reply_from(query: UpstreamQuery) -> UpstreamReply:
    request = dns.message.make_query(query.qname, query.rdtype)
    return UpstreamReply(query.address, dns.message.make_response(request), rtt=0.1)


def _asking(query: UpstreamQuery, value: str, closed: list[str] | None = None) -> Exchange[str]:
    """A sub-resolution that asks ``query`` plainly and returns ``value``."""
    try:
        yield from ask(query)
        return value
    finally:
        if closed is not None:
            closed.append(value)


# -- the combinator alone -----------------------------------------------------


def test_plain_queries_of_two_children_are_in_flight_at_once_and_the_first_usable_wins() -> None:
    one, two = _query("127.53.1.1"), _query("127.53.1.2")
    closed: list[str] = []
    late: list[UpstreamReply] = []
    run = parallel.first_usable(
        {"one": _asking(one, "1", closed), "two": _asking(two, "2", closed)}, bool, late.append
    )
    assert next(run) == Launch(one)
    assert run.send(Launched(1, 0.0)) == Launch(two)
    assert run.send(Launched(2, 0.0)) == Await(frozenset({1, 2}), float("inf"))
    # The second lands first: the first child is closed and its attempt abandoned.
    assert run.send(Landed(2, _reply_from(two), 0.3)) == Abandon(frozenset({1}), late.append)
    assert closed == ["2", "1"]
    with pytest.raises(StopIteration) as stop:
        run.send(None)
    assert stop.value.value == {"two": "2"}


def test_an_unusable_result_waits_for_the_others() -> None:
    one, two = _query("127.53.1.1"), _query("127.53.1.2")
    run = parallel.first_usable({"one": _asking(one, ""), "two": _asking(two, "2")}, bool, print)
    next(run)
    run.send(Launched(1, 0.0))
    run.send(Launched(2, 0.0))
    assert run.send(Landed(1, _reply_from(one), 0.2)) == Await(frozenset({2}), float("inf"))
    with pytest.raises(StopIteration) as stop:
        run.send(Landed(2, _reply_from(two), 0.3))
    assert stop.value.value == {"one": "", "two": "2"}


def _racing(query: UpstreamQuery) -> Exchange[str]:
    """A sub-resolution with a staggered attempt: it waits for its stagger point."""
    race = Race()
    yield from race.launch(query, stagger=0.25)
    ended = yield from race.wait(hedging=True)
    return "ticked" if ended is None else "landed"


def test_a_tick_goes_only_to_the_children_whose_deadline_came() -> None:
    one, two = _query("127.53.1.1"), _query("127.53.1.2")
    run = parallel.first_usable({"race": _racing(one), "plain": _asking(two, "")}, bool, print)
    next(run)
    run.send(Launched(1, 10.0))
    # The race's stagger point is the deadline; the plain query has none.
    assert run.send(Launched(2, 10.0)) == Await(frozenset({1, 2}), 10.25)
    # Every attempt still in flight is abandoned, the winner's own one included.
    assert run.send(Tick(10.25)) == Abandon(frozenset({1, 2}), print)
    with pytest.raises(StopIteration) as stop:
        run.send(None)
    assert stop.value.value == {"race": "ticked"}


def _spending(query: UpstreamQuery) -> Exchange[str]:
    yield from ask(query)
    raise WorkLimitExceeded("work limit: spent")


def test_a_spent_budget_in_one_child_stops_the_others() -> None:
    one, two = _query("127.53.1.1"), _query("127.53.1.2")
    closed: list[str] = []
    run = parallel.first_usable(
        {"one": _asking(one, "1", closed), "two": _spending(two)}, bool, print
    )
    next(run)
    run.send(Launched(1, 0.0))
    run.send(Launched(2, 0.0))
    assert run.send(Landed(2, _reply_from(two), 0.1)) == Abandon(frozenset({1}), print)
    assert closed == ["1"]
    with pytest.raises(WorkLimitExceeded):
        run.send(None)


# -- glueless delegations -------------------------------------------------------


class Timed:
    """Answers each query with ``script(query)`` after ``delay(query)`` seconds.

    ``spans`` records each exchange's (question name, server, start, end) on Trio's clock.
    """

    def __init__(
        self,
        script: Callable[[UpstreamQuery], dns.message.Message],
        delay: Callable[[UpstreamQuery], float],
    ) -> None:
        self.script = script
        self.delay = delay
        self.spans: list[tuple[str, str, float, float]] = []
        self.sent: list[UpstreamQuery] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        self.sent.append(query)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        start = trio.current_time()
        try:
            await trio.sleep(self.delay(query))
            reply = self.script(query)
        finally:
            self.in_flight -= 1
        self.spans.append((str(query.qname), query.address, start, trio.current_time()))
        return UpstreamReply(query.address, reply, rtt=trio.current_time() - start)


def _two_tlds(query: UpstreamQuery) -> dns.message.Message:
    """``zone.`` is served by ``ns.a-tld.`` and ``ns.b-tld.``, both without glue.

    ``ns.a-tld.`` does not exist; ``ns.b-tld.`` is 127.53.3.1.
    """
    name = str(query.qname)
    if query.address.startswith("127.53.0."):
        for tld, server in (("a-tld.", "127.53.1.1"), ("b-tld.", "127.53.2.1")):
            if name.endswith(tld):
                return _referral(query, dns.name.from_text(tld), server)
        message = _reply(query, aa=False)
        message.authority.append(
            dns.rrset.from_text("zone.", 300, "IN", "NS", "ns.a-tld.", "ns.b-tld.")
        )
        return message
    if query.address == "127.53.1.1":
        return _reply(query, aa=True, rcode=dns.rcode.NXDOMAIN)
    message = _reply(query, aa=True)
    address = "127.53.3.1" if query.address == "127.53.2.1" else "192.0.2.7"
    message.answer.append(dns.rrset.from_text(query.qname, 300, "IN", "A", address))
    return message


def _lookup_delay(query: UpstreamQuery) -> float:
    """The NS names' own servers are slow.

    ``ns.a-tld.``'s lookup takes 0.2 s (0.1 s for each of A and AAAA, no such
    name), ``ns.b-tld.``'s 0.3 s (its A is the address).
    """
    return {"127.53.1.1": 0.1, "127.53.2.1": 0.3}.get(query.address, 0.0)


async def _resolve_zone(transport: Timed, limits: Limits | None = None) -> str:
    question = Question(dns.name.from_text("www.zone."), A)
    outcome = await run_exchange(unsigned_iterator(FakeClock(), limits).resolve(question),
                                 transport)
    return " ".join(rrset.to_text() for rrset in outcome.answer)


async def test_two_ns_address_lookups_take_the_slower_of_the_two_not_their_sum(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transport = Timed(_two_tlds, _lookup_delay)
    started = trio.current_time()
    assert await _resolve_zone(transport) == "www.zone. 300 IN A 192.0.2.7"
    assert trio.current_time() - started == pytest.approx(0.3)
    lookups = [span for span in transport.spans if span[1] in ("127.53.1.1", "127.53.2.1")]
    # Both in flight at once: the failing one's A and AAAA within the other's A.
    assert lookups == [
        ("ns.a-tld.", "127.53.1.1", 0.0, pytest.approx(0.1)),
        ("ns.a-tld.", "127.53.1.1", pytest.approx(0.1), pytest.approx(0.2)),
        ("ns.b-tld.", "127.53.2.1", 0.0, pytest.approx(0.3)),
    ]


async def test_one_lookup_at_a_time_takes_their_sum(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same delegation as above, the way it was resolved before."""
    monkeypatch.setattr(parallel, "LOOKUPS_AT_ONCE", (1,))
    transport = Timed(_two_tlds, _lookup_delay)
    started = trio.current_time()
    assert await _resolve_zone(transport) == "www.zone. 300 IN A 192.0.2.7"
    assert trio.current_time() - started == pytest.approx(0.2 + 0.3)


async def test_parallel_lookups_spend_the_client_querys_one_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A glueless fan-out with three lookups at once gets one budget, not three."""
    script = fan_out(50).script
    transport = Timed(script, lambda query: 0.01)
    limits = Limits(max_upstream_queries=12)
    question = Question(dns.name.from_text("www.l0.fan."), A)
    outcome = await run_exchange(unsigned_iterator(FakeClock(), limits).resolve(question),
                                 transport)
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert "12 upstream queries" in outcome.errors[0].text
    assert transport.most_in_flight >= 2  # the lookups did run at once
    assert len(transport.sent) == 12


async def test_the_lab_noglue_zone_looks_up_both_ns_names_at_once(
    lab: Lab, clock: FakeClock, autojump_clock: trio.testing.MockClock
) -> None:
    harness = Harness(lab, clock)
    assert addresses(await harness.ask("www.example.net.")) == {"192.0.2.3"}
    slow = {"ns1-noglue.example.net.": 0.4, "ns2-noglue.example.net.": 0.3}
    inner = harness.transport
    asked: dict[str, float] = {}
    answered: dict[str, float] = {}

    class Slowed(LabTransport):
        async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
            name = str(query.qname).lower()
            asked.setdefault(name, trio.current_time())
            await trio.sleep(slow.get(name, 0.0))
            reply = await inner.exchange(query)
            answered.setdefault(name, trio.current_time())
            return reply

    harness.transport = Slowed(lab)
    started = trio.current_time()
    outcome = await harness.ask("www.noglue.com.")
    assert addresses(outcome) == {"192.0.2.15"}
    # Both asked at once; the first address found is used: the answer did
    # not wait for the other lookup, whose reply never came in time.
    assert asked["ns1-noglue.example.net."] == asked["ns2-noglue.example.net."] == started
    assert answered["ns2-noglue.example.net."] - started == pytest.approx(0.3)
    assert "ns1-noglue.example.net." not in answered
    assert trio.current_time() - started == pytest.approx(0.3)


# -- a zone's keys alongside the question ----------------------------------------


async def test_each_signed_zones_keys_come_alongside_its_question(
    lab: Lab, clock: FakeClock, autojump_clock: trio.testing.MockClock
) -> None:
    """A cold validated answer three zones down costs three round trips, not six."""
    harness = Harness(lab, clock)
    inner = harness.transport

    class Distant(LabTransport):
        async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
            await trio.sleep(0.05)
            return await inner.exchange(query)

    harness.transport = Distant(lab)
    started = trio.current_time()
    outcome = await harness.ask("www.example.com.")
    assert addresses(outcome) == {"192.0.2.1"}
    assert outcome.security is Security.SECURE
    assert trio.current_time() - started == pytest.approx(3 * 0.05)
    assert len(inner.sent) == 6  # the same queries as one at a time


async def test_an_unsigned_zones_keys_are_not_asked_for(
    lab: Lab, clock: FakeClock, autojump_clock: trio.testing.MockClock
) -> None:
    harness = Harness(lab, clock)
    outcome = await harness.ask("www.insecure.com.")
    assert outcome.security is Security.INSECURE
    keys = {str(q.qname) for q in harness.sent if q.rdtype == dns.rdatatype.DNSKEY}
    assert keys == {".", "com."}
