"""Verifying a whole zone before it is used: keys, every signature, and ZONEMD.

A local root copy (RFC 8806) is only as good as its proof. ``verify_zone``
takes the records of ``rootzone.zonefile`` and, at an explicit time:

1. validates the apex DNSKEY RRset with a key that a trust anchor names
   (a DS digest or the DNSKEY itself);
2. verifies every RRSIG in the zone with the zone's keys (signer is the apex,
   key tag and algorithm name a zone key, the time is inside the window) and
   checks that every RRset the zone is authoritative for is signed --
   delegation NS RRsets and glue are not, by design (RFC 4035 section 2.2);
3. checks the ZONEMD digest (RFC 8976) with the SIMPLE scheme and SHA-384 or
   SHA-512.

Each step is a public function so that callers (and tests) can run them on
their own, e.g. on archived zones whose RRSIGs were stripped. Failures raise a
``ZoneVerificationError`` subclass whose message names the RRset or record.

ZONEMD (RFC 8976 section 4): no ZONEMD at the apex is ``absent``; a
ZONEMD RRset whose records all use schemes or hash algorithms we cannot
compute is ``unverified`` and the zone still loads, because refusing it is
what turned the private-use hash algorithm 241 of the 2023 root into an
outage; two records with the same scheme and hash, a ZONEMD serial that is
not the SOA serial, or supported digests of which none matches, fail. As the
RFC says, one matching supported digest is enough. The operator's
``ZonemdPolicy`` decides what else is required: ``verify`` (the default)
takes that verdict as it is, ``require`` also refuses a zone without ZONEMD,
``ignore`` does not look (``ignored``).
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import dns.name
import dns.rdatatype

from dnssec.anchors import TrustAnchors
from dnssec.errors import HoldfastError
from dnssec.signatures import (
    Dnskey,
    Ds,
    Rrsig,
    SignatureError,
    WireRRset,
    is_subdomain,
    name_labels,
    verify_rrsig,
)
from rootzone.zonefile import Record

SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS
DS = dns.rdatatype.DS
DNSKEY = dns.rdatatype.DNSKEY
RRSIG = dns.rdatatype.RRSIG
ZONEMD = dns.rdatatype.ZONEMD

#: RFC 8976 sections 5.2 and 5.3: the SIMPLE scheme, with SHA-384 and SHA-512
#: (hashlib name, name in messages).
SIMPLE_SCHEME = 1
ZONEMD_HASHES = {1: ("sha384", "SHA-384"), 2: ("sha512", "SHA-512")}

_RR_FIXED = struct.Struct("!HHI")
_ZONEMD_FIXED = struct.Struct("!IBB")

#: An RRset's key: owner, type, and for RRSIGs the type they cover (else 0).
RRsetKey = tuple[bytes, int, int]


class ZoneVerificationError(HoldfastError):
    """The zone failed verification; the message says which RRset or record."""


class ZoneStructureError(ZoneVerificationError):
    """The records do not form one zone: no or several SOAs, data outside it."""


class TrustAnchorError(ZoneVerificationError):
    """The apex DNSKEY RRset is not validated by a key a trust anchor names."""


class SignatureFailure(ZoneVerificationError):
    """An RRSIG in the zone does not verify; ``__cause__`` is the reason."""


class UnsignedRRset(ZoneVerificationError):
    """An RRset the zone is authoritative for has no signature."""


class ZonemdFailure(ZoneVerificationError):
    """The ZONEMD RRset disagrees with the zone, or with itself."""


class ZonemdStatus(enum.Enum):
    """What the ZONEMD check concluded, when it did not fail."""

    #: A supported digest matches the zone content.
    VERIFIED = "verified"
    #: ZONEMD present, but no record uses a scheme and hash we support.
    UNVERIFIED = "unverified"
    #: No ZONEMD at the apex.
    ABSENT = "absent"
    #: Not looked at: the policy is ``ignore``.
    IGNORED = "ignored"


class ZonemdPolicy(enum.Enum):
    """What the operator asks of a zone's ZONEMD (``[local_root] zonemd``)."""

    #: Check it when present: a supported digest must match; absent or
    #: all-unsupported is accepted (and reported).
    VERIFY = "verify"
    #: As ``verify``, and a zone without ZONEMD is refused.
    REQUIRE = "require"
    #: Do not look at it (nor compute a digest).
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class ZonemdResult:
    """The ZONEMD verdict and a sentence explaining it (for logs and warnings)."""

    status: ZonemdStatus
    detail: str


