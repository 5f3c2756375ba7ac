"""The iterator against the in-memory lab: real referrals, real faults, no sockets.

Every test drives ``Iterator.resolve`` through ``run_exchange`` over
``LabTransport``; timeouts cost nothing because Trio's clock autojumps.
"""

from __future__ import annotations

import dns.edns
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
import trio.testing

from dnssec.anchors import TrustAnchors
from dnssec.status import Security
from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import UpstreamQuery
from resolver.iterator import Iterator
from resolver.lab import Lab, LabTransport
from resolver.limits import Limits
from resolver.question import Outcome, Question
from resolver.selection import ServerSelection
from resolver.validation import Validator
from rootzone.hints import RootHints

A = dns.rdatatype.A


class Harness:
    """An iterator wired to the lab, with the transport's log at hand."""

    def __init__(self, lab: Lab, clock: FakeClock, *, minimise: bool = True) -> None:
        self.transport = LabTransport(lab)
        self.cache = Cache(clock)
        self.selection = ServerSelection(clock)
        anchors = TrustAnchors.from_text(lab.trust_anchor_text(), source="lab")
        self.iterator = Iterator(
            cache=self.cache,
            selection=self.selection,
            hints=RootHints.from_text(lab.root_hints_text(), source="lab"),
            limits=Limits(),
            validator=Validator(
                anchors=anchors,
                cache=self.cache,
                clock=clock,
                hold_down=self.selection.report_bogus,
            ),
            qname_minimisation=minimise,
        )

    async def ask(self, name: str, rdtype: dns.rdatatype.RdataType = A) -> Outcome:
        question = Question(dns.name.from_text(name), rdtype)
        return await run_exchange(self.iterator.resolve(question), self.transport)

    @property
    def sent(self) -> list[UpstreamQuery]:
        return self.transport.sent


@pytest.fixture
def harness(session_lab: Lab, clock: FakeClock) -> Harness:
    return Harness(session_lab, clock)


def addresses(outcome: Outcome, rdtype: dns.rdatatype.RdataType = A) -> set[str]:
    return {rdata.address for rrset in outcome.answer if rrset.rdtype == rdtype for rdata in rrset}


def types(outcome: Outcome) -> list[str]:
    return [dns.rdatatype.to_text(rrset.rdtype) for rrset in outcome.answer]


