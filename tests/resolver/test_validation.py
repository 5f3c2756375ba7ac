"""The validator stage over the in-memory lab: chain of trust, key cache, verdicts kept.

The iterator drives ``Validator`` exactly as in production; ``LabTransport``
answers from the signed lab and Trio's clock autojumps, while the wall
clock (signature windows, TTLs) is a ``FakeClock`` the tests move.
"""

from __future__ import annotations

import dns.edns
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnssec.anchors import TrustAnchors
from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.lab import Lab
from resolver.lab.faults import parse_fault
from resolver.lab.signing import ECDSAP256SHA256, zone_key
from tests.resolver.test_iterator import Harness

A = dns.rdatatype.A


@pytest.fixture
def harness(lab: Lab, clock: FakeClock) -> Harness:
    return Harness(lab, clock)


def asked(harness: Harness, since: int = 0) -> list[tuple[str, str]]:
    return [
        (str(q.qname), dns.rdatatype.to_text(q.rdtype)) for q in harness.sent[since:]
    ]


async def test_keys_are_fetched_once_per_zone(harness: Harness) -> None:
    await harness.ask("www.example.com.")
    before = len(harness.sent)
    outcome = await harness.ask("mail.example.com.")
    assert outcome.security is Security.SECURE
    assert asked(harness, before) == [("mail.example.com.", "A")]


async def test_a_sibling_zone_reuses_the_parents_keys(harness: Harness) -> None:
    await harness.ask("www.example.com.")
    before = len(harness.sent)
    outcome = await harness.ask("www.bogus.com.")
    assert outcome.security is Security.BOGUS
    keys = [q for q in asked(harness, before) if q[1] == "DNSKEY"]
    assert keys == [("bogus.com.", "DNSKEY")]


async def test_bogus_is_remembered_for_bogus_ttl_with_its_reason(
    harness: Harness, clock: FakeClock
) -> None:
    first = await harness.ask("www.bogus.com.")
    assert first.security is Security.BOGUS
    assert [e.code for e in first.errors] == [dns.edns.EDECode.DNSSEC_BOGUS]
    before = len(harness.sent)
    clock.advance(59)
    again = await harness.ask("www.bogus.com.")
    assert again.security is Security.BOGUS
    assert again.errors == first.errors
    assert len(harness.sent) == before, "bogus data must not be fetched again within 60 s"
    hit = harness.cache.lookup_rrset(dns.name.from_text("www.bogus.com."), A)
    assert hit is not None
    assert hit.source == "127.53.3.13" or hit.source == "127.53.3.14"
    clock.advance(2)
    await harness.ask("www.bogus.com.")
    assert len(harness.sent) > before


async def test_secure_ttl_is_capped_at_the_signature_expiration(
    harness: Harness, clock: FakeClock
) -> None:
    # Lab signatures expire 14 days after the lab was built; move to an
    # hour before that: the one-hour TTL data may live at most that hour.
    clock.advance(14 * 86400 - 1800)
    outcome = await harness.ask("www.example.org.")
    assert outcome.security is Security.SECURE
    assert outcome.answer[0].ttl <= 1800


async def test_an_insecure_delegation_makes_everything_below_insecure(
    harness: Harness,
) -> None:
    outcome = await harness.ask("www.insecure.com.")
    assert outcome.security is Security.INSECURE
    assert outcome.errors == ()
    before = len(harness.sent)
    nx = await harness.ask("nx.insecure.com.")
    assert nx.rcode == dns.rcode.NXDOMAIN
    assert nx.security is Security.INSECURE
    assert ("insecure.com.", "DNSKEY") not in asked(harness, before)


