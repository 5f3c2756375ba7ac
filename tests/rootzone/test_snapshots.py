"""The real root zones in ../shared: the loader against data nobody here wrote.

See ../shared/testdata/rootzone/README.md. The 2017 zone is complete and fully
signed; the 2023 and 2026 archives keep only the apex SOA and DNSKEY
signatures, so their SHA-384 ZONEMD digests (which cover the stripped RRSIGs)
do not match, and a full verification must refuse them. Every check runs at
an explicit time inside the signatures' windows (or just outside, on purpose).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable

import pytest

from bench.rootzone_load import KSK_2010 as KSK_2010_DS
from dnssec.anchors import TrustAnchors
from dnssec.signatures import Dnskey
from rootzone.check import check_zone
from rootzone.verify import (
    SignatureFailure,
    TrustAnchorError,
    UnsignedRRset,
    Zone,
    ZonemdFailure,
    ZonemdPolicy,
    ZonemdStatus,
    check_zonemd,
    trusted_keys,
    verify_signatures,
    verify_zone,
)
from rootzone.zonefile import Record, parse_zone
from tests.conftest import SHARED_ROOTZONE

pytestmark = pytest.mark.shared_data

Snapshot = Callable[[str], list[Record]]

KSK_2010 = TrustAnchors.from_text(KSK_2010_DS, source="KSK-2010")
#: The IANA anchors: KSK-2017 (20326) and KSK-2024 (38696).
IANA = TrustAnchors.builtin()
KSK_2017_DS = ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
KSK_2017 = TrustAnchors.from_text(KSK_2017_DS, source="KSK-2017")
#: Both KSKs the 2017 zone publishes.
KSK_2010_2017 = TrustAnchors.merge([KSK_2010, KSK_2017])


def _utc(*moment: int) -> int:
    return calendar.timegm((*moment, 0, 0, 0)[:6])


def test_2017_root_verifies_fully_with_ksk_2010(snapshot: Snapshot) -> None:
    result = verify_zone(snapshot("2017082100"), KSK_2010, _utc(2017, 8, 22))
    assert (result.serial, result.records) == (2017082100, 22772)
    assert result.rrsets_verified == result.signatures_verified == 2950
    assert result.zonemd.status is ZonemdStatus.ABSENT


def test_2017_root_without_zonemd_fails_verification_when_zonemd_is_required(
    snapshot: Snapshot,
) -> None:
    with pytest.raises(ZonemdFailure, match=r"no ZONEMD record at the apex \., and the policy"):
        verify_zone(snapshot("2017082100"), KSK_2010, _utc(2017, 8, 22), ZonemdPolicy.REQUIRE)


@pytest.mark.parametrize("serial", ["2017082100", "2023110401", "2023120700", "2026082200"])
def test_real_roots_have_no_duplicate_records(snapshot: Snapshot, serial: str) -> None:
    """So the loader's duplicates guardrail never refuses a real root."""
    zone = Zone(snapshot(serial))
    assert (zone.duplicates, zone.duplicated) == (0, [])


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


# ``holdfast rootzone check`` (rootzone/check.py) on the real zones.

#: The 2017 zone: 2,950 signed RRsets (2,949 by ZSK 15768, the DNSKEY RRset by
#: KSK 19036), and 9,653 delegation NS RRsets and glue.
SIGNED_2017, DELEGATION_2017 = 2950, 9653


@pytest.fixture(scope="module")
def zone_2017() -> Zone:
    """The 2017 zone, parsed and grouped once for this module (skips when absent)."""
    path = SHARED_ROOTZONE / "root-2017082100.zone"
    if not path.is_file():
        pytest.skip(f"{path.name} is not present in ../shared")
    return Zone(parse_zone(path.read_text(encoding="utf-8"), source=path.name))