async def test_resolves_from_the_root_with_minimised_names(harness: Harness) -> None:
    outcome = await harness.ask("www.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert addresses(outcome) == {"192.0.2.1"}
    assert outcome.security is Security.SECURE
    asked = [(str(q.qname), dns.rdatatype.to_text(q.rdtype)) for q in harness.sent]
    # The DS records came with the referrals; each signed zone's keys are
    # fetched while its servers are asked the question (``_keys_ahead``), in
    # either order.
    assert [set(asked[step : step + 2]) for step in (0, 2, 4)] == [
        {("com.", "A"), (".", "DNSKEY")},
        {("example.com.", "A"), ("com.", "DNSKEY")},
        {("www.example.com.", "A"), ("example.com.", "DNSKEY")},
    ]
    assert len(asked) == 6


async def test_full_names_without_qname_minimisation(session_lab: Lab, clock: FakeClock) -> None:
    harness = Harness(session_lab, clock, minimise=False)
    outcome = await harness.ask("www.example.com.")
    assert addresses(outcome) == {"192.0.2.1"}
    assert {str(q.qname) for q in harness.sent if q.rdtype == A} == {"www.example.com."}


async def test_second_question_is_answered_from_cache(harness: Harness) -> None:
    await harness.ask("www.example.com.")
    before = len(harness.sent)
    outcome = await harness.ask("www.example.com.")
    assert addresses(outcome) == {"192.0.2.1"}
    assert len(harness.sent) == before


async def test_cached_ttl_counts_down(harness: Harness, clock: FakeClock) -> None:
    first = await harness.ask("www.example.com.")
    clock.advance(10)
    second = await harness.ask("www.example.com.")
    assert second.answer[0].ttl == first.answer[0].ttl - 10


async def test_cached_delegation_skips_the_root(harness: Harness) -> None:
    await harness.ask("www.example.com.")
    before = len(harness.sent)
    await harness.ask("example.com.", dns.rdatatype.MX)
    assert {str(q.qname) for q in harness.sent[before:]} == {"example.com."}


async def test_aaaa(harness: Harness) -> None:
    outcome = await harness.ask("www.example.com.", dns.rdatatype.AAAA)
    assert addresses(outcome, dns.rdatatype.AAAA) == {"2001:db8::1"}


async def test_cname_across_zones(harness: Harness) -> None:
    outcome = await harness.ask("alias.example.com.")
    assert types(outcome) == ["CNAME", "A"]
    assert addresses(outcome) == {"192.0.2.3"}


async def test_dname_synthesises_the_cname(harness: Harness) -> None:
    outcome = await harness.ask("www.sub.example.com.")
    assert types(outcome)[:2] == ["DNAME", "CNAME"]
    assert outcome.answer[1][0].target == dns.name.from_text("www.example.org.")
    assert outcome.answer[-1].rdtype == A


async def test_wildcard_expansion(harness: Harness) -> None:
    outcome = await harness.ask("anything.wild.example.com.")
    assert addresses(outcome) == {"192.0.2.2"}


async def test_nxdomain_with_soa_is_cached(harness: Harness) -> None:
    outcome = await harness.ask("nx.example.com.")
    assert outcome.rcode == dns.rcode.NXDOMAIN
    assert [rrset.rdtype for rrset in outcome.authority] == [dns.rdatatype.SOA]
    before = len(harness.sent)
    again = await harness.ask("nx.example.com.", dns.rdatatype.AAAA)
    assert again.rcode == dns.rcode.NXDOMAIN
    assert len(harness.sent) == before


async def test_nodata_with_soa(harness: Harness) -> None:
    outcome = await harness.ask("www.example.com.", dns.rdatatype.MX)
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.answer == ()
    assert [rrset.rdtype for rrset in outcome.authority] == [dns.rdatatype.SOA]


async def test_ns_names_without_glue_are_resolved(harness: Harness) -> None:
    outcome = await harness.ask("www.noglue.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert addresses(outcome)
    assert any(q.qname.is_subdomain(dns.name.from_text("example.net.")) for q in harness.sent)


async def test_lame_server_is_skipped(harness: Harness) -> None:
    for _ in range(3):
        outcome = await harness.ask("www.lame.com.")
        assert addresses(outcome)
        harness.cache.flush_all()


async def test_server_that_drops_everything_is_routed_around(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    for _ in range(4):
        outcome = await harness.ask("www.slow.com.")
        assert addresses(outcome)
        harness.cache.flush_name(dns.name.from_text("www.slow.com."))


async def test_truncated_udp_answers_are_fetched_over_tcp(harness: Harness) -> None:
    outcome = await harness.ask("www.tcponly.com.")
    assert addresses(outcome)


@pytest.mark.parametrize(
    "name",
    ["www.nsec3.org.", "www.insecure.com.", "www.rsa.org.", "www.ecdsa.org.", "www.ed25519.org.",
     "www.bogus.com.", "www.expired.com.", "www.example.org.", "www.optout.nsec3.org."],
)
async def test_catalogue_names_answer(harness: Harness, name: str) -> None:
    outcome = await harness.ask(name)
    assert outcome.rcode == dns.rcode.NOERROR
    assert addresses(outcome)


async def test_unreachable_delegation_is_servfail_no_reachable_authority(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    outcome = await harness.ask("www.outside.com.")
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert outcome.errors[0].code == dns.edns.EDECode.NO_REACHABLE_AUTHORITY
    assert "outside.com" in outcome.errors[0].text


async def test_every_server_failing_is_servfail(
    session_lab: Lab, clock: FakeClock, autojump_clock: trio.testing.MockClock
) -> None:
    harness = Harness(session_lab, clock)
    harness.iterator.hints = RootHints.from_text(
        ". NS a.root-servers.net.\na.root-servers.net. A 127.53.255.254\n", source="test"
    )
    outcome = await harness.ask("www.example.com.")
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert outcome.errors[0].code == dns.edns.EDECode.NO_REACHABLE_AUTHORITY
