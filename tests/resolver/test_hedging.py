"""Staggered attempts (``resolver.hedging``): the race alone, then the iterator over the lab.

Trio's clock autojumps, so every time asserted is exact and costs nothing.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import TypeVar

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio
import trio.testing

from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.errors import MalformedResponse, UpstreamTimeout
from resolver.exchange import (
    PAUSE,
    Await,
    Exchange,
    Landed,
    Launch,
    Launched,
    Tick,
    Transport,
    UpstreamQuery,
    UpstreamReply,
)
from resolver.hedging import LATE_REPLY_WINDOW, RTO_GRACE, Race
from resolver.iterator import Iterator, ResolutionFailed
from resolver.lab import Lab
from resolver.lab.faults import parse_fault
from resolver.limits import Limits
from resolver.question import Outcome, Question
from resolver.selection import STAGGER_UNKNOWN, UNKNOWN_RTO, ServerSelection
from tests.resolver.test_iterator import Harness, addresses
from tests.resolver.test_iterator_limits import HINTS, _referral, _reply, unanchored

T = TypeVar("T")
A = dns.rdatatype.A
QUESTION = UpstreamQuery("127.53.0.1", dns.name.from_text("www.example."), A, timeout=0.4)


class _Prefer(random.Random):
    """Chooses ``first`` whenever it is among the choices: the test decides who is asked first."""

    def __init__(self, first: str) -> None:
        super().__init__(0)
        self.first = first

    def choice(self, seq: Sequence[T]) -> T:
        return next((item for item in seq if item == self.first), seq[0])


# -- the race alone ----------------------------------------------------------


def test_the_next_server_may_be_asked_from_the_stagger_point_not_before() -> None:
    race = Race()
    launch = race.launch(QUESTION, stagger=0.25)
    assert next(launch) == Launch(QUESTION)
    with pytest.raises(StopIteration):
        launch.send(Launched(1, 10.0))
    assert not race.may_hedge()
    wait = race.wait(hedging=True)
    assert next(wait) == Await(frozenset({1}), 10.25)  # the stagger point comes first
    with pytest.raises(StopIteration) as stop:
        wait.send(Tick(10.25))
    assert stop.value.value is None
    assert race.may_hedge()
    assert race.expire() == []  # hedged past, not timed out
    wait = race.wait(hedging=False)
    # Then only its RTO matters (with the grace for the transport's own timer).
    assert next(wait) == Await(frozenset({1}), pytest.approx(10.4 + RTO_GRACE))
    with pytest.raises(StopIteration):
        wait.send(Tick(10.4 + RTO_GRACE))
    assert race.expire() == ["127.53.0.1"]
    assert race.expire() == []  # reported once


def test_an_attempt_that_timed_out_still_lands() -> None:
    race = Race()
    launch = race.launch(QUESTION, stagger=0.25)
    next(launch)
    with pytest.raises(StopIteration):
        launch.send(Launched(7, 0.0))
    wait = race.wait(hedging=False)
    next(wait)
    with pytest.raises(StopIteration):
        wait.send(Tick(0.4 + RTO_GRACE))
    assert race.expire() == ["127.53.0.1"]
    assert race.all_expired()
    wait = race.wait(hedging=False)
    # Listening on, until the late-reply window ends.
    assert next(wait) == Await(frozenset({7}), LATE_REPLY_WINDOW)
    assert not race.waited_out()
    late = UpstreamReply("127.53.0.1", dns.message.make_response(dns.message.make_query(
        QUESTION.qname, A)), rtt=3.0)
    with pytest.raises(StopIteration) as stop:
        wait.send(Landed(7, late, 3.0))
    attempt, result = stop.value.value
    assert (attempt.address, attempt.timed_out, result) == ("127.53.0.1", True, late)
    assert not race.in_flight


# -- the iterator over the lab -----------------------------------------------


def _insecure_servers(lab: Lab) -> tuple[str, str]:
    first, second = sorted(s.address for s in lab.servers if "insecure.com." in s.zones)
    return first, second


async def _warm(harness: Harness) -> None:
    """Measure the root and com. servers and cache the delegation of insecure.com."""
    outcome = await harness.ask("www.insecure.com.")
    assert addresses(outcome)
    harness.cache.flush_name(dns.name.from_text("www.insecure.com."))


def _prefer(harness: Harness, clock: FakeClock, address: str) -> ServerSelection:
    selection = ServerSelection(clock, rng=_Prefer(address))
    harness.selection = harness.iterator.selection = selection
    return selection


async def test_a_server_dropping_everything_costs_the_stagger_delay_not_its_timeout(
    lab: Lab, clock: FakeClock, autojump_clock: trio.testing.MockClock
) -> None:
    harness = Harness(lab, clock)
    await _warm(harness)
    dropper, healthy = _insecure_servers(lab)
    # A fresh selection: neither server measured, the dropper asked first.
    selection = _prefer(harness, clock, dropper)
    lab.set_fault(dropper, parse_fault("drop"))
    sent = len(harness.sent)
    started = trio.current_time()
    outcome = await harness.ask("www.insecure.com.")
    assert addresses(outcome) == {"192.0.2.12"}
    asked = [q.address for q in harness.sent[sent:] if q.address in (dropper, healthy)]
    assert asked == [dropper, healthy]
    # Hedged at the stagger delay; waiting for its RTO would have cost more.
    assert trio.current_time() - started == pytest.approx(STAGGER_UNKNOWN)
    assert STAGGER_UNKNOWN < UNKNOWN_RTO
    # The winner came before the dropper's RTO: no timeout counted against it.
    stats = {s.address: s for s in selection.statistics().servers}
    assert dropper not in stats or stats[dropper].timeouts == 0


async def test_every_server_of_a_zone_answering_after_3_s_still_answers(
    lab: Lab, clock: FakeClock, autojump_clock: trio.testing.MockClock
) -> None:
    harness = Harness(lab, clock)
    await _warm(harness)
    for address in _insecure_servers(lab):
        lab.set_fault(address, parse_fault("delay:3000"))
    started = trio.current_time()
    outcome = await harness.ask("www.insecure.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert addresses(outcome) == {"192.0.2.12"}
    # Longer than any RTO (2 s at most), within the 5 s time budget.
    assert trio.current_time() - started == pytest.approx(3.0)


async def test_a_silent_zone_is_given_up_within_the_late_reply_window(
    lab: Lab, clock: FakeClock, autojump_clock: trio.testing.MockClock
) -> None:
    """Late replies are waited for, but not for the whole time budget: clients wait 5 s."""
    harness = Harness(lab, clock)
    await _warm(harness)
    for address in _insecure_servers(lab):
        lab.set_fault(address, parse_fault("drop"))
    started = trio.current_time()
    outcome = await harness.ask("www.insecure.com.")
    assert outcome.rcode == dns.rcode.SERVFAIL
    # Given up when the rounds are spent (their backed-off RTOs add up to
    # 6.9 s here, as before hedging), not after a further wait: each attempt
    # would listen for the 5 s time budget.
    assert LATE_REPLY_WINDOW < trio.current_time() - started < 7.0


async def test_a_losing_attempts_late_reply_only_updates_its_rtt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The root server asked first refers late, and elsewhere; the other one wins.

    Its reply comes while the resolution still waits for up.'s server: it
    gives that root server an RTT, and its referral is neither followed
    nor cached.
    """
    slow, fast = "127.53.0.1", "127.53.0.2"
    late_arrived = trio.Event()

    class Script:
        def __init__(self) -> None:
            self.sent: list[UpstreamQuery] = []

        async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
            self.sent.append(query)
            if query.address == slow:
                await trio.sleep(0.3)
                late_arrived.set()
                message = _referral(query, dns.name.from_text("up."), "127.53.6.6")
            elif query.address == fast:
                message = _referral(query, dns.name.from_text("up."), "127.53.9.1")
            else:
                await trio.sleep(0.5)
                message = _reply(query, aa=True)
                message.answer.append(
                    dns.rrset.from_text(query.qname, 300, "IN", "A", "192.0.2.7")
                )
            return UpstreamReply(query.address, message, rtt=trio.current_time() - started)

    selection = ServerSelection(FakeClock(), rng=_Prefer(slow))
    transport = Script()
    started = trio.current_time()
    outcome = await resolve_with(transport, "www.up.", selection)
    assert late_arrived.is_set()
    assert [rrset.to_text() for rrset in outcome.answer] == ["www.up. 300 IN A 192.0.2.7"]
    assert "127.53.6.6" not in {query.address for query in transport.sent}
    stats = {s.address: s for s in selection.statistics().servers}
    assert stats[slow].srtt == pytest.approx(0.3)
    assert stats[slow].timeouts == 0
    assert trio.current_time() - started == pytest.approx(STAGGER_UNKNOWN + 0.5)


