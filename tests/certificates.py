"""Self-signed test certificates for DNS over TLS and HTTPS, made at test time.

The key is a P-256 EC key (fast to make); the certificate names 127.0.0.1
and ::1 as IP SANs and ``localhost`` as a DNS SAN, so clients that verify
can be pointed at it with the certificate as their CA.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write_certificate(
    directory: Path,
    name: str = "server",
    *,
    not_before: datetime.datetime | None = None,
    days: int = 30,
) -> tuple[Path, Path]:
    """Write ``NAME.pem`` (certificate) and ``NAME.key`` under ``directory``; their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"holdfast test {name}")])
    start = not_before or datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
            x509.DNSName("localhost"),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass(frozen=True)
class EncryptedSetup:
    """A configuration file serving DoT and DoH on free loopback ports, and its parts."""

    config: Path
    tls_port: int
    https_port: int
    certificate: Path
    key: Path


def write_encrypted_config(directory: Path, free_port: Callable[[], int],
                           extra: str = "") -> EncryptedSetup:
    """``holdfast.toml`` under ``directory`` with DoT and DoH listeners and a fresh certificate."""
    certificate, key = write_certificate(directory)
    tls_port, https_port = free_port(), free_port()
    config = directory / "holdfast.toml"
    config.write_text(
        "[server]\n"
        f'listen_tls = ["127.0.0.1:{tls_port}"]\n'
        f'listen_https = ["127.0.0.1:{https_port}"]\n'
        f'tls_certificate = "{certificate}"\n'
        f'tls_key = "{key}"\n' + extra
    )
    return EncryptedSetup(config, tls_port, https_port, certificate, key)
