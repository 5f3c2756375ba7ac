"""What an authoritative server's reply means, after scrubbing it.

The iterator asked zone ``zone`` (through one of its servers) for
``qname``/``rdtype``. Before anything reads the reply, ``resolver.scrub``
drops every record that server may not tell us (out of its zone, off the
question's chain, anything else in the authority and additional sections):
they could poison the cache (RFC 2181 5.4.1 and the Kaminsky lesson). What is
left is classified, like Unbound's ``iter_resptype``:

* ``ANSWER``: data for the name, possibly behind CNAME/DNAME. The AA bit is
  not required: the data comes from a server of the zone asked, matches the
  question and survived scrubbing, which is what Unbound and Knot Resolver
  accept too (many authoritative servers answer without AA).
* ``REFERRAL``: a delegation to a zone below ``zone`` that encloses qname,
  even with AA set (``resolver.scrub`` decides).
* ``NXDOMAIN`` / ``NODATA``: a negative answer (RFC 2308) with AA, or
  without AA but with the zone's SOA from a non-recursive server.
* ``LAME``: anything else: a negative reply that is not the zone's word, a
  referral to the zone itself or upwards.

Classification never raises on a reply's content: anything it does not
understand is ``LAME``, and the iterator tries another server.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from resolver.scrub import scrub


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
        answer: the question's answer RRsets (CNAME/DNAME chain included).
        soa: the SOA of a negative answer, when one came.
        child: for a referral, the delegated zone.
        ns: for a referral, the delegation's NS RRset.
        glue: for a referral, addresses of its NS names that lie in bailiwick.
        hints: for a referral, out-of-bailiwick addresses of its NS names,
            only with ``harden_glue`` off: to ask, never to cache.
        authority: other authority RRsets kept (DS, NSEC, NSEC3).
        signatures: the RRSIG RRsets covering what was kept.
        reason: for ``LAME``, why.
        dropped: records the scrubbing stage dropped, by reason.
    """

    kind: ReplyKind
    answer: tuple[dns.rrset.RRset, ...] = ()
    soa: dns.rrset.RRset | None = None
    child: dns.name.Name | None = None
    ns: dns.rrset.RRset | None = None
    glue: tuple[dns.rrset.RRset, ...] = ()
    hints: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    signatures: tuple[dns.rrset.RRset, ...] = ()
    reason: str = ""
    dropped: Mapping[str, int] = field(default_factory=dict)


def classify(
    message: dns.message.Message,
    *,
    zone: dns.name.Name,
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    delegated: Callable[[dns.name.Name], bool] = lambda name: False,
    harden_glue: bool = True,
    recursive: bool = False,
) -> Classified:
    """Scrub and classify a reply from a server of ``zone``.

    The rcode must already be NOERROR or NXDOMAIN (others are server errors
    the caller handles). The question was checked by the transport.
    ``delegated`` tells the scrubbing stage which names lie below a zone cut
    known below ``zone``; ``harden_glue`` is the scrubbing stage's switch.
    ``recursive``: a forward zone's resolver answered (RD=1): no referral
    and no lameness, its negative answers are its word without AA (Unbound
    classifies replies to RD queries with iter_resptype.c
    ``response_type_from_cache``: "we don't need to detect REFERRAL or LAME
    messages, it can only be an ANSWER").
    """
    kept = scrub(
        message,
        zone=zone,
        qname=qname,
        rdtype=rdtype,
        delegated=delegated,
        harden_glue=harden_glue,
        recursive=recursive,
    )
    answer, signatures = kept.answer, kept.signatures
    soa = next((r for r in kept.authority if r.rdtype == dns.rdatatype.SOA), None)
    others = tuple(
        r for r in kept.authority if r.rdtype not in (dns.rdatatype.SOA, dns.rdatatype.NS)
    )
    dropped = kept.dropped

    ns = next((r for r in kept.authority if r.rdtype == dns.rdatatype.NS), None)
    if ns is not None and ns.name != zone:
        # The scrubbing stage kept only a child of ``zone`` that encloses
        # qname, its DS and denial records, and the addresses of its NS names.
        return Classified(
            ReplyKind.REFERRAL,
            child=ns.name,
            ns=ns,
            glue=kept.additional,
            hints=kept.hints,
            authority=others,
            signatures=signatures,
            dropped=dropped,
        )

    nxdomain = message.rcode() == dns.rcode.NXDOMAIN
    # QTYPE RRSIG: the RRSIGs qname owns are the answer (the scrubbing stage
    # keeps them among the signatures).
    answered = bool(answer) or (
        rdtype == dns.rdatatype.RRSIG and any(s.name == qname for s in signatures)
    )
    if answered and not nxdomain:
        # With or without AA: the data for the question, or the chain to it,
        # from a server of the zone asked, scrubbed (module docstring).
        return Classified(
            ReplyKind.ANSWER,
            answer=answer,
            authority=others,
            signatures=signatures,
            dropped=dropped,
        )
    reason = "" if recursive else _not_authoritative(message, zone, soa)
    if reason:
        return Classified(ReplyKind.LAME, reason=reason, dropped=dropped)
    return Classified(
        ReplyKind.NXDOMAIN if nxdomain else ReplyKind.NODATA,
        answer=answer,
        soa=soa,
        authority=others,
        signatures=signatures,
        dropped=dropped,
    )


def _not_authoritative(
    message: dns.message.Message, zone: dns.name.Name, soa: dns.rrset.RRset | None
) -> str:
    """Why a negative reply (NXDOMAIN or NODATA) is not the zone's word, or "".

    A negative reply with no SOA of the zone but an NS set above the zone
    (or of the zone itself, without AA) is a lame server's referral
    upwards or to itself, whatever its AA bit says (Unbound
    iter_resptype.c ``response_type_from_server``: RESPONSE_TYPE_LAME and
    THROWAWAY; scenario iter_lame_aaaa). Otherwise a reply with AA is the
    zone's word. Without AA it counts only with the zone's SOA (Knot
    Resolver lib/layer/iterate.c ``is_authoritative``) or after an answer
    section whose records scrubbing dropped, and only from a server that
    does not offer recursion: a recursive server's "nothing" is its empty
    cache (Unbound: RESPONSE_TYPE_REC_LAME).
    """
    authoritative = bool(message.flags & dns.flags.AA)
    upward = next(
        (
            r.name
            for r in message.authority
            if r.rdtype == dns.rdatatype.NS
            and zone.is_subdomain(r.name)
            and not (authoritative and r.name == zone)
        ),
        None,
    )
    if soa is None and upward is not None:
        return f"referral to {upward} from a server of {zone}"
    if authoritative:
        return ""
    if message.flags & dns.flags.RA:
        return "non-authoritative negative answer from a recursive server"
    if soa is not None or message.answer:
        # Knot Resolver's kr_response_classify calls a reply with an answer
        # section NOERROR, not NODATA, and its is_authoritative check is
        # only for negative ones: the server answered, with nothing that
        # survived scrubbing (another type, another name).
        return ""
    return "non-authoritative negative answer without the zone's SOA"
