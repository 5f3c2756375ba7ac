"""Validating RRsets and zone keys against a chain of trust (RFC 4035 section 5).

The resolver finds the records; this module judges them. Two questions are
answered here, both without I/O:

* ``zone_keys``: given a zone's DNSKEY RRset, its RRSIGs and what vouches
  for it (the parent's validated DS RRset, or a trust anchor), which keys
  are trusted? The verdict is a ``ZoneKeys``: SECURE with the keys,
  INSECURE (every DS uses an algorithm or digest we cannot check,
  RFC 4035 5.2, RFC 8624), or a ``Bogus`` exception.
* ``validate_rrset``: is this RRset signed by one of a secure zone's keys,
  inside the signature's validity window? The answer is a ``Signed`` (how
  long the verdict holds, and the wildcard the RRset was expanded from, if
  any) or a ``Bogus`` exception whose class is the Extended DNS Error the
  client will see.

Every signature check is paid for from a ``ValidationWork`` meter, and at
most ``max_keys_per_tag`` keys are tried for one RRSIG, so a zone built to
make us verify thousands of key/signature pairs (KeyTrap) costs a few.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dns.edns
import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG
import dns.rrset

from dnssec.errors import (
    Bogus,
    BogusExpired,
    BogusNoKey,
    BogusNoSignatures,
    BogusNotYetValid,
    BogusUnsupportedAlgorithm,
)
from dnssec.signatures import (
    Dnskey,
    Ds,
    MalformedData,
    Rrsig,
    SignatureError,
    SignatureExpired,
    SignatureNotYetValid,
    UnsupportedAlgorithm,
    WireRRset,
    check_validity,
    key_refusal,
    supported_algorithm,
    supported_digest,
    unwrap_serial_time,
    verification_cost,
    verify_rrsig,
)
from dnssec.status import ExtendedError, Security
from dnssec.work import ValidationWork


@dataclass(frozen=True, slots=True)
class ZoneKeys:
    """What the chain of trust says about one zone.

    Attributes:
        zone: The zone apex.
        security: SECURE (``keys`` are trusted), INSECURE (nothing can be
            validated below here) or BOGUS (``error`` says why).
        keys: The trusted zone keys, for SECURE.
        entry_keys: Those of ``keys`` that the DS or trust anchor names: the
            keys the zone's own DNSKEY RRset must be signed with.
        ttl: Seconds the verdict may be kept.
        error: For BOGUS the reason; for INSECURE, why, when it is worth
            telling a client (an unsupported algorithm or digest).
    """

    zone: dns.name.Name
    security: Security
    keys: tuple[Dnskey, ...] = ()
    ttl: int = 0
    error: ExtendedError | None = None
    entry_keys: tuple[Dnskey, ...] = ()

    def for_rrset(self, rrset: dns.rrset.RRset) -> ZoneKeys:
        """The keys to check ``rrset`` with: the entry keys for the zone's DNSKEY RRset.

        Keys may share a key tag (KeyTrap zones make dozens do), and only a
        few are tried per RRSIG; the DNSKEY RRset is signed by the key the
        DS names, so that is the one to try.
        """
        if rrset.rdtype == dns.rdatatype.DNSKEY and rrset.name == self.zone and self.entry_keys:
            return ZoneKeys(self.zone, self.security, self.entry_keys, self.ttl, self.error)
        return self

    @classmethod
    def insecure(
        cls, zone: dns.name.Name, ttl: int, error: ExtendedError | None = None
    ) -> ZoneKeys:
        """A zone below which nothing is signed (or nothing we can check)."""
        return cls(zone, Security.INSECURE, ttl=ttl, error=error)

    @classmethod
    def bogus(cls, zone: dns.name.Name, ttl: int, failure: Bogus) -> ZoneKeys:
        """A zone whose keys cannot be trusted, and why."""
        return cls(zone, Security.BOGUS, ttl=ttl, error=failure.error())


@dataclass(frozen=True, slots=True)
class Signed:
    """A validated RRset.

    Attributes:
        ttl: The TTL it may be given: capped at the RRSIG's original TTL and
            at the seconds left before the signature expires.
        wildcard: The wildcard name the RRset was synthesised from, if any;
            the caller must then prove the name asked for does not exist.
    """

    ttl: int
    wildcard: dns.name.Name | None = None


def describe(rrset: dns.rrset.RRset) -> str:
    """``owner TYPE``, as error messages name an RRset."""
    return f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}"


def decoded_rrsig(rdata: dns.rdtypes.ANY.RRSIG.RRSIG) -> Rrsig:
    """``Rrsig.from_wire(rdata.to_digestable())``, from the fields dnspython decoded.

    Rendering the RDATA to parse it again cost a tenth of validating one
    RRset (dnspython writes the signer through a ``Name`` per label).
    """
    return Rrsig(
        int(rdata.type_covered),
        int(rdata.algorithm),
        rdata.labels,
        rdata.original_ttl,
        rdata.expiration,
        rdata.inception,
        rdata.key_tag,
        rdata.signer.to_digestable(),
        rdata.signature,
    )


def wire_rrset(rrset: dns.rrset.RRset) -> WireRRset:
    """The canonical form a signature covers (RFC 4034 section 6)."""
    return WireRRset(
        owner=rrset.name.to_digestable(),
        rdtype=rrset.rdtype,
        rdclass=rrset.rdclass,
        ttl=rrset.ttl,
        rdatas=tuple(rdata.to_digestable() for rdata in rrset),
    )


@dataclass(frozen=True, slots=True)
class _Subject:
    """``zone: owner TYPE``, as errors name the RRset validated; spelt only if one is raised.

    Made eagerly, the text cost a name's ``to_text`` on every validation,
    about a twentieth of one cold answer's CPU.
    """

    zone: dns.name.Name
    rrset: dns.rrset.RRset

    def __str__(self) -> str:
        return f"{self.zone}: {describe(self.rrset)}"


def validate_rrset(
    rrset: dns.rrset.RRset,
    rrsigs: dns.rrset.RRset | None,
    keys: ZoneKeys,
    now: int,
    work: ValidationWork,
) -> Signed:
    """Check that one RRSIG over ``rrset`` by a trusted key of ``keys.zone`` verifies.

    ``keys`` must be SECURE. One good signature is enough (RFC 4035 5.3.3);
    when none is, the error is the most telling one: expired (7) or not yet
    valid (8) if a signature was otherwise usable, unsupported algorithm
    (1) if every RRSIG uses one, no key (9) if no RRSIG names a trusted
    key, bogus (6) otherwise.

    Raises:
        BogusNoSignatures: no RRSIG covers the RRset.
        BogusExpired, BogusNotYetValid, BogusNoKey, Bogus: no RRSIG verifies.
        ValidationWorkExceeded: the work meter ran out.
    """
    what = _Subject(keys.zone, rrset)
    signatures = [rdata for rdata in rrsigs or () if rdata.type_covered == rrset.rdtype]
    if not signatures:
        raise BogusNoSignatures(f"{what} has no RRSIG")
    zone = keys.zone.to_digestable()
    covered = wire_rrset(rrset)
    by_tag: dict[tuple[int, int], list[Dnskey]] = {}
    for key in keys.keys:
        by_tag.setdefault((key.tag, key.algorithm), []).append(key)
    failures: list[SignatureError] = []
    for rdata in signatures:
        try:
            rrsig = decoded_rrsig(rdata)
        except MalformedData as error:
            failures.append(error)
            continue
        candidates = by_tag.get((rrsig.key_tag, rrsig.algorithm), [])
        if not supported_algorithm(rrsig.algorithm):
            failures.append(UnsupportedAlgorithm(f"algorithm {rrsig.algorithm} is not supported"))
        if not candidates or rrsig.signer.lower() != zone:
            continue
        try:
            check_validity(rrsig, now)
        except SignatureError as error:
            failures.append(error)
            continue
        for key in candidates[: work.limits.max_keys_per_tag]:
            try:
                # A refused key (UnsupportedKey) fails here, before any arithmetic.
                work.spend_signature(what, verification_cost(key))
                verify_rrsig(rrsig, covered, key, zone, now)
            except SignatureError as error:
                failures.append(error)
                continue
            return Signed(_capped_ttl(rrset.ttl, rrsig, now), _wildcard(rrset.name, rrsig))
    raise _explain(what, failures)


def zone_keys(
    zone: dns.name.Name,
    dnskeys: dns.rrset.RRset | None,
    rrsigs: dns.rrset.RRset | None,
    vouchers: Iterable[dns.rrset.RRset],
    now: int,
    work: ValidationWork,
) -> ZoneKeys:
    """Decide which of ``zone``'s keys are trusted.

    ``vouchers`` are what vouches for the keys: the validated DS RRset from
    the parent, or trust-anchor RRsets (DS or DNSKEY) for the zone. The
    DNSKEY RRset must be signed by a key a voucher names (RFC 4035 5.2);
    then every zone key in it with a supported algorithm and no REVOKE bit
    is trusted.

    Returns:
        SECURE keys; or INSECURE when no voucher uses an algorithm and
        digest we support (EDE 1 or 2 says which).

    Raises:
        BogusNoKey: no DNSKEY RRset, or no key in it matches a voucher.
        Bogus (or a subclass): a DS or DNSKEY is malformed, or the DNSKEY
            RRset's signature does not verify.
        ValidationWorkExceeded: the work meter ran out.
    """
    try:
        ds_records, key_anchors, unsupported = usable_vouchers(vouchers)
    except MalformedData as error:
        raise Bogus(f"{zone}: DS: {error}") from None
    ttl = dnskeys.ttl if dnskeys is not None else 0
    if not ds_records and not key_anchors:
        return ZoneKeys.insecure(zone, ttl, unsupported)
    if dnskeys is None or not len(dnskeys):
        raise BogusNoKey(f"{zone}: no DNSKEY RRset, but {zone} is signed")
    owner = zone.to_digestable()
    try:
        published = [Dnskey.from_wire(rdata.to_digestable()) for rdata in dnskeys]
    except MalformedData as error:
        raise Bogus(f"{zone}: DNSKEY: {error}") from None
    vouched = [
        key
        for key in published
        if key.to_wire() in key_anchors or any(ds.matches(owner, key) for ds in ds_records)
    ]
    if not vouched:
        tags = ", ".join(sorted({str(ds.key_tag) for ds in ds_records})) or "anchored keys"
        raise BogusNoKey(f"{zone}: no DNSKEY matches the DS or trust anchor ({tags})")
    refused = _refused_entry(zone, vouched, ds_records, key_anchors)
    if refused is not None:
        return ZoneKeys.insecure(zone, ttl, refused)
    vouching = ZoneKeys(zone, Security.SECURE, tuple(vouched))
    signed = validate_rrset(dnskeys, rrsigs, vouching, now, work)
    # A revoked key only proves its own revocation (RFC 5011 2.1; Knot's
    # kr_dnskeys_trusted skips it too): it signs nothing else for us.
    trusted = tuple(
        key
        for key in published
        if key.is_zone_key and not key.is_revoked and key_refusal(key) is None
    )
    return ZoneKeys(zone, Security.SECURE, trusted, ttl=signed.ttl, entry_keys=tuple(vouched))


def _refused_entry(
    zone: dns.name.Name, vouched: Sequence[Dnskey], ds_records: Sequence[Ds], anchors: set[bytes]
) -> ExtendedError | None:
    """EDE 1 when every DS and anchor names a published key we refuse to check with.

    Such keys (RSA beyond the size bounds of ``dnssec.signatures``) count as
    an unsupported algorithm, and a zone whose DS RRset names only those is
    insecure (RFC 4035 5.2) rather than bogus or a CPU sink. Every voucher
    must find its key: if one names a key that is absent, a usable key may
    have been stripped in transit, and the zone stays signed (an attacker
    must not be able to make it insecure).
    """
    owner = zone.to_digestable()
    refusals = [key_refusal(key) for key in vouched]
    if not all(refusals) or not anchors <= {key.to_wire() for key in vouched}:
        return None
    if not all(any(ds.matches(owner, key) for key in vouched) for ds in ds_records):
        return None
    return ExtendedError(
        dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM,
        f"{zone}: DNSKEY {vouched[0].tag}: {refusals[0]}",
    )


def usable_vouchers(
    vouchers: Iterable[dns.rrset.RRset],
) -> tuple[list[Ds], set[bytes], ExtendedError | None]:
    """Split vouchers into DS records and anchored DNSKEY RDATA we can use.

    Also returns, when some were set aside, the EDE that says why: an
    unsupported DNSKEY algorithm (1) or DS digest type (2). Neither list
    filled means the zone is insecure (``zone_keys``); ``dnssec.anchors``
    asks the same of each trust anchor when it is read, to warn about it.

    Raises:
        MalformedData: a DS record is malformed.
    """
    ds_records: list[Ds] = []
    key_anchors: set[bytes] = set()
    unsupported: ExtendedError | None = None
    for rrset in vouchers:
        for rdata in rrset:
            wire = rdata.to_digestable()
            if rrset.rdtype == dns.rdatatype.DNSKEY:
                if supported_algorithm(wire[3] if len(wire) > 3 else 0):
                    key_anchors.add(wire)
                continue
            ds = Ds.from_wire(wire)
            if not supported_algorithm(ds.algorithm):
                unsupported = ExtendedError(
                    dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM,
                    f"{rrset.name}: DS algorithm {ds.algorithm} is not supported",
                )
            elif not supported_digest(ds.digest_type):
                unsupported = ExtendedError(
                    dns.edns.EDECode.UNSUPPORTED_DS_DIGEST_TYPE,
                    f"{rrset.name}: DS digest type {ds.digest_type} is not supported",
                )
            else:
                ds_records.append(ds)
    return ds_records, key_anchors, unsupported


def _explain(what: object, failures: Sequence[SignatureError]) -> Bogus:
    """The most telling reason no RRSIG verified."""
    timing: tuple[tuple[type[SignatureError], type[Bogus]], ...] = (
        (SignatureExpired, BogusExpired),
        (SignatureNotYetValid, BogusNotYetValid),
    )
    for kind, verdict in timing:
        reason = next((f for f in failures if isinstance(f, kind)), None)
        if reason is not None:
            return verdict(f"{what}: {reason}")
    if not failures:
        return BogusNoKey(f"{what}: no RRSIG by a trusted key of the zone")
    usable = [f for f in failures if not isinstance(f, UnsupportedAlgorithm)]
    if not usable:
        return BogusUnsupportedAlgorithm(f"{what}: signed only with {failures[-1]}")
    return Bogus(f"{what}: {usable[-1]}")


def _capped_ttl(ttl: int, rrsig: Rrsig, now: int) -> int:
    """``ttl`` capped at the original TTL and at the seconds until expiration."""
    left = unwrap_serial_time(rrsig.expiration, now) - now
    return max(0, min(ttl, rrsig.original_ttl, left))


def _wildcard(owner: dns.name.Name, rrsig: Rrsig) -> dns.name.Name | None:
    """The wildcard ``owner`` was expanded from, if the RRSIG says it was (RFC 4035 5.3.2)."""
    labels = len(owner) - 1  # without the root label
    if rrsig.labels >= labels or owner.labels[0] == b"*":
        return None
    return dns.name.Name((b"*", *owner.labels[labels - rrsig.labels :]))
