"""Generate the lab's RSA signing keys (run once; the PEMs are committed).

The lab derives its ECDSA and Ed25519 keys from fixed seeds at start, but an
RSA key cannot be derived cheaply from a seed, so the two RSA/SHA-256
(algorithm 8) zones -- the lab root and ``rsa.org.`` -- sign with keys made
once by this script and shipped as package data in ``resolver/lab/keys/``.
Regenerating them changes the lab's trust anchor (``trust-anchor.ds``).

Usage (from the repository root)::

    python testdata/lab/make_keys.py [--force]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: Zone file stem -> key size in bits. "root" is the lab root zone ".".
RSA_ZONES = {"root": 2048, "rsa.org": 2048}

KEY_DIRECTORY = Path(__file__).resolve().parents[2] / "resolver" / "lab" / "keys"


def write_key(path: Path, bits: int) -> None:
    """Write a fresh unencrypted PKCS#8 RSA private key to ``path``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def main() -> None:
    """Create the missing keys (all of them with ``--force``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="replace existing keys")
    args = parser.parse_args()
    KEY_DIRECTORY.mkdir(parents=True, exist_ok=True)
    for stem, bits in RSA_ZONES.items():
        path = KEY_DIRECTORY / f"{stem}.pem"
        if path.exists() and not args.force:
            print(f"kept {path.name}")
            continue
        write_key(path, bits)
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
