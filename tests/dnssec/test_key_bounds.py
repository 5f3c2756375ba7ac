"""RSA size bounds and weighed signature checks (issue 16: signature cost bounds).

A key beyond the bounds is refused before any arithmetic, as an unsupported
algorithm: a zone whose DS names only such keys is insecure with EDE 1, never
bogus and never a CPU sink. Nothing here needs a private key: the refusal
comes first.
"""

from __future__ import annotations

import dns.dnssec
import dns.edns
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rrset
import pytest

from dnssec.errors import Bogus, BogusNoKey, BogusUnsupportedAlgorithm, ValidationWorkExceeded
from dnssec.signatures import (
    Dnskey,
    UnsupportedAlgorithm,
    UnsupportedKey,
    key_refusal,
    verification_cost,
    verify_signature,
)
from dnssec.status import Security
from dnssec.validator import ZoneKeys, validate_rrset, zone_keys
from dnssec.work import ValidationWork, WorkLimits
from tests.dnssec.test_validator import (
    DNSKEYS,
    DS,
    KSK,
    KSK_RDATA,
    NOW,
    ZONE,
    _sign,
    _work,
)

RSASHA256, RSASHA512 = 8, 10


def _rsa_public(exponent: int, modulus_bits: int) -> bytes:
    """RFC 3110 public key bytes; the modulus is any odd number of that many bits."""
    e = exponent.to_bytes((exponent.bit_length() + 7) // 8)
    length = bytes([len(e)]) if len(e) < 256 else b"\0" + len(e).to_bytes(2)
    modulus = (1 << (modulus_bits - 1)) | 0xC0FFEE | 1
    return length + e + modulus.to_bytes((modulus_bits + 7) // 8)


def _rsa(exponent: int, modulus_bits: int, algorithm: int = RSASHA256) -> Dnskey:
    return Dnskey(257, 3, algorithm, _rsa_public(exponent, modulus_bits))


def _rdata(key: Dnskey) -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    wire = key.to_wire()
    rdata = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, wire, 0, len(wire))
    assert isinstance(rdata, dns.rdtypes.ANY.DNSKEY.DNSKEY)
    return rdata


BIG_EXPONENT = _rsa((1 << 3070) | 1, 3072)
HUGE_MODULUS = _rsa(65537, 16384)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (BIG_EXPONENT, "RSA exponent of 3071 bits is over 35"),
        (_rsa((1 << 35) | 1, 2048), "RSA exponent of 36 bits is over 35"),
        (HUGE_MODULUS, "RSA key of 16384 bits is outside 512-4096"),
        (_rsa(65537, 4097), "RSA key of 4097 bits is outside 512-4096"),
        (_rsa(65537, 511), "RSA key of 511 bits is outside 512-4096"),
        (_rsa(65537, 1023, RSASHA512), "RSA key of 1023 bits is outside 1024-4096"),
    ],
)
def test_rsa_keys_beyond_the_bounds_are_refused_before_any_arithmetic(
    key: Dnskey, reason: str
) -> None:
    assert reason in (key_refusal(key) or "")
    with pytest.raises(UnsupportedKey, match=reason):
        verify_signature(key, b"\0" * 16, b"data")
    with pytest.raises(UnsupportedAlgorithm):  # what the validator and rootzone catch
        verification_cost(key)


@pytest.mark.parametrize(
    ("key", "cost"),
    [
        (_rsa(65537, 2048), 1),
        (_rsa(3, 1024), 1),
        (_rsa(65537, 512), 1),
        (_rsa((1 << 32) | 1, 2048), 2),  # .lv's KSK exponent: accepted
        (_rsa((1 << 34) | 1, 4096), 9),  # the worst RSA key accepted
        (_rsa(65537, 4096), 4),
        (_rsa(65537, 1024, RSASHA512), 1),
        (Dnskey(257, 3, 13, b"\1" * 64), 3),
        (Dnskey(257, 3, 14, b"\1" * 96), 18),
        (Dnskey(257, 3, 15, b"\1" * 32), 4),
        (Dnskey(257, 3, 16, b"\1" * 57), 8),
    ],
)
def test_accepted_keys_are_weighed_in_rsa_2048_checks(key: Dnskey, cost: int) -> None:
    assert key_refusal(key) is None
    assert verification_cost(key) == cost


def test_unknown_algorithms_and_malformed_keys() -> None:
    unknown = Dnskey(257, 3, 253, b"\1" * 32)
    assert key_refusal(unknown) == "DNSSEC algorithm 253 is not supported"
    malformed = Dnskey(257, 3, RSASHA256, b"")
    assert key_refusal(malformed) is None, "a malformed key is bogus, not unsupported"


