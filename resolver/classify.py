"""What an authoritative server's reply means, after scrubbing it.

The iterator asked zone ``zone`` (through one of its servers) for
``qname``/``rdtype``. Before anything reads the reply, records outside the
zone's bailiwick are dropped (they could poison the cache, RFC 2181 5.4.1 and
the Kaminsky lesson). What is left is classified, like Unbound's
``iter_resptype``:

* ``ANSWER``: authoritative data for the name, possibly behind CNAME/DNAME.
* ``REFERRAL``: a delegation to a zone below ``zone`` that encloses qname.
* ``NXDOMAIN`` / ``NODATA``: an authoritative negative answer (RFC 2308).
* ``LAME``: the server is not authoritative and did not refer us downwards.

Records of a class other than IN are dropped with the out-of-bailiwick ones.

Classification never raises on a reply's content: anything it does not
understand is ``LAME``, and the iterator tries another server.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class ReplyKind(enum.Enum):
    """How the iterator should treat a reply."""

    ANSWER = "answer"
    REFERRAL = "referral"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    LAME = "lame"


@dataclass(frozen=True, slots=True)
class Classified:
    """A scrubbed, classified reply.

    Attributes:
        kind: what the reply means.
        answer: in-bailiwick answer RRsets (CNAME/DNAME chain included).
        soa: the SOA of a negative answer, when one came.
        child: for a referral, the delegated zone.
        ns: for a referral, the delegation's NS RRset.
        glue: for a referral, addresses of its NS names that lie in bailiwick.
        authority: other in-bailiwick authority RRsets (DS, NSEC, NSEC3).
        signatures: in-bailiwick RRSIG RRsets from every section.
        reason: for ``LAME``, why.
    """

    kind: ReplyKind
    answer: tuple[dns.rrset.RRset, ...] = ()
    soa: dns.rrset.RRset | None = None
    child: dns.name.Name | None = None
    ns: dns.rrset.RRset | None = None
    glue: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    signatures: tuple[dns.rrset.RRset, ...] = ()
    reason: str = ""


_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


def _in_bailiwick(rrset: dns.rrset.RRset, zone: dns.name.Name) -> bool:
    """Whether a record may be believed from a server of ``zone`` (class IN only)."""
    return rrset.rdclass == dns.rdataclass.IN and rrset.name.is_subdomain(zone)


def classify(
    message: dns.message.Message,
    *,
    zone: dns.name.Name,
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
) -> Classified:
    """Scrub and classify a reply from a server of ``zone``.

    The rcode must already be NOERROR or NXDOMAIN (others are server errors
    the caller handles). The question was checked by the transport.
    """
    answer = tuple(
        r for r in message.answer if _in_bailiwick(r, zone) and r.rdtype != dns.rdatatype.RRSIG
    )
    authority = [r for r in message.authority if _in_bailiwick(r, zone)]
    signatures = tuple(
        r
        for section in (message.answer, message.authority)
        for r in section
        if r.rdtype == dns.rdatatype.RRSIG and _in_bailiwick(r, zone)
    )
    soa = next((r for r in authority if r.rdtype == dns.rdatatype.SOA), None)
    others = tuple(
        r
        for r in authority
        if r.rdtype not in (dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.RRSIG)
    )
    authoritative = bool(message.flags & dns.flags.AA)

    if message.rcode() == dns.rcode.NXDOMAIN:
        if not authoritative:
            return Classified(ReplyKind.LAME, reason="non-authoritative NXDOMAIN")
        return Classified(
            ReplyKind.NXDOMAIN, answer=answer, soa=soa, authority=others, signatures=signatures
        )

    if answer:
        if not authoritative:
            return Classified(ReplyKind.LAME, reason="non-authoritative answer")
        return Classified(ReplyKind.ANSWER, answer=answer, authority=others, signatures=signatures)

    if authoritative:
        return Classified(ReplyKind.NODATA, soa=soa, authority=others, signatures=signatures)

    return _classify_referral(message, authority, others, signatures, zone=zone, qname=qname)


def _classify_referral(
    message: dns.message.Message,
    authority: list[dns.rrset.RRset],
    others: tuple[dns.rrset.RRset, ...],
    signatures: tuple[dns.rrset.RRset, ...],
    *,
    zone: dns.name.Name,
    qname: dns.name.Name,
) -> Classified:
    """A non-authoritative reply with no answer: a referral downwards, or lame."""
    ns = next((r for r in authority if r.rdtype == dns.rdatatype.NS), None)
    if ns is None:
        return Classified(ReplyKind.LAME, reason="non-authoritative reply without referral")
    child = ns.name
    if child == zone or not child.is_superdomain(qname) or not child.is_subdomain(zone):
        return Classified(ReplyKind.LAME, reason=f"referral to {child} from a server of {zone}")
    targets = {rdata.target for rdata in ns}
    glue = tuple(
        r
        for r in message.additional
        if r.rdtype in _ADDRESS_TYPES and r.name in targets and _in_bailiwick(r, zone)
    )
    delegation_records = tuple(r for r in others if r.name == child)
    return Classified(
        ReplyKind.REFERRAL,
        child=child,
        ns=ns,
        glue=glue,
        authority=delegation_records,
        signatures=tuple(s for s in signatures if s.name == child),
    )
