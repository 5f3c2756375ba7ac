"""Verifying the lab root: keys, every RRSIG, coverage and the ZONEMD policy.

The lab root is signed with RSA/SHA-256 and carries a SIMPLE/SHA-384 ZONEMD,
like the real root. Tampering is done on the parsed records, so each test
changes exactly one thing.
"""

from __future__ import annotations

import dns.dnssec
import dns.name
import dns.rdata
import dns.zone
import dns.zonetypes
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from dnssec.anchors import TrustAnchors
from dnssec.signatures import SignatureExpired
from rootzone.verify import (
    SignatureFailure,
    TrustAnchorError,
    UnsignedRRset,
    Zone,
    ZonemdFailure,
    ZonemdStatus,
    ZoneStructureError,
    check_zonemd,
    trusted_keys,
    verify_signatures,
    verify_zone,
    zone_digest,
)
from rootzone.zonefile import Record, parse_zone

ROOT = b"\x00"
COM = b"\x03com\x00"
DAY = 86400


def _rrsig_over(records: list[Record], owner: bytes, covered: int) -> int:
    """The index of the RRSIG over ``owner``/``covered``."""
    return next(
        index
        for index, record in enumerate(records)
        if (record.owner, record.rdtype, record.rdata[:2]) == (owner, 46, covered.to_bytes(2))
    )


def _with_zonemd(records: list[Record], *rdatas: bytes) -> list[Record]:
    """The records with the apex ZONEMD RRset replaced by ``rdatas``."""
    kept = [record for record in records if not (record.owner == ROOT and record.rdtype == 63)]
    return kept + [Record(ROOT, 63, 1, 3600, rdata, 0) for rdata in rdatas]


def _zonemd(serial: int, scheme: int, hash_algorithm: int, digest: bytes) -> bytes:
    return serial.to_bytes(4) + bytes((scheme, hash_algorithm)) + digest


def test_lab_root_verifies(
    lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int
) -> None:
    result = verify_zone(lab_records, lab_anchors, lab_now)
    assert (result.origin, result.serial, result.records) == (".", 2025010100, len(lab_records))
    assert result.signatures_verified == result.rrsets_verified == 11
    assert result.zonemd.status is ZonemdStatus.VERIFIED
    assert result.zonemd.detail == "the SIMPLE SHA-384 digest matches"
    assert result.to_json()["zonemd"] == "verified"


def test_a_dnskey_anchor_works_like_a_ds(
    lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int
) -> None:
    dnskey = next(record for record in lab_records if record.rdtype == 48)
    text = dns.rdata.from_wire("IN", "DNSKEY", dnskey.rdata, 0, len(dnskey.rdata)).to_text()
    anchors = TrustAnchors.from_text(f". DNSKEY {text}\n", source="dnskey anchor")
    assert verify_zone(lab_records, anchors, lab_now).signatures_verified == 11


def test_digest_is_dnspythons(lab_root_text: str, lab_records: list[Record]) -> None:
    reference = dns.zone.from_text(lab_root_text, origin=".", relativize=False)
    zone = Zone(lab_records)
    for hash_algorithm in (1, 2):
        algorithm = dns.zonetypes.DigestHashAlgorithm(hash_algorithm)
        assert zone_digest(zone, hash_algorithm) == reference.compute_digest(algorithm).digest


def test_a_changed_glue_address_fails_zonemd(
    lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int
) -> None:
    """Glue is not signed: only the digest notices."""
    glue = next(i for i, record in enumerate(lab_records) if record.rdtype == 1)
    changed = list(lab_records)
    changed[glue] = changed[glue]._replace(rdata=b"\xc0\x00\x02\x01")
    with pytest.raises(ZonemdFailure, match=r"\. ZONEMD \(line 11\): the SHA-384 digest does not"):
        verify_zone(changed, lab_anchors, lab_now)


def test_a_tampered_rrsig_fails_naming_its_rrset(
    lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int
) -> None:
    index = _rrsig_over(lab_records, COM, 43)
    tampered = list(lab_records)
    rdata = tampered[index].rdata
    tampered[index] = tampered[index]._replace(rdata=rdata[:-1] + bytes((rdata[-1] ^ 1,)))
    with pytest.raises(SignatureFailure, match=r"RRSIG over com\. DS \(line 17\) by key \d+: "):
        verify_zone(tampered, lab_anchors, lab_now)


def test_signatures_expire(
    lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int
) -> None:
    later = lab_now + 15 * DAY
    with pytest.raises(TrustAnchorError, match="signature expired"):
        verify_zone(lab_records, lab_anchors, later)
    zone = Zone(lab_records)
    keys = trusted_keys(zone, lab_anchors, lab_now)
    with pytest.raises(SignatureFailure, match="expired") as caught:
        verify_signatures(zone, keys, later)
    assert isinstance(caught.value.__cause__, SignatureExpired)


def test_signatures_are_not_valid_before_inception(
    lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int
) -> None:
    with pytest.raises(TrustAnchorError, match="not valid before"):
        verify_zone(lab_records, lab_anchors, lab_now - 2 * 3600)


@pytest.mark.parametrize(
    ("anchor", "message"),
    [
        (". DS 34915 8 2 " + "00" * 32, r"no DNSKEY of \. \(keys \d+\) matches a trust anchor"),
        (". DS 34915 8 3 " + "00" * 32, "DS digest type 3 is not supported"),
        ("com. DS 34915 8 2 " + "00" * 32, r"no trust anchor for the zone \."),
    ],
)
def test_anchors_that_do_not_fit(
    lab_records: list[Record], lab_now: int, anchor: str, message: str
) -> None:
    anchors = TrustAnchors.from_text(anchor + "\n", source="anchor")
    with pytest.raises(TrustAnchorError, match=message):
        verify_zone(lab_records, anchors, lab_now)


