"""Deterministic zone keys and RRset signatures for the lab.

Every lab zone signs with one combined signing key (flags 257, SEP), derived
from the zone's name so that the lab -- and therefore its trust anchor -- is
the same on every run: ECDSA (13, 14) and EdDSA (15, 16) keys come from a
hash of the name. RSA keys (5, 7, 8, 10) cannot be derived cheaply from a
seed: a checkout reads the fixed ones in ``testdata/lab/keys/`` (made once by
``testdata/lab/make_keys.py``), so tests see the same lab on every run; an
installed Holdfast has no testdata and makes fresh RSA keys once per process
(the lab hands its trust anchor to the resolver it runs, so nothing else
needs them fixed). They are test keys, not product data, and are not in the
wheel. A
PRIVATEDNS (253) key is one no validator knows: its RRSIGs are filler.
Signature windows come from the lab's injected ``Clock``, never from the
system clock.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.dnskeybase
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from resolver.lab.errors import LabError

RSASHA1 = 5
RSASHA1NSEC3SHA1 = 7
RSASHA256 = 8
RSASHA512 = 10
ECDSAP256SHA256 = 13
ECDSAP384SHA384 = 14
ED25519 = 15
ED448 = 16
#: RFC 4034 A.1.1: an algorithm named by a domain name at the start of the key.
PRIVATEDNS = 253

#: The order of each ECDSA curve's group (private scalars are below it).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P384_ORDER = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
    "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
    16,
)
_RSA = frozenset({RSASHA1, RSASHA1NSEC3SHA1, RSASHA256, RSASHA512})
_ECDSA: dict[int, tuple[ec.EllipticCurve, int]] = {
    ECDSAP256SHA256: (ec.SECP256R1(), P256_ORDER),
    ECDSAP384SHA384: (ec.SECP384R1(), P384_ORDER),
}
#: The name (wire format) that opens the lab's PRIVATEDNS keys and signatures.
_PRIVATE_ALGORITHM = dns.name.from_text("holdfast-lab.invalid.").to_digestable()

_HOUR = 3600
_DAY = 86400

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


@dataclass(frozen=True, slots=True)
class Window:
    """A signature validity window, POSIX seconds."""

    inception: int
    expiration: int

    @classmethod
    def valid(cls, now: float) -> Window:
        """Valid from an hour before ``now`` until 14 days after."""
        return cls(int(now) - _HOUR, int(now) + 14 * _DAY)

    @classmethod
    def expired(cls, now: float) -> Window:
        """Made 30 days before ``now``, expired a week before ``now``.

        A week, not an hour: validators allow some clock skew (Unbound up to
        a day, ``val-sig-skew-max``), and the lab's verdicts must not depend
        on that.
        """
        return cls(int(now) - 30 * _DAY, int(now) - 7 * _DAY)

    @classmethod
    def future(cls, now: float) -> Window:
        """Not valid until a week after ``now`` (beyond any skew); expires 30 days after."""
        return cls(int(now) + 7 * _DAY, int(now) + 30 * _DAY)


@dataclass(frozen=True, slots=True)
class ZoneKey:
    """A zone's signing key and its DNSKEY record.

    ``private`` is ``None`` for a PRIVATEDNS key: its "signatures" are the
    algorithm's name followed by filler bytes.
    """

    zone: dns.name.Name
    private: PrivateKey | None
    dnskey: dns.rdtypes.ANY.DNSKEY.DNSKEY

    @property
    def tag(self) -> int:
        """The key tag (RFC 4034 appendix B) that RRSIGs and DS records name."""
        tag: int = dns.dnssec.key_id(self.dnskey)
        return tag

    def ds(self) -> dns.rdtypes.ANY.DS.DS:
        """The SHA-256 DS record for this key, as the parent publishes it."""
        return dns.dnssec.make_ds(self.zone, self.dnskey, "SHA256")

    def sign(self, rrset: dns.rrset.RRset, window: Window) -> dns.rrset.RRset:
        """Return the RRSIG RRset over ``rrset`` (same owner and TTL)."""
        if self.private is None:
            filler = hashlib.sha256(f"{rrset.name} {rrset.rdtype}".encode()).digest()
            signature = _PRIVATE_ALGORITHM + filler
            rrsig = forged_rrsig(rrset, self, window, signature)
            return dns.rrset.from_rdata(rrset.name, rrset.ttl, rrsig)
        rrsig = dns.dnssec.sign(
            rrset,
            self.private,
            self.zone,
            self.dnskey,
            inception=window.inception,
            expiration=window.expiration,
        )
        return dns.rrset.from_rdata(rrset.name, rrset.ttl, rrsig)


def zone_key(zone: dns.name.Name, algorithm: int, variant: str = "") -> ZoneKey:
    """The lab's fixed key for ``zone`` with ``algorithm`` (5, 7, 8, 10, 13-16, 253).

    A non-empty ``variant`` derives another key from the same name (ECDSA
    and EdDSA only), e.g. one the zone does not publish.

    Raises:
        LabError: unsupported algorithm, or a checkout without the zone's RSA key.
    """
    flags = dns.rdtypes.dnskeybase.Flag.ZONE | dns.rdtypes.dnskeybase.Flag.SEP
    if algorithm == PRIVATEDNS:
        public = base64.b64encode(_PRIVATE_ALGORITHM + _seed(zone, algorithm, 32, variant))
        text = f"{int(flags)} 3 {algorithm} {public.decode()}"
        dnskey = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY, text)
        assert isinstance(dnskey, dns.rdtypes.ANY.DNSKEY.DNSKEY)
        return ZoneKey(zone, None, dnskey)
    private: PrivateKey
    if algorithm in _RSA:
        if variant:
            raise LabError(f"{zone}: RSA keys are not derived, there is no {variant!r} variant")
        private = _rsa_key(zone)
    elif algorithm in _ECDSA:
        curve, order = _ECDSA[algorithm]
        seed = _seed(zone, algorithm, curve.key_size // 8, variant)
        private = ec.derive_private_key(int.from_bytes(seed) % (order - 1) + 1, curve)
    elif algorithm == ED25519:
        private = ed25519.Ed25519PrivateKey.from_private_bytes(_seed(zone, algorithm, 32, variant))
    elif algorithm == ED448:
        private = ed448.Ed448PrivateKey.from_private_bytes(_seed(zone, algorithm, 57, variant))
    else:
        raise LabError(f"{zone}: the lab has no keys for DNSSEC algorithm {algorithm}")
    dnskey = dns.dnssec.make_dnskey(private.public_key(), algorithm, flags=flags)
    return ZoneKey(zone, private, dnskey)


def forged_rrsig(
    rrset: dns.rrset.RRset, key: ZoneKey, window: Window, signature: bytes
) -> dns.rdata.Rdata:
    """An RRSIG over ``rrset`` naming ``key`` whose signature is ``signature``.

    Every field but the signature is what ``key`` would have signed, so only
    checking the signature shows that it is not one.
    """
    labels = len(rrset.name) - 1 - int(rrset.name.is_wild())
    fields = (
        dns.rdatatype.to_text(rrset.rdtype),
        key.dnskey.algorithm,
        labels,
        rrset.ttl,
        window.expiration,
        window.inception,
        key.tag,
        key.zone,
        base64.b64encode(signature).decode(),
    )
    return dns.rdata.from_text(
        dns.rdataclass.IN, dns.rdatatype.RRSIG, " ".join(str(field) for field in fields)
    )


def break_signatures(rrsigs: dns.rrset.RRset) -> dns.rrset.RRset:
    """Return ``rrsigs`` with every signature's bits inverted (never verifies)."""
    broken = dns.rrset.RRset(rrsigs.name, rrsigs.rdclass, rrsigs.rdtype, rrsigs.covers)
    broken.update_ttl(rrsigs.ttl)
    for rrsig in rrsigs:
        signature = bytes(byte ^ 0xFF for byte in rrsig.signature)
        broken.add(rrsig.replace(signature=signature))
    return broken


