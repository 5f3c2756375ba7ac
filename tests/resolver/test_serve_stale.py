"""Serve-stale (RFC 8767) and prefetch, end to end over the in-memory lab.

The resolver is assembled by ``daemon.build`` exactly as ``holdfast serve``
does, with ``LabTransport`` instead of sockets; queries go through
``DnsServer.answer`` as wire bytes, so rendering (TTL, EDE, AD) is tested
too. Trio's clock autojumps (timeouts and lab delays cost nothing) and the
wall clock is a ``FakeClock`` the tests move past TTLs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
import trio
import trio.testing

from resolver.clock import FakeClock
from resolver.lab import Lab, LabTransport
from resolver.lab.drill import ask, lab_resolver
from resolver.lab.faults import parse_fault

STALE = dns.edns.EDECode.STALE_ANSWER
STALE_NX = dns.edns.EDECode.STALE_NXDOMAIN_ANSWER
NO_REACHABLE = dns.edns.EDECode.NO_REACHABLE_AUTHORITY


#: A client response timer long enough that upstream failures decide the answer.
LONG_CLIENT_TIMER: dict[str, Any] = {"serve_stale.client_timeout": 10.0}


class StaleHarness:
    """A whole resolver over the lab, asked with wire-format queries."""

    def __init__(self, lab: Lab, clock: FakeClock, directory: Path, **options: Any) -> None:
        self.lab = lab
        self.clock = clock
        self.transport = LabTransport(lab)
        self.resolver = lab_resolver(lab, clock, directory, self.transport, options)

    @classmethod
    async def started(
        cls, lab: Lab, clock: FakeClock, directory: Path, nursery: trio.Nursery, **options: Any
    ) -> StaleHarness:
        """A harness whose recursor already runs in ``nursery``."""
        harness = cls(lab, clock, directory, **options)
        await nursery.start(harness.resolver.recursor.run)
        return harness

    async def ask(self, name: str, rdtype: str = "A", *, cd: bool = False) -> dns.message.Message:
        return await ask(self.resolver, name, rdtype, cd=cd)

    def break_zone(self, zone: str, fault: str) -> None:
        """Make every server of ``zone`` misbehave, for that zone only."""
        for server in self.lab.servers:
            if zone in server.zones:
                self.lab.set_fault(server.address, parse_fault(fault), zone=zone)

    def heal(self) -> None:
        for server in self.lab.servers:
            self.lab.clear_faults(server.address)

    @property
    def stats(self) -> Any:
        return self.resolver.recursor.stats


def edes(reply: dns.message.Message) -> list[int]:
    return [option.code for option in reply.options if isinstance(option, dns.edns.EDEOption)]


def ttls(reply: dns.message.Message) -> set[int]:
    return {rrset.ttl for section in (reply.answer, reply.authority) for rrset in section}


@pytest.fixture
async def harness(
    lab: Lab, clock: FakeClock, tmp_path: Path, nursery: trio.Nursery
) -> StaleHarness:
    """A resolver whose client response timer is long, so failures decide."""
    return await StaleHarness.started(lab, clock, tmp_path, nursery, **LONG_CLIENT_TIMER)


@pytest.fixture
async def timer_harness(
    lab: Lab, clock: FakeClock, tmp_path: Path, nursery: trio.Nursery
) -> StaleHarness:
    """A resolver with the default client response timer (1.8 s)."""
    return await StaleHarness.started(lab, clock, tmp_path, nursery)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("drop", NO_REACHABLE),
        ("servfail", NO_REACHABLE),
        ("expired-sigs", dns.edns.EDECode.SIGNATURE_EXPIRED),
    ],
)
async def test_when_every_server_fails_a_cached_name_is_answered_stale(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock, fault: str, reason: int
) -> None:
    fresh = await harness.ask("ttl2.example.com.")
    assert fresh.rcode() == dns.rcode.NOERROR
    assert fresh.flags & dns.flags.AD
    harness.clock.advance(10)
    harness.break_zone("example.com.", fault)
    reply = await harness.ask("ttl2.example.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert [str(rdata) for rdata in reply.answer[0]] == ["192.0.2.5"]
    assert edes(reply) == [STALE, reason]
    # RFC 8767: stale records go out with the stale answer TTL; the data
    # was secure when cached, so AD stays.
    assert ttls(reply) == {30}
    assert reply.flags & dns.flags.AD
    assert harness.stats.stale_answers == 1


async def test_a_name_never_cached_gets_servfail_with_the_reason(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    harness.break_zone("example.com.", "drop")
    reply = await harness.ask("mail.example.com.")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert edes(reply) == [NO_REACHABLE]


async def test_data_cached_as_bogus_is_never_served_stale(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    bogus = await harness.ask("www.bogus.com.")
    assert bogus.rcode() == dns.rcode.SERVFAIL
    harness.clock.advance(3600 + 10)
    harness.break_zone("bogus.com.", "drop")
    for cd in (False, True):
        reply = await harness.ask("www.bogus.com.", cd=cd)
        assert reply.rcode() == dns.rcode.SERVFAIL
        assert STALE not in edes(reply)
    assert harness.stats.stale_answers == 0


async def test_bogus_fresh_data_does_not_displace_the_last_good_answer(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    """All instances start signing badly: the last good answer is still given."""
    await harness.ask("ttl2.example.com.")
    harness.clock.advance(10)
    harness.break_zone("example.com.", "bogus-sigs")
    for _ in range(3):
        reply = await harness.ask("ttl2.example.com.")
        assert reply.rcode() == dns.rcode.NOERROR
        assert edes(reply)[:2] == [STALE, dns.edns.EDECode.DNSSEC_BOGUS]
        harness.clock.advance(31)  # past the failure recheck: ask upstream again


async def test_an_insecure_stale_answer_has_no_ad(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    assert not (await harness.ask("www.insecure.com.")).flags & dns.flags.AD
    harness.clock.advance(3600 + 10)
    harness.break_zone("insecure.com.", "servfail")
    reply = await harness.ask("www.insecure.com.")
    assert edes(reply) == [STALE, NO_REACHABLE]
    assert not reply.flags & dns.flags.AD


async def test_a_stale_nxdomain_says_so_with_ede_19(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    fresh = await harness.ask("nothing.example.com.")
    assert fresh.rcode() == dns.rcode.NXDOMAIN
    negative_ttl = min(rrset.ttl for rrset in fresh.authority)
    harness.clock.advance(negative_ttl + 1)
    harness.break_zone("example.com.", "drop")
    reply = await harness.ask("nothing.example.com.")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert edes(reply) == [STALE_NX, NO_REACHABLE]
    assert ttls(reply) == {30}
    assert reply.flags & dns.flags.AD


async def test_after_a_failed_refresh_upstream_is_left_alone_for_the_recheck_time(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.ask("ttl2.example.com.")
    harness.clock.advance(10)
    harness.break_zone("example.com.", "drop")
    await harness.ask("ttl2.example.com.")
    sent = len(harness.transport.sent)
    for _ in range(20):
        harness.clock.advance(1)
        reply = await harness.ask("ttl2.example.com.")
        assert edes(reply) == [STALE, NO_REACHABLE]
    assert len(harness.transport.sent) == sent  # no query storm
    harness.heal()
    harness.clock.advance(10)  # 30 s after the failure: try again
    reply = await harness.ask("ttl2.example.com.")
    assert edes(reply) == []
    assert reply.answer[0].ttl == 2
    assert len(harness.transport.sent) > sent


async def test_the_client_response_timer_gives_stale_data_while_resolution_goes_on(
    timer_harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    """Every server of the zone answers late: stale at 1.8 s, refreshed when it arrives."""
    harness = timer_harness
    await harness.ask("ttl2.example.com.")
    harness.clock.advance(10)
    # The replies come 3 s late, later than any RTO (2 s at most): the
    # first attempt goes on listening (resolver.hedging), so the fresh
    # answer comes after the 1.8 s timer, within the time budget. (It used
    # to be 770 ms late, when only the backed-off RTO could take it: now a
    # reply that late is fresh before the timer.)
    harness.break_zone("example.com.", "delay:3000")
    started = trio.current_time()
    reply = await harness.ask("ttl2.example.com.")
    assert trio.current_time() - started == pytest.approx(1.8)
    assert edes(reply) == [STALE]
    assert harness.stats.stale_on_timer == 1
    await trio.sleep(5)  # the resolution goes on in the background...
    reply = await harness.ask("ttl2.example.com.")
    assert edes(reply) == []  # ...and refreshed the cache
    assert reply.answer[0].ttl == 2


async def test_a_fresh_answer_within_the_client_timer_is_not_stale(
    timer_harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    harness = timer_harness
    await harness.ask("ttl2.example.com.")
    harness.clock.advance(10)
    harness.break_zone("example.com.", "delay:200")
    reply = await harness.ask("ttl2.example.com.")
    assert edes(reply) == []
    assert harness.stats.stale_answers == 0


async def test_serve_stale_can_be_turned_off(
    lab: Lab,
    clock: FakeClock,
    tmp_path: Path,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    options = {"serve_stale.enabled": False}
    harness = await StaleHarness.started(lab, clock, tmp_path, nursery, **options)
    await harness.ask("ttl2.example.com.")
    clock.advance(10)
    harness.break_zone("example.com.", "drop")
    reply = await harness.ask("ttl2.example.com.")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert edes(reply) == [NO_REACHABLE]


async def test_stale_data_is_kept_only_for_max_stale(
    lab: Lab,
    clock: FakeClock,
    tmp_path: Path,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    options = {"serve_stale.max_stale": 600.0, "serve_stale.client_timeout": 10.0}
    harness = await StaleHarness.started(lab, clock, tmp_path, nursery, **options)
    await harness.ask("ttl2.example.com.")
    harness.break_zone("example.com.", "drop")
    clock.advance(2 + 599)
    assert edes(await harness.ask("ttl2.example.com.")) == [STALE, NO_REACHABLE]
    clock.advance(31)
    assert (await harness.ask("ttl2.example.com.")).rcode() == dns.rcode.SERVFAIL


async def test_data_asked_for_in_the_last_tenth_of_its_ttl_is_prefetched(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    first = await harness.ask("www.example.com.")
    assert first.answer[0].ttl == 3600
    harness.clock.advance(3600 - 300)  # 300 s left: within the last 10%
    sent = len(harness.transport.sent)
    reply = await harness.ask("www.example.com.")
    assert reply.answer[0].ttl == 300  # answered from the cache at once
    await trio.sleep(1)  # the refresh runs in the background
    asked = [(str(q.qname), q.rdtype) for q in harness.transport.sent[sent:]]
    assert ("www.example.com.", dns.rdatatype.A) in asked
    assert harness.stats.prefetches == 1
    harness.clock.advance(300)  # the old data would have expired now
    reply = await harness.ask("www.example.com.")
    assert reply.answer[0].ttl == 3600 - 300
    assert edes(reply) == []


async def test_data_not_yet_near_its_expiry_is_not_prefetched(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.ask("www.example.com.")
    harness.clock.advance(3000)  # 600 s of 3600 left
    sent = len(harness.transport.sent)
    await harness.ask("www.example.com.")
    await trio.sleep(1)
    assert len(harness.transport.sent) == sent
    assert harness.stats.prefetches == 0
