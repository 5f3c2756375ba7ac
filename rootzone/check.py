"""Checking every signature of a zone and counting, rather than stopping at the first failure.

``holdfast rootzone check`` answers "how good is this copy, at this time?":
``verify_zone`` refuses a zone at its first fault, which is right before
serving it but says nothing about how much of it is broken. ``check_zone``
goes through the whole zone, with the building blocks of ``rootzone.verify``:

1. the apex DNSKEY RRset must be validated by a trust anchor
   (``trusted_keys``); if it is not, every signed RRset is bogus;
2. every RRset covered by an RRSIG is *secure* when one of its RRSIGs
   verifies with a zone key at the given time (RFC 4035 section 5.3, as a
   validator decides), otherwise *bogus*, with the reason;
3. every other RRset is *unsigned*: delegation NS RRsets and glue are so by
   design (``delegation_data``); anything else is authoritative data without
   an RRSIG, which a validator would also refuse, and is counted apart.

It also finds the earliest signature expiration, the moment the copy starts
to go bad. ZONEMD is not checked here, only its presence is reported: the
command's verdict comes from the loader's own checks (``rootzone.candidate``).

Nothing here prints or reads a clock: the time is a parameter and the result
a ``ZoneCheck``.
"""

from __future__ import annotations

import argparse
import datetime
from dataclasses import dataclass

from dnssec.anchors import TrustAnchors
from dnssec.signatures import (
    BogusSignature,
    MalformedData,
    Rrsig,
    SignatureError,
    SignatureExpired,
    SignatureNotYetValid,
    UnsupportedAlgorithm,
    unwrap_serial_time,
    utc_text,
)
from rootzone.verify import (
    RRSIG,
    ZONEMD,
    RRsetKey,
    SignatureFailure,
    TrustAnchorError,
    Zone,
    delegation_data,
    describe,
    keys_by_tag,
    name_text,
    trusted_keys,
    verify_rrsig_record,
)

#: Why an RRset is bogus, by the class of the failure (``BogusRRset.kind``).
_KINDS: tuple[tuple[type[SignatureError], str], ...] = (
    (SignatureExpired, "expired"),
    (SignatureNotYetValid, "not yet valid"),
    (UnsupportedAlgorithm, "unsupported algorithm"),
    (MalformedData, "malformed"),
    (BogusSignature, "bad signature"),
)
#: An RRSIG naming no key of the zone.
NO_KEY = "no such key"
#: An RRSIG covering an RRset that is not in the zone.
ORPHAN = "covers nothing"
#: Every signed RRset, when the apex DNSKEY RRset is not validated.
UNTRUSTED_APEX = "apex not validated"


@dataclass(frozen=True, slots=True)
class BogusRRset:
    """A signed RRset none of whose RRSIGs verifies."""

    #: ``owner TYPE (line N)``.
    rrset: str
    #: A short class of the failure: ``expired``, ``bad signature``, ...
    kind: str
    #: The full reason; it names the RRset too.
    reason: str


@dataclass(frozen=True, slots=True)
class Expiration:
    """The earliest RRSIG expiration in the zone."""

    #: POSIX seconds.
    at: int
    #: The first RRset (in zone order) with a signature expiring then.
    rrset: str
    #: How many RRsets have a signature expiring at that same moment.
    rrsets: int

    @property
    def iso(self) -> str:
        return utc_text(self.at)


