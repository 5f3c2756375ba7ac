"""RFC 9520 failure caching: the back-off itself, then end to end over the lab.

The lab tests use the serve-stale harness (``daemon.build`` over
``LabTransport``, wire-format queries, an autojumping Trio clock and a
``FakeClock`` wall clock the tests move), and count what reaches the lab.
"""

from __future__ import annotations

from pathlib import Path

import dns.edns
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
import trio
import trio.testing

from dnssec.status import ExtendedError
from resolver.clock import FakeClock
from resolver.failures import MAX_HOLD, FailureCache, FailurePolicy
from resolver.lab import Lab
from resolver.metrics import collect
from resolver.question import Question
from tests.resolver.test_serve_stale import (
    LONG_CLIENT_TIMER,
    NO_REACHABLE,
    STALE,
    StaleHarness,
    edes,
)

CACHED = dns.edns.EDECode.CACHED_ERROR
DEAD = "mail.example.com."
WHY = (ExtendedError(NO_REACHABLE, "no server answered"),)
NAME = dns.name.from_text("ns.dead.test.")


def holds(failures: FailureCache[dns.name.Name], clock: FakeClock, times: int) -> list[float]:
    """The hold each of ``times`` consecutive failures gets, retried as each expires."""
    seen = []
    for _ in range(times):
        hold = failures.failed(NAME, WHY)
        seen.append(hold)
        clock.advance(hold)
    return seen


def test_a_failure_is_remembered_for_its_hold_with_its_reasons(clock: FakeClock) -> None:
    failures: FailureCache[dns.name.Name] = FailureCache(clock)
    assert failures.failed(NAME, WHY) == 5.0
    clock.advance(4.9)
    assert failures.recent(NAME) == WHY
    clock.advance(0.1)
    assert failures.recent(NAME) is None
    assert failures.hits == 1


def test_the_hold_doubles_while_the_failure_repeats_up_to_the_cap(clock: FakeClock) -> None:
    failures: FailureCache[dns.name.Name] = FailureCache(clock)
    assert holds(failures, clock, 9) == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert MAX_HOLD == 300  # RFC 9520 section 3.2: never longer than 5 minutes


def test_a_success_or_a_long_quiet_spell_starts_the_back_off_afresh(clock: FakeClock) -> None:
    failures: FailureCache[dns.name.Name] = FailureCache(clock, FailurePolicy(initial=2, cap=60))
    assert holds(failures, clock, 3) == [2, 4, 8]
    failures.succeeded(NAME)
    assert failures.recent(NAME) is None
    assert holds(failures, clock, 2) == [2, 4]
    clock.advance(60.1)  # the cap has passed since the last hold ended
    assert holds(failures, clock, 1) == [2]


def test_a_longer_hold_asked_for_does_not_feed_the_back_off(clock: FakeClock) -> None:
    failures: FailureCache[dns.name.Name] = FailureCache(clock)
    assert failures.failed(NAME, WHY, at_least=30) == 5
    clock.advance(29)
    assert failures.recent(NAME) == WHY
    clock.advance(1)
    assert failures.failed(NAME, WHY) == 10


def test_the_memory_is_bounded(clock: FakeClock) -> None:
    failures: FailureCache[Question] = FailureCache(clock, FailurePolicy(max_entries=3))
    questions = [Question(dns.name.from_text(f"n{i}.test."), dns.rdatatype.A) for i in range(5)]
    for question in questions:
        failures.failed(question)
    assert len(failures) == 3
    assert failures.recent(questions[0]) is None
    assert failures.recent(questions[-1]) == ()


# -- end to end ------------------------------------------------------------


@pytest.fixture
async def harness(
    lab: Lab, clock: FakeClock, tmp_path: Path, nursery: trio.Nursery
) -> StaleHarness:
    return await StaleHarness.started(lab, clock, tmp_path, nursery, **LONG_CLIENT_TIMER)


async def test_a_dead_zone_is_asked_once_per_hold_not_once_per_client_query(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.ask("www.example.com.")  # the delegation is cached
    harness.break_zone("example.com.", "drop")
    first = await harness.ask(DEAD)
    assert first.rcode() == dns.rcode.SERVFAIL
    assert edes(first) == [NO_REACHABLE]
    sent = len(harness.transport.sent)
    for _ in range(4):
        harness.clock.advance(1)
        reply = await harness.ask(DEAD)
        assert reply.rcode() == dns.rcode.SERVFAIL
        assert edes(reply) == [CACHED, NO_REACHABLE]  # RFC 8914 13 Cached Error, and why
    assert len(harness.transport.sent) == sent  # nothing went upstream
    harness.clock.advance(1)  # 5 s after the failure: asked again, fails again
    await harness.ask(DEAD)
    retried = len(harness.transport.sent)
    assert retried > sent
    harness.clock.advance(9)  # the second hold is 10 s
    assert edes(await harness.ask(DEAD)) == [CACHED, NO_REACHABLE]
    assert len(harness.transport.sent) == retried
    assert collect(harness.resolver)["failure_cache"]["question"] == {"entries": 1, "hits": 5}


async def test_a_success_after_the_hold_clears_the_failure(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    harness.break_zone("example.com.", "servfail")
    assert (await harness.ask(DEAD)).rcode() == dns.rcode.SERVFAIL
    harness.heal()
    assert edes(await harness.ask(DEAD)) == [CACHED, NO_REACHABLE]  # still held
    harness.clock.advance(5)
    healed = await harness.ask(DEAD)
    assert healed.rcode() == dns.rcode.NOERROR
    assert len(harness.resolver.recursor.failures) == 0


async def test_stale_data_answers_during_the_hold(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.ask("ttl2.example.com.")
    harness.clock.advance(10)
    harness.break_zone("example.com.", "drop")
    assert edes(await harness.ask("ttl2.example.com.")) == [STALE, NO_REACHABLE]
    sent = len(harness.transport.sent)
    harness.clock.advance(2)
    reply = await harness.ask("ttl2.example.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert edes(reply) == [STALE, NO_REACHABLE]
    assert len(harness.transport.sent) == sent
