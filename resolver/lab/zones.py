"""Signed lab zones held in memory: built from their records, signed once.

``ZoneSource`` is a zone's unsigned content and signing policy (key, NSEC or
NSEC3, ZONEMD, and the deliberate faults of the validator's test zones:
broken or missing signatures, withheld denial proofs, KeyTrap decoys);
``StaticZone.build`` signs it for a validity window, adding DNSKEY, the
denial chain and, for the root, a ZONEMD digest (RFC 8976) computed over the
signed zone. The result is the ``ZoneData`` that ``authority.answer`` reads,
plus the full record list for zone transfers and ``root.zone``. Re-signing
for the ``expired-sigs`` fault is just another ``build`` with another window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import dns.zonetypes

from resolver.lab.authority import Denial
from resolver.lab.denial import (
    NoProof,
    Nsec3Denial,
    NsecDenial,
    nsec3_chain,
    nsec3_param_text,
    nsec_rrset,
)
from resolver.lab.keytrap import decoy_keys, decoy_signatures
from resolver.lab.signing import Window, ZoneKey, break_signatures

RRsetKey: TypeAlias = tuple[dns.name.Name, dns.rdatatype.RdataType]

DNSKEY_TTL = 3600


@dataclass(frozen=True, slots=True)
class ZoneSource:
    """A zone's unsigned records (child DS included) and how to sign it.

    ``key`` is ``None`` for an unsigned zone. ``iterations`` is the NSEC3
    iteration count. ``broken`` lists the owner/type pairs whose signatures
    are deliberately corrupted. ``rrsigs`` false: only the DNSKEY RRset is
    signed. ``proofs`` false: negative answers carry no NSEC/NSEC3.
    ``keytrap``: decoy keys and signatures (``resolver/lab/keytrap.py``).
    ``zonemd_broken`` (with ``zonemd``): the ZONEMD record carries a wrong
    SHA-384 digest, validly signed, as a publisher whose digest went wrong
    would send it: only a validator that computes the digest notices.
    ``on_demand``: each RRset is signed when first served, not at build (a
    16384-bit RSA signature takes a second; ``resolver/lab/costlykeys.py``).
    """

    origin: dns.name.Name
    rrsets: tuple[dns.rrset.RRset, ...]
    key: ZoneKey | None = None
    nsec3: bool = False
    iterations: int = 0
    zonemd: bool = False
    broken: frozenset[RRsetKey] = field(default_factory=frozenset)
    rrsigs: bool = True
    proofs: bool = True
    keytrap: bool = False
    zonemd_broken: bool = False
    on_demand: bool = False


class StaticZone:
    """A zone, signed for one window, answering ``ZoneData`` queries."""

    def __init__(
        self,
        source: ZoneSource,
        rrsets: dict[RRsetKey, dns.rrset.RRset],
        signatures: dict[RRsetKey, dns.rrset.RRset],
        denial: Denial | None,
        chain: tuple[dns.rrset.RRset, ...],
        unsigned: tuple[dns.rrset.RRset, ...] = (),
        window: Window | None = None,
    ) -> None:
        self.source = source
        self._rrsets = rrsets
        self._signatures = signatures
        #: RRsets to sign for ``window`` when first asked for (``on_demand``).
        self._unsigned = {(rrset.name, rrset.rdtype): rrset for rrset in unsigned}
        self._window = window
        self._denial = denial
        self._chain = chain
        self._existing = frozenset(
            ancestor for name, _ in rrsets for ancestor in _ancestors(name, source.origin)
        )

    @classmethod
    def build(cls, source: ZoneSource, window: Window) -> StaticZone:
        """Sign ``source`` for ``window`` (records are left unsigned if no key)."""
        origin = source.origin
        rrsets = {(rrset.name, rrset.rdtype): rrset for rrset in source.rrsets}
        key = source.key
        if key is None:
            return cls(source, rrsets, {}, None, ())
        decoys = decoy_keys(key) if source.keytrap else ()
        _put(rrsets, dns.rrset.from_rdata_list(origin, DNSKEY_TTL, [key.dnskey, *decoys]))
        soa = rrsets[(origin, dns.rdatatype.SOA)]
        serial = soa[0].serial
        if source.zonemd:
            _put(rrsets, _rrset(origin, soa.ttl, dns.rdatatype.ZONEMD, f"{serial} 1 1 {'0' * 96}"))
        if source.nsec3:
            param = nsec3_param_text(source.iterations)
            _put(rrsets, _rrset(origin, soa.ttl, dns.rdatatype.NSEC3PARAM, param))
        cuts = {name for name, rdtype in rrsets if rdtype == dns.rdatatype.NS and name != origin}
        authoritative = {name for name, _ in rrsets if not any(_below(name, cut) for cut in cuts)}
        to_sign = [
            rrset
            for (name, rdtype), rrset in rrsets.items()
            if name in authoritative and not (name in cuts and rdtype == dns.rdatatype.NS)
        ]
        negative_ttl = min(soa.ttl, soa[0].minimum)
        denial: Denial
        chain: tuple[dns.rrset.RRset, ...] = ()
        if source.nsec3:
            names = _nsec3_names(origin, rrsets, authoritative, cuts)
            left_out = {
                name
                for cut in cuts
                if (cut, dns.rdatatype.DS) not in rrsets
                for name in _ancestors(cut, origin)
                if name not in names
            }
            records = nsec3_chain(origin, names, negative_ttl, source.iterations, left_out)
            chain = tuple(records.values())
            denial = Nsec3Denial(records, source.iterations)
        else:
            owners = sorted(authoritative)
            for index, name in enumerate(owners):
                types = [rdtype for owner, rdtype in rrsets if owner == name]
                following = owners[(index + 1) % len(owners)]
                _put(rrsets, nsec_rrset(name, following, types, negative_ttl))
            to_sign.extend(rrsets[(name, dns.rdatatype.NSEC)] for name in owners)
            denial = NsecDenial(owners, lambda name: rrsets[(name, dns.rdatatype.NSEC)])
        if not source.proofs:
            denial = NoProof()
        if source.on_demand:
            return cls(source, rrsets, {}, denial, chain, (*to_sign, *chain), window)
        signatures = {
            (rrset.name, rrset.rdtype): signature
            for rrset in (*to_sign, *chain)
            if (signature := _signature(source, key, rrset, window)) is not None
        }
        for broken in source.broken:
            signatures[broken] = break_signatures(signatures[broken])
        zone = cls(source, rrsets, signatures, denial, chain)
        if source.zonemd:
            zone._seal_zonemd(key, window)
        return zone

    def resigned(self, window: Window) -> StaticZone:
        """The same zone signed for ``window``."""
        return StaticZone.build(self.source, window)

    @property
    def origin(self) -> dns.name.Name:
        return self.source.origin

    @property
    def denial(self) -> Denial | None:
        return self._denial

    def rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        return self._rrsets.get((name, rdtype))

    def signature(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.rrset.RRset | None:
        return self._signed((name, rdtype))

    def _signed(self, key: RRsetKey) -> dns.rrset.RRset | None:
        """The RRSIGs of one RRset, made now if the zone signs on demand."""
        unsigned = self._unsigned.pop(key, None)
        if unsigned is not None and self.source.key is not None and self._window is not None:
            signature = _signature(self.source, self.source.key, unsigned, self._window)
            if signature is not None:
                self._signatures[key] = signature
        return self._signatures.get(key)

    def exists(self, name: dns.name.Name) -> bool:
        return name in self._existing

    def records(self) -> Iterator[dns.rrset.RRset]:
        """Every RRset of the zone, SOA first, RRSIGs after what they cover."""
        soa_key = (self.origin, dns.rdatatype.SOA)
        for key in (soa_key, *sorted(k for k in self._rrsets if k != soa_key)):
            yield self._rrsets[key]
            if (signature := self._signed(key)) is not None:
                yield signature
        for nsec3 in self._chain:
            yield nsec3
            if (signature := self._signed((nsec3.name, nsec3.rdtype))) is not None:
                yield signature

    def transfer(self) -> list[dns.rrset.RRset]:
        """The AXFR answer: the records framed by the SOA (RFC 5936)."""
        return [*self.records(), self._rrsets[(self.origin, dns.rdatatype.SOA)]]

    def to_zone(self) -> dns.zone.Zone:
        """The zone as a ``dns.zone.Zone`` (absolute names), for text and digests."""
        zone = dns.zone.Zone(self.origin, relativize=False)
        for rrset in self.records():
            node = zone.find_node(rrset.name, create=True)
            node.replace_rdataset(rrset.to_rdataset())
        return zone

    def _seal_zonemd(self, key: ZoneKey, window: Window) -> None:
        """Replace the placeholder ZONEMD with the digest (inverted if broken) and sign it."""
        computed = self.to_zone().compute_digest(dns.zonetypes.DigestHashAlgorithm.SHA384)
        digest: dns.rdata.Rdata = computed
        if self.source.zonemd_broken:
            digest = computed.replace(digest=bytes(byte ^ 0xFF for byte in computed.digest))
        placeholder = self._rrsets[(self.origin, dns.rdatatype.ZONEMD)]
        zonemd = dns.rrset.from_rdata(self.origin, placeholder.ttl, digest)
        _put(self._rrsets, zonemd)
        self._signatures[(self.origin, dns.rdatatype.ZONEMD)] = key.sign(zonemd, window)


def _signature(
    source: ZoneSource, key: ZoneKey, rrset: dns.rrset.RRset, window: Window
) -> dns.rrset.RRset | None:
    """The RRSIGs ``source`` puts on ``rrset``: the key's, decoys' or none.

    The DNSKEY RRset is always signed by the key, so that the zone's keys
    validate and a validator meets the zone's fault in its data.
    """
    if rrset.rdtype == dns.rdatatype.DNSKEY or (source.rrsigs and not source.keytrap):
        return key.sign(rrset, window)
    if source.keytrap:
        return decoy_signatures(rrset, key, window)
    return None


def _nsec3_names(
    origin: dns.name.Name,
    rrsets: dict[RRsetKey, dns.rrset.RRset],
    authoritative: set[dns.name.Name],
    cuts: set[dns.name.Name],
) -> dict[dns.name.Name, list[int]]:
    """Owners for the NSEC3 chain: opt-out leaves insecure delegations out."""
    owners: dict[dns.name.Name, list[int]] = {}
    for name in authoritative:
        types = [rdtype for owner, rdtype in rrsets if owner == name]
        if name in cuts and dns.rdatatype.DS not in types:
            continue
        owners[name] = [*types, dns.rdatatype.RRSIG]
        for ancestor in _ancestors(name, origin):
            owners.setdefault(ancestor, [])
    return owners


def _ancestors(name: dns.name.Name, origin: dns.name.Name) -> Iterator[dns.name.Name]:
    """``name`` and each of its ancestors down to ``origin``."""
    while True:
        yield name
        if name == origin:
            return
        name = name.parent()


def _below(name: dns.name.Name, cut: dns.name.Name) -> bool:
    return name != cut and name.is_subdomain(cut)


def _put(rrsets: dict[RRsetKey, dns.rrset.RRset], rrset: dns.rrset.RRset) -> None:
    rrsets[(rrset.name, rrset.rdtype)] = rrset


def _rrset(
    name: dns.name.Name, ttl: int, rdtype: dns.rdatatype.RdataType, text: str
) -> dns.rrset.RRset:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)
    return dns.rrset.from_rdata(name, ttl, rdata)
