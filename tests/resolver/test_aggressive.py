"""RFC 8198 synthesis (``resolver.aggressive``) over a cache filled by hand.

The zone ``example.`` has the names ``example.`` (apex), ``b``, ``d`` (a
delegation without DS) and ``f``; its NSEC chain is
``example. -> b -> d -> f -> example.``. Signatures are placeholders: the
cache is told the denials were SECURE, as the validator would have said.
"""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from dnssec.status import Security
from dnssec.work import WorkLimits
from resolver.aggressive import Synthesised, synthesise
from resolver.cache import Cache, Rank
from resolver.clock import FakeClock

A = dns.rdatatype.A
TXT = dns.rdatatype.TXT
DS = dns.rdatatype.DS

SOA = dns.rrset.from_text("example.", 3600, "IN", "SOA", "ns. host. 1 7200 900 1209600 600")
NSECS = {
    "example.": "b.example. NS SOA RRSIG NSEC DNSKEY",
    "b.example.": "d.example. A RRSIG NSEC",
    "d.example.": "f.example. NS RRSIG NSEC",
    "f.example.": "example. A RRSIG NSEC",
}


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def rrsig(rrset: dns.rrset.RRset, signer: str = "example.") -> dns.rrset.RRset:
    labels = len(rrset.name) - 1
    text = (
        f"{dns.rdatatype.to_text(rrset.rdtype)} 13 {labels} {rrset.ttl} "
        f"20300101000000 20200101000000 4711 {signer} AAAA"
    )
    return dns.rrset.from_text(rrset.name, rrset.ttl, "IN", "RRSIG", text)


def nsec(owner: str, ttl: int = 3600) -> list[dns.rrset.RRset]:
    record = dns.rrset.from_text(owner, ttl, "IN", "NSEC", NSECS[owner])
    return [record, rrsig(record)]


def deny(
    cache: Cache,
    qname: str,
    *owners: str,
    security: Security = Security.SECURE,
    nxdomain: bool = True,
    ttl: int = 3600,
) -> None:
    """Store the denial of ``qname`` that the NSECs at ``owners`` proved."""
    proof = [r for owner in owners for r in nsec(owner, ttl)] + [rrsig(SOA)]
    cache.store_negative(name(qname), A, nxdomain=nxdomain, soa=SOA, proof=proof, security=security)


def trusted(zone: dns.name.Name) -> bool:
    return True


@pytest.fixture
def cache(clock: FakeClock) -> Cache:
    return Cache(clock)


def ask(cache: Cache, qname: str, rdtype: dns.rdatatype.RdataType = A) -> Synthesised | None:
    return synthesise(cache, name(qname), rdtype, trusted=trusted, limits=WorkLimits())


def owners(found: Synthesised) -> set[str]:
    return {str(r.name) for r in found.proof if r.rdtype == dns.rdatatype.NSEC}


def test_a_covered_name_is_nxdomain_with_both_nsecs(cache: Cache) -> None:
    deny(cache, "c.example.", "b.example.", "example.")
    found = ask(cache, "x.c.example.")
    assert found is not None
    assert found.nxdomain
    assert owners(found) == {"b.example.", "example."}
    assert found.soa.name == name("example.")
    sigs = {(str(r.name), r.covers) for r in found.proof if r.rdtype == dns.rdatatype.RRSIG}
    assert sigs == {
        ("b.example.", dns.rdatatype.NSEC),
        ("example.", dns.rdatatype.NSEC),
        ("example.", dns.rdatatype.SOA),
    }


def test_nxdomain_needs_the_wildcard_denied(cache: Cache) -> None:
    deny(cache, "c.example.", "b.example.")  # the wildcard's NSEC never came
    assert ask(cache, "cc.example.") is None


def test_nodata_from_the_nsec_at_the_name(cache: Cache) -> None:
    deny(cache, "c.example.", "b.example.", "example.")
    found = ask(cache, "b.example.", TXT)
    assert found is not None
    assert not found.nxdomain
    assert ask(cache, "b.example.", A) is None, "the NSEC lists A: the data exists"


