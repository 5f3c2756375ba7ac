"""Denial-of-existence proofs: NSEC (RFC 4035, RFC 6840) and NSEC3 (RFC 5155, RFC 9276).

The chains here are built from a small zone with dnspython's own NSEC3
hashing (an independent implementation), and the proofs are the records an
authoritative server would pick. The lab's proof builders and the lab
itself supply more; hypothesis checks, for random zones, that true claims
are proven and that no subset of a chain proves a false one.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence

import dns.dnssec
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from dns.name import Name
from dns.rdatatype import RdataType
from hypothesis import given, settings
from hypothesis import strategies as st

from dnssec.denial import (
    Denial,
    prove_no_ds,
    prove_nodata,
    prove_nxdomain,
    prove_wildcard_answer,
)
from dnssec.errors import Bogus, BogusNoDenial, ValidationWorkExceeded
from dnssec.nsec import NsecChain
from dnssec.nsec3 import Nsec3, nsec3_hash
from dnssec.status import ExtendedError, Security
from dnssec.work import ValidationWork, WorkLimits
from resolver.lab import Lab
from resolver.lab.authority import wildcard_of
from resolver.lab.denial import Nsec3Denial, NsecDenial, nsec3_chain, nsec_rrset
from tests.lab.helpers import ask

ZONE = dns.name.from_text("example.")
SECURE = Denial(Security.SECURE)
INSECURE = Denial(Security.INSECURE)

#: The test zone: owner (relative to ZONE) -> its types. w, y.w and f are
#: empty non-terminals; a, b and ins.f are delegations (a secure, b and ins.f not).
NAMES = {
    "@": "SOA NS",
    "a": "NS DS",
    "ai": "A",
    "b": "NS",
    "c": "CNAME",
    "d": "DNAME",
    "ins.f": "NS",
    "ns1": "A",
    "*.w": "MX",
    "x.y.w": "MX",
    "xx": "A",
}

A, AAAA, MX, DS = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.MX, dns.rdatatype.DS)


def n(text: str, origin: Name = ZONE) -> Name:
    """A name relative to the test zone (``@`` is the apex)."""
    return dns.name.from_text(text, origin)


def ancestors(name: Name, origin: Name) -> Iterator[Name]:
    """``name`` and each ancestor down to ``origin``."""
    while name != origin:
        yield name
        name = name.parent()
    yield origin


class Zone:
    """A zone's owners and types, and the NSEC chain a signer makes of them."""

    def __init__(self, names: Mapping[str, str], origin: Name = ZONE) -> None:
        self.origin = origin
        self.types = {n(owner, origin): types.split() for owner, types in names.items()}
        owners = sorted(self.types)
        self.nsec = {
            owner: nsec_rrset(owner, owners[(i + 1) % len(owners)], self.type_codes(owner), 300)
            for i, owner in enumerate(owners)
        }

    def type_codes(self, owner: Name) -> list[int]:
        return [dns.rdatatype.from_text(text) for text in self.types.get(owner, [])]

    def exists(self, name: Name) -> bool:
        """Whether ``name`` has data or is an empty non-terminal."""
        return any(owner.is_subdomain(name) for owner in self.types)

    def nsecs(self, *owners: str) -> list[dns.rrset.RRset]:
        return [self.nsec[n(owner, self.origin)] for owner in owners]


class Nsec3Zone:
    """The NSEC3 chain of a ``Zone``, hashed with dnspython.

    With ``opt_out`` every record has the flag and insecure delegations (NS
    without DS) are left out with their empty non-terminals (RFC 5155 7.1).
    """

    def __init__(
        self,
        zone: Zone,
        *,
        salt: str = "",
        iterations: int = 0,
        opt_out: bool = False,
        algorithm: int = 1,
        flags: int | None = None,
    ) -> None:
        self.zone, self.salt, self.iterations = zone, salt, iterations
        owners = [o for o, t in zone.types.items() if not (opt_out and t == ["NS"])]
        names = {ancestor for owner in owners for ancestor in ancestors(owner, zone.origin)}
        entries = sorted((self.label(name), zone.types.get(name, [])) for name in names)
        flags = int(opt_out) if flags is None else flags
        self.labels = [label for label, _ in entries]
        self.records: dict[str, dns.rrset.RRset] = {}
        for i, (label, types) in enumerate(entries):
            following = self.labels[(i + 1) % len(entries)]
            bitmap = " ".join([*types, "RRSIG"] if types else [])
            text = f"{algorithm} {flags} {iterations} {salt or '-'} {following} {bitmap}"
            rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NSEC3, text)
            owner = Name((label.encode(), *zone.origin.labels))
            self.records[label] = dns.rrset.from_rdata(owner, 300, rdata)

    def label(self, name: Name) -> str:
        return dns.dnssec.nsec3_hash(name, self.salt or None, self.iterations, 1).lower()

    def matching(self, owner: str) -> dns.rrset.RRset:
        return self.records[self.label(n(owner, self.zone.origin))]

    def covering(self, owner: str) -> dns.rrset.RRset:
        label = self.label(n(owner, self.zone.origin))
        assert label not in self.records, f"{owner} exists"
        return self.records[self.labels[bisect.bisect(self.labels, label) - 1]]

    def proof(self, *spec: str) -> list[dns.rrset.RRset]:
        """Records by ``=name`` (matching it) and ``~name`` (covering it)."""
        return [self.matching(s[1:]) if s[0] == "=" else self.covering(s[1:]) for s in spec]

    @property
    def chain(self) -> list[dns.rrset.RRset]:
        return list(self.records.values())


