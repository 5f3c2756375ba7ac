"""One DNSSEC signature, checked: RRSIG, DNSKEY and DS arithmetic (RFC 4034, 4035).

Everything here takes wire-format bytes and small dataclasses and returns a
value or raises a ``SignatureError`` subclass; nothing reads a clock, a file or
the network. The root zone loader verifies ~3,000 RRSIGs with it, and the
validator reuses it for answers, so the inputs are what both have at hand:
RDATA in canonical form (RFC 4034 section 6.2) and owner names as wire bytes.
``dnspython`` rdata objects give that form with ``rdata.to_digestable()`` and
``name.to_digestable()``.

Signatures are checked with ``cryptography`` directly rather than through
``dns.dnssec.validate``: that builds the signed data from dnspython objects
and parses the public key again for every signature, while here the parsed
key is cached (the whole root zone is signed by one ZSK).

Supported algorithms (RFC 8624): RSA/SHA-1 (5, 7), RSA/SHA-256 (8),
RSA/SHA-512 (10), ECDSA P-256 (13) and P-384 (14), Ed25519 (15), Ed448 (16).
DS digests: SHA-1 (1), SHA-256 (2), SHA-384 (4).

A check's cost is the zone's choice: RFC 3110 lets an RSA public exponent
run to 4096 octets, and one check with a 3071-bit exponent takes some
6-18 ms where RSA-2048 with e = 65537 takes 0.03 ms; a 16384-bit modulus,
1-11 ms. So RSA keys outside ``RSA_MODULUS_BITS`` or with an exponent over
``RSA_MAX_EXPONENT_BITS`` are refused as ``UnsupportedKey``: to a validator
they are an algorithm it does not implement, which makes a zone whose DS
names only such keys insecure (RFC 4035 section 5.2, RFC 6840 section 5.2),
never a CPU sink. ``verification_cost`` weighs the checks that remain.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dnssec.errors import HoldfastError

#: DNSKEY flag bit 7: the key may sign the zone's data (RFC 4034 section 2.1.1).
ZONE_KEY_FLAG = 0x0100
#: DNSKEY flag bit 8, REVOKE (RFC 5011 section 3).
REVOKE_FLAG = 0x0080
#: The only valid DNSKEY protocol value (RFC 4034 section 2.1.2).
DNSSEC_PROTOCOL = 3

#: An RRSIG's fixed fields before the signer (RFC 4034 section 3.1): type
#: covered, algorithm, labels, original TTL, expiration, inception, key tag.
RRSIG_FIXED = struct.Struct("!HBBIIIH")
_RR_FIXED = struct.Struct("!HHI")
_SERIAL_MODULUS = 2**32
_SERIAL_HALF = 2**31

_RSA_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    5: hashes.SHA1,
    7: hashes.SHA1,
    8: hashes.SHA256,
    10: hashes.SHA512,
}
#: ECDSA: curve, hash, and the length of one coordinate (RFC 6605 section 4).
_ECDSA: dict[int, tuple[ec.EllipticCurve, hashes.HashAlgorithm, int]] = {
    13: (ec.SECP256R1(), hashes.SHA256(), 32),
    14: (ec.SECP384R1(), hashes.SHA384(), 48),
}
_DS_HASHES = {1: "sha1", 2: "sha256", 4: "sha384"}
#: RSA modulus sizes checked, by algorithm: RFC 3110 (512-4096 bits, RSA/SHA-1)
#: and RFC 5702 section 2 (512-4096 for RSA/SHA-256, 1024-4096 for RSA/SHA-512),
#: which BIND enforces the same way (lib/dns/opensslrsa_link.c,
#: opensslrsa_createctx). Keys under 1024 bits are weak but cheap; refusing
#: them would only turn "secure with a weak key" into "insecure", so the
#: RFCs' lower bounds are kept.
RSA_MODULUS_BITS: dict[int, tuple[int, int]] = {
    5: (512, 4096),
    7: (512, 4096),
    8: (512, 4096),
    10: (1024, 4096),
}
#: The largest RSA public exponent checked, in bits: BIND's RSA_MAX_PUBEXP_BITS
#: (lib/dns/opensslrsa_link.c; ``max-rsa-exponent-size`` at least 35). Real
#: keys use 3 or 65537, and 2^32 + 1 (33 bits) is in use (a .lv KSK); Go's
#: crypto/rsa stops at 2^31 - 1 and OpenSSL at 64 bits for large moduli.
RSA_MAX_EXPONENT_BITS = 35
#: A check's cost in units of one RSA-2048, e = 65537 check (~0.03 ms), as
#: measured with OpenSSL 3 by ``python -m bench.signature_cost``, rounded up.
_CURVE_COSTS = {13: 3, 14: 18, 15: 4, 16: 8}
_RSA_REFERENCE_MODULUS = 2048
_RSA_REFERENCE_EXPONENT = 17
#: Every DNSSEC algorithm a signature can be checked with.
SUPPORTED_ALGORITHMS = frozenset({*_RSA_HASHES, *_ECDSA, 15, 16})
_PKCS1 = padding.PKCS1v15()


class SignatureError(HoldfastError):
    """A signature, key or DS could not be used, or did not verify."""


class UnsupportedAlgorithm(SignatureError):
    """The DNSSEC algorithm is not one this module can verify."""


class UnsupportedKey(UnsupportedAlgorithm):
    """A key of a supported algorithm that is too costly, or too odd, to check.

    An RSA key outside ``RSA_MODULUS_BITS`` or with an exponent above
    ``RSA_MAX_EXPONENT_BITS``: it is treated exactly as an unsupported
    algorithm (EDE 1), so that checking it costs nothing.
    """


class UnsupportedDigestType(SignatureError):
    """The DS digest type is not one this module can compute."""


class MalformedData(SignatureError):
    """Key, signature or RDATA bytes that do not decode as their type says."""


class BogusSignature(SignatureError):
    """The signature does not fit the key, the data, or both."""


class SignatureExpired(SignatureError):
    """The validation time is after the RRSIG's expiration."""