def test_only_secure_denials_are_used(cache: Cache) -> None:
    deny(cache, "c.example.", "b.example.", "example.", security=Security.INSECURE)
    assert ask(cache, "x.c.example.") is None


def test_not_across_a_delegation(cache: Cache) -> None:
    deny(cache, "e.example.", "d.example.", "example.")
    # Below d. the parent's NSEC (NS without SOA) cannot speak ...
    assert ask(cache, "x.d.example.") is None
    # ... but it denies the DS at the cut, which lives in the parent.
    found = ask(cache, "d.example.", DS)
    assert found is not None
    assert not found.nxdomain
    assert ask(cache, "d.example.", A) is None


def test_not_below_a_cached_cut(cache: Cache) -> None:
    deny(cache, "c.example.", "b.example.", "example.")
    ns = dns.rrset.from_text("c.example.", 3600, "IN", "NS", "ns.c.example.")
    cache.store_rrset(ns, Rank.REFERRAL)
    assert ask(cache, "x.c.example.") is None


def test_not_for_an_untrusted_zone(cache: Cache) -> None:
    deny(cache, "c.example.", "b.example.", "example.")
    untrusted = synthesise(
        cache, name("x.c.example."), A, trusted=lambda zone: False, limits=WorkLimits()
    )
    assert untrusted is None


def test_ttl_is_the_least_of_nsec_soa_and_minimum(cache: Cache, clock: FakeClock) -> None:
    deny(cache, "c.example.", "b.example.", "example.")
    found = ask(cache, "x.c.example.")
    assert found is not None
    assert {r.ttl for r in (found.soa, *found.proof)} == {600}  # SOA MINIMUM
    cache.flush_all()
    deny(cache, "c.example.", "b.example.", "example.", ttl=300)
    clock.advance(100)
    found = ask(cache, "x.c.example.")
    assert found is not None
    assert {r.ttl for r in (found.soa, *found.proof)} == {200}


def test_expired_nsec_is_not_used(cache: Cache, clock: FakeClock) -> None:
    deny(cache, "c.example.", "b.example.", "example.", ttl=300)
    clock.advance(300)
    assert ask(cache, "x.c.example.") is None


def test_flushed_or_replaced_nsec_leaves_the_index(cache: Cache) -> None:
    deny(cache, "c.example.", "b.example.", "example.")
    cache.flush_name(name("b.example."))
    assert ask(cache, "x.c.example.") is None
    deny(cache, "c.example.", "b.example.", "example.")
    assert ask(cache, "x.c.example.") is not None
    cache.flush_zone(name("example."))
    assert cache.secure_nsec_zone(name("x.c.example.")) is None


def test_an_existing_wildcard_is_left_to_upstream(cache: Cache) -> None:
    NSECS["*.example."] = "b.example. A RRSIG NSEC"
    NSECS["example."] = "*.example. NS SOA RRSIG NSEC DNSKEY"
    try:
        deny(cache, "c.example.", "b.example.", "*.example.")
        assert ask(cache, "x.c.example.") is None
        found = ask(cache, "x.c.example.", TXT)  # wildcard NODATA (RFC 4035 3.1.3.4)
        assert found is not None
        assert not found.nxdomain
    finally:
        del NSECS["*.example."]
        NSECS["example."] = "b.example. NS SOA RRSIG NSEC DNSKEY"


def test_the_last_nsec_wraps_to_the_apex(cache: Cache) -> None:
    deny(cache, "g.example.", "f.example.", "example.")
    found = ask(cache, "z.example.")
    assert found is not None
    assert found.nxdomain
    assert "f.example." in owners(found)


WILDCARD_NSECS = {
    "example.": "*.example. NS SOA RRSIG NSEC DNSKEY",
    "*.example.": "b.example. CNAME RRSIG NSEC",
    "b.example.": "example. A RRSIG NSEC",
}


