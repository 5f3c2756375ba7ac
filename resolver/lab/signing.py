"""Deterministic zone keys and RRset signatures for the lab.

Every lab zone signs with one combined signing key (flags 257, SEP), derived
from the zone's name so that the lab -- and therefore its trust anchor -- is
the same on every run: ECDSA P-256 (13) and Ed25519 (15) keys come from a
hash of the name, RSA/SHA-256 (8) keys are shipped as PEMs in
``resolver/lab/keys/`` (made once by ``testdata/lab/make_keys.py``).
Signature windows come from the lab's injected ``Clock``, never from the
system clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import TypeAlias

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.dnskeybase
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from resolver.lab.errors import LabError

RSASHA256 = 8
ECDSAP256SHA256 = 13
ED25519 = 15

_HOUR = 3600
_DAY = 86400

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


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
        """Made 15 days before ``now``, expired an hour before ``now``."""
        return cls(int(now) - 15 * _DAY, int(now) - _HOUR)


@dataclass(frozen=True, slots=True)
class ZoneKey:
    """A zone's signing key and its DNSKEY record."""

    zone: dns.name.Name
    private: PrivateKey
    dnskey: dns.rdtypes.ANY.DNSKEY.DNSKEY

    def ds(self) -> dns.rdtypes.ANY.DS.DS:
        """The SHA-256 DS record for this key, as the parent publishes it."""
        return dns.dnssec.make_ds(self.zone, self.dnskey, "SHA256")

    def sign(self, rrset: dns.rrset.RRset, window: Window) -> dns.rrset.RRset:
        """Return the RRSIG RRset over ``rrset`` (same owner and TTL)."""
        rrsig = dns.dnssec.sign(
            rrset,
            self.private,
            self.zone,
            self.dnskey,
            inception=window.inception,
            expiration=window.expiration,
        )
        return dns.rrset.from_rdata(rrset.name, rrset.ttl, rrsig)


def zone_key(zone: dns.name.Name, algorithm: int) -> ZoneKey:
    """The lab's fixed key for ``zone`` with ``algorithm`` (8, 13 or 15).

    Raises:
        LabError: unsupported algorithm, or no shipped RSA key for the zone.
    """
    private: PrivateKey
    if algorithm == RSASHA256:
        private = _shipped_rsa_key(zone)
    elif algorithm == ECDSAP256SHA256:
        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        scalar = int.from_bytes(_seed(zone, algorithm)) % (order - 1) + 1
        private = ec.derive_private_key(scalar, ec.SECP256R1())
    elif algorithm == ED25519:
        private = ed25519.Ed25519PrivateKey.from_private_bytes(_seed(zone, algorithm))
    else:
        raise LabError(f"{zone}: the lab has no keys for DNSSEC algorithm {algorithm}")
    dnskey = dns.dnssec.make_dnskey(
        private.public_key(),
        algorithm,
        flags=dns.rdtypes.dnskeybase.Flag.ZONE | dns.rdtypes.dnskeybase.Flag.SEP,
    )
    return ZoneKey(zone, private, dnskey)


def break_signatures(rrsigs: dns.rrset.RRset) -> dns.rrset.RRset:
    """Return ``rrsigs`` with every signature's bits inverted (never verifies)."""
    broken = dns.rrset.RRset(rrsigs.name, rrsigs.rdclass, rrsigs.rdtype, rrsigs.covers)
    broken.update_ttl(rrsigs.ttl)
    for rrsig in rrsigs:
        signature = bytes(byte ^ 0xFF for byte in rrsig.signature)
        broken.add(rrsig.replace(signature=signature))
    return broken


def _seed(zone: dns.name.Name, algorithm: int) -> bytes:
    return hashlib.sha256(f"holdfast-lab {algorithm} {zone.to_text()}".encode()).digest()


def _shipped_rsa_key(zone: dns.name.Name) -> rsa.RSAPrivateKey:
    stem = "root" if zone == dns.name.root else zone.to_text(omit_final_dot=True)
    resource = resources.files("resolver.lab").joinpath("keys").joinpath(f"{stem}.pem")
    try:
        key = serialization.load_pem_private_key(resource.read_bytes(), password=None)
    except FileNotFoundError:
        raise LabError(f"{zone}: no RSA key {stem}.pem shipped with the lab") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise LabError(f"{zone}: {stem}.pem is not an RSA private key")
    return key