@dataclass(frozen=True, slots=True)
class ZoneVerification:
    """A verified zone's figures."""

    origin: str
    serial: int
    records: int
    rrsets: int
    rrsets_verified: int
    signatures_verified: int
    zonemd: ZonemdResult

    def to_json(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "serial": self.serial,
            "records": self.records,
            "rrsets": self.rrsets,
            "rrsets_verified": self.rrsets_verified,
            "signatures": self.signatures_verified,
            "zonemd": self.zonemd.status.value,
            "zonemd_detail": self.zonemd.detail,
        }


@dataclass(frozen=True, slots=True)
class SignatureCount:
    """What ``verify_signatures`` checked: RRsets with a good RRSIG, and RRSIGs."""

    verified: frozenset[RRsetKey]
    signatures: int


class Zone:
    """A zone's records grouped into canonical RRsets, indexed for verification.

    RRSIGs are grouped by owner and covered type, as dnspython and ZONEMD's
    canonical order do. Duplicate records are dropped (RFC 4034 section 6.3)
    but counted in ``duplicates``, with the RRsets they were in, in
    ``duplicated``: a loader's guardrail refuses a copy that has any. An
    RRset whose records disagree on TTL gets the smallest.
    """

    def __init__(self, records: Iterable[Record]) -> None:
        """Group ``records``.

        Raises:
            ZoneStructureError: not exactly one SOA record, or a record
                outside the zone the SOA starts.
        """
        groups: dict[RRsetKey, list[Record]] = {}
        for record in records:
            covers = int.from_bytes(record.rdata[:2]) if record.rdtype == RRSIG else 0
            key = (record.owner, record.rdtype, covers)
            group = groups.get(key)
            if group is None:
                groups[key] = [record]
            else:
                group.append(record)
        soas = [key for key in groups if key[1] == SOA]
        if len(soas) != 1 or len(groups[soas[0]]) != 1:
            count = sum(len(groups[key]) for key in soas)
            raise ZoneStructureError(f"a zone has exactly one SOA record, not {count}")
        self.origin: bytes = soas[0][0]
        self.rrsets: dict[RRsetKey, WireRRset] = {}
        self.lines: dict[RRsetKey, int] = {}
        self.duplicates = 0
        self.duplicated: list[RRsetKey] = []
        for key, group in groups.items():
            owner, rdtype, _ = key
            if not is_subdomain(owner, self.origin):
                raise ZoneStructureError(
                    f"{describe(key)} (line {group[0].line}) is outside the zone "
                    f"{name_text(self.origin)}"
                )
            first = group[0]
            rdatas: tuple[bytes, ...]
            if len(group) == 1:
                rdatas, ttl = (first.rdata,), first.ttl
            else:
                rdatas = tuple(sorted({record.rdata for record in group}))
                ttl = min(record.ttl for record in group)
                if len(rdatas) < len(group):
                    self.duplicates += len(group) - len(rdatas)
                    self.duplicated.append(key)
            self.rrsets[key] = WireRRset(owner, rdtype, first.rdclass, ttl, rdatas)
            self.lines[key] = first.line
        self.serial = int.from_bytes(self.rrsets[soas[0]].rdatas[0][-20:-16])

    @property
    def records(self) -> int:
        """How many distinct records the zone holds."""
        return sum(len(rrset.rdatas) for rrset in self.rrsets.values())

    def where(self, key: RRsetKey) -> str:
        """The RRset and its first line, for messages."""
        return f"{describe(key)} (line {self.lines[key]})"


def verify_zone(
    records: Iterable[Record],
    anchors: TrustAnchors,
    now: int,
    zonemd_policy: ZonemdPolicy = ZonemdPolicy.VERIFY,
) -> ZoneVerification:
    """Run every check on the zone, at ``now`` (POSIX seconds).

    Raises:
        ZoneVerificationError: a subclass naming what failed.
    """
    zone = Zone(records)
    keys = trusted_keys(zone, anchors, now)
    count = verify_signatures(zone, keys, now)
    require_signatures(zone, count.verified)
    zonemd = apply_zonemd_policy(zone, zonemd_policy)
    return ZoneVerification(
        origin=name_text(zone.origin),
        serial=zone.serial,
        records=zone.records,
        rrsets=sum(1 for key in zone.rrsets if key[1] != RRSIG),
        rrsets_verified=len(count.verified),
        signatures_verified=count.signatures,
        zonemd=zonemd,
    )


