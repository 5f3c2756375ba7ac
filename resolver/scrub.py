"""The scrubbing stage: what an authoritative server's reply may teach us at all.

Every reply the iterator gets passes here before anything reads it
(``classify`` calls ``scrub`` first), so nothing dropped here can reach the
cache, the validator or a client. A server of zone Z was asked ``qname`` /
``rdtype``; it speaks only for Z, and only about what was asked. Each rule
below names the peer rule it follows; every record dropped is counted under
its rule's reason (``Scrubbed.dropped``, the metric
``holdfast_scrubbed_records_total{reason}``).

``class``
    Records of a class other than IN.
``out-of-zone``
    Owners outside Z: Unbound ``iterator/iter_scrub.c`` ``scrub_sanitize``
    ("remove ALL rrsets that aren't children of the originating zone"),
    RFC 2181 5.4.1.
``delegated``
    Answer RRsets inside Z but below a zone cut the caller knows
    (``delegated``): that zone's own servers speak for them, not Z's, so a
    CNAME chain into it is resolved anew there. The question's name itself
    is exempt (a DS is asked of the parent). This goes beyond the peers'
    bailiwick check, which a parent could abuse for a child it delegated.
    (The authority section is not concerned: NSEC and DS at a cut are the
    parent's own records.)
``answer``
    Answer RRsets that are not on the question's chain: only the data for
    qname, the CNAMEs and DNAMEs that lead on from it, and the data for the
    names they lead to, as long as those stay inside Z. Unbound
    ``scrub_normalize`` ("remove all records from the answer section that
    are not the same domain name as the query domain name", following the
    CNAME/DNAME chain); Knot Resolver ``lib/layer/iterate.c``
    ``unroll_cname`` ("skip the RR if its owner+type doesn't interest
    us"). A chain that leaves Z is resolved anew by the iterator.
``authority``
    Authority RRsets other than: the SOA of Z, or of a child of Z enclosing
    qname that the same server serves (negative answers); in a
    referral, one NS RRset of a child of Z that encloses qname (Unbound
    ``scrub_normalize`` keeps a single NS set and only one above qname;
    Knot ``process_authority``/``update_cut``: a cut must be below the
    current one), with that child's DS and the NSEC/NSEC3 that deny it;
    NS of Z itself; and NSEC/NSEC3 of Z, which denial and wildcard proofs
    need. Nothing else in the authority section is believed.
``additional``
    Additional RRsets other than the A/AAAA of the NS names kept in the
    authority section (Unbound ``mark_additional_rrset``; Knot
    ``update_cut``'s glue check, in bailiwick only). Sibling glue stays, as
    with both peers (the root's glue for gtld-servers.net. in a referral
    to com.); it is cached at the lowest rank, under everything else.
    With ``harden_glue`` off (Unbound ``harden-glue: no``, iter_scrub.c
    ``scrub_sanitize`` then keeps out-of-zone A/AAAA in the additional
    section), the addresses of kept NS names that lie outside Z are
    returned apart, as ``hints``: the iterator may ask them, never caches
    them (a server of Z is no source for another zone's data).
``signature``
    RRSIGs that cover nothing kept (they may only speak for kept data).

The function is pure: it reads the message and returns new tuples. Names
are compared by their lowercase labels (``resolver.canonical_names``), made
once per recent name, not by dnspython's ``Name`` operators, which lowercase
every label again on each comparison (issue 19: about 50 per cold answer).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from resolver.canonical_names import lowered, within

_ALIASES = (dns.rdatatype.CNAME, dns.rdatatype.DNAME)
_ADDRESSES = (dns.rdatatype.A, dns.rdatatype.AAAA)
_DENIAL = (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)

#: Every reason a record may be dropped for, in the order the rules run.
REASONS = (
    "class", "out-of-zone", "delegated", "answer", "authority", "additional", "signature"
)


@dataclass(frozen=True, slots=True)
class Scrubbed:
    """What is left of a reply, section by section, and what was dropped.

    Attributes:
        answer: The question's chain (RRSIGs apart), in the reply's order.
        authority: The authority RRsets kept (RRSIGs apart).
        additional: The addresses of the kept NS names, inside the zone.
        hints: The out-of-zone addresses of the kept NS names, only with
            ``harden_glue`` off (empty otherwise).
        signatures: The RRSIG RRsets covering a kept RRset, from every section.
        dropped: Records dropped, by reason (see ``REASONS``).
    """

    answer: tuple[dns.rrset.RRset, ...]
    authority: tuple[dns.rrset.RRset, ...]
    additional: tuple[dns.rrset.RRset, ...]
    hints: tuple[dns.rrset.RRset, ...]
    signatures: tuple[dns.rrset.RRset, ...]
    dropped: Mapping[str, int]


def scrub(
    message: dns.message.Message,
    *,
    zone: dns.name.Name,
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    delegated: Callable[[dns.name.Name], bool] = lambda name: False,
    harden_glue: bool = True,
    recursive: bool = False,
) -> Scrubbed:
    """Keep only what a server of ``zone`` may say in reply to ``qname``/``rdtype``.

    ``delegated(name)`` says whether ``name`` lies below a zone cut known
    below ``zone`` (see ``delegated`` in the module docstring).
    ``harden_glue`` off keeps out-of-zone glue apart as hints (``additional``).
    ``recursive``: the server is a forward zone's recursive resolver
    (``resolver.forwarding``), which speaks for every zone below ``zone``:
    no NS set makes its reply a referral, and the SOA it may send with a
    negative answer is that of the zone enclosing qname, not ``zone``'s.
    """
    dropped: collections.Counter[str] = collections.Counter()
    outside: list[dns.rrset.RRset] = []
    zone_labels, qname_labels = lowered(zone), lowered(qname)
    child = None if recursive else _referred_child(message, zone_labels, qname_labels)

    def believable(
        section: Iterable[dns.rrset.RRset], *, answer: bool = False, additional: bool = False
    ) -> list[dns.rrset.RRset]:
        kept: list[dns.rrset.RRset] = []
        for rrset in section:
            name = rrset.name
            owner = lowered(name)
            if rrset.rdclass != dns.rdataclass.IN:
                dropped["class"] += len(rrset)
            elif not within(owner, zone_labels):
                if additional and not harden_glue:
                    outside.append(rrset)
                dropped["out-of-zone"] += len(rrset)
            elif answer and owner != qname_labels and delegated(name):
                dropped["delegated"] += len(rrset)
            else:
                kept.append(rrset)
        return kept

    answer_in, authority_in, additional_in = (
        believable(message.answer, answer=True),
        believable(message.authority),
        believable(message.additional, additional=True),
    )
    signatures_in = [r for r in (*answer_in, *authority_in) if r.rdtype == dns.rdatatype.RRSIG]
    dropped["signature"] += sum(len(r) for r in additional_in if r.rdtype == dns.rdatatype.RRSIG)

    answer = _chain(
        [r for r in answer_in if r.rdtype != dns.rdatatype.RRSIG], zone_labels, qname, rdtype
    )
    # An NS set of a child enclosing qname makes the reply a referral whatever
    # its AA bit says (Unbound iter_resptype.c response_type_from_server:
    # "True, referrals should not have the AA bit set, but..."), unless an
    # authoritative answer or the zone's SOA came with it. A non-AA answer
    # beside it is only the parent's copy of data below its own cut: Unbound
    # takes a non-AA answer "only provisionally", and Knot Resolver's
    # lib/layer/iterate.c reads the authority section (process_authority)
    # before the answer; dropped here, it is asked of the child's servers.
    authoritative = bool(message.flags & dns.flags.AA)
    zone_soa = any(
        r.rdtype == dns.rdatatype.SOA and lowered(r.name) == zone_labels for r in authority_in
    )
    referral = child is not None and not (authoritative and (answer or zone_soa))
    if referral:
        answer = []
    authority = _authority(
        [r for r in authority_in if r.rdtype != dns.rdatatype.RRSIG],
        zone_labels,
        qname_labels,
        child,
        referral,
        recursive=recursive,
    )
    targets = {
        lowered(rdata.target) for r in authority if r.rdtype == dns.rdatatype.NS for rdata in r
    }
    additional = [
        r for r in additional_in if r.rdtype in _ADDRESSES and lowered(r.name) in targets
    ]
    # Counted as dropped all the same: they are never believed as data.
    hints = [r for r in outside if r.rdtype in _ADDRESSES and lowered(r.name) in targets]

    kept_keys = {(lowered(r.name), r.rdtype) for r in (*answer, *authority)}
    # QTYPE RRSIG: the RRSIGs qname owns are the answer itself (Unbound, validator.c
    # needs_validation: a positive RRSIG answer is not validated).
    asked_signatures = {
        id(r)
        for r in answer_in
        if r.rdtype == dns.rdatatype.RRSIG and lowered(r.name) == qname_labels
    } if rdtype == dns.rdatatype.RRSIG else set()
    signatures = [
        s
        for s in signatures_in
        if (lowered(s.name), s.covers) in kept_keys or id(s) in asked_signatures
    ]
    for reason, section, kept in (
        ("answer", answer_in, answer),
        ("authority", authority_in, authority),
        ("additional", additional_in, additional),
    ):
        dropped[reason] += _count_missing(section, kept, skip_signatures=True)
    dropped["signature"] += _count_missing(signatures_in, signatures, skip_signatures=False)
    return Scrubbed(
        answer=tuple(answer),
        authority=tuple(authority),
        additional=tuple(additional),
        hints=tuple(hints),
        signatures=tuple(signatures),
        dropped={reason: count for reason, count in dropped.items() if count},
    )


def _chain(
    answer: list[dns.rrset.RRset],
    zone: tuple[bytes, ...],
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
) -> list[dns.rrset.RRset]:
    """The answer RRsets on qname's CNAME/DNAME chain, inside ``zone`` (lowercase labels),
    in the reply's order.

    The walk is bounded by the section's size, so a loop ends; the
    iterator bounds and checks the chain itself (``Limits.max_cname_chain``).
    """
    wanted: set[int] = set()
    owners = [(r, lowered(r.name)) for r in answer]
    name = qname
    for _ in range(len(answer) + 1):
        here = lowered(name)
        if not within(here, zone):
            break  # out of this server's zone: the iterator asks anew
        data = [
            r
            for r, owner in owners
            if owner == here and (r.rdtype == rdtype or rdtype == dns.rdatatype.ANY)
        ]
        wanted.update(id(r) for r in data)
        dname = next(
            (
                r
                for r, owner in owners
                if r.rdtype == dns.rdatatype.DNAME and within(here, owner) and here != owner
            ),
            None,
        )
        if data and dname is None:
            break  # below a DNAME, a CNAME asked for is its synthesis: keep the DNAME too
        cname = next(
            (r for r, owner in owners if r.rdtype == dns.rdatatype.CNAME and owner == here),
            None,
        )
        if dname is not None and len(dname) == 1:
            wanted.add(id(dname))
            try:
                target = name.relativize(dname.name).derelativize(dname[0].target)
            except dns.name.NameTooLong:
                break  # YXDOMAIN (RFC 6672 2.2): the chain ends at the DNAME
            if cname is not None and len(cname) == 1 and cname[0].target == target:
                wanted.add(id(cname))  # the synthesis of the DNAME, RFC 6672 5.3.1
            name = target
        elif cname is not None and len(cname) == 1:
            wanted.add(id(cname))
            name = cname[0].target
        else:
            break
    return [r for r in answer if id(r) in wanted]


def _referred_child(
    message: dns.message.Message, zone: tuple[bytes, ...], qname: tuple[bytes, ...]
) -> dns.name.Name | None:
    """The child zone a NOERROR reply refers to, if it may (names as lowercase labels).

    The first NS RRset strictly below ``zone`` that encloses qname (the AA
    bit, an answer and the SOA, checked by the caller, may make the reply
    no referral).
    """
    if message.rcode() != dns.rcode.NOERROR:
        return None
    for r in message.authority:
        if r.rdtype == dns.rdatatype.NS and r.rdclass == dns.rdataclass.IN:
            owner = lowered(r.name)
            if owner != zone and within(owner, zone) and within(qname, owner):
                return r.name
    return None


def _authority(
    authority: list[dns.rrset.RRset],
    zone: tuple[bytes, ...],
    qname: tuple[bytes, ...],
    child: dns.name.Name | None,
    referral: bool,
    *,
    recursive: bool = False,
) -> list[dns.rrset.RRset]:
    """The authority RRsets a server of ``zone`` may send (module docstring, ``authority``);
    ``zone`` and ``qname`` as lowercase labels.

    For a recursive server the SOA of any zone enclosing ``qname`` is kept
    (the bailiwick was checked), the first one only, and NS sets are not.
    """
    child_labels = lowered(child) if child is not None and referral else None
    kept: list[dns.rrset.RRset] = []
    for rrset in authority:
        kind = rrset.rdtype
        owner = lowered(rrset.name)
        if kind == dns.rdatatype.SOA:
            if recursive:
                keep = within(qname, owner) and not any(r.rdtype == kind for r in kept)
            else:
                keep = _apex_for(owner, zone, qname) and not referral
        elif recursive and kind == dns.rdatatype.NS:
            keep = False
        elif kind == dns.rdatatype.NS:
            keep = owner in (zone, child_labels) and not any(
                r.rdtype == kind and lowered(r.name) == owner for r in kept
            )
        elif kind == dns.rdatatype.DS:
            keep = owner == child_labels
        elif kind in _DENIAL:
            keep = True  # of this zone (bailiwick checked); the validator proves with them
        else:
            keep = False
        if keep:
            kept.append(rrset)
    return kept


def _apex_for(
    owner: tuple[bytes, ...], zone: tuple[bytes, ...], qname: tuple[bytes, ...]
) -> bool:
    """Whether an SOA owned by ``owner`` may head a negative answer from a server of
    ``zone``: Z's own, or that of a child of Z on the same server that encloses qname
    (its keys, proven through Z's DS, judge it: ``Validator._signer_keys``). Knot
    Resolver's bailiwick check on the SOA of a negative answer is the same. Names
    as lowercase labels."""
    return owner == zone or (within(owner, zone) and within(qname, owner))


def _count_missing(
    section: list[dns.rrset.RRset], kept: list[dns.rrset.RRset], *, skip_signatures: bool
) -> int:
    """How many records of ``section`` did not make it into ``kept``."""
    kept_ids = {id(r) for r in kept}
    return sum(
        len(r)
        for r in section
        if id(r) not in kept_ids and not (skip_signatures and r.rdtype == dns.rdatatype.RRSIG)
    )
