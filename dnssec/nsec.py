"""Denial of existence with NSEC: proofs over canonically ordered names.

An NSEC record says "``owner`` exists with these types, and no name sorts
between ``owner`` and ``next``" (RFC 4034 section 4). dnspython compares
absolute ``Name`` objects in canonical order (RFC 4034 section 6.1), so the
proofs of RFC 4035 section 5.4 are comparisons of names. The records were
validated by the caller; what is checked here is that they say what the
answer claims, and that none is used beyond what it may speak for
(RFC 6840 section 4.1: a delegation's NSEC or a DNAME owner's NSEC cannot
deny names below it).

The type-bitmap checks at the end are shared with ``dnssec.nsec3``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.NSEC
import dns.rrset
from dns.name import Name
from dns.rdatatype import RdataType

from dnssec.errors import Bogus, BogusNoDenial


@dataclass(frozen=True, slots=True)
class Nsec:
    """One NSEC record: its owner, the next owner in the zone, the owner's types."""

    owner: Name
    next: Name
    types: frozenset[int]

    def covers(self, name: Name) -> bool:
        """Whether ``name`` sorts strictly between owner and next (RFC 4035 5.4).

        The last NSEC of a zone points back to the apex (RFC 4034 4.1.1), so
        when ``next`` does not sort after ``owner`` the interval wraps around.
        """
        if self.owner < self.next:
            return bool(self.owner < name < self.next)
        return bool(name > self.owner or name < self.next)


class NsecChain:
    """The NSEC records one zone sent in one response."""

    def __init__(self, zone: Name, records: Sequence[Nsec]) -> None:
        self.zone = zone
        self.records = records

    @classmethod
    def from_rrsets(cls, zone: Name, rrsets: Iterable[dns.rrset.RRset]) -> NsecChain:
        """Keep the NSEC records owned by ``zone`` or names below it; ignore the rest."""
        records = [
            Nsec(rrset.name, rdata.next, bitmap_types(rdata.windows))
            for rrset in rrsets
            if rrset.rdtype == dns.rdatatype.NSEC and rrset.name.is_subdomain(zone)
            for rdata in rrset
            if isinstance(rdata, dns.rdtypes.ANY.NSEC.NSEC)
        ]
        return cls(zone, records)

    def at(self, name: Name) -> Nsec | None:
        """The NSEC owned by ``name``, if it was sent."""
        return next((record for record in self.records if record.owner == name), None)

    def covering(self, name: Name) -> Nsec | None:
        """The NSEC proving ``name`` does not exist, after checking it may say so.

        Raises:
            Bogus: the covering NSEC belongs to an ancestor of ``name`` that
                is a delegation or a DNAME (RFC 6840 section 4.1).
        """
        record = next((record for record in self.records if record.covers(name)), None)
        if record is not None and name.is_subdomain(record.owner):
            check_may_deny_below(self.zone, f"the NSEC at {record.owner}", record.types, name)
        return record


def prove_nxdomain(chain: NsecChain, qname: Name) -> None:
    """``qname`` does not exist and no wildcard could have answered it (RFC 4035 5.4).

    One NSEC covers ``qname``, and one covers ``*.<closest encloser>``
    (RFC 4035 section 3.1.3.2).

    Raises:
        BogusNoDenial: an NSEC needed for the proof is missing.
        Bogus: the NSECs show that ``qname`` or the wildcard exists.
    """
    zone = chain.zone
    if chain.at(qname) is not None:
        raise Bogus(f"{zone}: the NSEC at {qname} shows it exists")
    cover = _covering(chain, qname, f"{qname} does not exist")
    if cover.next.is_subdomain(qname):
        raise Bogus(f"{zone}: the NSEC at {cover.owner} shows {qname} is an empty non-terminal")
    wildcard = wildcard_at(closest_encloser(qname, cover))
    if chain.at(wildcard) is not None:
        raise Bogus(f"{zone}: the NSEC at {wildcard} shows the wildcard for {qname} exists")
    _covering(chain, wildcard, f"the wildcard {wildcard} does not exist")


def prove_nodata(chain: NsecChain, qname: Name, rdtype: RdataType) -> None:
    """``qname`` has no ``rdtype`` and no CNAME (RFC 4035 section 3.1.3).

    Either the NSEC at ``qname`` lacks both types (3.1.3.1); or ``qname`` is
    an empty non-terminal (RFC 4592 2.2.2), shown by the NSEC covering it
    whose next name is below it; or ``qname`` does not exist and the
    wildcard at its closest encloser lacks the types (3.1.3.4).

    Raises:
        BogusNoDenial: an NSEC needed for the proof is missing.
        Bogus: an NSEC lists a denied type, or cannot speak for ``qname``.
    """
    record = chain.at(qname)
    if record is not None:
        check_nodata(chain.zone, f"the NSEC at {qname}", record.types, rdtype, qname)
        return
    claim = f"{qname} has no {dns.rdatatype.to_text(rdtype)}"
    cover = _covering(chain, qname, claim)
    if cover.next.is_subdomain(qname):
        return
    wildcard = wildcard_at(closest_encloser(qname, cover))
    record = chain.at(wildcard)
    if record is None:
        raise BogusNoDenial(
            f"{chain.zone}: no NSEC proves {claim}: it does not exist, "
            f"and no NSEC at the wildcard {wildcard} was given"
        )
    check_nodata(chain.zone, f"the NSEC at {wildcard}", record.types, rdtype, wildcard)


