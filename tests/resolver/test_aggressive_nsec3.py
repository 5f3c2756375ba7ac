"""RFC 8198 with NSEC3 (``resolver.aggressive``, ``cached_nsec3``) over a hand-filled cache.

The zone ``example.`` has the names ``example.`` (apex), ``b`` and ``d``;
its NSEC3 chain (SHA-1, 2 iterations, salt AB) is built from the real
hashes, in hash order, so each record covers the span to the next. Which
span a name falls in depends on the hashes: the tests ask the chain. The
signatures are placeholders: the cache is told the records were SECURE,
as the validator would have said.
"""

from __future__ import annotations

import base64

import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from dnssec import nsec3
from dnssec.status import Security
from dnssec.work import WorkLimits
from resolver.aggressive import Synthesised, synthesise
from resolver.cache import Cache, Lifetimes, Rank
from resolver.clock import FakeClock

A = dns.rdatatype.A
TXT = dns.rdatatype.TXT
ZONE = dns.name.from_text("example.")
SALT = b"\xab"
ITERATIONS = 2
SOA = dns.rrset.from_text("example.", 3600, "IN", "SOA", "ns. host. 1 7200 900 1209600 600")
#: The names of the zone and their types.
NAMES = {
    "example.": "A NS SOA RRSIG DNSKEY NSEC3PARAM",
    "b.example.": "A RRSIG",
    "d.example.": "TXT RRSIG",
}


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def digest(text: str) -> bytes:
    return nsec3.nsec3_hash(name(text), SALT, ITERATIONS)


def hashed(value: bytes, zone: dns.name.Name = ZONE) -> dns.name.Name:
    return dns.name.Name((base64.b32hexencode(value).lower(), *zone.labels))


def rrsig(
    rrset: dns.rrset.RRset, signer: str = "example.", labels: int | None = None
) -> dns.rrset.RRset:
    count = len(rrset.name) - 1 if labels is None else labels
    text = (
        f"{dns.rdatatype.to_text(rrset.rdtype)} 13 {count} {rrset.ttl} "
        f"20300101000000 20200101000000 4711 {signer} AAAA"
    )
    return dns.rrset.from_text(rrset.name, rrset.ttl, "IN", "RRSIG", text)


def chain(
    names: dict[str, str] = NAMES, *, opt_out: bool = False, iterations: int = ITERATIONS
) -> list[dns.rrset.RRset]:
    """The NSEC3 RRsets of ``names`` (hash order, each pointing at the next)."""
    ordered = sorted(
        (nsec3.nsec3_hash(name(n), SALT, iterations), types) for n, types in names.items()
    )
    records = []
    for index, (value, types) in enumerate(ordered):
        following = ordered[(index + 1) % len(ordered)][0]
        next_text = base64.b32hexencode(following).decode()
        rdata = f"1 {int(opt_out)} {iterations} AB {next_text} {types}"
        records.append(dns.rrset.from_text(hashed(value), 3600, "IN", "NSEC3", rdata))
    return records


def store(
    cache: Cache, records: list[dns.rrset.RRset], signer: str = "example.", ttl: int = 3600
) -> None:
    """Store the denial of some name that ``records`` proved, with the zone's SOA."""
    proof = [r for record in records for r in (record, rrsig(record, signer))]
    proof = [dns.rrset.from_rdata_list(r.name, ttl, list(r)) for r in proof]
    cache.store_negative(
        name("x.example."),
        A,
        nxdomain=True,
        soa=SOA,
        proof=[*proof, rrsig(SOA)],
        security=Security.SECURE,
    )


def trusted(zone: dns.name.Name) -> bool:
    return True


@pytest.fixture
def cache(clock: FakeClock) -> Cache:
    return Cache(clock)


LIMITS = WorkLimits()


def ask(
    cache: Cache, qname: str, rdtype: dns.rdatatype.RdataType = A, limits: WorkLimits = LIMITS
) -> Synthesised | None:
    return synthesise(cache, name(qname), rdtype, trusted=trusted, limits=limits)


def nsec3_owners(found: Synthesised) -> set[dns.name.Name]:
    return {r.name for r in found.proof if r.rdtype == dns.rdatatype.NSEC3}


def test_nxdomain_from_the_cached_closest_encloser_proof(cache: Cache) -> None:
    store(cache, chain())
    found = ask(cache, "nope.example.")
    assert found is not None
    assert found.nxdomain
    assert found.soa is not None
    assert found.soa.name == ZONE
    # The apex matches (the closest encloser); the next closer name and the
    # wildcard are covered (RFC 5155 7.2.1): at most three records, all signed.
    owners = nsec3_owners(found)
    assert hashed(digest("example.")) in owners
    assert 1 <= len(owners) <= 3
    signed = {r.name for r in found.proof if r.rdtype == dns.rdatatype.RRSIG}
    assert owners | {ZONE} == signed
    deeper = ask(cache, "deep.nope.example.")
    assert deeper is not None
    assert deeper.nxdomain


def test_nodata_from_the_matching_nsec3(cache: Cache) -> None:
    store(cache, chain())
    found = ask(cache, "d.example.", A)
    assert found is not None
    assert not found.nxdomain
    assert nsec3_owners(found) == {hashed(digest("d.example."))}
    assert ask(cache, "d.example.", TXT) is None, "the NSEC3 lists TXT: the data exists"


