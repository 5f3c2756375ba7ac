"""``bigexp.org`` and ``rsa16k.org``: zones signed with RSA keys too costly to check.

RFC 3110 lets an RSA public exponent run to 4096 octets and says nothing of
the modulus; one check with a 3071-bit exponent costs a validator 6-18 ms,
with a 16384-bit modulus 1-11 ms (RSA-2048, e = 65537: 0.03 ms). A validator
must refuse such keys as unsupported (the zone is then insecure, EDE 1),
not spend that CPU on every fresh name (``dnssec/signatures.py``).

``cryptography`` generates keys with e = 65537 only, and a 16384-bit key
takes minutes, so these keys are built from primes: enough primes of
``cryptography``-generated keys to reach the modulus size, split into two
coprime factors ``p`` and ``q`` (for the 16384-bit key, products of eight
1024-bit primes each: RSA's CRT arithmetic needs them coprime, not prime,
and OpenSSL does not test them when key validation is skipped), then
``d = e^-1 mod lcm(p_i - 1)``. A checkout loads the fixed keys in
``testdata/lab/keys/`` (``testdata/lab/make_keys.py`` writes them with
``costly_private_key``), so the lab is the same on every run; an installed
lab builds fresh ones (about a second).

dnspython will not encode a DNSKEY over 4096 bits, so the DNSKEY RDATA is
built here (RFC 3110 section 2).
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.dnskeybase
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from resolver.lab.errors import LabError
from resolver.lab.signing import CHECKOUT_KEYS, RSASHA256, ZoneKey

#: The size of the keys whose primes are collected for a large modulus.
_PRIME_SOURCE_BITS = 2048


@dataclass(frozen=True, slots=True)
class RsaShape:
    """The size of a lab RSA key: modulus and public exponent, in bits."""

    modulus_bits: int
    exponent_bits: int


#: A 3071-bit exponent: the largest OpenSSL allows, for moduli up to 3072 bits.
BIG_EXPONENT = RsaShape(3072, 3071)
#: OpenSSL's largest modulus (OPENSSL_RSA_MAX_MODULUS_BITS), e = 65537.
HUGE_MODULUS = RsaShape(16384, 17)


def costly_key(zone: dns.name.Name, shape: RsaShape) -> ZoneKey:
    """The lab's RSA/SHA-256 signing key (flags 257) for ``zone``, of ``shape``.

    Raises:
        LabError: a checkout whose key for ``zone`` is missing or not of ``shape``.
    """
    private = _private_key(zone, shape)
    numbers = private.public_key().public_numbers()
    exponent = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8)
    length = bytes([len(exponent)]) if len(exponent) < 256 else b"\0" + len(exponent).to_bytes(2)
    public = length + exponent + numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8)
    flags = dns.rdtypes.dnskeybase.Flag.ZONE | dns.rdtypes.dnskeybase.Flag.SEP
    wire = struct.pack("!HBB", flags, 3, RSASHA256) + public
    dnskey = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, wire, 0, len(wire))
    if not isinstance(dnskey, dns.rdtypes.ANY.DNSKEY.DNSKEY):
        raise LabError(f"{zone}: the DNSKEY does not decode")
    return ZoneKey(zone, private, dnskey)


def costly_private_key(zone: dns.name.Name, shape: RsaShape) -> rsa.RSAPrivateKey:
    """A fresh RSA key of ``shape``; its exponent is drawn from ``zone``'s name.

    The exponent is the first odd number of ``shape.exponent_bits`` bits,
    counted from a hash of the name, that is coprime to the modulus's
    Carmichael function.
    """
    primes = _primes(shape.modulus_bits)
    half = len(primes) // 2 or 1
    p, q = math.prod(primes[:half]), math.prod(primes[half:])
    lam_p = math.lcm(*(prime - 1 for prime in primes[:half]))
    lam_q = math.lcm(*(prime - 1 for prime in primes[half:]))
    carmichael = math.lcm(lam_p, lam_q)
    exponent = _exponent(zone, shape.exponent_bits, carmichael)
    d = pow(exponent, -1, carmichael)
    public = rsa.RSAPublicNumbers(exponent, p * q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % lam_p, d % lam_q, pow(q, -1, p), public)
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def _primes(bits: int) -> list[int]:
    """Primes whose product has ``bits`` bits (or one fewer), from ``cryptography``'s keys.

    One bit short is as costly and as refused; insisting on the exact size
    took dozens of retries of the last key (15 s for the lab at start).
    """
    primes: list[int] = []
    product = 1
    while bits - product.bit_length() > 2 * _PRIME_SOURCE_BITS:
        numbers = rsa.generate_private_key(65537, _PRIME_SOURCE_BITS).private_numbers()
        primes += [numbers.p, numbers.q]
        product *= numbers.p * numbers.q
    # The last key fills the rest: the product has ``bits`` or ``bits - 1`` bits.
    last = bits - (product.bit_length() if primes else 0)
    numbers = rsa.generate_private_key(65537, last).private_numbers()
    return [*primes, numbers.p, numbers.q]


def _exponent(zone: dns.name.Name, bits: int, carmichael: int) -> int:
    """An odd ``bits``-bit exponent from ``zone``'s name, coprime to ``carmichael``."""
    if bits <= 17:
        return 65537
    seed = hashlib.shake_256(f"holdfast-lab exponent {zone.to_text()}".encode())
    candidate = int.from_bytes(seed.digest((bits + 7) // 8)) >> (-bits % 8)
    candidate |= (1 << (bits - 1)) | 1
    while math.gcd(candidate, carmichael) != 1:
        candidate += 2
    return candidate


@functools.cache
def _private_key(zone: dns.name.Name, shape: RsaShape) -> rsa.RSAPrivateKey:
    """The checkout's fixed key for ``zone``, or one built for this process."""
    path = CHECKOUT_KEYS / f"{zone.to_text(omit_final_dot=True)}.pem"
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        if CHECKOUT_KEYS.is_dir():
            raise LabError(f"{zone}: no RSA key {path.name} in testdata/lab/keys") from None
        return costly_private_key(zone, shape)
    key = serialization.load_pem_private_key(
        pem, password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise LabError(f"{zone}: {path.name} is not an RSA private key")
    numbers = key.public_key().public_numbers()
    if (
        numbers.n.bit_length() not in (shape.modulus_bits - 1, shape.modulus_bits)
        or numbers.e.bit_length() != shape.exponent_bits
    ):
        raise LabError(f"{zone}: {path.name} is not a {shape} key")
    return key