def prove_wildcard_answer(chain: NsecChain, qname: Name, wildcard: Name) -> None:
    """No name closer to ``qname`` than ``wildcard`` exists (RFC 4035 section 5.3.4).

    The NSEC covering ``qname`` proves it does not exist, and the closest
    encloser it reveals must be the wildcard's parent: were it deeper, the
    answer should have come from there.

    Raises:
        BogusNoDenial: no NSEC covers ``qname``.
        Bogus: the closest encloser is not the wildcard's parent.
    """
    cover = _covering(chain, qname, f"{qname} does not exist (answered from {wildcard})")
    encloser = closest_encloser(qname, cover)
    if encloser != wildcard.parent():
        raise Bogus(
            f"{chain.zone}: the closest encloser of {qname} is {encloser}, "
            f"so the wildcard {wildcard} cannot answer it"
        )


def prove_no_ds(chain: NsecChain, name: Name) -> None:
    """The delegation ``name`` has no DS: its NSEC has NS, no DS, no SOA (RFC 4035 5.2).

    RFC 6840 section 4.4 adds the SOA check: the child's apex NSEC has NS too.

    Raises:
        BogusNoDenial: the NSEC at ``name`` is missing.
        Bogus: that NSEC lists DS, lacks NS, or is the child's (SOA).
    """
    record = chain.at(name)
    if record is None:
        raise BogusNoDenial(f"{chain.zone}: no NSEC proves {name} has no DS")
    check_no_ds(chain.zone, f"the NSEC at {name}", record.types, name)


def closest_encloser(qname: Name, cover: Nsec) -> Name:
    """The closest encloser of ``qname``, which ``cover`` proves does not exist.

    It is the longer of the common ancestors of ``qname`` with the NSEC's
    owner and with its next name (RFC 4035 section 5.4; RFC 4592 3.3.1):
    both exist, and no name between them does.
    """
    _, _, with_owner = qname.fullcompare(cover.owner)
    _, _, with_next = qname.fullcompare(cover.next)
    return qname.split(max(with_owner, with_next))[1]


def wildcard_at(encloser: Name) -> Name:
    """The source of synthesis below ``encloser``: ``*.encloser`` (RFC 4592)."""
    return Name((b"*", *encloser.labels))


def bitmap_types(windows: Iterable[tuple[int, bytes]]) -> frozenset[int]:
    """The types in an NSEC/NSEC3 type bitmap (RFC 4034 section 4.1.2)."""
    return frozenset(
        window * 256 + index * 8 + bit
        for window, bitmap in windows
        for index, octet in enumerate(bitmap)
        for bit in range(8)
        if octet & (0x80 >> bit)
    )


def check_nodata(
    zone: Name, record: str, types: frozenset[int], rdtype: RdataType, name: Name
) -> None:
    """Check that a matching NSEC/NSEC3 denies ``rdtype`` at its name, ``name``.

    Neither the type nor CNAME may be listed (RFC 4035 3.1.3.1, RFC 5155
    8.5, RFC 6840 4.3). For DS the record must be the parent's, without SOA
    (RFC 6840 4.4), except at the root: it has no parent, so ``. DS`` is
    denied by the root's own apex record, validated with the root's keys
    (Unbound's val_nsec.c and val_nsec3.c make the same exception,
    ``!dname_is_root(qinfo->qname)``). For other types the record must not
    be the parent's record of a delegation, NS without SOA, which cannot
    speak for the child's data (RFC 6840 section 4.1).

    Raises:
        Bogus: the record contradicts the denial.
    """
    denied = dns.rdatatype.to_text(rdtype)
    if rdtype in types:
        raise Bogus(f"{zone}: {record} lists {denied}")
    if dns.rdatatype.CNAME in types:
        raise Bogus(f"{zone}: {record} lists CNAME, so {denied} is not denied")
    if rdtype == dns.rdatatype.DS:
        if dns.rdatatype.SOA in types and name != dns.name.root:
            raise Bogus(f"{zone}: {record} is the child zone's (SOA bit) and cannot deny DS")
    elif dns.rdatatype.NS in types and dns.rdatatype.SOA not in types:
        raise Bogus(
            f"{zone}: {record} is the parent side of a delegation (NS without SOA) "
            f"and cannot deny {denied}"
        )


def check_no_ds(zone: Name, record: str, types: frozenset[int], name: Name) -> None:
    """Check that the record at ``name`` shows a delegation without DS (RFC 6840 4.4).

    Raises:
        Bogus: it lists DS, is the child zone's apex (SOA), or has no NS.
    """
    if dns.rdatatype.DS in types:
        raise Bogus(f"{zone}: {record} lists DS")
    if dns.rdatatype.SOA in types:
        raise Bogus(f"{zone}: {record} is the child zone's (SOA bit) and cannot deny DS")
    if dns.rdatatype.NS not in types:
        raise Bogus(f"{zone}: {record} has no NS bit, so {name} is not a delegation")


def check_may_deny_below(zone: Name, record: str, types: frozenset[int], name: Name) -> None:
    """Check that the record at an ancestor of ``name`` may deny names below it.

    Below a delegation (NS without SOA) the parent is not authoritative, and
    below a DNAME names are redirected (RFC 6840 section 4.1, RFC 5155 8.3).

    Raises:
        Bogus: the ancestor is a delegation or owns a DNAME.
    """
    if dns.rdatatype.DNAME in types:
        raise Bogus(f"{zone}: {record} lists DNAME and cannot deny {name}")
    if dns.rdatatype.NS in types and dns.rdatatype.SOA not in types:
        raise Bogus(f"{zone}: {record} is a delegation (NS without SOA) and cannot deny {name}")


def _covering(chain: NsecChain, name: Name, claim: str) -> Nsec:
    """The NSEC covering ``name``, or BogusNoDenial saying what was not proven."""
    record = chain.covering(name)
    if record is None:
        raise BogusNoDenial(f"{chain.zone}: no NSEC proves {claim}")
    return record
