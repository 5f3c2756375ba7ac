"""Helpers for asking the lab questions in tests."""

from __future__ import annotations

import dns.dnssec
import dns.message
import dns.name
import dns.node
import dns.rdataset
import dns.rdatatype
import dns.rrset

from resolver.lab import Lab

#: The fake wall-clock time the shared labs are signed at (FakeClock's default).
NOW = 1_700_000_000.0


def make_query(
    name: str, rdtype: str = "A", *, dnssec_ok: bool = True, edns: bool = True
) -> dns.message.Message:
    return dns.message.make_query(
        name,
        rdtype,
        use_edns=0 if edns else False,
        payload=1232,
        want_dnssec=dnssec_ok and edns,
        flags=0,
    )


def ask(
    lab: Lab,
    address: str,
    name: str,
    rdtype: str = "A",
    *,
    dnssec_ok: bool = True,
    edns: bool = True,
    tcp: bool = False,
) -> dns.message.Message:
    """Ask the lab server at ``address``; fail the test if it stays silent."""
    reply = lab.handle(
        address, make_query(name, rdtype, dnssec_ok=dnssec_ok, edns=edns).to_wire(), tcp=tcp
    )
    assert reply.wire is not None, f"{address} dropped {name} {rdtype}"
    return dns.message.from_wire(reply.wire)


def find(
    section: list[dns.rrset.RRset], name: str, rdtype: str, covers: str | None = None
) -> dns.rrset.RRset:
    """The RRset in ``section`` with that owner and type (RRSIG: covering ``covers``)."""
    owner = dns.name.from_text(name)
    for rrset in section:
        same = rrset.name == owner and rrset.rdtype == dns.rdatatype.from_text(rdtype)
        if same and (covers is None or rrset.covers == dns.rdatatype.from_text(covers)):
            return rrset
    raise AssertionError(f"no {name} {rdtype} {covers or ''} in {section}")


def verify_all(
    lab: Lab, address: str, zone: str, section: list[dns.rrset.RRset], now: float = NOW
) -> int:
    """Validate every signed RRset in ``section`` with ``zone``'s DNSKEYs at ``now``.

    Returns how many RRsets were checked (at least one, or the test fails).
    """
    keys = find(ask(lab, address, zone, "DNSKEY", tcp=True).answer, zone, "DNSKEY")
    keyring: dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset] = {
        dns.name.from_text(zone): keys
    }
    signatures = {
        (rrset.name, rrset.covers): rrset
        for rrset in section
        if rrset.rdtype == dns.rdatatype.RRSIG
    }
    checked = 0
    for rrset in section:
        if rrset.rdtype == dns.rdatatype.RRSIG or (rrset.name, rrset.rdtype) not in signatures:
            continue
        dns.dnssec.validate(rrset, signatures[(rrset.name, rrset.rdtype)], keyring, now=now)
        checked += 1
    assert checked
    return checked


def bitmap_types(nsec: dns.rrset.RRset) -> set[int]:
    """The types in an NSEC or NSEC3 record's bitmap."""
    skip = 1 if nsec.rdtype == dns.rdatatype.NSEC else 5
    return {dns.rdatatype.from_text(word) for word in nsec[0].to_text().split()[skip:]}


def nsec_covers(nsec: dns.rrset.RRset, name: str) -> bool:
    """Whether ``name`` sorts in the NSEC's span (owner included)."""
    target = dns.name.from_text(name)
    following: dns.name.Name = nsec[0].next
    if nsec.name < following:
        return bool(nsec.name <= target < following)
    return bool(target >= nsec.name or target < following)


def nsec3_hash(name: str, iterations: int = 0) -> str:
    """The lower-case base32hex NSEC3 hash of ``name`` (SHA-1, no salt)."""
    hashed: str = dns.dnssec.nsec3_hash(name, None, iterations, 1).lower()
    return hashed


def nsec3_next(nsec3: dns.rrset.RRset) -> str:
    text: str = nsec3[0].to_text()
    return text.split()[4].lower()


def nsec3_covers(nsec3: dns.rrset.RRset, hashed: str) -> bool:
    """Whether ``hashed`` falls strictly between the NSEC3's owner and next hash."""
    owner = nsec3.name.labels[0].decode()
    following = nsec3_next(nsec3)
    if owner < following:
        return owner < hashed < following
    return hashed > owner or hashed < following


def nsec3_records(section: list[dns.rrset.RRset]) -> list[dns.rrset.RRset]:
    return [rrset for rrset in section if rrset.rdtype == dns.rdatatype.NSEC3]


def nsec3_matching(
    section: list[dns.rrset.RRset], name: str, iterations: int = 0
) -> dns.rrset.RRset | None:
    """The NSEC3 in ``section`` whose owner hash is ``name``'s."""
    hashed = nsec3_hash(name, iterations)
    return next(
        (r for r in nsec3_records(section) if r.name.labels[0].decode() == hashed), None
    )


def nsec3_covering(
    section: list[dns.rrset.RRset], name: str, iterations: int = 0
) -> dns.rrset.RRset | None:
    """The NSEC3 in ``section`` covering ``name``'s hash."""
    hashed = nsec3_hash(name, iterations)
    return next((r for r in nsec3_records(section) if nsec3_covers(r, hashed)), None)


def closest_encloser(
    section: list[dns.rrset.RRset], qname: str, iterations: int = 0
) -> dns.name.Name:
    """Check the closest encloser proof for ``qname`` (RFC 5155 section 8.3).

    Returns the closest encloser: the longest ancestor of ``qname`` with a
    matching NSEC3 whose next closer name is covered by one.
    """
    name = dns.name.from_text(qname)
    for labels in range(len(name) - 1, 0, -1):
        encloser = name.split(labels)[1]
        if nsec3_matching(section, encloser.to_text(), iterations) is not None:
            next_closer = name.split(labels + 1)[1]
            assert nsec3_covering(section, next_closer.to_text(), iterations) is not None
            return encloser
    raise AssertionError(f"no closest encloser proof for {qname}")
