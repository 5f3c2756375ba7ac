"""RFC 5011 automated updates of trust anchors: the state machine, without I/O.

Why: the root KSK rolls (2018, and KSK-2024 is the next one); a resolver
started with a static anchor goes bogus for everything the day the old key
stops signing. RFC 5011 lets the zone itself announce its next key: a new
key signed into the DNSKEY RRset by a key we trust becomes trusted after it
has been seen, at every refresh, for the *add hold-down* (30 days), so that
an attacker who stole a key briefly cannot plant one of their own; a key
that signs the RRset with its REVOKE bit set is distrusted at once, for
good.

``refresh`` takes a ``TrustPoint`` (the managed keys of one zone and their
states), the DNSKEY RRset fetched for the zone and its RRSIGs, and the
time; it returns the new trust point. It follows Unbound's
``validator/autotrust.c`` event by event (``anchor_state_update``):

=========  ====================  =========================================
state      event                 next
=========  ====================  =========================================
Start      NewKey (seen)         AddPend, hold-down starts
AddPend    KeyRem (not seen)     Start: the hold-down starts again later
AddPend    AddTime               Valid, once the hold-down passed *and* it
                                 was seen at least ``MIN_PENDING`` times
Valid      KeyRem                Missing (still trusted)
Missing    KeyPres               Valid
Valid,     RevBit (self-signed)  Revoked: never trusted again
Missing
Revoked    RemTime (not seen     Removed
           for the hold-down)
=========  ====================  =========================================

Nothing is learnt from a DNSKEY RRset that does not validate with the keys
trusted now (Valid or Missing, or the DS the state file was bootstrapped
from): ``refresh`` checks the signature itself, so even a caller that handed
it unvalidated data could not make a key trusted. The one exception is
revocation, which needs no other trust: only the key's owner can sign the
RRset with the revoked key (Unbound ``check_contains_revoked`` does it
first, for that reason). A trust point whose keys are all revoked has no
anchor any more (RFC 5011 section 5, trust point deletion).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnssec.errors import Bogus, HoldfastError
from dnssec.signatures import (
    REVOKE_FLAG,
    Dnskey,
    MalformedData,
    Rrsig,
    supported_algorithm,
    unwrap_serial_time,
)
from dnssec.status import Security
from dnssec.validator import ZoneKeys, validate_rrset, zone_keys
from dnssec.work import ValidationWork, WorkLimits

HOUR = 3600
DAY = 86_400
#: RFC 5011 section 2.4.1: at least 30 days (or the RRset's TTL if longer).
ADD_HOLDDOWN = 30 * DAY
#: RFC 5011 section 2.4.2: a revoked key is forgotten 30 days after it is gone.
REMOVE_HOLDDOWN = 30 * DAY
#: Sightings a pending key needs before it is trusted (Unbound MIN_PENDINGCOUNT):
#: one lucky answer at the end of the hold-down is not "seen throughout".
MIN_PENDING = 2
#: DNSKEY flag SEP (RFC 4034 2.1.1); REVOKE is ``dnssec.signatures.REVOKE_FLAG``.
SEP = 0x0001


class KeyState(enum.Enum):
    """RFC 5011 section 4 key states (Unbound writes the same names)."""

    START = "START"
    ADDPEND = "ADDPEND"
    VALID = "VALID"
    MISSING = "MISSING"
    REVOKED = "REVOKED"
    REMOVED = "REMOVED"


#: States whose keys are trust anchors.
TRUSTED = frozenset({KeyState.VALID, KeyState.MISSING})


class NotValidated(HoldfastError):
    """The DNSKEY RRset did not validate with the keys trusted now; nothing was learnt.

    ``point`` is the trust point to keep: retried later, with any
    self-signed revocation the RRset proved.
    """

    def __init__(self, message: str, point: TrustPoint) -> None:
        super().__init__(message)
        self.point = point


@dataclass(frozen=True, slots=True)
class ManagedKey:
    """One key of a trust point and where it stands.

    Attributes:
        rdtype: DNSKEY, or DS for an anchor the file was bootstrapped from
            (it turns into the DNSKEY it names at the first refresh).
        rdata: Wire RDATA; a revoked DNSKEY keeps its REVOKE bit.
        state: Its RFC 5011 state.
        changed: When it entered ``state`` (POSIX seconds; 0 for an anchor
            configured by hand and never refreshed).
        ttl: The TTL of the first DNSKEY RRset it was seen in (the add
            hold-down is at least that long).
        count: Sightings while pending.
    """

    rdtype: dns.rdatatype.RdataType
    rdata: bytes
    state: KeyState
    changed: int = 0
    ttl: int = 0
    count: int = 0

    @property
    def identity(self) -> bytes:
        """What identifies the key whatever its REVOKE bit (Unbound dnskey_compare_skip_revbit)."""
        return identity(self.rdtype, self.rdata)

    @property
    def tag(self) -> int:
        """The key tag as the key is now (a revoked key's tag differs by 128)."""
        if self.rdtype == dns.rdatatype.DS:
            return int.from_bytes(self.rdata[:2])
        return Dnskey.from_wire(self.rdata).tag

    def to_rdata(self) -> dns.rdata.Rdata:
        return dns.rdata.from_wire(dns.rdataclass.IN, self.rdtype, self.rdata, 0, len(self.rdata))


def identity(rdtype: int, rdata: bytes) -> bytes:
    """``rdata`` with the REVOKE bit cleared, if it is a DNSKEY."""
    if rdtype != dns.rdatatype.DNSKEY or len(rdata) < 2:
        return rdata
    flags = int.from_bytes(rdata[:2]) & ~REVOKE_FLAG
    return flags.to_bytes(2) + rdata[2:]


@dataclass(frozen=True, slots=True)
class TrustPoint:
    """The managed keys of one zone and its refresh timers (Unbound's ``;;`` header)."""

    zone: dns.name.Name
    keys: tuple[ManagedKey, ...]
    last_queried: int = 0
    last_success: int = 0
    #: When to refresh next; 0: at once.
    next_probe: int = 0
    #: Refreshes that failed since the last success.
    query_failed: int = 0
    #: RFC 5011 2.3 active refresh, and the retry after a failure, seconds.
    query_interval: int = HOUR
    retry_time: int = HOUR

    def trusted(self) -> tuple[ManagedKey, ...]:
        """The keys that are trust anchors now."""
        return tuple(key for key in self.keys if key.state in TRUSTED)

    def anchor_rrsets(self) -> list[dns.rrset.RRset]:
        """The trusted keys as DS and DNSKEY RRsets, as ``TrustAnchors`` holds them.

        Empty when every key is revoked or removed: the trust point is deleted
        (RFC 5011 section 5) and the zone falls to what is above it.
        """
        rrsets = []
        for rdtype in (dns.rdatatype.DS, dns.rdatatype.DNSKEY):
            rdatas = [key.to_rdata() for key in self.trusted() if key.rdtype == rdtype]
            if rdatas:
                rrsets.append(dns.rrset.from_rdata_list(self.zone, HOUR, rdatas))
        return rrsets


@dataclass(frozen=True, slots=True)
class Change:
    """One key's move, for the log."""

    tag: int
    before: KeyState | None
    after: KeyState

    def __str__(self) -> str:
        before = "new" if self.before is None else self.before.value
        return f"key {self.tag}: {before} -> {self.after.value}"


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What one refresh made of a trust point."""

    point: TrustPoint
    changes: tuple[Change, ...]

    @property
    def trust_changed(self) -> bool:
        """Whether the set of trusted keys differs (the validator must be told)."""
        return any((c.before in TRUSTED) != (c.after in TRUSTED) for c in self.changes)


def refresh_times(original_ttl: int, seconds_to_expiry: int) -> tuple[int, int]:
    """RFC 5011 2.3: the active refresh interval and the retry time after a failure.

    refresh = max(1 hour, min(15 days, TTL/2, expiry/2));
    retry   = max(1 hour, min(1 day, TTL/10, expiry/10)) (Unbound set_tp_times).
    """
    interval = max(HOUR, min(15 * DAY, original_ttl // 2, seconds_to_expiry // 2))
    retry = max(HOUR, min(DAY, original_ttl // 10, seconds_to_expiry // 10))
    return interval, retry


def failed(point: TrustPoint, now: int) -> TrustPoint:
    """The trust point after a refresh that got no validated DNSKEY RRset: retry later."""
    return replace(
        point,
        last_queried=now,
        query_failed=point.query_failed + 1,
        next_probe=now + point.retry_time,
    )


def refresh(
    point: TrustPoint,
    dnskeys: dns.rrset.RRset,
    rrsigs: dns.rrset.RRset | None,
    now: int,
    limits: WorkLimits | None = None,
) -> Refreshed:
    """Feed one DNSKEY RRset of ``point.zone`` (and its RRSIGs) seen at ``now``.

    Raises:
        NotValidated: the RRset is not the zone's, or does not validate with
            the keys trusted now (after any self-signed revocation in it).
            Call ``failed`` then; revocations it proved are in ``error.point``.
    """
    work = ValidationWork(limits or WorkLimits())
    if dnskeys.name != point.zone or dnskeys.rdtype != dns.rdatatype.DNSKEY:
        raise _not_validated(point, point.keys, now, f"{point.zone}: not its DNSKEY RRset")
    published = _published(point.zone, dnskeys)
    keys = list(point.keys)
    changes: list[Change] = []
    # 1. Revocations first: they need no trust but the key's own signature.
    for index, key in enumerate(keys):
        revoked = published.get(key.identity)
        if revoked is None or key.state not in TRUSTED or not revoked.flags & REVOKE_FLAG:
            continue
        if _self_signed(point.zone, dnskeys, rrsigs, revoked, now, work):
            keys[index] = _moved(key, KeyState.REVOKED, now, changes, rdata=revoked.to_wire())
    # 2. Then the RRset must validate with what is still trusted.
    vouchers = replace(point, keys=tuple(keys)).anchor_rrsets()
    if not vouchers:
        raise _not_validated(point, keys, now, f"{point.zone}: no trusted key is left")
    try:
        verdict = zone_keys(point.zone, dnskeys, rrsigs, vouchers, now, work)
    except Bogus as error:
        raise _not_validated(point, keys, now, str(error)) from None
    if verdict.security is not Security.SECURE:
        raise _not_validated(point, keys, now, f"{point.zone}: keys not supported")
    ds_vouched = {k.to_wire() for k in verdict.entry_keys}
    # 3. Events for every managed key, and new keys (Unbound update_events).
    seen = {ident for ident, key in published.items() if not key.flags & REVOKE_FLAG}
    known = {key.identity for key in keys}
    for index, key in enumerate(keys):
        if key.rdtype == dns.rdatatype.DNSKEY:
            keys[index] = _event(key, key.identity in seen, key.identity in published, now, changes)
    for ident, dnskey in published.items():
        if ident in known or ident not in seen:
            continue
        wire = dnskey.to_wire()
        # A key the DS the file was bootstrapped from names is trusted at once
        # (Unbound key_matches_a_ds); any other waits out the hold-down.
        from_ds = wire in ds_vouched and any(k.rdtype == dns.rdatatype.DS for k in keys)
        state = KeyState.VALID if from_ds else KeyState.ADDPEND
        keys.append(ManagedKey(dns.rdatatype.DNSKEY, wire, state, now, dnskeys.ttl, 1))
        changes.append(Change(dnskey.tag, None, state))
    if any(k.rdtype == dns.rdatatype.DNSKEY and k.state is KeyState.VALID for k in keys):
        keys = [k for k in keys if k.rdtype != dns.rdatatype.DS]  # bootstrapped: done with it
    interval, retry = refresh_times(*_signature_times(rrsigs, dnskeys.ttl, now))
    new = replace(
        point,
        keys=tuple(keys),
        last_queried=now,
        last_success=now,
        query_failed=0,
        query_interval=interval,
        retry_time=retry,
        next_probe=now + interval,
    )
    return Refreshed(new, tuple(changes))


def _event(
    key: ManagedKey, seen: bool, present: bool, now: int, changes: list[Change]
) -> ManagedKey:
    """One managed DNSKEY's transition: ``seen`` unrevoked, or ``present`` in any form.

    A revoked key's remove hold-down counts from when it was last present,
    revoked or not (Unbound ``anchor_state_update``: REVOKED resets it while
    fetched).
    """
    match key.state:
        case KeyState.START if seen:
            return replace(_moved(key, KeyState.ADDPEND, now, changes), count=1)
        case KeyState.ADDPEND if not seen:
            return replace(_moved(key, KeyState.START, now, changes), count=0)
        case KeyState.ADDPEND:
            key = replace(key, count=key.count + 1)
            holddown = max(ADD_HOLDDOWN, key.ttl)
            if now - key.changed >= holddown and key.count >= MIN_PENDING:
                return replace(_moved(key, KeyState.VALID, now, changes), count=0)
            return key
        case KeyState.VALID if not seen:
            return _moved(key, KeyState.MISSING, now, changes)
        case KeyState.MISSING if seen:
            return _moved(key, KeyState.VALID, now, changes)
        case KeyState.REVOKED if present:
            return replace(key, changed=now)
        case KeyState.REVOKED if now - key.changed >= REMOVE_HOLDDOWN:
            return _moved(key, KeyState.REMOVED, now, changes)
    return key


def _moved(
    key: ManagedKey, state: KeyState, now: int, changes: list[Change], *, rdata: bytes | None = None
) -> ManagedKey:
    moved = replace(key, state=state, changed=now, rdata=key.rdata if rdata is None else rdata)
    changes.append(Change(moved.tag, key.state, state))
    return moved


def _not_validated(
    point: TrustPoint, keys: Sequence[ManagedKey], now: int, reason: str
) -> NotValidated:
    return NotValidated(reason, failed(replace(point, keys=tuple(keys)), now))


def _published(zone: dns.name.Name, dnskeys: Iterable[dns.rdata.Rdata]) -> dict[bytes, Dnskey]:
    """The zone's SEP keys with a supported algorithm, by identity (Unbound update_events)."""
    keys: dict[bytes, Dnskey] = {}
    for rdata in dnskeys:
        try:
            key = Dnskey.from_wire(rdata.to_digestable())
        except MalformedData:
            continue
        if key.is_zone_key and key.flags & SEP and supported_algorithm(key.algorithm):
            keys[identity(dns.rdatatype.DNSKEY, key.to_wire())] = key
    return keys


def _self_signed(
    zone: dns.name.Name,
    dnskeys: dns.rrset.RRset,
    rrsigs: dns.rrset.RRset | None,
    key: Dnskey,
    now: int,
    work: ValidationWork,
) -> bool:
    """Whether ``key`` (as published, REVOKE bit and its tag included) signed the RRset."""
    try:
        validate_rrset(dnskeys, rrsigs, ZoneKeys(zone, Security.SECURE, (key,)), now, work)
    except Bogus:
        return False
    return True


def _signature_times(rrsigs: dns.rrset.RRset | None, ttl: int, now: int) -> tuple[int, int]:
    """The DNSKEY RRset's original TTL and the seconds until its first RRSIG expires."""
    parsed = []
    for rdata in rrsigs or ():
        try:
            parsed.append(Rrsig.from_wire(rdata.to_digestable()))
        except MalformedData:
            continue
    covering = [r for r in parsed if r.type_covered == dns.rdatatype.DNSKEY]
    if not covering:
        return ttl, ttl
    original = max(r.original_ttl for r in covering)
    expiry = min(unwrap_serial_time(r.expiration, now) for r in covering) - now
    return original, max(0, expiry)