ZONE_DATA = Zone(NAMES)
NSEC3 = Nsec3Zone(ZONE_DATA)
NSEC3_SALTED = Nsec3Zone(ZONE_DATA, salt="aabbccdd", iterations=5)
NSEC3_OPT_OUT = Nsec3Zone(ZONE_DATA, opt_out=True)


def work(**limits: int) -> ValidationWork:
    return ValidationWork(WorkLimits(**limits))


@contextlib.contextmanager
def raises_exactly(kind: type[Bogus], text: str) -> Iterator[None]:
    """Expect exactly ``kind`` (not a subclass), its message containing ``text``."""
    with pytest.raises(kind, match=re.escape(text)) as caught:
        yield
    assert caught.type is kind


#: A proof: the records and the meter -> what was proven.
Proof = Callable[[Sequence[dns.rrset.RRset], ValidationWork], Denial]


def nxdomain(qname: str, zone: Name = ZONE) -> Proof:
    return lambda records, meter: prove_nxdomain(n(qname), zone, records, meter)


def nodata(qname: str, rdtype: RdataType, zone: Name = ZONE) -> Proof:
    return lambda records, meter: prove_nodata(n(qname), rdtype, zone, records, meter)


def wildcard(qname: str, source: str, zone: Name = ZONE) -> Proof:
    return lambda records, meter: prove_wildcard_answer(n(qname), n(source), zone, records, meter)


def no_ds(name: str, zone: Name = ZONE) -> Proof:
    return lambda records, meter: prove_no_ds(n(name), zone, records, meter)


# --- NSEC ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proof", "owners"),
    [
        pytest.param(nxdomain("nx"), ["ns1", "@"], id="nxdomain"),
        pytest.param(nxdomain("q.ns1"), ["ns1"], id="nxdomain-below-a-name-one-nsec"),
        pytest.param(nxdomain("zz"), ["xx", "@"], id="nxdomain-last-nsec-wraps-to-apex"),
        pytest.param(nxdomain("NX.Example."), ["ns1", "@"], id="nxdomain-any-case"),
        pytest.param(nodata("ns1", AAAA), ["ns1"], id="nodata"),
        pytest.param(nodata("@", A), ["@"], id="nodata-at-apex"),
        pytest.param(nodata("y.w", A), ["*.w"], id="nodata-empty-non-terminal"),
        pytest.param(nodata("w", A), ["ns1"], id="nodata-empty-non-terminal-above-wildcard"),
        pytest.param(nodata("f", A), ["d"], id="nodata-empty-non-terminal-above-cut"),
        pytest.param(nodata("z.w", A), ["x.y.w", "*.w"], id="wildcard-nodata"),
        pytest.param(nodata("ns1", DS), ["ns1"], id="ds-nodata-not-a-delegation"),
        pytest.param(nodata("b", DS), ["b"], id="ds-nodata-insecure-delegation"),
        pytest.param(wildcard("z.w", "*.w"), ["x.y.w"], id="wildcard-answer"),
        pytest.param(wildcard("q.p.w", "*.w"), ["*.w"], id="wildcard-answer-two-labels"),
        pytest.param(wildcard("*.w", "*.w"), [], id="wildcard-owner-itself-needs-no-proof"),
        pytest.param(no_ds("b"), ["b"], id="no-ds"),
        pytest.param(no_ds("ins.f"), ["ins.f"], id="no-ds-below-empty-non-terminal"),
    ],
)
def test_nsec_proofs_are_accepted(proof: Proof, owners: list[str]) -> None:
    assert proof(ZONE_DATA.nsecs(*owners), work()) == SECURE


def test_nsec_proof_ignores_other_types_and_records_outside_the_zone() -> None:
    outside = nsec_rrset(n("nx.other."), n("other."), [dns.rdatatype.A], 300)
    soa = dns.rrset.from_text(ZONE, 300, "IN", "SOA", "ns1 host 1 2 3 4 5")
    records = [soa, outside, *ZONE_DATA.nsecs("ns1", "@")]
    assert prove_nxdomain(n("nx"), ZONE, records, work()) == SECURE
    with raises_exactly(BogusNoDenial, "other.: no NSEC or NSEC3 records prove nx.other."):
        prove_nxdomain(n("nx.other."), n("other."), [soa, *ZONE_DATA.nsecs("ns1")], work())
    with raises_exactly(BogusNoDenial, "example.: no NSEC proves nx.example. does not exist"):
        prove_nxdomain(n("nx"), ZONE, [outside, *ZONE_DATA.nsecs("@")], work())


def test_an_nsec_covers_only_names_strictly_between_owner_and_next_rfc4034_6_1() -> None:
    middle, last = NsecChain.from_rrsets(ZONE, ZONE_DATA.nsecs("ns1", "xx")).records
    names = ["nx", "q.ns1", "ns1", "*.w", "zz", "a.xx", "xx", "@", "a"]
    assert [name for name in names if middle.covers(n(name))] == ["nx", "q.ns1"]
    assert [name for name in names if last.covers(n(name))] == ["zz", "a.xx"]  # wraps to the apex


