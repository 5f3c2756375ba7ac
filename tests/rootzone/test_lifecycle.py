"""The local root's life: fresh, stale, retired at its first bound, disabled; never used past it."""

from __future__ import annotations

import json

import dns.name
import dns.rdatatype
import pytest

from dnssec.anchors import TrustAnchors
from resolver.clock import FakeClock
from rootzone.candidate import LoadPolicy, load_copy
from rootzone.lifecycle import (
    NO_COPY_RETRY,
    LifetimePolicy,
    LocalRoot,
    RootState,
    retirement,
)
from rootzone.model import RootCopy
from rootzone.zonefile import Record

HOUR = 3600
DAY = 86400


@pytest.fixture(scope="module")
def lab_copy(lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int) -> RootCopy:
    """The lab root, loaded: SOA refresh 7200, retry 3600, expire 14 days; signed for 14 days."""
    return load_copy(
        lab_records,
        source="lab root",
        size=100_000,
        anchors=lab_anchors,
        now=lab_now,
        policy=LoadPolicy(),
        current=None,
    )


@pytest.fixture
def wall(lab_now: int) -> FakeClock:
    return FakeClock(lab_now)


@pytest.fixture
def local_root(wall: FakeClock) -> LocalRoot:
    return LocalRoot(wall.wall)


def test_a_copy_just_loaded_is_fresh_and_answers(local_root: LocalRoot, lab_copy: RootCopy) -> None:
    assert local_root.state() is RootState.NONE
    assert local_root.answer(dns.name.from_text("com."), dns.rdatatype.NS) is None
    local_root.install(lab_copy)
    assert local_root.state() is RootState.FRESH
    reply = local_root.answer(dns.name.from_text("com."), dns.rdatatype.NS)
    assert reply is not None
    assert local_root.answered == 1


def test_stale_after_refresh_plus_retry_without_a_successful_refresh(
    local_root: LocalRoot, lab_copy: RootCopy, wall: FakeClock
) -> None:
    local_root.install(lab_copy)
    wall.advance(lab_copy.refresh + lab_copy.retry - 1)
    assert local_root.state() is RootState.FRESH
    local_root.reject("lab", "parse", "line 3: unknown type NEWTYPE")
    wall.advance(1)
    assert local_root.state() is RootState.STALE
    assert local_root.answer(dns.name.root, dns.rdatatype.SOA) is not None  # still used
    local_root.confirm()
    assert local_root.state() is RootState.FRESH


def test_retired_before_its_earliest_signature_expires(
    local_root: LocalRoot, lab_copy: RootCopy, wall: FakeClock
) -> None:
    withdrawn: list[bool] = []
    local_root.on_withdrawn = lambda: withdrawn.append(True)
    local_root.install(lab_copy)
    assert lab_copy.earliest_expiration is not None
    retire_at = lab_copy.earliest_expiration - HOUR
    # Successful refreshes all along: only the signatures bound the copy.
    while wall.wall() + lab_copy.refresh < retire_at:
        wall.advance(lab_copy.refresh)
        local_root.confirm()
    wall.now = retire_at - 1
    assert local_root.answer(dns.name.root, dns.rdatatype.SOA) is not None
    wall.now = retire_at
    assert local_root.answer(dns.name.root, dns.rdatatype.SOA) is None
    assert local_root.state() is RootState.RETIRED
    assert withdrawn == [True]
    local_root.confirm()  # a source that still has the same copy does not bring it back
    assert local_root.in_use() is None
    assert local_root.copy is None


def test_retirement_is_the_earliest_bound(lab_copy: RootCopy, lab_now: int) -> None:
    assert lab_copy.earliest_expiration is not None
    signatures = retirement(
        lab_copy, loaded_at=lab_now, refreshed_at=lab_now, policy=LifetimePolicy()
    )
    assert signatures.at == lab_copy.earliest_expiration - HOUR
    assert "signature" in signatures.reason
    expire = retirement(
        lab_copy, loaded_at=lab_now, refreshed_at=lab_now - 10 * DAY, policy=LifetimePolicy()
    )
    assert expire.at == lab_now - 10 * DAY + lab_copy.expire
    assert "SOA expire" in expire.reason
    aged = retirement(
        lab_copy, loaded_at=lab_now, refreshed_at=lab_now, policy=LifetimePolicy(max_age=DAY)
    )
    assert (aged.at, aged.reason) == (lab_now + DAY, f"max_age ({DAY} s)")


def test_a_copy_saved_long_ago_is_retired_by_soa_expire(
    local_root: LocalRoot, lab_copy: RootCopy, wall: FakeClock
) -> None:
    local_root.install(lab_copy, refreshed_at=wall.wall() - lab_copy.expire)
    assert local_root.in_use() is None
    assert local_root.state() is RootState.RETIRED


def test_disable_stops_every_answer_at_once_and_enable_resumes(
    local_root: LocalRoot, lab_copy: RootCopy
) -> None:
    withdrawn: list[bool] = []
    local_root.on_withdrawn = lambda: withdrawn.append(True)
    local_root.install(lab_copy)
    local_root.disable()
    assert local_root.answer(dns.name.root, dns.rdatatype.DNSKEY) is None
    assert local_root.state() is RootState.DISABLED
    assert withdrawn == [True]
    assert local_root.copy is lab_copy  # a candidate must still beat it
    local_root.enable()
    assert local_root.answer(dns.name.root, dns.rdatatype.DNSKEY) is not None


def test_a_refusal_keeps_the_copy_and_is_shown(
    local_root: LocalRoot, lab_copy: RootCopy
) -> None:
    local_root.install(lab_copy)
    local_root.reject("root.zone", "zonemd", "the SHA-384 digest does not match the zone")
    assert local_root.in_use() is not None
    status = local_root.status()
    assert json.loads(json.dumps(status)) == status
    assert status["state"] == "fresh"
    assert status["serial"] == lab_copy.serial
    assert status["last_rejection"] == {
        "at": status["last_refresh"],
        "source": "root.zone",
        "kind": "zonemd",
        "reason": "the SHA-384 digest does not match the zone",
    }
    assert status["rejections"] == {"zonemd": 1}


def test_next_check_follows_the_soa_timers(
    local_root: LocalRoot, lab_copy: RootCopy, wall: FakeClock
) -> None:
    start = wall.wall()
    assert local_root.next_check() == start + NO_COPY_RETRY
    local_root.install(lab_copy)
    assert local_root.next_check() == start + lab_copy.refresh
    wall.advance(lab_copy.refresh)
    local_root.reject("root.zone", "parse", "bad")
    assert local_root.next_check() == wall.wall() + lab_copy.retry
    # Never later than the moment the copy turns stale (so the alarm is on time).
    wall.advance(lab_copy.retry - 1)
    local_root.reject("root.zone", "parse", "bad")
    assert local_root.next_check() == start + lab_copy.refresh + lab_copy.retry