def test_a_missing_rrsig_leaves_an_unsigned_rrset(
    lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int
) -> None:
    stripped = list(lab_records)
    del stripped[_rrsig_over(lab_records, COM, 47)]
    with pytest.raises(UnsignedRRset, match=r"com\. NSEC \(line 19\) is authoritative data"):
        verify_zone(stripped, lab_anchors, lab_now)


def test_an_rrsig_without_its_rrset_fails(
    lab_records: list[Record], lab_anchors: TrustAnchors, lab_now: int
) -> None:
    without_ds = [r for r in lab_records if not (r.owner == COM and r.rdtype == 43)]
    with pytest.raises(SignatureFailure, match=r"com\. RRSIG\(DS\) .* covers com\. DS, which"):
        verify_zone(without_ds, lab_anchors, lab_now)


def test_zonemd_policy(lab_records: list[Record]) -> None:
    zone = Zone(lab_records)
    sha384 = zone_digest(zone, 1)
    sha512 = zone_digest(zone, 2)
    serial = zone.serial
    cases = [
        ((_zonemd(serial, 1, 241, bytes(24)),), ZonemdStatus.UNVERIFIED, "scheme 1 hash 241"),
        ((_zonemd(serial, 2, 1, sha384),), ZonemdStatus.UNVERIFIED, "scheme 2 hash 1"),
        ((_zonemd(serial, 1, 2, sha512),), ZonemdStatus.VERIFIED, "SHA-512 digest matches"),
        (
            (_zonemd(serial, 1, 241, bytes(24)), _zonemd(serial, 1, 1, sha384)),
            ZonemdStatus.VERIFIED,
            "SHA-384 digest matches",
        ),
        (  # RFC 8976 section 4: one matching supported digest is enough
            (_zonemd(serial, 1, 1, sha384), _zonemd(serial, 1, 2, bytes(64))),
            ZonemdStatus.VERIFIED,
            "SHA-384 digest matches",
        ),
        ((), ZonemdStatus.ABSENT, "no ZONEMD record"),
    ]
    for rdatas, status, detail in cases:
        result = check_zonemd(Zone(_with_zonemd(lab_records, *rdatas)))
        assert (result.status, detail in result.detail) == (status, True)


@pytest.mark.parametrize(
    ("rdatas", "message"),
    [
        (
            (_zonemd(2025010100, 1, 1, bytes(48)), _zonemd(2025010100, 1, 1, bytes(47) + b"\x01")),
            "two records with scheme 1 and hash 1",
        ),
        ((_zonemd(2025010101, 1, 241, bytes(24)),), "serial 2025010101 is not the SOA serial"),
        ((_zonemd(2025010100, 1, 2, bytes(64)),), "the SHA-512 digest does not match"),
        ((b"\x00\x01",), "a record of 2 octets is too short"),
    ],
)
def test_zonemd_failures(
    lab_records: list[Record], rdatas: tuple[bytes, ...], message: str
) -> None:
    with pytest.raises(ZonemdFailure, match=message):
        check_zonemd(Zone(_with_zonemd(lab_records, *rdatas)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a. 60 IN A 192.0.2.1\n", "exactly one SOA record, not 0"),
        ("a. 60 IN SOA a. b. 1 2 3 4 5\na. 60 IN SOA a. b. 2 2 3 4 5\n", "not 2"),
        ("a. 60 IN SOA a. b. 1 2 3 4 5\nb. 60 IN A 192.0.2.1\n", r"b\. A \(line 2\) is outside"),
    ],
)
def test_records_that_are_not_one_zone(text: str, message: str) -> None:
    with pytest.raises(ZoneStructureError, match=message):
        Zone(parse_zone(text))


def test_a_zone_below_the_root_verifies_too(lab_now: int) -> None:
    """Nothing is root-specific: a zone signed by dnspython at any name verifies."""
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32))
    dnskey = dns.dnssec.make_dnskey(private.public_key(), 15, flags=257)
    origin = dns.name.from_text("example.")
    zone = dns.zone.from_text(
        "@ 60 IN SOA ns hostmaster 1 2 3 4 5\n@ 60 IN NS ns\nns 60 IN A 192.0.2.1\n"
        "sub 60 IN NS ns.sub\nns.sub 60 IN A 192.0.2.2\n",
        origin=origin,
        relativize=False,
    )
    with zone.writer() as transaction:
        transaction.add(origin, 60, dnskey)
        dns.dnssec.sign_zone(
            zone,
            txn=transaction,
            keys=[(private, dnskey)],
            inception=lab_now - 60,
            expiration=lab_now + DAY,
        )
    anchors = TrustAnchors.from_text(
        f"example. DS {dns.dnssec.make_ds(origin, dnskey, 'SHA256').to_text()}\n", source="ds"
    )
    result = verify_zone(parse_zone(zone.to_text(relativize=False)), anchors, lab_now)
    assert (result.origin, result.zonemd.status) == ("example.", ZonemdStatus.ABSENT)
    # SOA, NS, DNSKEY and NSEC at the apex, A and NSEC at ns, NSEC at the delegation
    assert result.rrsets_verified == result.signatures_verified == 7