def test_an_nsec3_covers_only_hashes_strictly_between_owner_and_next_rfc5155_8_3() -> None:
    hashes = [bytes([octet]) * 20 for octet in (0x00, 0x10, 0x80, 0xE0, 0xF0)]
    low, high = hashes[1], hashes[3]
    inner, last = Nsec3(low, high, False, frozenset()), Nsec3(high, low, False, frozenset())
    assert [h[0] for h in hashes if inner.covers(h)] == [0x80]
    assert [h[0] for h in hashes if last.covers(h)] == [0x00, 0xF0]  # wraps to the first


def nsec_at(owner: str, following: str, types: str) -> dns.rrset.RRset:
    codes = [dns.rdatatype.from_text(text) for text in types.split()]
    return nsec_rrset(n(owner), n(following), codes, 300)


@pytest.mark.parametrize(
    ("proof", "records", "kind", "message"),
    [
        (
            nxdomain("nx"), [], BogusNoDenial,
            "example.: no NSEC or NSEC3 records prove nx.example. does not exist",
        ),
        (
            nxdomain("nx"), ["@"], BogusNoDenial,
            "example.: no NSEC proves nx.example. does not exist",
        ),
        (
            nxdomain("nx"), ["ns1"], BogusNoDenial,
            "example.: no NSEC proves the wildcard *.example. does not exist",
        ),
        (
            nxdomain("nx.other."), ["ns1", "@"], BogusNoDenial,
            "example.: nx.other. is outside the zone",
        ),
        (
            nxdomain("ns1"), ["ns1", "@"], Bogus,
            "example.: the NSEC at ns1.example. shows it exists",
        ),
        (
            nxdomain("w"), ["ns1", "@"], Bogus,
            "example.: the NSEC at ns1.example. shows w.example. is an empty non-terminal",
        ),
        (
            nxdomain("z.w"), ["x.y.w", "*.w"], Bogus,
            "example.: the NSEC at *.w.example. shows the wildcard for z.w.example. exists",
        ),
        (
            nxdomain("www.b"), ["b", "@"], Bogus,
            "example.: the NSEC at b.example. is a delegation (NS without SOA) and cannot deny "
            "www.b.example.",
        ),
        (
            nxdomain("www.a"), ["a", "@"], Bogus,
            "example.: the NSEC at a.example. is a delegation (NS without SOA) and cannot deny "
            "www.a.example.",
        ),
        (
            nxdomain("x.d"), ["d", "@"], Bogus,
            "example.: the NSEC at d.example. lists DNAME and cannot deny x.d.example.",
        ),
        (
            nodata("ns1", AAAA), [], BogusNoDenial,
            "example.: no NSEC or NSEC3 records prove ns1.example. has no AAAA",
        ),
        (
            nodata("ns1", AAAA), ["@"], BogusNoDenial,
            "example.: no NSEC proves ns1.example. has no AAAA",
        ),
        (
            nodata("nx", A), ["ns1", "@"], BogusNoDenial,
            "example.: no NSEC proves nx.example. has no A: it does not exist, and no NSEC "
            "at the wildcard *.example. was given",
        ),
        (nodata("ns1", A), ["ns1"], Bogus, "example.: the NSEC at ns1.example. lists A"),
        (
            nodata("c", A), ["c"], Bogus,
            "example.: the NSEC at c.example. lists CNAME, so A is not denied",
        ),
        (
            nodata("b", A), ["b"], Bogus,
            "example.: the NSEC at b.example. is the parent side of a delegation (NS without "
            "SOA) and cannot deny A",
        ),
        (nodata("a", DS), ["a"], Bogus, "example.: the NSEC at a.example. lists DS"),
        (nodata("z.w", MX), ["x.y.w", "*.w"], Bogus, "example.: the NSEC at *.w.example. lists MX"),
        (
            nodata("z.w", A), ["x.y.w"], BogusNoDenial,
            "no NSEC at the wildcard *.w.example. was given",
        ),
        (
            nodata("www.b", A), ["b"], Bogus,
            "example.: the NSEC at b.example. is a delegation (NS without SOA) and cannot deny "
            "www.b.example.",
        ),
        (
            wildcard("z.w", "*.w"), ["*.w"], BogusNoDenial,
            "example.: no NSEC proves z.w.example. does not exist (answered from "
            "*.w.example.)",
        ),
        (
            wildcard("q.y.w", "*.w"), ["*.w"], Bogus,
            "example.: the closest encloser of q.y.w.example. is y.w.example., so the "
            "wildcard *.w.example. cannot answer it",
        ),
        (
            wildcard("nx", "*.w"), ["ns1"], Bogus,
            "example.: nx.example. cannot be synthesised from the wildcard *.w.example.",
        ),
        (
            wildcard("z.w", "w"), ["x.y.w"], Bogus,
            "example.: z.w.example. cannot be synthesised from the wildcard w.example.",
        ),
        (
            wildcard("a.*.w", "*.w"), ["*.w"], Bogus,
            "the closest encloser of a.*.w.example. is *.w.example.",
        ),
        (no_ds("b"), ["@"], BogusNoDenial, "example.: no NSEC proves b.example. has no DS"),
        (no_ds("a"), ["a"], Bogus, "example.: the NSEC at a.example. lists DS"),
        (
            no_ds("ns1"), ["ns1"], Bogus,
            "example.: the NSEC at ns1.example. has no NS bit, so ns1.example. is not a "
            "delegation",
        ),
    ],
)  # fmt: skip
def test_nsec_proofs_are_refused(
    proof: Proof, records: list[str], kind: type[Bogus], message: str
) -> None:
    with raises_exactly(kind, message):
        proof(ZONE_DATA.nsecs(*records), work())