class SignatureNotYetValid(SignatureError):
    """The validation time is before the RRSIG's inception."""


@dataclass(frozen=True, slots=True)
class WireRRset:
    """An RRset in canonical form: what a signature covers and ZONEMD hashes.

    ``owner`` is the lowercased wire-format name; ``rdatas`` are canonical
    RDATA (RFC 4034 section 6.2), sorted and without duplicates (section 6.3).
    """

    owner: bytes
    rdtype: int
    rdclass: int
    ttl: int
    rdatas: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Dnskey:
    """A DNSKEY RDATA, decoded (RFC 4034 section 2).

    ``tag`` is the key tag, computed once: every RRSIG check compares it.
    """

    flags: int
    protocol: int
    algorithm: int
    public_key: bytes
    tag: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", key_tag(self.to_wire()))

    @classmethod
    def from_wire(cls, rdata: bytes) -> Dnskey:
        """Decode DNSKEY RDATA.

        Raises:
            MalformedData: shorter than the four fixed octets.
        """
        if len(rdata) < 4:
            raise MalformedData(f"DNSKEY RDATA of {len(rdata)} octets is too short")
        return cls(int.from_bytes(rdata[:2]), rdata[2], rdata[3], rdata[4:])

    def to_wire(self) -> bytes:
        return struct.pack("!HBB", self.flags, self.protocol, self.algorithm) + self.public_key

    @property
    def is_zone_key(self) -> bool:
        """Whether the key may sign zone data (flag bit 7, protocol 3)."""
        return bool(self.flags & ZONE_KEY_FLAG) and self.protocol == DNSSEC_PROTOCOL

    @property
    def is_revoked(self) -> bool:
        """Whether the REVOKE bit is set (RFC 5011 2.1): the key signs nothing any more."""
        return bool(self.flags & REVOKE_FLAG)


