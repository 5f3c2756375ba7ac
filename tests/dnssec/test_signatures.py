"""One signature at a time: key tags, DS digests, validity windows, every algorithm.

dnspython signs (an independent implementation) and ``dnssec.signatures``
verifies. The real root KSK-2017 gives known answers for the key tag and the
DS digest IANA publishes.
"""

from __future__ import annotations

import dataclasses
import functools

import dns.dnssec
import dns.dnssectypes
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from dnssec.signatures import (
    BogusSignature,
    Dnskey,
    Ds,
    MalformedData,
    Rrsig,
    SignatureError,
    SignatureExpired,
    SignatureNotYetValid,
    UnsupportedAlgorithm,
    UnsupportedDigestType,
    WireRRset,
    check_validity,
    ds_digest,
    is_subdomain,
    key_tag,
    name_labels,
    signed_data,
    verify_rrsig,
    verify_signature,
)

NOW = 1_700_000_000
INCEPTION = NOW - 3600
EXPIRATION = NOW + 14 * 86400
ZONE = dns.name.from_text("example.")
ZONE_WIRE = b"\x07example\x00"
ALGORITHMS = (5, 7, 8, 10, 13, 14, 15, 16)

#: The root's KSK-2017 and the DS record IANA publishes for it.
KSK_2017 = (
    "257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5"
    "emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLH"
    "wVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXx"
    "uOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU="
)
KSK_2017_DS = "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


def _private_key(algorithm: int) -> PrivateKey:
    if algorithm in (5, 7, 8, 10):
        return rsa.generate_private_key(65537, 1024)
    if algorithm in (13, 14):
        return ec.generate_private_key(ec.SECP256R1() if algorithm == 13 else ec.SECP384R1())
    if algorithm == 15:
        return ed25519.Ed25519PrivateKey.generate()
    return ed448.Ed448PrivateKey.generate()


@functools.cache
def _signed(
    algorithm: int, owner: str = "www.Example."
) -> tuple[dns.rdtypes.ANY.DNSKEY.DNSKEY, dns.rrset.RRset, dns.rdtypes.ANY.RRSIG.RRSIG]:
    """An A RRset signed by dnspython with a fresh key of ``algorithm``."""
    private = _private_key(algorithm)
    dnskey = dns.dnssec.make_dnskey(private.public_key(), algorithm)
    rrset = dns.rrset.from_text(owner, 300, "IN", "A", "192.0.2.1", "192.0.2.2")
    rrsig = dns.dnssec.sign(
        rrset,
        private,
        ZONE,
        dnskey,
        inception=INCEPTION,
        expiration=EXPIRATION,
        policy=dns.dnssec.allow_all_policy,
    )
    return dnskey, rrset, rrsig


def _wire(rrset: dns.rrset.RRset, owner: str | None = None) -> WireRRset:
    name = rrset.name if owner is None else dns.name.from_text(owner)
    rdatas = tuple(sorted(rdata.to_digestable() for rdata in rrset))
    return WireRRset(name.to_digestable(), rrset.rdtype, rrset.rdclass, rrset.ttl, rdatas)


