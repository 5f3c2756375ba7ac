"""The local root copy (RFC 8806) inside the whole resolver, over the in-memory lab.

The copy answers for the root zone on every path that reaches it (client
questions, DS and DNSKEY fetches, NS address lookups, prefetch), validated
exactly as a root server's replies are; and once it is disabled or retired,
none of those paths uses it any more. The last property is the one the
October 2023 1.1.1.1 outage lacked: its "disable" switch did not reach
forwarded queries.
"""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.rcode
import pytest
import trio
import trio.testing

from resolver.clock import FakeClock
from resolver.commands import Commands
from resolver.daemon import Resolver, commands
from resolver.iterator import LOCAL_ROOT
from resolver.lab import Lab, LabTransport
from resolver.lab.drill import ask, lab_resolver
from rootzone.lifecycle import RootState

ROOT_SERVERS = {"127.53.0.1", "127.53.0.2", "127.53.0.3"}
#: Names whose resolution crosses the root on different paths: signed and
#: insecure TLD data, NS names without glue (address sub-queries), a TLD
#: that does not exist (root NXDOMAIN), and DS/DNSKEY fetches for each.
NAMES = ("www.example.com.", "www.example.net.", "www.noglue.com.", "www.nosuchtld.")


class LocalRootHarness:
    def __init__(self, lab: Lab, clock: FakeClock, directory: Path) -> None:
        zone = directory / "root.zone"
        zone.write_text(lab.root_zone_text())
        self.transport = LabTransport(lab)
        self.clock = clock
        self.resolver: Resolver = lab_resolver(
            lab, clock, directory, self.transport, {"local_root.sources": [str(zone)]}
        )
        self.ctl: Commands = commands(self.resolver)

    async def load(self) -> None:
        assert self.resolver.root_service is not None
        await self.resolver.root_service.refresh()
        assert self.resolver.local_root.state() is RootState.FRESH

    async def ask_all(self) -> None:
        for name in NAMES:
            reply = await ask(self.resolver, name)
            assert reply.rcode() != dns.rcode.SERVFAIL, name
            if name != "www.nosuchtld.":
                assert reply.flags & dns.flags.AD, name
        # NXDOMAIN from the root is proven by the root's NSEC records.
        reply = await ask(self.resolver, "www.nosuchtld.")
        assert reply.rcode() == dns.rcode.NXDOMAIN
        assert reply.flags & dns.flags.AD

    def root_server_queries(self) -> int:
        return sum(query.address in ROOT_SERVERS for query in self.transport.sent)


@pytest.fixture
async def harness(
    lab: Lab,
    clock: FakeClock,
    tmp_path: Path,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> LocalRootHarness:
    harness = LocalRootHarness(lab, clock, tmp_path)
    await nursery.start(harness.resolver.recursor.run)
    return harness


async def test_root_questions_are_answered_from_the_copy_and_validated(
    harness: LocalRootHarness,
) -> None:
    await harness.load()
    await harness.ask_all()
    assert harness.root_server_queries() == 0
    assert harness.resolver.local_root.answered > 0
    cached = harness.resolver.cache.lookup_rrset(dns.name.from_text("com."), dns.rdatatype.DS)
    assert cached is not None
    assert cached.source == LOCAL_ROOT


async def test_without_a_copy_the_root_servers_are_asked(harness: LocalRootHarness) -> None:
    await harness.ask_all()
    assert harness.root_server_queries() > 0
    assert harness.resolver.local_root.answered == 0


async def test_disable_reaches_every_path_at_once(harness: LocalRootHarness) -> None:
    """The test that would have caught the 2023 override missing forwarded queries.

    After ``ctl local-root disable``, no question of any kind is answered
    from the copy: the data already taken from it is forgotten, so client
    questions, the validator's DS and DNSKEY fetches, NS address lookups
    and prefetch all go to the root servers.
    """
    await harness.load()
    await harness.ask_all()
    answered = harness.resolver.local_root.answered
    assert harness.ctl({"command": ["local-root", "disable"]})["local_root"].startswith("disabled")
    cached = harness.resolver.cache.lookup_rrset(dns.name.from_text("com."), dns.rdatatype.DS)
    assert cached is None or cached.source != LOCAL_ROOT
    before = harness.root_server_queries()
    await harness.ask_all()
    # Prefetch: data near its expiry is refreshed in the background, again
    # through the root servers only.
    harness.clock.advance(0.95 * 86400)
    await harness.ask_all()
    assert harness.resolver.local_root.answered == answered
    assert harness.root_server_queries() > before
    status = harness.ctl({"command": ["local-root", "status"]})
    assert status["state"] == "disabled"
    harness.ctl({"command": ["local-root", "enable"]})
    # No refresh ran while the clock moved: the copy is stale, still in use.
    assert harness.resolver.local_root.state() is RootState.STALE
    harness.resolver.cache.flush_all()
    await harness.ask_all()
    assert harness.resolver.local_root.answered > answered


async def test_a_retired_copy_falls_back_to_the_root_servers(
    harness: LocalRootHarness,
) -> None:
    await harness.load()
    installed = harness.resolver.local_root.in_use()
    assert installed is not None
    harness.clock.now = installed.retirement.at
    await harness.ask_all()
    assert harness.resolver.local_root.state() is RootState.RETIRED
    assert harness.root_server_queries() > 0
    status = harness.ctl({"command": ["local-root", "status"]})
    assert status["state"] == "retired"
    assert status["seconds_to_retirement"] == 0


async def test_ctl_local_root_status_and_refresh(harness: LocalRootHarness) -> None:
    await harness.load()
    status = harness.ctl({"command": ["local-root", "status"]})
    assert status["state"] == "fresh"
    assert status["zonemd"] == "verified"
    assert status["sources"] == [str(Path(status["source"]))]
    assert harness.ctl({"command": ["local-root", "refresh"]})["refresh"].startswith("requested")
    summary = harness.resolver.status()["local_root"]
    assert summary.startswith("fresh, serial")