def test_check_2017_with_ksk_2010_and_2017_finds_nothing_bogus(zone_2017: Zone) -> None:
    result = check_zone(zone_2017, KSK_2010_2017, _utc(2017, 8, 22))
    assert result.ok
    assert (result.secure, result.bogus) == (SIGNED_2017, ())
    assert (result.unsigned_delegation, result.unsigned_authoritative) == (DELEGATION_2017, ())
    assert result.rrsets == SIGNED_2017 + DELEGATION_2017
    expiration = result.earliest_expiration
    assert expiration is not None
    assert (expiration.iso, expiration.rrset, expiration.rrsets) == (
        "2017-09-03T05:00:00Z",
        ". SOA (line 1)",
        SIGNED_2017 - 1,
    )
    assert not result.zonemd_present


def test_check_2017_after_the_zsk_signatures_expired(zone_2017: Zone) -> None:
    """On 2017-09-05 every ZSK signature has expired; the KSK's over DNSKEY runs to 09-10."""
    result = check_zone(zone_2017, KSK_2010_2017, _utc(2017, 9, 5))
    assert not result.ok
    assert result.anchor_failure is None
    assert result.secure == 1
    assert result.bogus_kinds() == {"expired": SIGNED_2017 - 1}
    assert result.bogus[0].reason == (
        "RRSIG over . SOA (line 1) by key 15768: signature expired at 2017-09-03T05:00:00Z"
    )


def test_check_2017_once_the_dnskey_signature_expired_too(zone_2017: Zone) -> None:
    result = check_zone(zone_2017, KSK_2010_2017, _utc(2017, 9, 11))
    assert result.anchor_failure is not None
    assert "expired at 2017-09-10T00:00:00Z" in result.anchor_failure
    assert (result.secure, len(result.bogus)) == (0, SIGNED_2017)


def _flip(data: bytes, offset: int) -> bytes:
    """``data`` with the lowest bit of the octet at ``offset`` inverted."""
    return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1 :]


def _flip_key(records: list[Record], tag: int) -> list[Record]:
    """The records with one bit flipped in the public key of the DNSKEY ``tag``."""
    flipped = [
        record._replace(rdata=_flip(record.rdata, len(record.rdata) // 2))
        if record.rdtype == 48 and Dnskey.from_wire(record.rdata).tag == tag
        else record
        for record in records
    ]
    assert sum(a != b for a, b in zip(flipped, records, strict=True)) == 1
    return flipped


@pytest.mark.parametrize("serial", ["2026082200", "2026082201"])
def test_2026_apex_validates_with_ksk_2017_alone(snapshot: Snapshot, serial: str) -> None:
    result = check_zone(Zone(snapshot(serial)), KSK_2017, _utc(2026, 8, 25))
    assert result.ok
    assert result.secure == 2  # the apex SOA and DNSKEY: the archive dropped the others
    assert result.zonemd_present


@pytest.mark.parametrize("serial", ["2026082200", "2026082201"])
@pytest.mark.parametrize(
    ("flip", "reason"),
    [
        ("KSK", r"no DNSKEY of \. \(keys .*\) matches a trust anchor"),
        ("ZSK", r"\(20326\): key 20326: signature does not verify with key 20326"),
        ("anchor", r"no DNSKEY of \. \(keys .*\) matches a trust anchor"),
    ],
)
def test_2026_apex_fails_when_one_bit_of_a_key_flips(
    snapshot: Snapshot, serial: str, flip: str, reason: str
) -> None:
    records = snapshot(serial)
    anchors = KSK_2017
    if flip == "anchor":  # the last digest digit, D (1101), becomes C (1100)
        anchors = TrustAnchors.from_text(KSK_2017_DS.replace("8EC8D", "8EC8C"), source="flipped")
    else:
        records = _flip_key(records, 20326 if flip == "KSK" else 57780)  # ZSK 57780
    result = check_zone(Zone(records), anchors, _utc(2026, 8, 25))
    assert not result.ok
    assert result.anchor_failure is not None
    assert re.search(reason, result.anchor_failure), result.anchor_failure
    assert (result.secure, len(result.bogus)) == (0, 2)
