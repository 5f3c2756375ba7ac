"""Validating RRsets and zone keys: verdicts, the EDE each failure maps to, work bounds.

dnspython signs (independently of ``dnssec.signatures``); the validator
judges. A property test flips bytes anywhere in a signed RRset, its
signature or its key and checks that the result is never "secure".
"""

from __future__ import annotations

import dns.dnssec
import dns.edns
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.RRSIG
import dns.rdtypes.dnskeybase
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from dnssec.errors import (
    Bogus,
    BogusExpired,
    BogusNoKey,
    BogusNoSignatures,
    BogusNotYetValid,
    BogusUnsupportedAlgorithm,
    ValidationWorkExceeded,
)
from dnssec.signatures import Rrsig
from dnssec.status import Security
from dnssec.validator import ZoneKeys, decoded_rrsig, validate_rrset, zone_keys
from dnssec.work import ValidationWork, WorkLimits
from tests.strategies import dns_names

NOW = 1_700_000_000
ZONE = dns.name.from_text("example.")
WWW = dns.name.from_text("www.example.")


def _key(seed: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(seed, ec.SECP256R1())


KSK = _key(1001)
ZSK = _key(1002)
KSK_RDATA = dns.dnssec.make_dnskey(
    KSK.public_key(), 13, flags=dns.rdtypes.dnskeybase.Flag.ZONE | dns.rdtypes.dnskeybase.Flag.SEP
)
ZSK_RDATA = dns.dnssec.make_dnskey(ZSK.public_key(), 13, flags=dns.rdtypes.dnskeybase.Flag.ZONE)
DNSKEYS = dns.rrset.from_rdata_list(ZONE, 3600, [KSK_RDATA, ZSK_RDATA])
DS = dns.rrset.from_rdata(ZONE, 86400, dns.dnssec.make_ds(ZONE, KSK_RDATA, "SHA256"))
A = dns.rrset.from_text(WWW, 300, "IN", "A", "192.0.2.1")


def _sign(
    rrset: dns.rrset.RRset,
    key: ec.EllipticCurvePrivateKey = ZSK,
    dnskey: dns.rdtypes.ANY.DNSKEY.DNSKEY = ZSK_RDATA,
    *,
    inception: int = NOW - 3600,
    expiration: int = NOW + 86400,
) -> dns.rrset.RRset:
    rrsig = dns.dnssec.sign(
        rrset, key, ZONE, dnskey, inception=inception, expiration=expiration
    )
    return dns.rrset.from_rdata(rrset.name, rrset.ttl, rrsig)


def _work(**limits: int) -> ValidationWork:
    work = ValidationWork(WorkLimits(**limits))
    work.start_response()
    return work


def _secure_keys() -> ZoneKeys:
    return zone_keys(ZONE, DNSKEYS, _sign(DNSKEYS, KSK, KSK_RDATA), [DS], NOW, _work())


def test_the_dnskey_rrset_signed_by_the_key_the_ds_names_is_secure() -> None:
    keys = _secure_keys()
    assert keys.security is Security.SECURE
    assert {key.tag for key in keys.keys} == {
        dns.dnssec.key_id(KSK_RDATA),
        dns.dnssec.key_id(ZSK_RDATA),
    }
    assert keys.ttl == 3600


def test_a_dnskey_anchor_vouches_like_a_ds() -> None:
    anchor = dns.rrset.from_rdata(ZONE, 3600, KSK_RDATA)
    keys = zone_keys(ZONE, DNSKEYS, _sign(DNSKEYS, KSK, KSK_RDATA), [anchor], NOW, _work())
    assert keys.security is Security.SECURE


def test_no_dnskey_matching_the_ds_is_dnskey_missing() -> None:
    only_zsk = dns.rrset.from_rdata(ZONE, 3600, ZSK_RDATA)
    with pytest.raises(BogusNoKey) as failure:
        zone_keys(ZONE, only_zsk, _sign(only_zsk), [DS], NOW, _work())
    assert failure.value.code == dns.edns.EDECode.DNSKEY_MISSING
    assert "example." in str(failure.value)


def test_a_dnskey_rrset_signed_only_by_the_zsk_is_not_vouched_for() -> None:
    with pytest.raises(BogusNoKey):
        zone_keys(ZONE, DNSKEYS, _sign(DNSKEYS), [DS], NOW, _work())


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("12345 253 2 " + "00" * 32, dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM),
        # DSA (3, 6): RFC 8624 says MUST NOT validate; insecure whatever
        # cryptography still ships (version 51 deprecates it).
        ("12345 3 2 " + "00" * 32, dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM),
        ("12345 6 2 " + "00" * 32, dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM),
        ("12345 13 3 " + "00" * 32, dns.edns.EDECode.UNSUPPORTED_DS_DIGEST_TYPE),
    ],
)
def test_a_ds_set_of_only_unsupported_algorithms_or_digests_is_insecure(
    text: str, code: int
) -> None:
    ds = dns.rrset.from_text(ZONE, 3600, "IN", "DS", text)
    keys = zone_keys(ZONE, DNSKEYS, _sign(DNSKEYS, KSK, KSK_RDATA), [ds], NOW, _work())
    assert keys.security is Security.INSECURE
    assert keys.error is not None
    assert keys.error.code == code


