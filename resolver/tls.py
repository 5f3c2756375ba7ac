"""TLS for DNS over TLS and DNS over HTTPS: the certificate, checked, and the SSL contexts.

Why here and not in the listeners: a certificate is configuration. It is read
at start and again at each reload (SIGHUP, ``ctl reload``), and a reload that
finds a broken or expired certificate must refuse it and keep serving with
the old one (issue 21), like every other file the configuration names. So
``load_identity`` reads both PEM files (regular files only, size capped:
``dnssec.files``), checks them completely, and builds both contexts; a
failure raises ``CertificateError`` and touches nothing. The listeners take
the context from the ``TlsIdentity`` in use at each accept, so a reload applies
from the next connection, and connections already open keep theirs.

The contexts: TLS 1.2 and 1.3 (RFC 8310 section 8.1 requires at least 1.2),
ALPN ``dot`` for DNS over TLS (RFC 7858 and the IANA registration) and
``h2``, ``http/1.1`` for DNS over HTTPS (RFC 8484 section 5.2 recommends
HTTP/2), session tickets on (OpenSSL's default: two TLS 1.3 tickets per
handshake, RFC 5077 tickets for 1.2) so that a phone that reconnects skips
the full handshake, as RFC 7858 section 3.4 recommends. Unbound sets the
same (tls-service-pem, tls-service-key; ``listen_sslctx_setup`` in
util/net_help.c: no SSLv2/3, no TLS 1.0/1.1 by default, ALPN per port).
"""

from __future__ import annotations

import hashlib
import os
import ssl
import time
from dataclasses import dataclass

from cryptography import x509

from dnssec.files import FileRefused, read_bytes
from resolver.config import Config
from resolver.errors import ConfigError

#: Largest PEM file accepted: a chain of a few certificates is a few kilobytes.
MAX_PEM_BYTES = 1 << 20

#: ALPN protocol identifiers (IANA TLS ALPN registry).
ALPN_DOT = ("dot",)
ALPN_DOH = ("h2", "http/1.1")


class CertificateError(ConfigError):
    """The TLS certificate or key is unusable: unreadable, malformed, mismatched or expired."""


@dataclass(frozen=True, slots=True)
class TlsIdentity:
    """A checked certificate and key, as one context per encrypted transport.

    Attributes:
        dot: The server context for DNS over TLS (ALPN ``dot``).
        doh: The server context for DNS over HTTPS (ALPN ``h2``, ``http/1.1``).
        fingerprint: SHA-256 of the certificate and key files' bytes: a
            reload tells a renewed certificate under the same path from the
            same one.
        not_after: When the certificate expires (Unix time), for logs.
    """

    dot: ssl.SSLContext
    doh: ssl.SSLContext
    fingerprint: str
    not_after: float


def load_identity(certificate: str, key: str, *, now: float) -> TlsIdentity:
    """Read, check and load a PEM certificate chain and its private key.

    Blocking (reads files): async callers run it in a thread.

    Args:
        certificate: Path of the PEM chain, the server's certificate first.
        key: Path of the PEM private key (unencrypted).
        now: Unix time at which the certificate must be valid.

    Raises:
        CertificateError: naming the file and what is wrong with it.
    """
    chain = _read(certificate)
    private_key = _read(key)
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
    except ValueError as error:
        raise CertificateError(f"not a PEM certificate: {error}", source=certificate) from error
    not_before = leaf.not_valid_before_utc.timestamp()
    not_after = leaf.not_valid_after_utc.timestamp()
    if now < not_before:
        raise CertificateError(f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} "
                               "UTC", source=certificate)
    if now > not_after:
        raise CertificateError(f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                               source=certificate)
    return TlsIdentity(
        dot=_context(chain, private_key, ALPN_DOT, certificate),
        doh=_context(chain, private_key, ALPN_DOH, certificate),
        fingerprint=hashlib.sha256(chain + b"\0" + private_key).hexdigest(),
        not_after=not_after,
    )


def _read(path: str) -> bytes:
    try:
        return read_bytes(path, limit=MAX_PEM_BYTES)
    except FileRefused as error:
        raise CertificateError(error.reason, source=path) from error


def _context(chain: bytes, key: bytes, alpn: tuple[str, ...], source: str) -> ssl.SSLContext:
    """A server context with ``chain`` and ``key`` loaded (the key must match the chain)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(list(alpn))
    try:
        with _memory_file(chain) as chain_path, _memory_file(key) as key_path:
            context.load_cert_chain(chain_path, key_path)
    except ssl.SSLError as error:
        raise CertificateError(f"certificate and key do not load together: {error.reason}",
                               source=source) from error
    return context


class _memory_file:
    """``data`` as a path OpenSSL can read, without writing the key to any disk.

    ``SSLContext.load_cert_chain`` takes only paths; the bytes were read once
    (capped, regular file) so that what is checked is what is loaded. A
    memfd lives in memory and disappears when closed.
    """

    def __init__(self, data: bytes) -> None:
        self._fd = os.memfd_create("holdfast-tls", os.MFD_CLOEXEC)
        os.write(self._fd, data)

    def __enter__(self) -> str:
        return f"/proc/self/fd/{self._fd}"

    def __exit__(self, *_: object) -> None:
        os.close(self._fd)


def identity_for(config: Config, *, now: float | None = None) -> TlsIdentity | None:
    """The identity ``config`` asks for: None without TLS or HTTPS listeners.

    Blocking (reads files). ``settings.check_files`` calls it, so
    ``check-config``, a start and a reload all refuse a bad certificate.

    Raises:
        CertificateError: a listener needs a certificate and none is
            configured, or it is unusable.
    """
    if not config["server.listen_tls"] and not config["server.listen_https"]:
        return None
    certificate, key = config["server.tls_certificate"], config["server.tls_key"]
    if not certificate or not key:
        raise CertificateError("server.listen_tls and listen_https need server.tls_certificate "
                               "and server.tls_key", source=config.source)
    return load_identity(certificate, key, now=time.time() if now is None else now)