def _parts(algorithm: int) -> tuple[Rrsig, WireRRset, Dnskey]:
    dnskey, rrset, rrsig = _signed(algorithm)
    return (
        Rrsig.from_wire(rrsig.to_digestable()),
        _wire(rrset),
        Dnskey.from_wire(dnskey.to_digestable()),
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_supported_algorithm_verifies(algorithm: int) -> None:
    rrsig, rrset, key = _parts(algorithm)
    verify_rrsig(rrsig, rrset, key, ZONE_WIRE, NOW)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_changed_data_is_bogus(algorithm: int) -> None:
    rrsig, rrset, key = _parts(algorithm)
    changed = WireRRset(rrset.owner, rrset.rdtype, rrset.rdclass, rrset.ttl, (b"\xc0\x00\x02\x09",))
    with pytest.raises(BogusSignature, match="does not verify"):
        verify_rrsig(rrsig, changed, key, ZONE_WIRE, NOW)


@pytest.mark.parametrize("algorithm", [8, 13, 15])
def test_wildcard_expansion_is_signed_as_the_wildcard(algorithm: int) -> None:
    dnskey, rrset, rrsig = _signed(algorithm, "*.example.")
    key = Dnskey.from_wire(dnskey.to_digestable())
    parsed = Rrsig.from_wire(rrsig.to_digestable())
    for owner in ("a.example.", "b.c.Example."):
        verify_rrsig(parsed, _wire(rrset, owner), key, ZONE_WIRE, NOW)


def test_labels_field_beyond_the_owner_is_malformed() -> None:
    _, rrset, rrsig = _signed(13, "a.b.example.")
    parsed = Rrsig.from_wire(rrsig.to_digestable())
    with pytest.raises(MalformedData, match="Labels"):
        signed_data(parsed, _wire(rrset, "example."))


def test_the_rrsig_must_fit_rrset_zone_and_key() -> None:
    rrsig, rrset, key = _parts(13)
    other_key = Dnskey.from_wire(_signed(15)[0].to_digestable())
    not_a_zone_key = Dnskey(0, key.protocol, key.algorithm, key.public_key)
    wrong_type = WireRRset(rrset.owner, dns.rdatatype.AAAA, rrset.rdclass, 300, rrset.rdatas)
    cases = [
        (rrset, key, b"\x05other\x00", "signer"),
        (rrset, other_key, ZONE_WIRE, "names key"),
        (wrong_type, key, ZONE_WIRE, "covers type"),
    ]
    for target, candidate, zone, message in cases:
        with pytest.raises(BogusSignature, match=message):
            verify_rrsig(rrsig, target, candidate, zone, NOW)
    forged = dataclasses.replace(rrsig, key_tag=not_a_zone_key.tag)
    with pytest.raises(BogusSignature, match="not a zone key"):
        verify_rrsig(forged, rrset, not_a_zone_key, ZONE_WIRE, NOW)


def test_validity_window_edges() -> None:
    rrsig, rrset, key = _parts(13)
    check_validity(rrsig, INCEPTION)
    check_validity(rrsig, EXPIRATION)
    with pytest.raises(SignatureNotYetValid, match="2023-11-14T"):
        check_validity(rrsig, INCEPTION - 1)
    with pytest.raises(SignatureExpired, match="2023-11-28T"):
        verify_rrsig(rrsig, rrset, key, ZONE_WIRE, EXPIRATION + 1)


def test_validity_uses_serial_arithmetic_across_the_32_bit_wrap() -> None:
    rrsig = _parts(13)[0]
    wrapping = dataclasses.replace(rrsig, inception=2**32 - 100, expiration=100)
    check_validity(wrapping, 2**32 + 50)
    with pytest.raises(SignatureExpired):
        check_validity(wrapping, 2**32 + 200)
    check_validity(rrsig, 2**32 + NOW)  # 136 years on: the same 32-bit times


def test_root_ksk_2017_key_tag_and_ds_digest() -> None:
    rdata = dns.rdata.from_text("IN", "DNSKEY", KSK_2017).to_digestable()
    key = Dnskey.from_wire(rdata)
    assert key_tag(rdata) == key.tag == 20326
    assert key.is_zone_key
    assert ds_digest(b"\x00", rdata, 2).hex().upper() == KSK_2017_DS
    ds = Ds(20326, 8, 2, bytes.fromhex(KSK_2017_DS))
    assert ds.matches(b"\x00", key)
    assert not Ds(20326, 8, 2, bytes(32)).matches(b"\x00", key)
    assert not ds.matches(b"\x00", Dnskey(256, 3, 8, key.public_key))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_key_tags_and_ds_digests_agree_with_dnspython(algorithm: int) -> None:
    dnskey = _signed(algorithm)[0]
    rdata = dnskey.to_digestable()
    assert key_tag(rdata) == dns.dnssec.key_id(dnskey)
    for digest_type in (1, 2, 4):
        kind = dns.dnssectypes.DSDigest(digest_type)
        expected = dns.dnssec.make_ds(ZONE, dnskey, kind, policy=dns.dnssec.allow_all_policy)
        assert ds_digest(b"\x07EXAMPLE\x00", rdata, digest_type) == expected.digest


def test_rsamd5_key_tag_is_appendix_b1() -> None:
    rdata = bytes.fromhex("0100030103010001") + bytes(range(64))
    dnskey = dns.rdata.from_wire("IN", "DNSKEY", rdata, 0, len(rdata))
    assert isinstance(dnskey, dns.rdtypes.ANY.DNSKEY.DNSKEY)
    assert key_tag(rdata) == dns.dnssec.key_id(dnskey) == 0x3D3E


def test_unsupported_digest_type_and_algorithm() -> None:
    with pytest.raises(UnsupportedDigestType, match="digest type 3"):
        ds_digest(b"\x00", b"\x01\x01\x03\x08key", 3)
    with pytest.raises(UnsupportedAlgorithm, match="algorithm 3"):
        verify_signature(Dnskey(257, 3, 3, b"dsa key"), b"sig", b"data")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (Dnskey(257, 3, 8, b""), "empty RSA"),
        (Dnskey(257, 3, 8, b"\x03\x01\x00"), "no modulus"),
        (Dnskey(257, 3, 13, bytes(63)), "ECDSA public key of 63"),
        (Dnskey(257, 3, 13, bytes(64)), "unusable ECDSA"),
        (Dnskey(257, 3, 15, bytes(31)), "unusable EdDSA"),
    ],
)
def test_malformed_keys(key: Dnskey, message: str) -> None:
    with pytest.raises(MalformedData, match=message):
        verify_signature(key, b"sig", b"data")