def test_the_query_cost_budget_counts_weighed_checks() -> None:
    work = ValidationWork(WorkLimits(max_signature_cost_per_query=20))
    work.start_response()
    work.spend_signature("P-384", 18)
    work.spend_signature("RSA-2048", 1)
    work.spend_signature("RSA-2048", 1)
    with pytest.raises(ValidationWorkExceeded, match="cost more than 20"):
        work.spend_signature("RSA-2048", 1)
    assert (work.signatures, work.cost) == (3, 20)


def test_p384_checks_use_up_the_budget_before_the_count_does() -> None:
    work = _work(max_signature_cost_per_query=36)
    p384 = Dnskey(257, 3, 14, b"\1" * 96)
    for _ in range(2):
        work.spend_signature("answer", verification_cost(p384))
        work.start_response()
    with pytest.raises(ValidationWorkExceeded):
        work.spend_signature("answer", verification_cost(p384))


def _zone_with(*keys: Dnskey) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(ZONE, 3600, [_rdata(key) for key in keys])


def _ds(*keys: Dnskey) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(
        ZONE, 86400, [dns.dnssec.make_ds(ZONE, _rdata(key), "SHA256") for key in keys]
    )


@pytest.mark.parametrize("refused", [BIG_EXPONENT, HUGE_MODULUS], ids=["exponent", "modulus"])
def test_a_ds_naming_only_refused_keys_makes_the_zone_insecure_with_ede_1(
    refused: Dnskey,
) -> None:
    work = _work()
    keys = zone_keys(ZONE, _zone_with(refused), None, [_ds(refused)], NOW, work)
    assert keys.security is Security.INSECURE
    assert keys.error is not None
    assert keys.error.code == dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM
    assert f"DNSKEY {refused.tag}" in keys.error.text
    assert work.signatures == 0, "nothing is verified with a refused key"


def test_an_anchored_refused_key_makes_the_zone_insecure() -> None:
    anchor = _zone_with(BIG_EXPONENT)
    keys = zone_keys(ZONE, _zone_with(BIG_EXPONENT), None, [anchor], NOW, _work())
    assert keys.security is Security.INSECURE


def test_a_ds_whose_key_is_missing_keeps_the_zone_signed() -> None:
    """An attacker who strips the usable key must not make the zone insecure."""
    vouchers = [_ds(BIG_EXPONENT), DS]  # DS names KSK too, which the reply leaves out
    with pytest.raises(Bogus):
        zone_keys(ZONE, _zone_with(BIG_EXPONENT), None, vouchers, NOW, _work())


def test_a_stripped_anchor_keeps_the_zone_signed() -> None:
    anchors = dns.rrset.from_rdata_list(ZONE, 3600, [_rdata(BIG_EXPONENT), KSK_RDATA])
    with pytest.raises(Bogus):
        zone_keys(ZONE, _zone_with(BIG_EXPONENT), None, [anchors], NOW, _work())


def test_a_refused_key_beside_a_usable_one_is_not_trusted() -> None:
    published = dns.rrset.from_rdata_list(ZONE, 3600, [*DNSKEYS, _rdata(BIG_EXPONENT)])
    vouchers = [dns.rrset.from_rdata_list(ZONE, 86400, [*DS, *_ds(BIG_EXPONENT)])]
    keys = zone_keys(ZONE, published, _sign(published, KSK, KSK_RDATA), vouchers, NOW, _work())
    assert keys.security is Security.SECURE
    assert BIG_EXPONENT not in keys.keys


def test_an_rrsig_by_a_refused_key_is_unsupported_and_costs_nothing() -> None:
    keys = ZoneKeys(ZONE, Security.SECURE, (BIG_EXPONENT,))
    rrset = dns.rrset.from_text("www.example.", 300, "IN", "A", "192.0.2.1")
    rrsig = dns.rdata.from_text(
        "IN",
        "RRSIG",
        f"A 8 2 300 {NOW + 86400} {NOW - 3600} {BIG_EXPONENT.tag} example. AAAA",
    )
    work = _work()
    with pytest.raises(BogusUnsupportedAlgorithm, match="3071 bits"):
        validate_rrset(rrset, dns.rrset.from_rdata(rrset.name, 300, rrsig), keys, NOW, work)
    assert (work.signatures, work.cost) == (0, 0)


def test_a_zone_without_a_matching_key_is_still_no_key() -> None:
    with pytest.raises(BogusNoKey):
        zone_keys(ZONE, _zone_with(HUGE_MODULUS), None, [DS], NOW, _work())
