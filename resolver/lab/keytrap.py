"""``keytrap.com``: a zone built to make a naive validator work without end.

KeyTrap (CVE-2023-50387): a DNSKEY RRset holding many keys that share one
key tag and algorithm, and RRsets carrying many RRSIGs that name that tag,
so that a validator trying every key against every signature does
keys x signatures verifications for one answer. Here the DNSKEY RRset holds
the zone's genuine key (the one the parent's DS names, flags 257) and
``len(DECOY_OFFSETS)`` decoys (flags 256); its own RRSIG is genuine, so the
key set validates. Every other RRset carries ``DECOY_SIGNATURES`` RRSIGs
naming the shared tag, none of which verifies with any key.

The decoys are valid P-256 keys, so every key/signature pair costs a real
verification: decoy ``i`` has private scalar ``s + DECOY_OFFSETS[i]``
(mod the group order), ``s`` being the genuine key's. Finding offsets whose
key tags collide takes some 2 million point additions, far too slow for lab
start, so ``testdata/lab/make_keys.py --keytrap`` found them once; the lab
only derives the 31 keys (about a millisecond).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import dns.dnssec
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.dnskeybase
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec

from resolver.lab.errors import LabError
from resolver.lab.signing import P256_ORDER, Window, ZoneKey, forged_rrsig

#: Offsets from the genuine key's scalar of decoys sharing its key tag, for
#: ``keytrap.com.`` (found by ``testdata/lab/make_keys.py --keytrap``).
DECOY_OFFSETS = (
    54266, 280406, 294872, 378905, 421878, 442188, 709502, 896023, 924404, 1013112, 1072729,
    1122163, 1153105, 1177000, 1181880, 1205915, 1259753, 1295936, 1311770, 1559292,
    1586083, 1602668, 1683835, 1747557, 1761772, 1772199, 1829370, 1837811, 1861223,
    1869958, 2000863,
)
#: Forged RRSIGs on every RRset of the zone but its DNSKEY RRset.
DECOY_SIGNATURES = 16


def decoy_keys(
    key: ZoneKey, offsets: Sequence[int] = DECOY_OFFSETS
) -> tuple[dns.rdtypes.ANY.DNSKEY.DNSKEY, ...]:
    """The decoy DNSKEYs (flags 256) at ``offsets`` from ``key``, a P-256 key.

    Raises:
        LabError: ``key`` is not a P-256 key.
    """
    private = key.private
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(
        private.curve, ec.SECP256R1
    ):
        raise LabError(f"{key.zone}: KeyTrap decoys need an ECDSA P-256 key")
    scalar = private.private_numbers().private_value
    return tuple(
        dns.dnssec.make_dnskey(
            ec.derive_private_key((scalar + offset) % P256_ORDER, ec.SECP256R1()).public_key(),
            key.dnskey.algorithm,
            flags=dns.rdtypes.dnskeybase.Flag.ZONE,
        )
        for offset in offsets
    )


def decoy_signatures(rrset: dns.rrset.RRset, key: ZoneKey, window: Window) -> dns.rrset.RRset:
    """``DECOY_SIGNATURES`` RRSIGs over ``rrset`` naming ``key``; none verifies.

    Each signature is a well-formed ECDSA (r, s) pair, both in [1, n - 1],
    drawn from a hash of the owner, type and index.
    """
    rrsigs = []
    for index in range(DECOY_SIGNATURES):
        r, s = (_scalar(f"{rrset.name} {rrset.rdtype} {index} {half}") for half in "rs")
        rrsigs.append(forged_rrsig(rrset, key, window, r.to_bytes(32) + s.to_bytes(32)))
    return dns.rrset.from_rdata_list(rrset.name, rrset.ttl, rrsigs)


def _scalar(text: str) -> int:
    """A number in [1, n - 1] (n the P-256 group order) drawn from ``text``."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()) % (P256_ORDER - 1) + 1
