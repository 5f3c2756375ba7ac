"""The real root zones in ../shared: the loader against data nobody here wrote.

See ../shared/testdata/rootzone/README.md. The 2017 zone is complete and fully
signed; the 2023 and 2026 archives keep only the apex SOA and DNSKEY
signatures, so their SHA-384 ZONEMD digests (which cover the stripped RRSIGs)
do not match, and a full verification must refuse them. Every check runs at
an explicit time inside the signatures' windows.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable

import pytest

from bench.rootzone_load import KSK_2010 as KSK_2010_DS
from dnssec.anchors import TrustAnchors
from rootzone.verify import (
    SignatureFailure,
    TrustAnchorError,
    UnsignedRRset,
    Zone,
    ZonemdFailure,
    ZonemdStatus,
    check_zonemd,
    trusted_keys,
    verify_signatures,
    verify_zone,
)
from rootzone.zonefile import Record

pytestmark = pytest.mark.shared_data

Snapshot = Callable[[str], list[Record]]

KSK_2010 = TrustAnchors.from_text(KSK_2010_DS, source="KSK-2010")
#: The IANA anchors: KSK-2017 (20326) and KSK-2024 (38696).
IANA = TrustAnchors.builtin()


def _utc(*moment: int) -> int:
    return calendar.timegm((*moment, 0, 0, 0)[:6])


def test_2017_root_verifies_fully_with_ksk_2010(snapshot: Snapshot) -> None:
    result = verify_zone(snapshot("2017082100"), KSK_2010, _utc(2017, 8, 22))
    assert (result.serial, result.records) == (2017082100, 22772)
    assert result.rrsets_verified == result.signatures_verified == 2950
    assert result.zonemd.status is ZonemdStatus.ABSENT


def test_2017_root_fails_once_its_signatures_expire(snapshot: Snapshot) -> None:
    """ZSK signatures ran to 2017-09-03 05:00, the DNSKEY RRset's to 2017-09-10."""
    with pytest.raises(SignatureFailure, match="expired at 2017-09-03T05:00:00Z"):
        verify_zone(snapshot("2017082100"), KSK_2010, _utc(2017, 9, 4))
    with pytest.raises(TrustAnchorError, match="expired at 2017-09-10T00:00:00Z"):
        verify_zone(snapshot("2017082100"), KSK_2010, _utc(2017, 9, 11))


def test_2017_root_is_not_validated_by_the_current_anchors(snapshot: Snapshot) -> None:
    """KSK-2017 was published in 2017 but did not sign until October 2018."""
    with pytest.raises(TrustAnchorError, match=r"\(20326\): no RRSIG by one of them"):
        verify_zone(snapshot("2017082100"), IANA, _utc(2017, 8, 22))


@pytest.mark.parametrize(
    ("serial", "day"),
    [
        ("2023110401", (2023, 11, 5)),
        ("2023120700", (2023, 12, 8)),
        ("2026082200", (2026, 8, 23)),
        ("2026082201", (2026, 8, 23)),
    ],
)
def test_archived_apex_signatures_validate_with_ksk_2017(
    snapshot: Snapshot, serial: str, day: tuple[int, int, int]
) -> None:
    zone = Zone(snapshot(serial))
    now = _utc(*day)
    keys = trusted_keys(zone, IANA, now)
    count = verify_signatures(zone, keys, now)
    assert count.signatures == 2
    assert count.verified == {(b"\x00", 6, 0), (b"\x00", 48, 0)}
    with pytest.raises(UnsignedRRset, match=r"\. NS \(line 3\)"):
        verify_zone(snapshot(serial), IANA, now)


def test_2023110401_zonemd_with_hash_241_is_unverified_not_failed(snapshot: Snapshot) -> None:
    result = check_zonemd(Zone(snapshot("2023110401")))
    assert result.status is ZonemdStatus.UNVERIFIED
    assert "hash 241" in result.detail


@pytest.mark.parametrize("serial", ["2023120700", "2026082200", "2026082201"])
def test_stripped_archives_fail_their_sha384_zonemd(snapshot: Snapshot, serial: str) -> None:
    with pytest.raises(ZonemdFailure, match=r"\. ZONEMD \(line \d+\): the SHA-384 digest does not"):
        check_zonemd(Zone(snapshot(serial)))