def trusted_keys(zone: Zone, anchors: TrustAnchors, now: int) -> tuple[Dnskey, ...]:
    """The zone keys of the apex DNSKEY RRset, once an anchored key validates it.

    An anchor is a DS (its digest must match a DNSKEY of the apex RRset) or a
    DNSKEY (it must be in that RRset). One RRSIG over the RRset by an
    anchored key that verifies at ``now`` is enough (RFC 4035 section 5).

    Raises:
        TrustAnchorError: no DNSKEY RRset, no anchor for the zone, no
            anchored key in it, or no anchored key's signature verifies.
    """
    apex = (zone.origin, DNSKEY, 0)
    dnskeys = zone.rrsets.get(apex)
    if dnskeys is None:
        raise TrustAnchorError(f"no DNSKEY RRset at the apex {name_text(zone.origin)}")
    try:
        apex_keys = [Dnskey.from_wire(rdata) for rdata in dnskeys.rdatas]
    except SignatureError as error:
        raise TrustAnchorError(f"{zone.where(apex)}: {error}") from error
    anchored = _anchored_keys(zone.origin, apex_keys, anchors)
    signatures = zone.rrsets.get((zone.origin, RRSIG, DNSKEY))
    problems = []
    for rdata in signatures.rdatas if signatures is not None else ():
        for anchor in anchored:
            try:
                rrsig = Rrsig.from_wire(rdata)
                if (anchor.tag, anchor.algorithm) != (rrsig.key_tag, rrsig.algorithm):
                    continue
                verify_rrsig(rrsig, dnskeys, anchor, zone.origin, now)
            except SignatureError as error:
                problems.append(f"key {anchor.tag}: {error}")
                continue
            return tuple(key for key in apex_keys if key.is_zone_key)
    tags = ", ".join(str(anchor.tag) for anchor in anchored)
    reasons = "; ".join(problems) or "no RRSIG by one of them"
    raise TrustAnchorError(
        f"{zone.where(apex)} is not validated by an anchored key ({tags}): {reasons}"
    )


def verify_signatures(zone: Zone, keys: Iterable[Dnskey], now: int) -> SignatureCount:
    """Verify every RRSIG in the zone with ``keys`` (the validated zone keys).

    Raises:
        SignatureFailure: an RRSIG does not verify, covers an RRset that is not
            in the zone, or names no key of the zone.
    """
    by_tag = keys_by_tag(keys)
    verified: set[RRsetKey] = set()
    signatures = 0
    for (owner, rdtype, covers), rrsigs in zone.rrsets.items():
        if rdtype != RRSIG:
            continue
        covered_key = (owner, covers, 0)
        covered = zone.rrsets.get(covered_key)
        if covered is None:
            raise SignatureFailure(
                f"{zone.where((owner, rdtype, covers))}: covers "
                f"{describe(covered_key)}, which is not in the zone"
            )
        for rdata in rrsigs.rdatas:
            verify_rrsig_record(zone, covered_key, covered, rdata, by_tag, now)
            signatures += 1
        verified.add(covered_key)
    return SignatureCount(frozenset(verified), signatures)


def require_signatures(zone: Zone, verified: frozenset[RRsetKey]) -> None:
    """Check that every authoritative RRset is among the ``verified`` ones.

    Not signed, by design: NS RRsets at delegation points, and everything
    below one (glue).

    Raises:
        UnsignedRRset: an RRset the zone is authoritative for has no RRSIG.
    """
    unsigned_by_design = delegation_data(zone)
    for key in zone.rrsets:
        if key[1] == RRSIG or key in verified or key in unsigned_by_design:
            continue
        raise UnsignedRRset(f"{zone.where(key)} is authoritative data without an RRSIG")


def delegation_data(zone: Zone) -> frozenset[RRsetKey]:
    """The RRsets a zone does not sign, by design (RFC 4035 section 2.2).

    NS RRsets at delegation points, and every RRset below one (glue).
    """
    cuts = {owner for owner, rdtype, _ in zone.rrsets if rdtype == NS and owner != zone.origin}
    return frozenset(
        key
        for key in zone.rrsets
        if key[1] != RRSIG
        and ((key[0] in cuts and key[1] == NS) or _below_cut(key[0], zone.origin, cuts))
    )