@dataclass(frozen=True, slots=True)
class ZoneCheck:
    """What ``check_zone`` found, at ``at``."""

    origin: str
    serial: int
    at: int
    records: int
    #: RRsets other than RRSIGs.
    rrsets: int
    #: Signed RRsets of which an RRSIG verifies.
    secure: int
    #: Signed RRsets of which no RRSIG verifies (and RRSIGs covering nothing), in zone order.
    bogus: tuple[BogusRRset, ...]
    #: Delegation NS RRsets and glue: unsigned by design.
    unsigned_delegation: int
    #: Other RRsets without an RRSIG, in zone order.
    unsigned_authoritative: tuple[str, ...]
    #: Why the apex DNSKEY RRset is not validated by the anchors, or None if it is.
    anchor_failure: str | None
    earliest_expiration: Expiration | None
    zonemd_present: bool

    @property
    def ok(self) -> bool:
        """Nothing bogus (which includes an apex that the anchors do not validate)."""
        return self.anchor_failure is None and not self.bogus

    def to_json(self, examples: int = 5) -> dict[str, object]:
        """The figures, with the first ``examples`` bogus and unsigned RRsets."""
        expiration = self.earliest_expiration
        return {
            "origin": self.origin,
            "serial": self.serial,
            "at": utc_text(self.at),
            "records": self.records,
            "rrsets": self.rrsets,
            "secure": self.secure,
            "bogus": len(self.bogus),
            "unsigned_delegation": self.unsigned_delegation,
            "unsigned_authoritative": len(self.unsigned_authoritative),
            "apex_validated": self.anchor_failure is None,
            "anchor_failure": self.anchor_failure,
            "bogus_kinds": self.bogus_kinds(),
            "bogus_examples": [
                {"rrset": bogus.rrset, "kind": bogus.kind, "reason": bogus.reason}
                for bogus in self.bogus[:examples]
            ],
            "unsigned_authoritative_examples": list(self.unsigned_authoritative[:examples]),
            "earliest_expiration": None if expiration is None else expiration.iso,
            "earliest_expiration_rrset": None if expiration is None else expiration.rrset,
            "earliest_expiration_rrsets": 0 if expiration is None else expiration.rrsets,
            "zonemd_present": self.zonemd_present,
        }

    def bogus_kinds(self) -> dict[str, int]:
        """How many bogus RRsets of each kind, most frequent first."""
        counts: dict[str, int] = {}
        for bogus in self.bogus:
            counts[bogus.kind] = counts.get(bogus.kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def check_zone(zone: Zone, anchors: TrustAnchors, now: int) -> ZoneCheck:
    """Validate the apex keys, then every signed RRset of ``zone``, at ``now`` (POSIX seconds).

    Never raises for what it finds: failures are in the result.
    """
    anchor_failure: str | None = None
    try:
        by_tag = keys_by_tag(trusted_keys(zone, anchors, now))
    except TrustAnchorError as error:
        anchor_failure = str(error)
        by_tag = {}
    secure = 0
    bogus: list[BogusRRset] = []
    signed: set[RRsetKey] = set()
    for key, rrsigs in zone.rrsets.items():
        owner, rdtype, covers = key
        if rdtype != RRSIG:
            continue
        covered_key = (owner, covers, 0)
        covered = zone.rrsets.get(covered_key)
        if covered is None:
            reason = f"{zone.where(key)}: covers {describe(covered_key)}, which is not in the zone"
            bogus.append(BogusRRset(zone.where(key), ORPHAN, reason))
            continue
        signed.add(covered_key)
        if anchor_failure is not None:
            reason = f"{zone.where(covered_key)}: the apex DNSKEY RRset is not validated"
            bogus.append(BogusRRset(zone.where(covered_key), UNTRUSTED_APEX, reason))
            continue
        failures: list[SignatureFailure] = []
        for rdata in rrsigs.rdatas:
            try:
                verify_rrsig_record(zone, covered_key, covered, rdata, by_tag, now)
            except SignatureFailure as error:
                failures.append(error)
                continue
            secure += 1
            break
        else:
            reason = "; ".join(str(failure) for failure in failures)
            bogus.append(BogusRRset(zone.where(covered_key), _kind(failures[0]), reason))
    delegation = delegation_data(zone)
    unsigned = [
        zone.where(key)
        for key in zone.rrsets
        if key[1] != RRSIG and key not in signed and key not in delegation
    ]
    return ZoneCheck(
        origin=name_text(zone.origin),
        serial=zone.serial,
        at=now,
        records=zone.records,
        rrsets=sum(1 for key in zone.rrsets if key[1] != RRSIG),
        secure=secure,
        bogus=tuple(bogus),
        unsigned_delegation=sum(1 for key in delegation if key not in signed),
        unsigned_authoritative=tuple(unsigned),
        anchor_failure=anchor_failure,
        earliest_expiration=earliest_expiration(zone, now),
        zonemd_present=(zone.origin, ZONEMD, 0) in zone.rrsets,
    )


def earliest_expiration(zone: Zone, now: int) -> Expiration | None:
    """The earliest expiration of an RRSIG in ``zone``, or None if it has none.

    RRSIG times are 32-bit serials (RFC 4034 section 3.1.5); each is taken as
    the POSIX time nearest ``now``. RRSIGs that do not decode are skipped
    (``check_zone`` reports them as bogus).
    """
    earliest: int | None = None
    first: RRsetKey | None = None
    count = 0
    for key, rrsigs in zone.rrsets.items():
        if key[1] != RRSIG:
            continue
        times: set[int] = set()
        for rdata in rrsigs.rdatas:
            try:
                times.add(unwrap_serial_time(Rrsig.from_wire(rdata).expiration, now))
            except SignatureError:
                continue
        if not times:
            continue
        soonest = min(times)
        if earliest is None or soonest < earliest:
            earliest, first, count = soonest, key, 1
        elif soonest == earliest:
            count += 1
    if earliest is None or first is None:
        return None
    owner, _, covers = first
    covered_key = (owner, covers, 0)
    where = zone.where(covered_key if covered_key in zone.rrsets else first)
    return Expiration(earliest, where, count)


def validation_time(text: str) -> int:
    """POSIX seconds from ``1503360000`` or ``2017-08-22T00:00:00Z`` (naive means UTC).

    An ``argparse`` type for the rootzone commands' ``--at``.

    Raises:
        argparse.ArgumentTypeError: ``text`` is neither.
    """
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither ISO 8601 nor POSIX seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())


def _kind(failure: SignatureFailure) -> str:
    cause = failure.__cause__
    if cause is None:
        return NO_KEY
    for error_class, kind in _KINDS:
        if isinstance(cause, error_class):
            return kind
    return "other"

