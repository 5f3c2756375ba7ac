"""``bigexp.org`` and ``rsa16k.org``: keys too costly to check, resolved as insecure.

The lab signs both zones validly; the resolver (over the in-memory lab,
exactly as in production) refuses their keys as an unsupported algorithm:
the answer is insecure, the zone's verdict carries EDE 1, and no server is
held down.
"""

from __future__ import annotations

import dns.edns
import dns.name
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from dnssec.signatures import Dnskey
from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.lab import Lab
from resolver.lab.costlykeys import BIG_EXPONENT, HUGE_MODULUS, RsaShape, costly_private_key
from tests.lab.helpers import ask, find, verify_all
from tests.resolver.test_iterator import Harness

ZONES = [
    ("bigexp.org.", "192.0.2.38", "RSA exponent of 3071 bits"),
    ("rsa16k.org.", "192.0.2.39", "RSA key of 16384 bits"),
]


@pytest.mark.parametrize(("zone", "address", "reason"), ZONES)
async def test_a_costly_key_zone_resolves_insecure_with_ede_1(
    lab: Lab, clock: FakeClock, zone: str, address: str, reason: str
) -> None:
    harness = Harness(lab, clock)
    outcome = await harness.ask(f"www.{zone}")
    assert outcome.security is Security.INSECURE
    assert [rrset[0].to_text() for rrset in outcome.answer] == [address]
    # As for any unsupported algorithm, the client is told EDE 1 with the
    # reason (resolver/validation.py ``_told``), and so is the operator.
    assert [(error.code, reason in error.text) for error in outcome.errors] == [
        (dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM, True)
    ]
    keys = harness.iterator.validator.keys.get(dns.name.from_text(zone))
    assert keys is not None
    assert keys.security is Security.INSECURE
    assert keys.error is not None
    assert keys.error.code == dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM
    assert zone in keys.error.text
    assert reason in keys.error.text
    assert harness.selection.holddowns() == []


@pytest.mark.parametrize(
    ("zone", "server", "shape"),
    [("bigexp.org.", "127.53.3.59", BIG_EXPONENT), ("rsa16k.org.", "127.53.3.61", HUGE_MODULUS)],
)
def test_the_lab_keys_have_their_shapes_and_sign_validly(
    lab: Lab, zone: str, server: str, shape: RsaShape
) -> None:
    reply = ask(lab, server, zone, "DNSKEY", tcp=True)
    [rdata] = find(reply.answer, zone, "DNSKEY")
    key = Dnskey.from_wire(rdata.to_digestable())
    length, start = key.public_key[0], 1
    if not length:
        length, start = int.from_bytes(key.public_key[1:3]), 3
    exponent = int.from_bytes(key.public_key[start : start + length])
    modulus = int.from_bytes(key.public_key[start + length :])
    assert (modulus.bit_length(), exponent.bit_length()) == (
        shape.modulus_bits,
        shape.exponent_bits,
    )
    # dnspython has no size bounds: the signatures are genuine.
    verify_all(lab, server, zone, reply.answer)
    verify_all(lab, server, zone, ask(lab, server, f"www.{zone}", "A", tcp=True).answer)


def test_an_installed_lab_builds_a_working_key_of_the_shape() -> None:
    """Without testdata the lab builds the key from primes (well under a second)."""
    key = costly_private_key(dns.name.from_text("bigexp.org."), BIG_EXPONENT)
    numbers = key.public_key().public_numbers()
    assert (numbers.n.bit_length(), numbers.e.bit_length()) == (3072, 3071)
    signature = key.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())