def apply_zonemd_policy(zone: Zone, policy: ZonemdPolicy) -> ZonemdResult:
    """The ZONEMD verdict on ``zone`` under the operator's ``policy``.

    ``ignore`` neither reads the ZONEMD RRset nor hashes the zone: a
    malformed one is ignored too, which is what the operator asked for.

    Raises:
        ZonemdFailure: as ``check_zonemd``; under ``require``, also a zone
            without ZONEMD.
    """
    if policy is ZonemdPolicy.IGNORE:
        return ZonemdResult(ZonemdStatus.IGNORED, "ZONEMD not checked: the policy is ignore")
    result = check_zonemd(zone)
    if policy is ZonemdPolicy.REQUIRE and result.status is ZonemdStatus.ABSENT:
        raise ZonemdFailure(
            f"no ZONEMD record at the apex {name_text(zone.origin)}, and the policy requires one"
        )
    return result


def check_zonemd(zone: Zone) -> ZonemdResult:
    """Check the apex ZONEMD RRset against the zone (RFC 8976 section 4).

    Raises:
        ZonemdFailure: duplicate scheme and hash pair, serial not the SOA's,
            malformed record, or no supported digest matches.
    """
    key = (zone.origin, ZONEMD, 0)
    rrset = zone.rrsets.get(key)
    if rrset is None:
        return ZonemdResult(ZonemdStatus.ABSENT, "no ZONEMD record at the apex")
    seen: set[tuple[int, int]] = set()
    supported: list[tuple[int, bytes]] = []
    unsupported: list[str] = []
    for rdata in rrset.rdatas:
        if len(rdata) < _ZONEMD_FIXED.size:
            raise ZonemdFailure(f"{zone.where(key)}: a record of {len(rdata)} octets is too short")
        serial, scheme, hash_algorithm = _ZONEMD_FIXED.unpack_from(rdata)
        if (scheme, hash_algorithm) in seen:
            raise ZonemdFailure(
                f"{zone.where(key)}: two records with scheme {scheme} and hash {hash_algorithm}"
            )
        seen.add((scheme, hash_algorithm))
        if serial != zone.serial:
            raise ZonemdFailure(
                f"{zone.where(key)}: serial {serial} is not the SOA serial {zone.serial}"
            )
        if scheme == SIMPLE_SCHEME and hash_algorithm in ZONEMD_HASHES:
            supported.append((hash_algorithm, rdata[_ZONEMD_FIXED.size :]))
        else:
            unsupported.append(f"scheme {scheme} hash {hash_algorithm}")
    if not supported:
        return ZonemdResult(
            ZonemdStatus.UNVERIFIED,
            f"no ZONEMD record uses a supported scheme and hash ({', '.join(unsupported)})",
        )
    for hash_algorithm, digest in supported:
        if zone_digest(zone, hash_algorithm) == digest:
            name = ZONEMD_HASHES[hash_algorithm][1]
            return ZonemdResult(ZonemdStatus.VERIFIED, f"the SIMPLE {name} digest matches")
    hashes = " and ".join(ZONEMD_HASHES[hash_algorithm][1] for hash_algorithm, _ in supported)
    raise ZonemdFailure(f"{zone.where(key)}: the {hashes} digest does not match the zone")


def zone_digest(zone: Zone, hash_algorithm: int) -> bytes:
    """The SIMPLE-scheme digest of the zone (RFC 8976 section 3.3).

    Every RR in canonical form and order, except the apex ZONEMD RRset and
    the RRSIGs covering it (section 3.3.1.1): the digest cannot cover itself,
    and the signature over it is made after the digest.
    """
    hasher = hashlib.new(ZONEMD_HASHES[hash_algorithm][0])
    order: dict[bytes, tuple[bytes, ...]] = {}
    for owner, _, _ in zone.rrsets:
        if owner not in order:
            order[owner] = tuple(reversed(name_labels(owner)))
    for key in sorted(zone.rrsets, key=lambda key: (order[key[0]], key[1], key[2])):
        owner, rdtype, covers = key
        if owner == zone.origin and ZONEMD in (rdtype, covers):
            continue
        rrset = zone.rrsets[key]
        fixed = owner + _RR_FIXED.pack(rdtype, rrset.rdclass, rrset.ttl)
        hasher.update(b"".join(fixed + len(rdata).to_bytes(2) + rdata for rdata in rrset.rdatas))
    return hasher.digest()