def test_one_supported_ds_among_unsupported_ones_is_enough() -> None:
    odd = dns.rrset.from_text(ZONE, 3600, "IN", "DS", "12345 253 2 " + "00" * 32)
    keys = zone_keys(ZONE, DNSKEYS, _sign(DNSKEYS, KSK, KSK_RDATA), [odd, DS], NOW, _work())
    assert keys.security is Security.SECURE


def test_a_signed_rrset_validates_and_its_ttl_is_capped() -> None:
    signed = validate_rrset(A, _sign(A, expiration=NOW + 100), _secure_keys(), NOW, _work())
    assert signed.ttl == 100
    assert signed.wildcard is None


def test_the_original_ttl_caps_the_ttl() -> None:
    rrsigs = _sign(A)
    longer = dns.rrset.from_text(WWW, 3000, "IN", "A", "192.0.2.1")
    assert validate_rrset(longer, rrsigs, _secure_keys(), NOW, _work()).ttl == 300


def test_an_rrset_without_rrsig_is_rrsigs_missing() -> None:
    with pytest.raises(BogusNoSignatures) as failure:
        validate_rrset(A, None, _secure_keys(), NOW, _work())
    assert failure.value.code == dns.edns.EDECode.RRSIGS_MISSING
    assert "www.example. A" in str(failure.value)


def test_one_second_past_expiration_is_expired() -> None:
    rrsigs = _sign(A, expiration=NOW - 1)
    with pytest.raises(BogusExpired) as failure:
        validate_rrset(A, rrsigs, _secure_keys(), NOW, _work())
    assert failure.value.code == dns.edns.EDECode.SIGNATURE_EXPIRED
    assert validate_rrset(A, _sign(A, expiration=NOW), _secure_keys(), NOW, _work()).ttl == 0


def test_a_signature_from_the_future_is_not_yet_valid() -> None:
    rrsigs = _sign(A, inception=NOW + 60)
    with pytest.raises(BogusNotYetValid) as failure:
        validate_rrset(A, rrsigs, _secure_keys(), NOW, _work())
    assert failure.value.code == dns.edns.EDECode.SIGNATURE_NOT_YET_VALID


def test_a_signature_by_an_unknown_key_is_dnskey_missing() -> None:
    stranger = _key(4242)
    stranger_rdata = dns.dnssec.make_dnskey(stranger.public_key(), 13)
    with pytest.raises(BogusNoKey):
        validate_rrset(A, _sign(A, stranger, stranger_rdata), _secure_keys(), NOW, _work())