@dataclass(frozen=True, slots=True)
class Rrsig:
    """An RRSIG RDATA, decoded (RFC 4034 section 3); ``signer`` is wire format."""

    type_covered: int
    algorithm: int
    labels: int
    original_ttl: int
    expiration: int
    inception: int
    key_tag: int
    signer: bytes
    signature: bytes

    @classmethod
    def from_wire(cls, rdata: bytes) -> Rrsig:
        """Decode RRSIG RDATA.

        Raises:
            MalformedData: truncated, or the signer is not a valid name.
        """
        if len(rdata) < RRSIG_FIXED.size + 1:
            raise MalformedData(f"RRSIG RDATA of {len(rdata)} octets is too short")
        covered, algorithm, labels, ttl, expires, incepts, tag = RRSIG_FIXED.unpack_from(rdata)
        end = _name_end(rdata, RRSIG_FIXED.size)
        signer, signature = rdata[RRSIG_FIXED.size : end], rdata[end:]
        return cls(covered, algorithm, labels, ttl, expires, incepts, tag, signer, signature)

    def signed_header(self) -> bytes:
        """The RRSIG RDATA without the signature, signer lowercased (RFC 4034 3.1.8.1)."""
        fixed = RRSIG_FIXED.pack(
            self.type_covered,
            self.algorithm,
            self.labels,
            self.original_ttl,
            self.expiration,
            self.inception,
            self.key_tag,
        )
        return fixed + self.signer.lower()


@dataclass(frozen=True, slots=True)
class Ds:
    """A DS RDATA, decoded (RFC 4034 section 5)."""

    key_tag: int
    algorithm: int
    digest_type: int
    digest: bytes

    @classmethod
    def from_wire(cls, rdata: bytes) -> Ds:
        """Decode DS RDATA.

        Raises:
            MalformedData: shorter than the four fixed octets.
        """
        if len(rdata) < 4:
            raise MalformedData(f"DS RDATA of {len(rdata)} octets is too short")
        return cls(int.from_bytes(rdata[:2]), rdata[2], rdata[3], rdata[4:])

    def matches(self, owner: bytes, key: Dnskey) -> bool:
        """Whether this DS names ``key``, the DNSKEY owned by ``owner``.

        Raises:
            UnsupportedDigestType: the digest type cannot be computed here.
        """
        if (self.key_tag, self.algorithm) != (key.tag, key.algorithm):
            return False
        return ds_digest(owner, key.to_wire(), self.digest_type) == self.digest


def supported_algorithm(algorithm: int) -> bool:
    """Whether signatures made with DNSSEC ``algorithm`` can be checked here."""
    return algorithm in SUPPORTED_ALGORITHMS


def key_refusal(key: Dnskey) -> str | None:
    """Why signatures by ``key`` would not be checked, or ``None`` if they would.

    The reason is an unsupported algorithm or a refused RSA size. A key whose
    bytes do not decode is not refused here: checking with it fails as
    malformed (bogus), which is what such a key deserves.
    """
    try:
        verification_cost(key)
    except UnsupportedAlgorithm as error:
        return str(error)
    except MalformedData:
        return None
    return None