def name_text(wire: bytes) -> str:
    """A wire-format name as text, for messages."""
    return dns.name.from_wire(wire, 0)[0].to_text()


def describe(key: RRsetKey) -> str:
    """``owner TYPE``, or ``owner RRSIG(TYPE)`` for signatures."""
    owner, rdtype, covers = key
    text = f"{name_text(owner)} {_mnemonic(rdtype)}"
    return f"{text}({_mnemonic(covers)})" if rdtype == RRSIG else text


def _mnemonic(rdtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


def keys_by_tag(keys: Iterable[Dnskey]) -> dict[tuple[int, int], list[Dnskey]]:
    """``keys`` by (key tag, algorithm), as an RRSIG names its key (tags may collide)."""
    by_tag: dict[tuple[int, int], list[Dnskey]] = {}
    for key in keys:
        by_tag.setdefault((key.tag, key.algorithm), []).append(key)
    return by_tag


def verify_rrsig_record(
    zone: Zone,
    covered_key: RRsetKey,
    covered: WireRRset,
    rdata: bytes,
    by_tag: dict[tuple[int, int], list[Dnskey]],
    now: int,
) -> None:
    """Verify one RRSIG RDATA over ``covered`` with whichever key its tag names.

    ``by_tag`` is ``keys_by_tag`` of the validated zone keys.

    Raises:
        SignatureFailure: naming the RRset, and the key when there is one;
            ``__cause__`` is the ``SignatureError``, if any.
    """
    try:
        rrsig = Rrsig.from_wire(rdata)
    except SignatureError as error:
        raise SignatureFailure(f"RRSIG over {zone.where(covered_key)}: {error}") from error
    candidates = by_tag.get((rrsig.key_tag, rrsig.algorithm), [])
    if not candidates:
        raise SignatureFailure(
            f"RRSIG over {zone.where(covered_key)}: no zone key {rrsig.key_tag} "
            f"with algorithm {rrsig.algorithm}"
        )
    failure: SignatureError | None = None
    for key in candidates:  # key tags may collide
        try:
            verify_rrsig(rrsig, covered, key, zone.origin, now)
        except SignatureError as error:
            failure = error
            continue
        return
    raise SignatureFailure(
        f"RRSIG over {zone.where(covered_key)} by key {rrsig.key_tag}: {failure}"
    ) from failure


def _anchored_keys(
    origin: bytes, apex_keys: list[Dnskey], anchors: TrustAnchors
) -> list[Dnskey]:
    """The apex keys that a trust anchor for ``origin`` names.

    Raises:
        TrustAnchorError: no anchor for the zone, or none names an apex key.
    """
    ds_anchors: list[Ds] = []
    key_anchors: set[bytes] = set()
    for rrset in anchors.rrsets:
        if rrset.name.to_digestable() != origin:
            continue
        for anchor in rrset:
            wire = anchor.to_digestable()
            if rrset.rdtype == DS:
                ds_anchors.append(Ds.from_wire(wire))
            else:
                key_anchors.add(wire)
    if not ds_anchors and not key_anchors:
        raise TrustAnchorError(f"no trust anchor for the zone {name_text(origin)}")
    anchored = []
    unsupported = []
    for key in apex_keys:
        if key.to_wire() in key_anchors:
            anchored.append(key)
            continue
        for ds in ds_anchors:
            try:
                if ds.matches(origin, key):
                    anchored.append(key)
                    break
            except SignatureError as error:
                unsupported.append(str(error))
    if not anchored:
        tags = ", ".join(str(key.tag) for key in apex_keys)
        note = f" ({'; '.join(sorted(set(unsupported)))})" if unsupported else ""
        raise TrustAnchorError(
            f"no DNSKEY of {name_text(origin)} (keys {tags}) matches a trust anchor{note}"
        )
    return anchored


def _below_cut(owner: bytes, origin: bytes, cuts: set[bytes]) -> bool:
    """Whether a proper ancestor of ``owner`` (inside the zone) is a delegation point."""
    name = owner
    while name != origin and len(name) > 1:
        name = name[name[0] + 1 :]
        if name in cuts:
            return True
    return False