def _seed(zone: dns.name.Name, algorithm: int, size: int, variant: str = "") -> bytes:
    """``size`` bytes from the zone's name (SHA-256 for 32 bytes, else SHAKE-256)."""
    text = f"holdfast-lab {algorithm} {zone.to_text()}" + (f" {variant}" if variant else "")
    if size == 32:
        return hashlib.sha256(text.encode()).digest()
    return hashlib.shake_256(text.encode()).digest(size)


#: The fixed RSA keys of a checkout (absent from an installed Holdfast).
CHECKOUT_KEYS = Path(__file__).resolve().parents[2] / "testdata" / "lab" / "keys"
#: Their size, and the size of the keys an installed lab makes.
RSA_BITS = 2048


@functools.cache
def _rsa_key(zone: dns.name.Name) -> rsa.RSAPrivateKey:
    """The checkout's fixed key for ``zone``, or one made for this process."""
    stem = "root" if zone == dns.name.root else zone.to_text(omit_final_dot=True)
    path = CHECKOUT_KEYS / f"{stem}.pem"
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        if CHECKOUT_KEYS.is_dir():  # a checkout that lacks this zone's key
            raise LabError(f"{zone}: no RSA key {path.name} in testdata/lab/keys") from None
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    # Our own keys: skip the costly RSA consistency checks (~45 ms per key).
    key = serialization.load_pem_private_key(
        pem, password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise LabError(f"{zone}: {stem}.pem is not an RSA private key")
    return key