def verification_cost(key: Dnskey) -> int:
    """What one signature check with ``key`` costs, in RSA-2048 (e = 65537) checks.

    RSA grows with the square of the modulus and linearly with the exponent's
    bits (square-and-multiply); the curves are fixed. The RSA estimate errs
    high (RSA-4096 measures 2.4, and counts 4).

    Raises:
        UnsupportedAlgorithm: the algorithm is not supported, or the key is
            refused (``UnsupportedKey``).
        MalformedData: an RSA key that does not decode.
    """
    if key.algorithm in _RSA_HASHES:
        exponent, modulus = _rsa_numbers(key.public_key)
        exponent_bits, modulus_bits = _rsa_check_size(key.algorithm, exponent, modulus)
        weight = modulus_bits * modulus_bits * max(exponent_bits, _RSA_REFERENCE_EXPONENT)
        unit = _RSA_REFERENCE_MODULUS * _RSA_REFERENCE_MODULUS * _RSA_REFERENCE_EXPONENT
        return max(1, -(-weight // unit))
    cost = _CURVE_COSTS.get(key.algorithm)
    if cost is None:
        raise UnsupportedAlgorithm(f"DNSSEC algorithm {key.algorithm} is not supported")
    return cost


def supported_digest(digest_type: int) -> bool:
    """Whether DS records of ``digest_type`` can be checked here."""
    return digest_type in _DS_HASHES


def key_tag(dnskey_rdata: bytes) -> int:
    """The key tag of a DNSKEY RDATA (RFC 4034 appendix B).

    Algorithm 1 (RSA/MD5) uses the older definition of appendix B.1: the
    second-to-last two octets of the public key.
    """
    if len(dnskey_rdata) > 4 and dnskey_rdata[3] == 1:
        return int.from_bytes(dnskey_rdata[-3:-1])
    total = (sum(dnskey_rdata[0::2]) << 8) + sum(dnskey_rdata[1::2])
    total += (total >> 16) & 0xFFFF
    return total & 0xFFFF


def ds_digest(owner: bytes, dnskey_rdata: bytes, digest_type: int) -> bytes:
    """The DS digest of a DNSKEY: hash(owner | RDATA) (RFC 4034 section 5.1.4).

    Raises:
        UnsupportedDigestType: ``digest_type`` is not 1, 2 or 4.
    """
    hash_name = _DS_HASHES.get(digest_type)
    if hash_name is None:
        raise UnsupportedDigestType(f"DS digest type {digest_type} is not supported")
    return hashlib.new(hash_name, owner.lower() + dnskey_rdata).digest()


def name_labels(wire: bytes) -> tuple[bytes, ...]:
    """The labels of a wire-format name, leftmost first, without the root label.

    Raises:
        MalformedData: not exactly one valid uncompressed name.
    """
    if _name_end(wire, 0) != len(wire):
        raise MalformedData("trailing octets after a name")
    labels = []
    position = 0
    while wire[position]:
        end = position + 1 + wire[position]
        labels.append(wire[position + 1 : end])
        position = end
    return tuple(labels)


def is_subdomain(name: bytes, zone: bytes) -> bool:
    """Whether wire-format ``name`` is ``zone`` or below it (case-insensitive).

    Both must be valid uncompressed names (as ``name_labels`` accepts).
    """
    offset, target = 0, len(name) - len(zone)
    while offset < target:  # walk label by label to where ``zone`` would start
        offset += name[offset] + 1
    return offset == target and name[offset:].lower() == zone.lower()


def signed_data(rrsig: Rrsig, rrset: WireRRset) -> bytes:
    """The octets an RRSIG signs over ``rrset`` (RFC 4034 section 3.1.8.1).

    The RRSIG RDATA without its signature, then every RR in canonical form
    and order with the RRSIG's original TTL. An owner with more labels than
    the RRSIG's Labels field was synthesised from a wildcard, and is signed
    as ``*.`` plus its rightmost Labels labels (RFC 4035 section 5.3.2).

    Raises:
        MalformedData: the Labels field exceeds the owner's label count.
    """
    labels = name_labels(rrset.owner)
    if rrsig.labels > len(labels):
        raise MalformedData(
            f"RRSIG Labels field {rrsig.labels} exceeds the owner's {len(labels)} labels"
        )
    owner = rrset.owner.lower()
    if rrsig.labels < len(labels):
        dropped = labels[: len(labels) - rrsig.labels]
        owner = b"\x01*" + owner[sum(1 + len(label) for label in dropped) :]
    fixed = owner + _RR_FIXED.pack(rrset.rdtype, rrset.rdclass, rrsig.original_ttl)
    parts = [rrsig.signed_header()]
    parts.extend(fixed + len(rdata).to_bytes(2) + rdata for rdata in sorted(set(rrset.rdatas)))
    return b"".join(parts)


def check_validity(rrsig: Rrsig, now: int) -> None:
    """Check that ``now`` (POSIX seconds) is inside the RRSIG's window.

    The times are 32-bit and compared with serial number arithmetic
    (RFC 4034 section 3.1.5, RFC 1982), so the check keeps working after 2106.

    Raises:
        SignatureNotYetValid: ``now`` is before the inception.
        SignatureExpired: ``now`` is after the expiration.
    """
    now32 = now % _SERIAL_MODULUS
    if _serial_before(now32, rrsig.inception):
        raise SignatureNotYetValid(f"signature not valid before {utc_text(rrsig.inception)}")
    if _serial_before(rrsig.expiration, now32):
        raise SignatureExpired(f"signature expired at {utc_text(rrsig.expiration)}")


def verify_signature(key: Dnskey, signature: bytes, data: bytes) -> None:
    """Check ``signature`` over ``data`` with ``key``, whatever its algorithm.

    Raises:
        UnsupportedAlgorithm: the key's algorithm is not supported, or the key
            is refused (``UnsupportedKey``: an RSA key beyond the size bounds).
        MalformedData: the public key or the signature does not decode.
        BogusSignature: the signature does not verify.
    """
    verify = _verifier(key.algorithm, key.public_key)
    try:
        verify(signature, data)
    except InvalidSignature:
        raise BogusSignature(
            f"signature does not verify with key {key.tag} (algorithm {key.algorithm})"
        ) from None


def verify_rrsig(rrsig: Rrsig, rrset: WireRRset, key: Dnskey, zone: bytes, now: int) -> None:
    """Every check RFC 4035 section 5.3.1 makes of one RRSIG over ``rrset``.

    ``key`` is a DNSKEY of ``zone`` (wire format), the zone ``rrset`` belongs
    to. Whether that key is trusted is the caller's business.

    Raises:
        BogusSignature: the RRSIG does not match ``rrset``, ``zone`` or
            ``key``, or its signature does not verify.
        SignatureNotYetValid, SignatureExpired: ``now`` is outside the window.
        UnsupportedAlgorithm, MalformedData: as for ``verify_signature``.
    """
    if rrsig.type_covered != rrset.rdtype:
        raise BogusSignature(f"RRSIG covers type {rrsig.type_covered}, not {rrset.rdtype}")
    if rrsig.signer.lower() != zone.lower() or not is_subdomain(rrset.owner, zone):
        raise BogusSignature("the RRSIG's signer is not the zone the RRset belongs to")
    if (rrsig.key_tag, rrsig.algorithm) != (key.tag, key.algorithm):
        raise BogusSignature(
            f"RRSIG names key {rrsig.key_tag} algorithm {rrsig.algorithm}, "
            f"not key {key.tag} algorithm {key.algorithm}"
        )
    if not key.is_zone_key:
        raise BogusSignature(f"key {key.tag} is not a zone key (flags {key.flags})")
    check_validity(rrsig, now)
    verify_signature(key, rrsig.signature, signed_data(rrsig, rrset))


def _name_end(wire: bytes, start: int) -> int:
    """The offset just past the uncompressed name at ``start``, after checking it."""
    position = start
    while True:
        if position >= len(wire):
            raise MalformedData("truncated name")
        length = wire[position]
        if length == 0:
            end = position + 1
            if end - start > 255:
                raise MalformedData("name longer than 255 octets")
            return end
        if length > 63:
            raise MalformedData("compressed or invalid label in a name")
        position += 1 + length


def _serial_before(a: int, b: int) -> bool:
    """RFC 1982 ``a < b`` for 32-bit serials (undefined distances count as not before)."""
    return 0 < (b - a) % _SERIAL_MODULUS < _SERIAL_HALF


def unwrap_serial_time(serial_time: int, now: int) -> int:
    """The POSIX time nearest ``now`` whose low 32 bits are ``serial_time``.

    RRSIG inception and expiration are 32-bit serials (RFC 4034 3.1.5).
    """
    delta = (serial_time - now) % _SERIAL_MODULUS
    if delta >= _SERIAL_HALF:
        delta -= _SERIAL_MODULUS
    return now + delta


def utc_text(timestamp: int) -> str:
    """``2017-09-03T05:00:00Z``."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parsed_keys_clear() -> None:
    """Forget every parsed public key (benchmarks measure cold validation)."""
    _verifier.cache_clear()


@functools.lru_cache(maxsize=512)
def _verifier(algorithm: int, public_key: bytes) -> Callable[[bytes, bytes], None]:
    """A function checking (signature, data) with this key, parsed once and cached.

    Raises:
        UnsupportedAlgorithm, MalformedData: as for ``verify_signature``.
    """
    if algorithm in _RSA_HASHES:
        return _rsa_verifier(algorithm, public_key, _RSA_HASHES[algorithm]())
    if algorithm in _ECDSA:
        return _ecdsa_verifier(public_key, *_ECDSA[algorithm])
    if algorithm == 15:
        return _eddsa_verifier(public_key, ed25519.Ed25519PublicKey.from_public_bytes, 64)
    if algorithm == 16:
        return _eddsa_verifier(public_key, ed448.Ed448PublicKey.from_public_bytes, 114)
    raise UnsupportedAlgorithm(f"DNSSEC algorithm {algorithm} is not supported")


def _rsa_numbers(public_key: bytes) -> tuple[int, int]:
    """The exponent and modulus of an RSA key: exponent length, exponent, modulus (RFC 3110 2)."""
    if not public_key:
        raise MalformedData("empty RSA public key")
    length, start = public_key[0], 1
    if length == 0:
        length, start = int.from_bytes(public_key[1:3]), 3
    modulus = public_key[start + length :]
    if length == 0 or len(public_key) < start + length or not modulus:
        raise MalformedData("RSA public key with a truncated exponent or no modulus")
    return int.from_bytes(public_key[start : start + length]), int.from_bytes(modulus)


def _rsa_check_size(algorithm: int, exponent: int, modulus: int) -> tuple[int, int]:
    """The exponent's and modulus's bits, once they are within the bounds.

    Raises:
        UnsupportedKey: either is out of bounds.
    """
    exponent_bits, modulus_bits = exponent.bit_length(), modulus.bit_length()
    low, high = RSA_MODULUS_BITS[algorithm]
    if not low <= modulus_bits <= high:
        raise UnsupportedKey(
            f"RSA key of {modulus_bits} bits is outside {low}-{high} (RFC 3110, RFC 5702)"
        )
    if exponent_bits > RSA_MAX_EXPONENT_BITS:
        raise UnsupportedKey(
            f"RSA exponent of {exponent_bits} bits is over {RSA_MAX_EXPONENT_BITS}"
        )
    return exponent_bits, modulus_bits


def _rsa_verifier(
    algorithm: int, public_key: bytes, hash_algorithm: hashes.HashAlgorithm
) -> Callable[[bytes, bytes], None]:
    """A verifier for an RSA key within the size bounds (refused before any arithmetic)."""
    exponent, modulus = _rsa_numbers(public_key)
    _rsa_check_size(algorithm, exponent, modulus)
    numbers = rsa.RSAPublicNumbers(exponent, modulus)
    try:
        key = numbers.public_key()
    except ValueError as error:
        raise MalformedData(f"unusable RSA public key: {error}") from None

    def verify(signature: bytes, data: bytes) -> None:
        key.verify(signature, data, _PKCS1, hash_algorithm)

    return verify


def _ecdsa_verifier(
    public_key: bytes, curve: ec.EllipticCurve, hash_algorithm: hashes.HashAlgorithm, size: int
) -> Callable[[bytes, bytes], None]:
    """ECDSA keys are x | y and signatures r | s, each ``size`` octets (RFC 6605)."""
    if len(public_key) != 2 * size:
        raise MalformedData(f"ECDSA public key of {len(public_key)} octets, not {2 * size}")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + public_key)
    except ValueError as error:
        raise MalformedData(f"unusable ECDSA public key: {error}") from None
    algorithm = ec.ECDSA(hash_algorithm)

    def verify(signature: bytes, data: bytes) -> None:
        if len(signature) != 2 * size:
            raise InvalidSignature
        r, s = int.from_bytes(signature[:size]), int.from_bytes(signature[size:])
        key.verify(encode_dss_signature(r, s), data, algorithm)

    return verify


def _eddsa_verifier(
    public_key: bytes,
    load: Callable[[bytes], ed25519.Ed25519PublicKey | ed448.Ed448PublicKey],
    signature_size: int,
) -> Callable[[bytes, bytes], None]:
    """EdDSA keys and signatures are used as they are (RFC 8080)."""
    try:
        key = load(public_key)
    except ValueError as error:
        raise MalformedData(f"unusable EdDSA public key: {error}") from None

    def verify(signature: bytes, data: bytes) -> None:
        if len(signature) != signature_size:
            raise InvalidSignature
        key.verify(signature, data)

    return verify
