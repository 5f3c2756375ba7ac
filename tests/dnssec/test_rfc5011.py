"""The RFC 5011 state machine: each transition, the timers, and what must not happen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from dnssec.rfc5011 import (
    ADD_HOLDDOWN,
    DAY,
    HOUR,
    REMOVE_HOLDDOWN,
    KeyState,
    ManagedKey,
    NotValidated,
    TrustPoint,
    refresh,
    refresh_times,
)
from resolver.lab.rollover import revoked
from resolver.lab.signing import Window, ZoneKey, zone_key

ZONE = dns.name.from_text("ecdsa.org.")
OLD = zone_key(ZONE, 13)
NEW = zone_key(ZONE, 13, variant="rollover-2")
T0 = 1_700_000_000


def keyset(
    published: Sequence[ZoneKey], signers: Sequence[ZoneKey], now: int, ttl: int = 3600
) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    dnskeys = dns.rrset.from_rdata_list(ZONE, ttl, [key.dnskey for key in published])
    rrsigs = [r for key in signers for r in key.sign(dnskeys, Window.valid(now))]
    return dnskeys, dns.rrset.from_rdata_list(ZONE, ttl, rrsigs)


def managed(key: ZoneKey, state: KeyState, changed: int = 0) -> ManagedKey:
    return ManagedKey(dns.rdatatype.DNSKEY, key.dnskey.to_digestable(), state, changed)


def states(point: TrustPoint) -> dict[int, KeyState]:
    return {key.tag: key.state for key in point.keys}


def feed(point: TrustPoint, published: Sequence[ZoneKey], signers: Sequence[ZoneKey],
         now: int, ttl: int = 3600) -> TrustPoint:
    return refresh(point, *keyset(published, signers, now, ttl), now).point


START = TrustPoint(ZONE, (managed(OLD, KeyState.VALID),))


def test_a_new_key_is_pending_for_the_add_holddown_then_valid() -> None:
    point = feed(START, [OLD, NEW], [OLD], T0)
    assert states(point) == {OLD.tag: KeyState.VALID, NEW.tag: KeyState.ADDPEND}
    assert [r.name for r in point.anchor_rrsets()] == [ZONE]
    assert len(point.anchor_rrsets()[0]) == 1  # pending keys are no anchors
    for day in range(1, 30):
        point = feed(point, [OLD, NEW], [OLD], T0 + day * DAY)
        assert states(point)[NEW.tag] is KeyState.ADDPEND
    result = refresh(point, *keyset([OLD, NEW], [OLD], T0 + ADD_HOLDDOWN), T0 + ADD_HOLDDOWN)
    assert states(result.point)[NEW.tag] is KeyState.VALID
    assert result.trust_changed
    assert len(result.point.anchor_rrsets()[0]) == 2


def test_a_key_gone_at_one_refresh_starts_its_holddown_again() -> None:
    point = feed(START, [OLD, NEW], [OLD], T0)
    point = feed(point, [OLD], [OLD], T0 + DAY)
    assert states(point)[NEW.tag] is KeyState.START
    point = feed(point, [OLD, NEW], [OLD], T0 + ADD_HOLDDOWN)  # back: pending anew
    assert states(point)[NEW.tag] is KeyState.ADDPEND
    point = feed(point, [OLD, NEW], [OLD], T0 + ADD_HOLDDOWN + DAY)
    assert states(point)[NEW.tag] is KeyState.ADDPEND


def test_a_key_seen_only_once_does_not_become_valid() -> None:
    # Its only sighting before the hold-down ended is not counted: the refresh
    # after it is then the first, and one is not enough (Unbound MIN_PENDINGCOUNT).
    point = feed(START, [OLD, NEW], [OLD], T0)
    key = next(k for k in point.keys if k.tag == NEW.tag)
    assert key.count == 1
    point = replace(point, keys=tuple(
        replace(k, count=0) if k.tag == NEW.tag else k for k in point.keys))
    point = feed(point, [OLD, NEW], [OLD], T0 + ADD_HOLDDOWN + DAY)
    assert states(point)[NEW.tag] is KeyState.ADDPEND


def test_the_add_holddown_is_at_least_the_ttl() -> None:
    ttl = 40 * DAY
    point = feed(START, [OLD, NEW], [OLD], T0, ttl)
    point = feed(point, [OLD, NEW], [OLD], T0 + ADD_HOLDDOWN + DAY, ttl)
    assert states(point)[NEW.tag] is KeyState.ADDPEND
    point = feed(point, [OLD, NEW], [OLD], T0 + ttl, ttl)
    assert states(point)[NEW.tag] is KeyState.VALID


def test_an_unvalidated_rrset_teaches_nothing() -> None:
    dnskeys, rrsigs = keyset([OLD, NEW], [NEW], T0)  # signed only by the unknown key
    with pytest.raises(NotValidated) as raised:
        refresh(START, dnskeys, rrsigs, T0)
    kept = raised.value.point
    assert states(kept) == {OLD.tag: KeyState.VALID}
    assert kept.query_failed == 1
    assert kept.next_probe == T0 + kept.retry_time


def test_an_rrset_with_broken_signatures_teaches_nothing() -> None:
    dnskeys, _ = keyset([OLD, NEW], [OLD], T0)
    _, other = keyset([OLD], [OLD], T0)  # a signature over another RRset
    with pytest.raises(NotValidated):
        refresh(START, dnskeys, other, T0)


def test_a_valid_key_gone_is_missing_and_still_trusted_then_valid_again() -> None:
    both = TrustPoint(ZONE, (managed(OLD, KeyState.VALID), managed(NEW, KeyState.VALID)))
    point = feed(both, [NEW], [NEW], T0)
    assert states(point) == {OLD.tag: KeyState.MISSING, NEW.tag: KeyState.VALID}
    assert len(point.anchor_rrsets()[0]) == 2
    point = feed(point, [OLD, NEW], [NEW], T0 + DAY)
    assert states(point)[OLD.tag] is KeyState.VALID


def test_a_self_signed_revocation_revokes_for_good() -> None:
    both = TrustPoint(ZONE, (managed(OLD, KeyState.VALID), managed(NEW, KeyState.VALID)))
    gone = revoked(OLD)
    result = refresh(both, *keyset([gone, NEW], [gone, NEW], T0), T0)
    assert states(result.point) == {gone.tag: KeyState.REVOKED, NEW.tag: KeyState.VALID}
    assert gone.tag != OLD.tag
    assert result.trust_changed
    anchors = result.point.anchor_rrsets()
    assert {r.to_digestable() for r in anchors[0]} == {NEW.dnskey.to_digestable()}
    # Published again without the bit: it stays revoked.
    point = feed(result.point, [OLD, NEW], [NEW], T0 + DAY)
    assert states(point)[gone.tag] is KeyState.REVOKED


def test_a_revocation_not_signed_by_the_key_itself_is_ignored() -> None:
    both = TrustPoint(ZONE, (managed(OLD, KeyState.VALID), managed(NEW, KeyState.VALID)))
    point = feed(both, [revoked(OLD), NEW], [NEW], T0)
    assert states(point)[OLD.tag] is KeyState.MISSING  # not revoked, still trusted


def test_a_revoked_key_is_removed_after_the_remove_holddown() -> None:
    both = TrustPoint(ZONE, (managed(OLD, KeyState.VALID), managed(NEW, KeyState.VALID)))
    gone = revoked(OLD)
    point = feed(both, [gone, NEW], [gone, NEW], T0)
    point = feed(point, [NEW], [NEW], T0 + DAY)
    # Counted from when it was last published (T0), as Unbound does.
    point = feed(point, [NEW], [NEW], T0 + REMOVE_HOLDDOWN - HOUR)
    assert states(point)[gone.tag] is KeyState.REVOKED
    point = feed(point, [NEW], [NEW], T0 + REMOVE_HOLDDOWN)
    assert states(point)[gone.tag] is KeyState.REMOVED


def test_every_key_revoked_deletes_the_trust_point() -> None:
    gone = revoked(OLD)
    with pytest.raises(NotValidated) as raised:
        refresh(START, *keyset([gone], [gone], T0), T0)
    assert states(raised.value.point) == {gone.tag: KeyState.REVOKED}
    assert raised.value.point.anchor_rrsets() == []  # RFC 5011 section 5


def test_a_ds_bootstrap_becomes_the_key_it_names() -> None:
    ds = OLD.ds().to_digestable()
    point = TrustPoint(ZONE, (ManagedKey(dns.rdatatype.DS, ds, KeyState.VALID),))
    point = feed(point, [OLD, NEW], [OLD], T0)
    assert states(point) == {OLD.tag: KeyState.VALID, NEW.tag: KeyState.ADDPEND}
    assert all(key.rdtype == dns.rdatatype.DNSKEY for key in point.keys)


@pytest.mark.parametrize(
    ("ttl", "expiry", "interval", "retry"),
    [
        (3600, 14 * DAY, HOUR, HOUR),  # floors: 1 hour
        (2 * DAY, 14 * DAY, DAY, 4 * HOUR + 48 * 60),  # TTL/2, TTL/10
        (40 * DAY, 40 * DAY, 15 * DAY, DAY),  # ceilings: 15 days, 1 day
        (60 * DAY, 6 * DAY, 3 * DAY, 6 * DAY // 10),  # signature expiry/2
    ],
)
def test_refresh_timers_follow_rfc5011_2_3(
    ttl: int, expiry: int, interval: int, retry: int
) -> None:
    assert refresh_times(ttl, expiry) == (interval, retry)


def test_the_next_refresh_is_scheduled_from_the_ttl_and_signatures() -> None:
    point = feed(START, [OLD], [OLD], T0, ttl=2 * DAY)
    assert point.query_interval == DAY
    assert point.next_probe == T0 + DAY
    assert point.last_success == T0