def test_nsec_from_the_child_apex_cannot_deny_ds_rfc6840_4_4() -> None:
    child = n("b")
    apex = [nsec_at("b", "www.b", "SOA NS DNSKEY")]
    message = "b.example.: the NSEC at b.example. is the child zone's (SOA bit) and cannot deny DS"
    with raises_exactly(Bogus, message):
        prove_nodata(child, DS, child, apex, work())
    with raises_exactly(Bogus, message):
        prove_no_ds(child, child, apex, work())


def test_the_root_denies_its_own_ds_with_its_apex_nsec() -> None:
    """The root has no parent: ``. DS`` is denied by the root's apex record (Unbound,
    val_nsec.c: ``!dname_is_root``), while any other apex still cannot deny its DS."""
    root = Zone({"@": "SOA NS DNSKEY", "com": "NS DS"}, origin=dns.name.root)
    assert prove_nodata(dns.name.root, DS, dns.name.root, root.nsecs("@"), work()) == SECURE
    with pytest.raises(Bogus, match="lists DS"):
        prove_nodata(n("com", dns.name.root), DS, dns.name.root, root.nsecs("com"), work())
    nsec3 = Nsec3Zone(root).proof("=@")
    assert prove_nodata(dns.name.root, DS, dns.name.root, nsec3, work()) == SECURE


def test_nsec_error_becomes_ede_12_or_6() -> None:
    with pytest.raises(Bogus) as missing:
        prove_nxdomain(n("nx"), ZONE, [], work())
    assert missing.value.error() == ExtendedError(
        12, "example.: no NSEC or NSEC3 records prove nx.example. does not exist"
    )
    with pytest.raises(Bogus) as contradicted:
        prove_nodata(n("ns1"), A, ZONE, ZONE_DATA.nsecs("ns1"), work())
    assert contradicted.value.error().code == 6


# --- NSEC3 ---------------------------------------------------------------------------------


def test_nsec3_hash_matches_rfc5155_appendix_a() -> None:
    salt = bytes.fromhex("aabbccdd")
    for name, expected in [
        ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
        ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
        ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
    ]:
        digest = nsec3_hash(dns.name.from_text(name), salt, 12)
        assert base64.b32hexencode(digest).decode().lower() == expected


NSEC3_ACCEPTED = [
    pytest.param(nxdomain("nx"), ["=@", "~nx", "~*"], id="nxdomain"),
    pytest.param(nxdomain("q.ns1"), ["=ns1", "~q.ns1", "~*.ns1"], id="nxdomain-below-a-name"),
    pytest.param(nxdomain("p.q.ns1"), ["=ns1", "~q.ns1", "~*.ns1"], id="nxdomain-deep"),
    pytest.param(nodata("ns1", AAAA), ["=ns1"], id="nodata"),
    pytest.param(nodata("y.w", A), ["=y.w"], id="nodata-empty-non-terminal"),
    pytest.param(nodata("z.w", A), ["=w", "~z.w", "=*.w"], id="wildcard-nodata"),
    pytest.param(nodata("ns1", DS), ["=ns1"], id="ds-nodata-not-a-delegation"),
    pytest.param(nodata("b", DS), ["=b"], id="ds-nodata-insecure-delegation"),
    pytest.param(wildcard("z.w", "*.w"), ["~z.w"], id="wildcard-answer"),
    pytest.param(wildcard("q.p.w", "*.w"), ["~p.w"], id="wildcard-answer-next-closer"),
    pytest.param(no_ds("b"), ["=b"], id="no-ds"),
]


@pytest.mark.parametrize("chain", [NSEC3, NSEC3_SALTED], ids=["rfc9276", "salted"])
@pytest.mark.parametrize(("proof", "spec"), NSEC3_ACCEPTED)
def test_nsec3_proofs_are_accepted(chain: Nsec3Zone, proof: Proof, spec: list[str]) -> None:
    assert proof(chain.proof(*spec), work()) == SECURE


@pytest.mark.parametrize(
    ("proof", "spec", "expected"),
    [
        pytest.param(nxdomain("nx"), ["=@", "~nx", "~*"], INSECURE, id="nxdomain"),
        pytest.param(nodata("ns1", AAAA), ["=ns1"], SECURE, id="nodata-matching"),
        pytest.param(nodata("z.w", A), ["=w", "~z.w", "=*.w"], INSECURE, id="wildcard-nodata"),
        pytest.param(nodata("b", DS), ["=@", "~b"], INSECURE, id="ds-nodata-rfc5155-8.6"),
        pytest.param(nodata("f", A), ["=@", "~f"], INSECURE, id="ent-nodata-erratum-3441"),
        pytest.param(wildcard("z.w", "*.w"), ["~z.w"], INSECURE, id="wildcard-answer"),
        pytest.param(no_ds("b"), ["=@", "~b"], INSECURE, id="no-ds-rfc5155-8.9"),
        pytest.param(no_ds("ins.f"), ["=@", "~f"], INSECURE, id="no-ds-below-opted-out-ent"),
    ],
)
def test_nsec3_opt_out_makes_denials_insecure(
    proof: Proof, spec: list[str], expected: Denial
) -> None:
    assert proof(NSEC3_OPT_OUT.proof(*spec), work()) == expected


