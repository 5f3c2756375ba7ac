"""Generate the lab's RSA signing keys and KeyTrap decoys (run once; committed).

The lab derives its ECDSA and EdDSA keys from fixed seeds at start, but an
RSA key cannot be derived cheaply from a seed, so the RSA zones -- the lab
root and ``rsa.org.`` (algorithm 8), ``rsasha1.org.`` (5),
``nsec3rsasha1.org.`` (7) and ``rsasha512.org.`` (10) -- sign with keys made
once by this script and kept in ``testdata/lab/keys/`` (a checkout only:
an installed lab makes fresh ones; see ``resolver/lab/signing.py``).
Regenerating the root's key changes the lab's trust anchor (``trust-anchor.ds``).

``bigexp.org.`` (a 3071-bit public exponent) and ``rsa16k.org.`` (a 16384-bit
modulus) sign with keys no generator makes, built from primes by
``resolver/lab/costlykeys.py`` (about a second each).

``--keytrap`` prints the offsets of the ``keytrap.com.`` decoy keys for
``resolver/lab/keytrap.py``: the first 31 scalar offsets ``k`` for which
the key ``s + k`` (``s`` the genuine key's scalar) with DNSKEY flags 256 has
the genuine key's tag. It walks the points ``(s + k)G`` by adding ``G``
(pure Python, about a minute).

Usage (from the repository root, with the project's virtualenv)::

    python testdata/lab/make_keys.py [--force] [--keytrap]
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import dns.dnssec
import dns.name
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from resolver.lab.costlykeys import BIG_EXPONENT, HUGE_MODULUS, RsaShape, costly_private_key
from resolver.lab.keytrap import decoy_keys
from resolver.lab.signing import ECDSAP256SHA256, zone_key

#: Zone file stem -> key size in bits. "root" is the lab root zone ".".
RSA_ZONES = {
    "root": 2048,
    "rsa.org": 2048,
    "rsasha1.org": 2048,
    "nsec3rsasha1.org": 2048,
    "rsasha512.org": 2048,
}
#: Zone file stem -> the shape of its costly key (``resolver/lab/costlykeys.py``).
COSTLY_ZONES = {"bigexp.org": BIG_EXPONENT, "rsa16k.org": HUGE_MODULUS}
KEYTRAP_ZONE = "keytrap.com."
KEYTRAP_DECOYS = 31
#: The P-256 field prime.
_P = 2**256 - 2**224 + 2**192 + 2**96 - 1

KEY_DIRECTORY = Path(__file__).resolve().parent / "keys"


def write_key(path: Path, bits: int | RsaShape) -> None:
    """Write a fresh unencrypted PKCS#8 RSA private key to ``path``."""
    if isinstance(bits, RsaShape):
        zone = dns.name.from_text(path.name.removesuffix(".pem"))
        key = costly_private_key(zone, bits)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def keytrap_offsets(count: int = KEYTRAP_DECOYS) -> list[int]:
    """The first ``count`` offsets whose flags-256 key shares the genuine key's tag."""
    key = zone_key(dns.name.from_text(KEYTRAP_ZONE), ECDSAP256SHA256)
    assert isinstance(key.private, ec.EllipticCurvePrivateKey)
    target = key.tag
    start = key.private.public_key().public_numbers()
    generator = ec.derive_private_key(1, ec.SECP256R1()).public_key().public_numbers()
    x, y, gx, gy = start.x, start.y, generator.x, generator.y
    header = sum(struct.unpack("!2H", struct.pack("!HBB", 256, 3, ECDSAP256SHA256)))
    words = struct.Struct("!32H")
    offsets: list[int] = []
    offset = 0
    while len(offsets) < count:
        # Affine P-256 point addition: (x, y) += G.
        slope = (gy - y) * pow(gx - x, -1, _P) % _P
        next_x = (slope * slope - x - gx) % _P
        x, y = next_x, (slope * (x - next_x) - y) % _P
        offset += 1
        total = header + sum(words.unpack(x.to_bytes(32) + y.to_bytes(32)))
        if (total + (total >> 16)) & 0xFFFF == target:
            offsets.append(offset)
    return offsets


def print_keytrap_offsets() -> None:
    """Find the decoy offsets, check them with dnspython, print the constant."""
    offsets = keytrap_offsets()
    print(f"# {KEYTRAP_ZONE}: paste into resolver/lab/keytrap.py")
    print(f"DECOY_OFFSETS = {tuple(offsets)!r}")
    key = zone_key(dns.name.from_text(KEYTRAP_ZONE), ECDSAP256SHA256)
    tags = {dns.dnssec.key_id(decoy) for decoy in decoy_keys(key, offsets)}
    assert tags == {key.tag}, f"decoy tags {tags} are not {key.tag}"


def main() -> None:
    """Create the missing keys (all of them with ``--force``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="replace existing keys")
    parser.add_argument("--keytrap", action="store_true", help="print the KeyTrap decoy offsets")
    args = parser.parse_args()
    if args.keytrap:
        print_keytrap_offsets()
        return
    KEY_DIRECTORY.mkdir(parents=True, exist_ok=True)
    for stem, bits in {**RSA_ZONES, **COSTLY_ZONES}.items():
        path = KEY_DIRECTORY / f"{stem}.pem"
        if path.exists() and not args.force:
            print(f"kept {path.name}")
            continue
        write_key(path, bits)
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