async def test_no_anchor_above_a_zone_means_insecure_without_key_fetches(
    lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(lab, clock)
    elsewhere = TrustAnchors.from_text(
        "island.example. DS 1 13 2 " + "00" * 32, source="test"
    )
    harness.iterator.validator.anchors = elsewhere
    outcome = await harness.ask("www.example.com.")
    assert outcome.security is Security.INSECURE
    assert all(q.rdtype != dns.rdatatype.DNSKEY for q in harness.sent)


async def test_an_island_of_trust_below_the_root(lab: Lab, clock: FakeClock) -> None:
    """An anchor for example.com. alone: its data is secure, the rest insecure."""
    harness = Harness(lab, clock)
    key = zone_key(dns.name.from_text("example.com."), ECDSAP256SHA256)
    island = TrustAnchors.from_text(f"example.com. DS {key.ds().to_text()}", source="test")
    harness.iterator.validator.anchors = island
    assert (await harness.ask("www.example.com.")).security is Security.SECURE
    assert (await harness.ask("www.example.org.")).security is Security.INSECURE


async def test_a_server_sending_broken_signatures_makes_the_answer_bogus(
    lab: Lab, harness: Harness
) -> None:
    for address in ("127.53.3.1", "127.53.3.2"):
        lab.set_fault(address, parse_fault("bogus-sigs"))
    outcome = await harness.ask("www.example.com.")
    assert outcome.security is Security.BOGUS
    assert "from 127.53.3." in outcome.errors[0].text


async def test_cached_answers_keep_their_rrsigs_and_proofs(harness: Harness) -> None:
    await harness.ask("www.example.com.")
    cached = await harness.ask("www.example.com.")
    assert [s.covers for s in cached.signatures] == [A]
    await harness.ask("nx.example.com.")
    negative = await harness.ask("nx.example.com.")
    assert negative.security is Security.SECURE
    assert {r.rdtype for r in negative.proof} == {dns.rdatatype.NSEC, dns.rdatatype.RRSIG}


async def test_an_alias_chain_is_as_secure_as_its_weakest_link(harness: Harness) -> None:
    secure = await harness.ask("alias.example.com.")
    assert [r.rdtype for r in secure.answer] == [dns.rdatatype.CNAME, A]
    assert secure.security is Security.SECURE
    mixed = await harness.ask("toinsecure.example.com.")
    assert [r.rdtype for r in mixed.answer] == [dns.rdatatype.CNAME, A]
    assert mixed.security is Security.INSECURE
    # The alias itself stays secure in the cache.
    alias = harness.cache.lookup_rrset(dns.name.from_text("toinsecure.example.com."),
                                       dns.rdatatype.CNAME)
    assert alias is not None
    assert alias.security is Security.SECURE


async def test_keytrap_zone_keys_validate_but_its_data_fails_within_the_work_bound(
    harness: Harness,
) -> None:
    """32 keys share one tag: the DNSKEY RRset is checked with the key the DS names."""
    keys = await harness.ask("keytrap.com.", dns.rdatatype.DNSKEY)
    assert keys.security is Security.SECURE
    data = await harness.ask("www.keytrap.com.")
    assert data.security is Security.BOGUS
    assert "signature checks" in data.errors[0].text


def held_down(harness: Harness, zone: str) -> set[str]:
    """Addresses selection holds down for ``zone`` because they sent bogus data."""
    return {
        server.address
        for server in harness.selection.statistics().servers
        for mark in server.broken
        if mark.zone == zone and mark.reason.startswith("bogus")
    }


async def test_a_bogus_answer_is_asked_again_at_the_zones_other_server(
    lab: Lab, harness: Harness
) -> None:
    lab.set_fault("127.53.3.1", parse_fault("bogus-sigs"))
    for _ in range(5):
        harness.cache.flush_all()
        outcome = await harness.ask("www.example.com.")
        assert outcome.security is Security.SECURE
        assert outcome.errors == ()
    assert held_down(harness, "example.com.") <= {"127.53.3.1"}


async def test_tld_instances_with_expired_signatures_are_routed_around(
    lab: Lab, harness: Harness
) -> None:
    """9 July 2023: two of four com/net instances serve expired signatures."""
    for address in ("127.53.1.1", "127.53.1.2"):
        lab.set_fault(address, parse_fault("expired-sigs"), zone="com.")
    names = ["www.example.com.", "www.insecure.com.", "nx.example.com.", "www.bogus.com."]
    for round_ in range(4):
        harness.cache.flush_all()
        for name in names[:3]:
            outcome = await harness.ask(name)
            assert outcome.security is not Security.BOGUS, (round_, name, outcome.errors)
            assert outcome.rcode != dns.rcode.SERVFAIL
    assert held_down(harness, "com.") <= {"127.53.1.1", "127.53.1.2"}
    assert held_down(harness, "com.")
    # Genuinely bogus data stays bogus, whichever instance is asked.
    assert (await harness.ask(names[3])).security is Security.BOGUS


async def test_when_every_instance_is_bad_the_answer_is_bogus_with_the_reason(
    lab: Lab, harness: Harness
) -> None:
    for address in ("127.53.1.1", "127.53.1.2", "127.53.1.3", "127.53.1.4"):
        lab.set_fault(address, parse_fault("expired-sigs"), zone="com.")
    outcome = await harness.ask("www.example.com.")
    assert outcome.security is Security.BOGUS
    assert [error.code for error in outcome.errors] == [dns.edns.EDECode.SIGNATURE_EXPIRED]
    assert held_down(harness, "com.") == {"127.53.1.1", "127.53.1.2", "127.53.1.3", "127.53.1.4"}