@pytest.mark.parametrize(
    ("proof", "spec", "kind", "message"),
    [
        (
            nxdomain("ns1"), ["=ns1"], Bogus,
            "example.: an NSEC3 matching ns1.example. shows it exists",
        ),
        (
            nxdomain("z.w"), ["=w", "~z.w", "=*.w"], Bogus,
            "example.: an NSEC3 matching *.w.example. shows the wildcard for z.w.example. "
            "exists",
        ),
        (
            nxdomain("nx"), ["=@", "~*"], BogusNoDenial,
            "example.: no NSEC3 proves nx.example. does not exist, so example. is not shown "
            "to be the closest encloser of nx.example.",
        ),
        (
            nxdomain("nx"), ["=@", "~nx"], BogusNoDenial,
            "example.: no NSEC3 proves the wildcard *.example. does not exist",
        ),
        (
            nxdomain("nx"), ["~nx", "~*"], BogusNoDenial,
            "example.: no NSEC3 matches an ancestor of nx.example.",
        ),
        (
            nxdomain("www.b"), ["=b", "~www.b", "~*.b"], Bogus,
            "example.: the NSEC3 matching b.example. is a delegation (NS without SOA) and "
            "cannot deny www.b.example.",
        ),
        (
            nxdomain("www.a"), ["=a", "~www.a", "~*.a"], Bogus,
            "example.: the NSEC3 matching a.example. is a delegation (NS without SOA) and "
            "cannot deny www.a.example.",
        ),
        (
            nxdomain("x.d"), ["=d", "~x.d", "~*.d"], Bogus,
            "example.: the NSEC3 matching d.example. lists DNAME and cannot deny "
            "x.d.example.",
        ),
        (nodata("ns1", A), ["=ns1"], Bogus, "example.: the NSEC3 matching ns1.example. lists A"),
        (
            nodata("c", A), ["=c"], Bogus,
            "example.: the NSEC3 matching c.example. lists CNAME, so A is not denied",
        ),
        (
            nodata("b", A), ["=b"], Bogus,
            "example.: the NSEC3 matching b.example. is the parent side of a delegation (NS "
            "without SOA) and cannot deny A",
        ),
        (nodata("a", DS), ["=a"], Bogus, "example.: the NSEC3 matching a.example. lists DS"),
        (
            nodata("z.w", MX), ["=w", "~z.w", "=*.w"], Bogus,
            "example.: the NSEC3 matching *.w.example. lists MX",
        ),
        (
            nodata("nx", A), ["=@", "~nx", "~*"], BogusNoDenial,
            "example.: no NSEC3 proves nx.example. has no A: none matches it or the "
            "wildcard *.example., and the one covering nx.example. has no opt-out",
        ),
        (
            nodata("nx", DS), ["=@", "~nx"], BogusNoDenial,
            "example.: no NSEC3 proves nx.example. has no DS",
        ),
        (
            nodata("ns1", AAAA), ["=@"], BogusNoDenial,
            "example.: no NSEC3 proves ns1.example. does not exist, so example. is not "
            "shown",
        ),
        (
            wildcard("z.w", "*.w"), ["=w"], BogusNoDenial,
            "example.: no NSEC3 proves z.w.example. does not exist, so *.w.example. may not "
            "answer z.w.example.",
        ),
        (
            wildcard("q.y.w", "*.w"), ["=y.w", "~q.y.w"], BogusNoDenial,
            "example.: no NSEC3 proves y.w.example. does not exist",
        ),
        (
            no_ds("b"), [], BogusNoDenial,
            "example.: no NSEC or NSEC3 records prove b.example. has no DS",
        ),
        (no_ds("a"), ["=a"], Bogus, "example.: the NSEC3 matching a.example. lists DS"),
        (
            no_ds("ns1"), ["=ns1"], Bogus,
            "example.: the NSEC3 matching ns1.example. has no NS bit, so ns1.example. is "
            "not a delegation",
        ),
        (
            no_ds("nx"), ["=@", "~nx"], BogusNoDenial,
            "example.: no NSEC3 proves nx.example. has no DS: none matches it, and the one "
            "covering nx.example. has no opt-out",
        ),
    ],
)  # fmt: skip
def test_nsec3_proofs_are_refused(
    proof: Proof, spec: list[str], kind: type[Bogus], message: str
) -> None:
    with raises_exactly(kind, message):
        proof(NSEC3.proof(*spec), work())


def test_nsec3_from_the_child_apex_cannot_deny_ds() -> None:
    child = n("b")
    apex = Nsec3Zone(Zone({"@": "SOA NS DNSKEY", "www": "A"}, origin=child)).proof("=@")
    message = "b.example.: the NSEC3 matching b.example. is the child zone's (SOA bit)"
    with raises_exactly(Bogus, message):
        prove_nodata(child, DS, child, apex, work())
    with raises_exactly(Bogus, message):
        prove_no_ds(child, child, apex, work())