def test_data_signed_only_with_an_unsupported_algorithm_is_bogus_with_ede_1() -> None:
    rrsigs = dns.rrset.from_rdata_list(
        WWW, 300, [rdata.replace(algorithm=253) for rdata in _sign(A)]
    )
    with pytest.raises(BogusUnsupportedAlgorithm) as failure:
        validate_rrset(A, rrsigs, _secure_keys(), NOW, _work())
    assert failure.value.code == dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM


def test_altered_data_is_bogus() -> None:
    other = dns.rrset.from_text(WWW, 300, "IN", "A", "192.0.2.99")
    with pytest.raises(Bogus) as failure:
        validate_rrset(other, _sign(A), _secure_keys(), NOW, _work())
    assert failure.value.code == dns.edns.EDECode.DNSSEC_BOGUS


def test_a_wildcard_expansion_is_reported() -> None:
    wildcard = dns.rrset.from_text("*.example.", 300, "IN", "A", "192.0.2.2")
    rrsigs = _sign(wildcard)
    expanded = dns.rrset.from_text("a.b.example.", 300, "IN", "A", "192.0.2.2")
    expanded_sigs = dns.rrset.from_rdata_list(expanded.name, 300, list(rrsigs))
    signed = validate_rrset(expanded, expanded_sigs, _secure_keys(), NOW, _work())
    assert signed.wildcard == dns.name.from_text("*.example.")
    # The wildcard itself, asked for by name, is no expansion.
    assert validate_rrset(wildcard, rrsigs, _secure_keys(), NOW, _work()).wildcard is None


def test_keytrap_many_colliding_signatures_cost_a_bounded_number_of_checks() -> None:
    """16 bad signatures naming the ZSK: at most max_signatures_per_response are checked."""
    bad = [
        rdata.replace(signature=bytes([n]) * len(rdata.signature))
        for n in range(16)
        for rdata in _sign(A)
    ]
    rrsigs = dns.rrset.from_rdata_list(WWW, 300, bad)
    work = _work(max_signatures_per_response=8)
    with pytest.raises(ValidationWorkExceeded) as failure:
        validate_rrset(A, rrsigs, _secure_keys(), NOW, work)
    assert work.response_signatures == 8
    assert failure.value.code == dns.edns.EDECode.DNSSEC_BOGUS


def test_keys_sharing_a_tag_are_tried_at_most_max_keys_per_tag() -> None:
    """Swapping two key bytes at even offsets keeps the key tag (a checksum)."""
    zsk = next(key for key in _secure_keys().keys if key.flags == 256)
    impostors = []
    for n in range(1, 11):
        key = bytearray(zsk.public_key)
        key[0], key[2 * n] = key[2 * n], key[0]
        impostors.append(type(zsk)(zsk.flags, zsk.protocol, zsk.algorithm, bytes(key)))
    assert {key.tag for key in impostors} == {zsk.tag}
    work = _work(max_keys_per_tag=3)
    with pytest.raises(Bogus):
        validate_rrset(A, _sign(A), ZoneKeys(ZONE, Security.SECURE, tuple(impostors)), NOW, work)
    assert work.response_signatures == 3


def test_the_per_query_limit_spans_responses() -> None:
    work = _work(max_signatures_per_query=2)
    keys = _secure_keys()
    validate_rrset(A, _sign(A), keys, NOW, work)
    work.start_response()
    validate_rrset(A, _sign(A), keys, NOW, work)
    work.start_response()
    with pytest.raises(ValidationWorkExceeded):
        validate_rrset(A, _sign(A), keys, NOW, work)


