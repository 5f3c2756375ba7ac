"""Operator routes steering a whole resolver's upstream queries, over the in-memory lab.

The resolver is assembled by ``daemon.build`` as in ``test_serve_stale``
(``StaleHarness``); routes are added to its live ``RouteTable`` as
``holdfast ctl route add`` does, and every test checks the queries the
transport actually sent. "com queries" are those sent to the gtld servers
(127.53.1.1-4, which serve both ``com.`` and ``net.``) for a name at or
below ``com.``: the queries sent to com's own servers.
"""

from __future__ import annotations

from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
import trio
import trio.testing

from resolver.clock import FakeClock
from resolver.exchange import UpstreamQuery
from resolver.lab import Lab
from resolver.lab.faults import parse_fault
from resolver.routes import RouteMode, route_from_words
from tests.resolver.test_serve_stale import LONG_CLIENT_TIMER, StaleHarness, edes

GTLD = ("127.53.1.1", "127.53.1.2", "127.53.1.3", "127.53.1.4")
COM = dns.name.from_text("com.")
EXAMPLE = dns.name.from_text("example.com.")
NO_REACHABLE = dns.edns.EDECode.NO_REACHABLE_AUTHORITY
#: Secure names below com, each needing com's servers when nothing is cached.
SECURE = (
    "www.example.com.",
    "mail.example.com.",
    "www.nonsec.com.",
    "www.bench.com.",
    "n17.bench.com.",
)


@pytest.fixture
async def harness(
    lab: Lab, clock: FakeClock, tmp_path: Path, nursery: trio.Nursery
) -> StaleHarness:
    """A resolver whose client response timer is long, so failures decide."""
    return await StaleHarness.started(lab, clock, tmp_path, nursery, **LONG_CLIENT_TIMER)


def route(harness: StaleHarness, *words: str) -> None:
    """``holdfast ctl route add WORDS...`` on the harness's resolver."""
    harness.resolver.routes.add(route_from_words(list(words), now=harness.clock.wall()))


def com_queries(harness: StaleHarness, since: int = 0) -> list[UpstreamQuery]:
    """The queries sent to com's servers, from ``transport.sent[since]`` on."""
    return [
        query
        for query in harness.transport.sent[since:]
        if query.address in GTLD and query.qname.is_subdomain(COM)
    ]


def zone_servers(lab: Lab, zone: str) -> list[str]:
    return [server.address for server in lab.servers if zone in server.zones]


def assert_secure(reply: dns.message.Message) -> None:
    assert reply.rcode() == dns.rcode.NOERROR, reply
    assert reply.answer
    assert reply.flags & dns.flags.AD, reply


async def resolve_flushed(harness: StaleHarness, times: int = 20) -> list[UpstreamQuery]:
    """Resolve ``times`` secure com names, each with an empty cache; their com queries."""
    since = len(harness.transport.sent)
    for i in range(times):
        harness.resolver.cache.flush_all()
        assert_secure(await harness.ask(SECURE[i % len(SECURE)]))
    return com_queries(harness, since)