def test_nsec3_iterations_over_the_limit_are_insecure_and_nothing_is_hashed_rfc9276() -> None:
    heavy = Nsec3Zone(ZONE_DATA, iterations=150)
    meter = work()
    error = ExtendedError(27, "example.: NSEC3 iterations 150 over the limit 100")
    for proof in (nxdomain("nx"), nodata("ns1", A), wildcard("z.w", "*.w"), no_ds("a")):
        assert proof(heavy.proof("=@"), meter) == Denial(Security.INSECURE, error)
    assert meter.hashes == 0


def test_nsec3_iterations_up_to_the_limit_are_checked() -> None:
    records = NSEC3_SALTED.proof("=@", "~nx", "~*")  # 5 iterations
    assert prove_nxdomain(n("nx"), ZONE, records, work(max_nsec3_iterations=5)) == SECURE
    over = ExtendedError(27, "example.: NSEC3 iterations 5 over the limit 4")
    assert prove_nxdomain(n("nx"), ZONE, records, work(max_nsec3_iterations=4)) == Denial(
        Security.INSECURE, over
    )


def test_nsec3_each_name_is_hashed_once() -> None:
    meter = work()
    prove_nxdomain(n("nx"), ZONE, NSEC3.proof("=@", "~nx", "~*"), meter)
    assert meter.hashes == 3  # nx, the apex, *.example.


def test_nsec3_hash_cap_stops_the_proof_cve_2023_50868() -> None:
    message = "example.: NSEC3 hash of *.example.: more than 2 NSEC3 hashes in one response"
    with raises_exactly(ValidationWorkExceeded, message):
        prove_nxdomain(
            n("nx"), ZONE, NSEC3.proof("=@", "~nx", "~*"), work(max_nsec3_hashes_per_response=2)
        )
    deep = n(".".join(["q"] * 80))
    with raises_exactly(ValidationWorkExceeded, "more than 64 NSEC3 hashes in one response"):
        prove_nxdomain(deep, ZONE, NSEC3.proof("=@", "~nx", "~*"), work())


def _renamed(rrset: dns.rrset.RRset, owner: Name) -> dns.rrset.RRset:
    return dns.rrset.from_rdata(owner, rrset.ttl, *rrset)


def _replaced(rrset: dns.rrset.RRset, **fields: int) -> dns.rrset.RRset:
    return dns.rrset.from_rdata(rrset.name, rrset.ttl, rrset[0].replace(**fields))


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda r: _replaced(r, algorithm=2), id="unknown-hash-algorithm"),
        pytest.param(lambda r: _replaced(r, flags=0x02), id="unknown-flag"),
        pytest.param(
            lambda r: _renamed(r, Name((r.name.labels[0], b"sub", *ZONE.labels))),
            id="owner-too-deep",
        ),
        pytest.param(lambda r: _renamed(r, n("not-a-base32-hash")), id="owner-not-a-hash"),
        pytest.param(lambda r: _renamed(r, n("abcd")), id="owner-short-hash"),
    ],
)  # fmt: skip
def test_unusable_nsec3_records_are_ignored_rfc5155_8_1(
    spoil: Callable[[dns.rrset.RRset], dns.rrset.RRset],
) -> None:
    records = [spoil(rrset) for rrset in NSEC3.proof("=@", "~nx", "~*")]
    with raises_exactly(BogusNoDenial, "example.: no NSEC or NSEC3 records prove nx.example."):
        prove_nxdomain(n("nx"), ZONE, records, work())
    good = NSEC3.proof("=@", "~nx", "~*")
    assert prove_nxdomain(n("nx"), ZONE, [*records, *good], work()) == SECURE


def test_nsec3_records_must_share_the_first_records_parameters() -> None:
    unsalted, salted = NSEC3.proof("=@"), NSEC3_SALTED.proof("~nx", "~*")
    with raises_exactly(BogusNoDenial, "no NSEC3 proves nx.example. does not exist"):
        prove_nxdomain(n("nx"), ZONE, [*unsalted, *salted], work())
    with raises_exactly(BogusNoDenial, "no NSEC3 matches an ancestor of nx.example."):
        prove_nxdomain(n("nx"), ZONE, [*salted, *unsalted], work())


def test_nsec3_records_of_another_zone_are_ignored() -> None:
    other = Nsec3Zone(Zone({"@": "SOA NS"}, origin=n("other."))).chain
    records = [*other, *NSEC3.proof("=@", "~nx", "~*")]
    assert prove_nxdomain(n("nx"), ZONE, records, work()) == SECURE
    with raises_exactly(BogusNoDenial, "no NSEC or NSEC3 records prove nx.example."):
        prove_nxdomain(n("nx"), ZONE, other, work())


# --- the lab's own answers -----------------------------------------------------------------

EXAMPLE_COM, COM, ROOT, NSEC3_ORG, BENCH, NSEC3_ITER = (
    "127.53.3.1",
    "127.53.1.1",
    "127.53.0.1",
    "127.53.3.7",
    "127.53.3.31",
    "127.53.3.43",
)
OVER_THE_LIMIT = Denial(
    Security.INSECURE, ExtendedError(27, "nsec3-iter.org.: NSEC3 iterations 200 over the limit 100")
)


def _signer(records: Sequence[dns.rrset.RRset]) -> Name:
    signer: Name = next(r for r in records if r.rdtype == dns.rdatatype.RRSIG)[0].signer
    return signer