def wildcard_zone(
    cache: Cache, *, signer: str = "example.", security: Security = Security.SECURE
) -> None:
    """``*.example. CNAME b.example.`` cached as a wildcard answer leaves it, with the NSECs."""
    proof = []
    for owner, text in WILDCARD_NSECS.items():
        record = dns.rrset.from_text(owner, 3600, "IN", "NSEC", text)
        proof += [record, rrsig(record)]
    cache.store_negative(
        name("b.example."),
        TXT,
        nxdomain=False,
        soa=SOA,
        proof=[*proof, rrsig(SOA)],
        security=Security.SECURE,
    )
    source = dns.rrset.from_text("*.example.", 60, "IN", "CNAME", "b.example.")
    signatures = rrsig(source, signer).copy()
    signatures.clear()
    for rdata in rrsig(source, signer):
        signatures.add(rdata.replace(labels=1))  # the wildcard label is not counted
    cache.store_rrset(source, Rank.ANSWER, security=security, rrsigs=signatures)


def test_a_cached_wildcard_answers_a_covered_name(cache: Cache) -> None:
    """RFC 8198 5.3: expanded to the name asked, with the NSEC that proves it (RFC 4035 5.3.4)."""
    wildcard_zone(cache)
    found = ask(cache, "a.example.")
    assert found is not None
    assert found.soa is None
    (answer,) = found.answer
    assert answer.name == name("a.example.")
    assert answer.rdtype == dns.rdatatype.CNAME
    assert found.next_name == name("b.example.")
    (signatures,) = found.signatures
    assert signatures.name == name("a.example.")
    assert {rdata.labels for rdata in signatures} == {1}
    assert owners(found) == {"*.example."}
    assert {r.ttl for r in (answer, signatures, *found.proof)} == {60}, "the least TTL used"


def test_a_wildcard_signed_by_another_zone_is_not_expanded(cache: Cache) -> None:
    wildcard_zone(cache, signer="other.")
    assert ask(cache, "a.example.") is None


def test_an_insecure_wildcard_is_not_expanded(cache: Cache) -> None:
    wildcard_zone(cache, security=Security.INSECURE)
    assert ask(cache, "a.example.") is None


def test_nsecs_signed_by_another_zone_are_not_used(cache: Cache) -> None:
    """NSECs owned in ``example.`` but signed by ``other.`` cannot speak for ``example.``:
    the index is by signer, and ``other.`` is not above the names."""
    for owner in ("b.example.", "example."):
        record = nsec(owner)[0]
        cache.store_rrset(
            record, Rank.AUTHORITY, security=Security.SECURE, rrsigs=rrsig(record, "other.")
        )
    cache.store_rrset(SOA, Rank.AUTHORITY, security=Security.SECURE, rrsigs=rrsig(SOA))
    assert ask(cache, "x.c.example.") is None
    assert cache.secure_nsec_zone(name("x.c.example.")) is None


def test_a_zone_leaves_the_denial_zones_with_its_last_nsec(cache: Cache) -> None:
    """``secure_nsec_zone`` finds the deepest zone holding SECURE NSECs, and forgets a
    zone whose last one was dropped while another zone still holds some."""
    other = dns.rrset.from_text("x.other.", 3600, "IN", "NSEC", "z.other. A RRSIG NSEC")
    cache.store_rrset(
        other, Rank.AUTHORITY, security=Security.SECURE, rrsigs=rrsig(other, "other.")
    )
    deny(cache, "c.example.", "b.example.")
    assert cache.secure_nsec_zone(name("q.B.example.")) == name("example.")
    assert cache.secure_nsec_zone(name("example.")) == name("example.")
    assert cache.secure_nsec_zone(name("Q.x.OTHER.")) == name("other.")
    assert cache.secure_nsec_zone(name("q.elsewhere.")) is None
    cache.flush_name(name("b.example."))
    assert cache.secure_nsec_zone(name("q.b.example.")) is None
    assert cache.secure_nsec_zone(name("q.x.other.")) == name("other.")