def test_short_signatures_are_bogus_not_crashes() -> None:
    for algorithm in (8, 13, 15, 16):
        key = _parts(algorithm)[2]
        with pytest.raises(BogusSignature):
            verify_signature(key, b"short", b"data")


def test_names_in_wire_form() -> None:
    www = b"\x03www\x07Example\x00"
    assert name_labels(www) == (b"www", b"Example")
    assert name_labels(b"\x00") == ()
    assert is_subdomain(www, b"\x07EXAMPLE\x00")
    assert is_subdomain(www, b"\x00")
    assert is_subdomain(b"\x07example\x00", b"\x07example\x00")
    assert not is_subdomain(b"\x0anotexample\x00", b"\x07example\x00")
    assert not is_subdomain(b"\x07example\x00", www)
    too_long = (b"\x3f" + b"a" * 63) * 4 + b"\x00"
    for bad in (b"", b"\x03ww", b"\xc0\x0c", b"\x00\x00", too_long):
        with pytest.raises(MalformedData):
            name_labels(bad)


def test_truncated_rdata_is_malformed() -> None:
    for parse in (Dnskey.from_wire, Ds.from_wire):
        with pytest.raises(MalformedData, match="too short"):
            parse(b"\x01\x00")
    with pytest.raises(MalformedData):
        Rrsig.from_wire(bytes(18) + b"\x05abc")


@given(st.binary(max_size=80))
def test_any_rrsig_bytes_decode_or_are_malformed(data: bytes) -> None:
    try:
        rrsig = Rrsig.from_wire(data)
    except MalformedData:
        return
    assert 18 + len(rrsig.signer) + len(rrsig.signature) == len(data)
    assert len(name_labels(rrsig.signer)) < 128


@given(st.integers(0, 255), st.binary(max_size=100), st.binary(max_size=100))
def test_any_key_and_signature_bytes_fail_cleanly(
    algorithm: int, public_key: bytes, signature: bytes
) -> None:
    with pytest.raises(SignatureError):
        verify_signature(Dnskey(257, 3, algorithm, public_key), signature, b"data")