async def resolve_with(transport: Transport, name: str, selection: ServerSelection) -> Outcome:
    """Resolve ``name`` A over ``transport`` from the scripted root ``HINTS``."""
    clock = FakeClock()
    cache = Cache(clock)
    iterator = Iterator(cache=cache, selection=selection, hints=HINTS, limits=Limits(),
                        validator=unanchored(cache, clock), qname_minimisation=False)
    return await run_exchange(iterator.resolve(Question(dns.name.from_text(name), A)), transport)


# -- the driver ----------------------------------------------------------------


class _Silent:
    """A transport whose servers never answer within the test."""

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        await trio.sleep(query.listen_for)
        raise UpstreamTimeout(query.address, "silent")


async def test_attempts_still_running_do_not_hold_up_the_result(
    autojump_clock: trio.testing.MockClock,
) -> None:
    late: list[UpstreamReply] = []

    def resolution() -> Exchange[str]:
        race = Race()
        yield from race.launch(dataclasses.replace(QUESTION, listen=10.0), stagger=0.25)
        assert (yield from race.wait(hedging=True)) is None  # the stagger point
        yield from race.abandon(late.append)
        return "done"

    started = trio.current_time()
    assert await run_exchange(resolution(), _Silent()) == "done"
    assert trio.current_time() - started == pytest.approx(0.25)
    assert late == []


async def test_a_resolutions_exception_comes_out_bare() -> None:
    def resolution() -> Exchange[str]:
        yield PAUSE
        raise ResolutionFailed(0, "nothing")

    with pytest.raises(ResolutionFailed):
        await run_exchange(resolution(), _Silent())


async def test_garbage_at_the_rto_is_the_servers_failure_not_a_timeout_to_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A leg that only saw garbage with our ID ends just after its RTO (Deckard iter_req_qname)."""

    class Garbage:
        def __init__(self) -> None:
            self.sent: list[UpstreamQuery] = []

        async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
            self.sent.append(query)
            await trio.sleep(query.timeout + 0.001)  # after the race saw its RTO pass
            raise MalformedResponse(query.address, "1 unparseable replies with our ID")

    transport = Garbage()
    outcome = await resolve_with(transport, "www.up.", ServerSelection(FakeClock()))
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert sorted(query.address for query in transport.sent) == ["127.53.0.1", "127.53.0.2"]