def test_an_opt_out_span_does_not_prove_nxdomain(cache: Cache) -> None:
    """RFC 8198 section 4: an unsigned delegation may hide in an opt-out span."""
    store(cache, chain(opt_out=True))
    assert ask(cache, "nope.example.") is None
    found = ask(cache, "d.example.", A)  # a matching record proves NODATA all the same
    assert found is not None
    assert not found.nxdomain


def test_records_of_another_signer_are_not_used(cache: Cache) -> None:
    """NSEC3 records owned in ``example.`` but signed by another zone prove nothing for it."""
    store(cache, chain(), signer="other.")
    assert cache.secure_nsec_zone(name("nope.example.")) is None
    assert ask(cache, "nope.example.") is None


def test_the_parents_chain_denies_nothing_below_a_delegation(cache: Cache) -> None:
    """The NSEC3 at ``sub`` (NS without SOA) belongs to the parent: names below
    are the child zone's (RFC 5155 8.3, RFC 6840 4.1), even with no NS cached."""
    store(cache, chain({**NAMES, "sub.example.": "NS"}))
    assert ask(cache, "x.sub.example.") is None
    assert ask(cache, "nope.example.") is not None


def test_records_with_other_parameters_are_ignored(cache: Cache) -> None:
    """A record of another parameter set (a re-salted zone) is not part of the chain."""
    apex = hashed(digest("example."))
    records = [
        dns.rrset.from_text(r.name, 3600, "IN", "NSEC3", r[0].to_text().replace(" ab ", " cd "))
        if r.name == apex
        else r
        for r in chain()
    ]
    assert records[-1].name != apex, "the last record gives the chain its parameters"
    store(cache, records)
    assert ask(cache, "nope.example.") is None


def test_an_expired_nsec3_is_not_used(clock: FakeClock) -> None:
    """Past its TTL a record is kept for serve-stale only (RFC 8767), not to answer fresh."""
    cache = Cache(clock, lifetimes=Lifetimes(stale_window=86_400))
    store(cache, chain(), ttl=300)
    assert ask(cache, "nope.example.") is not None
    clock.advance(300)
    assert ask(cache, "nope.example.") is None
    stale = synthesise(
        cache, name("nope.example."), A, trusted=trusted, limits=LIMITS, allow_stale=True
    )
    assert stale is not None
    assert stale.stale


def test_iterations_over_the_limit_are_not_used(cache: Cache) -> None:
    """RFC 9276 section 3.2: such a chain is not hashed at all."""
    store(cache, chain(iterations=ITERATIONS))
    assert ask(cache, "nope.example.", limits=WorkLimits(max_nsec3_iterations=1)) is None
    assert ask(cache, "nope.example.", limits=WorkLimits(max_nsec3_iterations=2)) is not None


def test_the_hash_budget_bounds_a_deep_name(cache: Cache) -> None:
    store(cache, chain())
    deep = ".".join(["x"] * 8) + ".example."
    assert ask(cache, deep, limits=WorkLimits(max_nsec3_hashes_per_response=3)) is None
    assert ask(cache, deep) is not None


def test_a_cached_wildcard_answers_a_name_that_does_not_exist(cache: Cache) -> None:
    """RFC 8198 5.3 with NSEC3: the next closer name is covered (RFC 5155 8.8)."""
    names = {**NAMES, "*.example.": "A RRSIG"}
    records = chain(names)
    # The wildcard answer brought only the record covering the next closer name.
    cover = next(r for r in records if _covers(r, digest("nope.example.")))
    store(cache, [cover])
    source = dns.rrset.from_text("*.example.", 60, "IN", "A", "192.0.2.7")
    cache.store_rrset(source, Rank.ANSWER, security=Security.SECURE, rrsigs=rrsig(source, labels=1))
    found = ask(cache, "nope.example.")
    assert found is not None
    assert not found.nxdomain
    assert found.soa is None
    (answer,) = found.answer
    assert answer.name == name("nope.example.")
    assert answer.rdtype == A
    (signatures,) = found.signatures
    assert signatures.name == name("nope.example.")
    assert {rdata.labels for rdata in signatures} == {1}, "the Labels field shows the expansion"
    assert nsec3_owners(found) == {cover.name}
    assert {r.ttl for r in (answer, signatures, *found.proof)} == {60}
    deeper = ask(cache, "deep.nope.example.")
    assert deeper is not None
    assert deeper.answer[0].name == name("deep.nope.example.")


def test_an_insecure_wildcard_is_not_expanded(cache: Cache) -> None:
    names = {**NAMES, "*.example.": "A RRSIG"}
    store(cache, chain(names))
    source = dns.rrset.from_text("*.example.", 60, "IN", "A", "192.0.2.7")
    cache.store_rrset(
        source, Rank.ANSWER, security=Security.INSECURE, rrsigs=rrsig(source, labels=1)
    )
    found = ask(cache, "nope.example.")
    assert found is None or not found.answer


def _covers(record: dns.rrset.RRset, value: bytes) -> bool:
    ((_, parsed),) = nsec3.read_records(ZONE, record)
    return parsed.covers(value)