async def test_an_avoid_route_keeps_every_com_query_off_the_avoided_servers(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    route(harness, "com.", "--avoid", "127.53.1.1", "127.53.1.2")
    asked = await resolve_flushed(harness)
    assert len(asked) >= 40  # the referral and com's DNSKEY, each time at least
    assert {query.address for query in asked} <= {"127.53.1.3", "127.53.1.4"}
    # The same servers are still asked for net. (the route is for com's servers only).
    since = len(harness.transport.sent)
    for _ in range(20):
        harness.resolver.cache.flush_all()
        assert_secure(await harness.ask("www.example.net."))
    net = dns.name.from_text("net.")
    asked = [q for q in harness.transport.sent[since:] if q.address in GTLD]
    assert all(query.qname.is_subdomain(net) for query in asked)
    assert {query.address for query in asked} & {"127.53.1.1", "127.53.1.2"}


async def test_an_only_route_sends_every_com_query_to_its_address(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    # A first resolution caches com's delegation with all four servers.
    assert_secure(await harness.ask("www.example.com."))
    route(harness, "com", "--only", "127.53.1.3")
    # Names not cached yet, found through the cached delegation.
    since = len(harness.transport.sent)
    for name in ("www.nonsec.com.", "www.bench.com.", "n5.bench.com."):
        assert_secure(await harness.ask(name))
    asked = com_queries(harness, since)
    assert {str(query.qname) for query in asked} >= {"nonsec.com.", "bench.com."}
    assert {query.address for query in asked} == {"127.53.1.3"}
    # With nothing cached, the validator's fetches from com's servers too.
    asked = await resolve_flushed(harness, times=5)
    assert (COM, dns.rdatatype.DNSKEY) in {(query.qname, query.rdtype) for query in asked}
    assert {query.address for query in asked} == {"127.53.1.3"}


async def test_a_prefer_route_asks_its_address_first_and_falls_back_to_the_others(
    harness: StaleHarness, lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    assert_secure(await harness.ask("www.example.com."))  # every server measured or not
    route(harness, "com", "--prefer", "127.53.1.4")
    harness.resolver.cache.flush_all()
    since = len(harness.transport.sent)
    assert_secure(await harness.ask("mail.example.com."))
    asked = com_queries(harness, since)
    assert asked[0].address == "127.53.1.4"
    assert {query.address for query in asked} == {"127.53.1.4"}  # it answers: nobody else

    lab.set_fault("127.53.1.4", parse_fault("drop"))
    since = len(harness.transport.sent)
    harness.resolver.cache.flush_all()
    assert_secure(await harness.ask("www.nonsec.com."))
    asked = com_queries(harness, since)
    assert asked[0].address == "127.53.1.4"
    assert {query.address for query in asked} - {"127.53.1.4"}


async def test_an_expired_route_no_longer_applies(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    route(harness, "com", "--only", "127.53.1.3", "--expires", "10m")
    [live] = harness.resolver.routes.routes()
    assert (live.zone, live.mode, live.addresses) == (COM, RouteMode.ONLY, ("127.53.1.3",))
    assert {query.address for query in await resolve_flushed(harness, times=3)} == {"127.53.1.3"}
    harness.clock.advance(601)
    assert harness.resolver.routes.routes() == []
    asked = await resolve_flushed(harness)
    # Chosen at random in the RTT band again: 40+ queries all to .3 would
    # happen with a probability below 1e-20.
    assert {query.address for query in asked} - {"127.53.1.3"}


@pytest.mark.parametrize("mode", ["--only", "--avoid"])
async def test_a_route_for_a_zone_below_com_does_not_steer_com_queries(
    harness: StaleHarness, lab: Lab, autojump_clock: trio.testing.MockClock, mode: str
) -> None:
    first, second = zone_servers(lab, "example.com.")
    if mode == "--only":
        route(harness, "example.com", "--only", second)
    else:
        # Naming com's servers too: they are not example.com's, nothing changes for com.
        route(harness, "example.com", "--avoid", first, *GTLD)
    since = len(harness.transport.sent)
    asked = await resolve_flushed(harness)
    assert len({query.address for query in asked}) >= 2  # com spread as without a route
    # example.com's DS is its parent's: with an --only route standing in for
    # the delegation (as a stub zone, issue 20), the root may be asked it on
    # the way down to com's servers.
    to_example = [
        query
        for query in harness.transport.sent[since:]
        if query.qname.is_subdomain(EXAMPLE)
        and query.address not in GTLD
        and query.rdtype != dns.rdatatype.DS
    ]
    assert to_example
    assert {query.address for query in to_example} == {second}


async def test_avoiding_every_com_server_fails_with_servfail_saying_why(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    assert_secure(await harness.ask("www.example.com."))
    route(harness, "com.", "--avoid", *GTLD)
    since = len(harness.transport.sent)
    reply = await harness.ask("www.nonsec.com.")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert edes(reply) == [NO_REACHABLE]
    [ede] = [option for option in reply.options if isinstance(option, dns.edns.EDEOption)]
    assert ede.text is not None
    assert "com." in ede.text
    assert "the operator route leaves none to ask" in ede.text
    assert com_queries(harness, since) == []
    # Already cached data below com is still answered.
    assert_secure(await harness.ask("www.example.com."))


async def test_a_route_applies_from_the_very_next_query(
    harness: StaleHarness, autojump_clock: trio.testing.MockClock
) -> None:
    assert_secure(await harness.ask("www.example.com."))
    used = com_queries(harness)[-1].address
    other = next(address for address in GTLD if address != used)
    route(harness, "com", "--only", other)
    since = len(harness.transport.sent)
    assert_secure(await harness.ask("www.nonsec.com."))
    asked = com_queries(harness, since)
    assert asked
    assert {query.address for query in asked} == {other}
    # And deleting it, too.
    assert harness.resolver.routes.delete(COM) is not None
    assert harness.resolver.routes.routes() == []
    route(harness, "com", "--avoid", other)
    since = len(harness.transport.sent)
    assert_secure(await harness.ask("www.bench.com."))
    asked = com_queries(harness, since)
    assert asked
    assert other not in {query.address for query in asked}


async def test_holddowns_keep_working_under_a_prefer_route(
    harness: StaleHarness, lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    lab.set_fault("127.53.1.1", parse_fault("expired-sigs"), zone="com.")
    route(harness, "com", "--prefer", "127.53.1.1")
    since = len(harness.transport.sent)
    assert_secure(await harness.ask("www.example.com."))
    asked = com_queries(harness, since)
    assert asked[0].address == "127.53.1.1"  # preferred, until it sent bogus data
    assert {query.address for query in asked} - {"127.53.1.1"}
    held = harness.resolver.selection.holddowns()
    assert ("127.53.1.1", "com.") in {(h.address, h.zone) for h in held}
    # Held down: the preferred server is no longer asked while others are usable.
    asked = await resolve_flushed(harness, times=5)
    assert asked
    assert "127.53.1.1" not in {query.address for query in asked}
