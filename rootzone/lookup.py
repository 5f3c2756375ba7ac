"""Answering root-level questions from a verified copy, as a root server would (RFC 8806 section 3).

The resolver serves the root zone locally by putting ``RootAnswers.answer``
where it would otherwise ask a root server: the iterator classifies the
message and the validator checks it exactly as if it had come over the wire,
so the message must be what a root server sends to a DO=1 query --
referrals with the DS or the NSEC proving there is none, authoritative apex
data, NXDOMAIN and NODATA with SOA, NSEC proofs and their RRSIGs. Nothing is
synthesised or re-signed: every record is the copy's own.

The root zone holds no CNAME, DNAME or wildcard, so answering needs only the
delegations, the names that exist, and the NSEC chain in canonical order
(RFC 4034 section 6.1), which a bisection searches. The index is built in
one pass over the copy when it is loaded; records become dnspython objects
only when first asked for, because a copy has some 22,000 records and most
are never asked for before the next copy replaces it. Each answer gets its
own copies of those ``RRset`` objects (the rdatas inside are immutable and
shared), so nothing a caller does to a message can change a later one.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnssec.signatures import name_labels
from rootzone.verify import DS, NS, RRSIG, SOA, RRsetKey, Zone

NSEC = dns.rdatatype.NSEC
#: The EDNS payload size the answer advertises, as root servers and the lab do.
PAYLOAD = 1232
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
_WILDCARD_LABEL = b"\x01*"

#: A name's canonical sort key (RFC 4034 section 6.1): its lowercase labels,
#: rightmost first. Tuple order is then canonical order.
CanonicalKey = tuple[bytes, ...]


def canonical_key(wire: bytes) -> CanonicalKey:
    """The canonical sort key of a lowercase, uncompressed wire-format name."""
    return name_labels(wire)[::-1]


class RootAnswers:
    """An index over a verified root zone that answers queries like a root server."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self._cuts = frozenset(
            owner for owner, rdtype, _ in zone.rrsets if rdtype == NS and owner != zone.origin
        )
        self._existing = _with_ancestors({owner for owner, _, _ in zone.rrsets})
        chain = sorted(
            (canonical_key(owner), owner) for owner, rdtype, _ in zone.rrsets if rdtype == NSEC
        )
        self._nsec_keys = [key for key, _ in chain]
        self._nsec_owners = [owner for _, owner in chain]
        # QTYPE RRSIG (RFC 4035 3.1.5 leaves it to the server): every RRSIG
        # set at the name, as the lab, BIND, NSD and Knot DNS answer it.
        self._signatures: dict[bytes, list[RRsetKey]] = {}
        for key in zone.rrsets:
            if key[1] == RRSIG:
                self._signatures.setdefault(key[0], []).append(key)
        self._names: dict[bytes, dns.name.Name] = {}
        self._templates: dict[RRsetKey, dns.rrset.RRset] = {}

    def answer(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """The reply of a root server to a DO=1 query for ``qname``/``rdtype``/IN.

        Meta-types (ANY, AXFR, OPT, ...) get NOTIMP, as from the lab root:
        the resolver never sends them upstream.
        """
        response = _response(qname, rdtype)
        if dns.rdatatype.is_metatype(rdtype):
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        wire = qname.to_digestable()
        suffixes = _suffixes(wire)
        cut = self._cut(suffixes, wire, rdtype)
        if cut is not None:
            response.authority = self._referral(cut)
            response.additional = self._glue(cut)
            return response
        response.flags |= dns.flags.AA
        if wire in self._existing:
            self._existing_name(response, wire, rdtype)
        else:
            encloser = next(suffix for suffix in suffixes if suffix in self._existing)
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority = self._negative(
                (self._covering(wire), self._covering(_WILDCARD_LABEL + encloser))
            )
        return response

    def _cut(self, suffixes: list[bytes], wire: bytes, rdtype: int) -> bytes | None:
        """The topmost delegation at or above the name; a DS query at a cut is the parent's."""
        for suffix in reversed(suffixes):
            if suffix in self._cuts and not (suffix == wire and rdtype == DS):
                return suffix
        return None

    def _existing_name(self, response: dns.message.Message, wire: bytes, rdtype: int) -> None:
        """The data for the name and type with its RRSIG, or NODATA."""
        if rdtype == RRSIG and wire in self._signatures:
            response.answer = [self._rrset(key) for key in self._signatures[wire]]
            return
        if (wire, rdtype, 0) not in self.zone.rrsets:
            response.authority = self._negative((self._covering(wire),))
            return
        response.answer = self._signed((wire, rdtype, 0))
        if rdtype == NS:
            response.additional = self._glue(wire)

    def _referral(self, cut: bytes) -> list[dns.rrset.RRset]:
        """The delegation's NS, then its DS or the NSEC proving it has none, signed."""
        ds = (cut, DS, 0)
        proof = self._signed(ds) if ds in self.zone.rrsets else self._proof((self._covering(cut),))
        return [self._rrset((cut, NS, 0)), *proof]

    def _glue(self, owner: bytes) -> list[dns.rrset.RRset]:
        """The addresses of the NS targets at ``owner`` that the zone holds."""
        # NS RDATA in canonical form is exactly the target's lowercase wire name.
        return [
            self._rrset(key)
            for target in self.zone.rrsets[(owner, NS, 0)].rdatas
            for rdtype in _ADDRESS_TYPES
            if (key := (target, rdtype, 0)) in self.zone.rrsets
        ]

    def _negative(self, nsec_owners: Iterable[bytes | None]) -> list[dns.rrset.RRset]:
        """SOA and RRSIG with the negative TTL (RFC 2308 section 3), then the NSEC proof."""
        soa = self.zone.rrsets[(self.zone.origin, SOA, 0)]
        ttl = min(soa.ttl, int.from_bytes(soa.rdatas[0][-4:]))
        records = [self._rrset((self.zone.origin, SOA, 0), ttl)]
        if (signature := (self.zone.origin, RRSIG, SOA)) in self.zone.rrsets:
            records.append(self._rrset(signature, ttl))
        return [*records, *self._proof(nsec_owners)]

    def _proof(self, nsec_owners: Iterable[bytes | None]) -> list[dns.rrset.RRset]:
        """The NSEC records at ``nsec_owners`` (each once) with their RRSIGs."""
        unique = dict.fromkeys(owner for owner in nsec_owners if owner is not None)
        return [record for owner in unique for record in self._signed((owner, NSEC, 0))]

    def _covering(self, wire: bytes) -> bytes | None:
        """The owner of the NSEC at or before ``wire`` in canonical order (wrapping round).

        ``None`` when the zone has no NSEC chain to prove anything with.
        """
        if not self._nsec_owners:
            return None
        index = bisect.bisect_right(self._nsec_keys, canonical_key(wire)) - 1
        return self._nsec_owners[index]

    def _signed(self, key: RRsetKey) -> list[dns.rrset.RRset]:
        """The RRset and, if the zone has one, the RRSIG RRset covering it."""
        owner, rdtype, _ = key
        signature = (owner, RRSIG, rdtype)
        if signature in self.zone.rrsets:
            return [self._rrset(key), self._rrset(signature)]
        return [self._rrset(key)]

    def _rrset(self, key: RRsetKey, ttl: int | None = None) -> dns.rrset.RRset:
        """A copy of the RRset at ``key``, with ``ttl`` if given.

        Copying a decoded RRset is several times cheaper than building one,
        and the copy keeps callers from changing what later answers share.
        """
        template = self._templates.get(key)
        if template is None:
            template = self._decode(key)
            self._templates[key] = template
        rrset = copy.copy(template)
        if ttl is not None:
            rrset.ttl = ttl
        return rrset

    def _decode(self, key: RRsetKey) -> dns.rrset.RRset:
        """The copy's records at ``key`` as dnspython objects (unknown types: generic)."""
        wire_rrset = self.zone.rrsets[key]
        owner, rdtype, covers = key
        rdclass = dns.rdataclass.RdataClass(wire_rrset.rdclass)
        kind = dns.rdatatype.RdataType.make(rdtype)
        name = self._names.get(owner)
        if name is None:
            name = dns.name.from_wire(owner, 0)[0]
            self._names[owner] = name
        rrset = dns.rrset.RRset(name, rdclass, kind, dns.rdatatype.RdataType.make(covers))
        rrset.update_ttl(wire_rrset.ttl)
        for rdata in wire_rrset.rdatas:
            rrset.add(dns.rdata.from_wire(rdclass, kind, rdata, 0, len(rdata)))
        return rrset


def _response(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
    """An empty reply (QR, EDNS with DO) to the question ``qname``/``rdtype``/IN."""
    response = dns.message.QueryMessage(id=0)
    response.flags = dns.flags.QR
    response.question = [dns.rrset.RRset(qname, dns.rdataclass.IN, rdtype)]
    response.use_edns(0, dns.flags.DO, PAYLOAD)
    return response


def _suffixes(wire: bytes) -> list[bytes]:
    """A wire-format name and its ancestors, longest first, the root last."""
    suffixes = []
    position = 0
    while wire[position]:
        suffixes.append(wire[position:])
        position += wire[position] + 1
    suffixes.append(wire[position:])
    return suffixes


def _with_ancestors(owners: set[bytes]) -> frozenset[bytes]:
    """The owner names and every name above them: the names that exist (RFC 4592 2.2.2)."""
    existing: set[bytes] = set()
    for owner in owners:
        for suffix in _suffixes(owner):
            if suffix in existing:
                break
            existing.add(suffix)
    return frozenset(existing)