@settings(max_examples=150, deadline=None)
@given(
    part=st.sampled_from(["rdata", "signature", "key"]),
    position=st.integers(min_value=0, max_value=10_000),
    flip=st.integers(min_value=1, max_value=255),
)
def test_corrupting_any_byte_never_yields_secure(part: str, position: int, flip: int) -> None:
    """Flip bits in one byte of the data, the RRSIG or the DNSKEY: never SECURE."""
    data, rrsigs, dnskeys = A, _sign(A), DNSKEYS
    if part == "rdata":
        wire = bytearray(A[0].to_digestable())
        wire[position % len(wire)] ^= flip
        data = dns.rrset.from_rdata(WWW, 300, _rdata(dns.rdatatype.A, bytes(wire)))
    elif part == "signature":
        wire = bytearray(rrsigs[0].to_digestable())
        wire[position % len(wire)] ^= flip
        try:
            rrsigs = dns.rrset.from_rdata(WWW, 300, _rdata(dns.rdatatype.RRSIG, bytes(wire)))
        except dns.exception.DNSException:
            return  # not an RRSIG any more: nothing to validate
        if rrsigs == _sign(A):
            return  # only the signer name's case changed: the same RRSIG (RFC 4034 6.2)
    else:
        wire = bytearray(ZSK_RDATA.to_digestable())
        wire[position % len(wire)] ^= flip
        dnskeys = dns.rrset.from_rdata_list(
            ZONE, 3600, [KSK_RDATA, _rdata(dns.rdatatype.DNSKEY, bytes(wire))]
        )
    try:
        keys = zone_keys(ZONE, dnskeys, _sign(dnskeys, KSK, KSK_RDATA), [DS], NOW, _work())
        if part == "key":
            keys = ZoneKeys(ZONE, Security.SECURE, tuple(k for k in keys.keys if k.flags == 256))
        validate_rrset(data, rrsigs, keys, NOW, _work())
    except Bogus:
        return
    pytest.fail(f"corrupted {part} validated")


def _rdata(rdtype: int, wire: bytes) -> dns.rdata.Rdata:
    return dns.rdata.from_wire(dns.rdataclass.IN, rdtype, wire, 0, len(wire))


def test_work_for_another_response_does_not_use_up_this_ones() -> None:
    work = _work(max_signatures_per_response=2, max_signatures_per_query=10)
    work.spend_signature("answer")
    with work.other_response():
        work.spend_signature("DS")
        work.spend_signature("DNSKEY")
    work.spend_signature("answer")
    assert (work.response_signatures, work.signatures) == (2, 4)
    with pytest.raises(ValidationWorkExceeded):
        work.spend_signature("answer")


def test_a_revoked_key_signs_nothing_but_its_own_revocation() -> None:
    """RFC 5011 2.1: data signed only by a key with the REVOKE bit is not secure."""
    revoked_zsk = dns.dnssec.make_dnskey(
        ZSK.public_key(),
        13,
        flags=dns.rdtypes.dnskeybase.Flag.ZONE | dns.rdtypes.dnskeybase.Flag.REVOKE,
    )
    dnskeys = dns.rrset.from_rdata_list(ZONE, 3600, [KSK_RDATA, revoked_zsk])
    keys = zone_keys(ZONE, dnskeys, _sign(dnskeys, KSK, KSK_RDATA), [DS], NOW, _work())
    assert keys.security is Security.SECURE
    assert all(not key.is_revoked for key in keys.keys)
    with pytest.raises(BogusNoKey):
        validate_rrset(A, _sign(A, ZSK, revoked_zsk), keys, NOW, _work())


@settings(max_examples=200, deadline=None)
@given(
    signer=dns_names(binary=True),
    fields=st.tuples(
        st.integers(0, 65535), st.integers(0, 255), st.integers(0, 255),
        st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
        st.integers(0, 65535)),
    signature=st.binary(max_size=80),
)
def test_an_rrsig_is_decoded_from_its_fields_as_from_its_canonical_wire(
    signer: dns.name.Name, fields: tuple[int, ...], signature: bytes
) -> None:
    covered, algorithm, labels, ttl, expiration, inception, tag = fields
    rdata = dns.rdtypes.ANY.RRSIG.RRSIG(
        dns.rdataclass.IN, dns.rdatatype.RRSIG, covered, algorithm, labels, ttl,
        expiration, inception, tag, signer, signature)
    assert decoded_rrsig(rdata) == Rrsig.from_wire(rdata.to_digestable())