def _lab_claim(reply: dns.message.Message, qname: str, qtype: str, kind: str) -> Proof:
    """The ``kind`` of denial a lab reply to ``qname``/``qtype`` would be checked for."""
    zone = _signer(reply.authority)
    if kind == "wildcard":
        rrsig = next(r for r in reply.answer if r.rdtype == dns.rdatatype.RRSIG)[0]
        source = Name((b"*", *n(qname).labels[-(rrsig.labels + 1) :]))
        return wildcard(qname, source.to_text(), zone)
    if kind == "no_ds":
        cut = next(r for r in reply.authority if r.rdtype == dns.rdatatype.NS).name
        return no_ds(cut.to_text(), zone)
    if kind == "nxdomain":
        return nxdomain(qname, zone)
    return nodata(qname, dns.rdatatype.from_text(qtype), zone)


@pytest.mark.parametrize(
    ("address", "qname", "qtype", "kind", "expected"),
    [
        (EXAMPLE_COM, "nx.example.com.", "A", "nxdomain", SECURE),
        (EXAMPLE_COM, "www.example.com.", "MX", "nodata", SECURE),
        (EXAMPLE_COM, "wild.example.com.", "A", "nodata", SECURE),
        (EXAMPLE_COM, "a.wild.example.com.", "MX", "nodata", SECURE),
        (EXAMPLE_COM, "a.wild.example.com.", "A", "wildcard", SECURE),
        (EXAMPLE_COM, "a.b.wild.example.com.", "A", "wildcard", SECURE),
        (COM, "insecure.com.", "DS", "nodata", SECURE),
        (COM, "www.insecure.com.", "A", "no_ds", SECURE),
        (ROOT, "nx.", "A", "nxdomain", SECURE),
        (BENCH, "n100000.bench.com.", "A", "nxdomain", SECURE),
        (NSEC3_ORG, "nx.nsec3.org.", "A", "nxdomain", SECURE),
        (NSEC3_ORG, "z.nsec3.org.", "A", "nxdomain", INSECURE),
        (NSEC3_ORG, "www.nsec3.org.", "MX", "nodata", SECURE),
        (NSEC3_ORG, "a.wild.nsec3.org.", "A", "wildcard", SECURE),
        (NSEC3_ORG, "a.wild.nsec3.org.", "TXT", "nodata", SECURE),
        (NSEC3_ORG, "optout.nsec3.org.", "DS", "nodata", INSECURE),
        (NSEC3_ORG, "www.optout.nsec3.org.", "A", "no_ds", INSECURE),
        (NSEC3_ITER, "nx.nsec3-iter.org.", "A", "nxdomain", OVER_THE_LIMIT),
    ],
)
def test_lab_answers_prove_what_they_claim(
    session_lab: Lab, address: str, qname: str, qtype: str, kind: str, expected: Denial
) -> None:
    reply = ask(session_lab, address, qname, qtype)
    assert _lab_claim(reply, qname, qtype, kind)(reply.authority, work()) == expected


def test_lab_child_apex_nsec3_cannot_deny_its_own_ds(session_lab: Lab) -> None:
    reply = ask(session_lab, NSEC3_ORG, "nsec3.org.", "DS")
    with raises_exactly(Bogus, "the NSEC3 matching nsec3.org. is the child zone's (SOA bit)"):
        _lab_claim(reply, "nsec3.org.", "DS", "nodata")(reply.authority, work())


@pytest.mark.parametrize(
    ("address", "qname", "qtype", "claim"),
    [
        (EXAMPLE_COM, "nx.example.com.", "A", "nodata"),
        (EXAMPLE_COM, "www.example.com.", "MX", "nxdomain"),
        (EXAMPLE_COM, "a.wild.example.com.", "A", "nxdomain"),
        (COM, "www.insecure.com.", "A", "nxdomain"),
        (NSEC3_ORG, "nx.nsec3.org.", "A", "nodata"),
        (NSEC3_ORG, "z.nsec3.org.", "A", "nodata"),
        (NSEC3_ORG, "a.wild.nsec3.org.", "A", "nxdomain"),
        (NSEC3_ORG, "www.nsec3.org.", "MX", "nxdomain"),
    ],
)
def test_lab_answers_prove_nothing_else(
    session_lab: Lab, address: str, qname: str, qtype: str, claim: str
) -> None:
    """Where an opt-out NSEC3 is in the proof, a wrong claim may at most be INSECURE."""
    reply = ask(session_lab, address, qname, qtype)
    opt_out = any(r.rdtype == dns.rdatatype.NSEC3 and r[0].flags & 1 for r in reply.authority)
    _not_proven(_lab_claim(reply, qname, qtype, claim), reply.authority, opt_out)


# --- properties over random zones ----------------------------------------------------------

DATA_TYPES = ("A", "TXT", "MX")
QUERY_TYPES = (A, AAAA, MX, dns.rdatatype.TXT)


@st.composite
def zones(draw: st.DrawFn) -> Zone:
    """A small zone: names of up to three labels from a, b, c, a few wildcards."""
    label = st.sampled_from("abc")
    owner = st.lists(label, min_size=1, max_size=3).map(".".join)
    relative = draw(st.lists(owner, min_size=1, max_size=6, unique=True))
    types = st.lists(st.sampled_from(DATA_TYPES), min_size=1, max_size=2, unique=True).map(" ".join)
    names = {"@": "SOA NS"} | {owner: draw(types) for owner in relative}
    for parent in draw(st.lists(st.sampled_from(["@", *relative]), max_size=2, unique=True)):
        names["*" if parent == "@" else f"*.{parent}"] = draw(types)
    return Zone(names)


@st.composite
def questions(draw: st.DrawFn, zone: Zone) -> tuple[Name, RdataType]:
    """A name in the zone (existing, random, or a literal ``*``) and a type."""
    labels = st.lists(st.sampled_from("abcd"), min_size=1, max_size=4)
    random = labels.map(lambda chosen: n(".".join(chosen)))
    qname = draw(
        st.one_of(
            st.sampled_from(sorted(zone.types)),
            random,
            random.map(lambda name: Name((b"*", *name.labels))),
        )
    )
    return qname, draw(st.sampled_from(QUERY_TYPES))


def truth(zone: Zone, qname: Name) -> tuple[Name | None, Name]:
    """(the owner whose data answers ``qname``, or None: NXDOMAIN; the closest encloser)."""
    if zone.exists(qname):
        return qname, qname
    encloser = next(a for a in ancestors(qname, zone.origin) if zone.exists(a))
    source = wildcard_of(encloser)
    return (source if zone.exists(source) else None), encloser


def lab_nsec3(zone: Zone) -> Nsec3Denial:
    """The lab's NSEC3 proofs for ``zone`` (no salt, no iterations, nothing opted out)."""
    names = {a: [] for owner in zone.types for a in ancestors(owner, zone.origin)}
    names |= {owner: [*zone.type_codes(owner), dns.rdatatype.RRSIG] for owner in zone.types}
    return Nsec3Denial(nsec3_chain(zone.origin, names, 300))


#: How the lab's proof builders prove one denial.
LabProof = Callable[[NsecDenial | Nsec3Denial], list[dns.rrset.RRset]]


def true_denial(zone: Zone, qname: Name, qtype: RdataType) -> tuple[Proof, LabProof] | None:
    """What the zone's answer to ``qname``/``qtype`` denies, and the lab's proof of it.

    ``None`` for a positive answer, which denies nothing.
    """
    owner, encloser = truth(zone, qname)
    text = qname.to_text()
    if owner is None:
        return nxdomain(text), lambda d: d.nxdomain(qname, encloser)
    present = qtype in zone.type_codes(owner)
    if owner == qname:
        return None if present else (nodata(text, qtype), lambda d: d.nodata(qname))
    if present:
        return wildcard(text, owner.to_text()), lambda d: d.wildcard_answer(qname, encloser)
    return nodata(text, qtype), lambda d: d.wildcard_nodata(qname, encloser)


@settings(max_examples=120)
@given(zones(), st.data())
def test_true_denials_are_proven(zone: Zone, data: st.DataObject) -> None:
    qname, qtype = data.draw(questions(zone))
    denial = true_denial(zone, qname, qtype)
    if denial is None:
        return
    claim, lab_proof = denial
    # With opt-out only an NSEC3 matching the name itself is a secure proof.
    secure_with_opt_out = SECURE if truth(zone, qname)[0] == qname else INSECURE
    nsec = NsecDenial(sorted(zone.types), lambda name: zone.nsec[name])
    assert claim(lab_proof(nsec), work()) == SECURE
    assert claim(list(zone.nsec.values()), work()) == SECURE
    assert claim(lab_proof(lab_nsec3(zone)), work()) == SECURE
    opt_out = data.draw(st.booleans())
    chain = Nsec3Zone(
        zone,
        salt=data.draw(st.sampled_from(["", "00", "aabbccdd"])),
        iterations=data.draw(st.integers(0, 2)),
        opt_out=opt_out,
    ).chain
    assert claim(chain, work()) == (secure_with_opt_out if opt_out else SECURE)


def _not_proven(claim: Proof, records: Sequence[dns.rrset.RRset], opt_out: bool) -> None:
    """``claim`` is refused; over an opt-out chain it may at most be INSECURE."""
    try:
        denial = claim(records, work())
    except Bogus:
        return
    assert opt_out, f"{denial} from {records}"
    assert denial.security is Security.INSECURE


@settings(max_examples=120)
@given(zones(), st.data())
def test_no_subset_of_a_chain_proves_a_false_denial(zone: Zone, data: st.DataObject) -> None:
    qname, qtype = data.draw(questions(zone))
    owner, _ = truth(zone, qname)
    false_claims = [
        wildcard(qname.to_text(), source.to_text())
        for source in zone.types
        if source.labels[0] == b"*"
        and source not in (owner, qname)
        and qname.is_subdomain(source.parent())
        and qname != source.parent()
    ]
    if owner is not None:
        false_claims.append(nxdomain(qname.to_text()))
    if owner is None or qtype in zone.type_codes(owner):
        false_claims.append(nodata(qname.to_text(), qtype))
    opt_out = data.draw(st.booleans())
    nsec3 = Nsec3Zone(zone, salt=data.draw(st.sampled_from(["", "aabbccdd"])), opt_out=opt_out)
    for chain, may_opt_out in ((list(zone.nsec.values()), False), (nsec3.chain, opt_out)):
        keep = data.draw(st.lists(st.booleans(), min_size=len(chain), max_size=len(chain)))
        subset = [record for record, kept in zip(chain, keep, strict=True) if kept]
        for claim in false_claims:
            _not_proven(claim, subset, may_opt_out)
