"""DNS over TLS to a forwarder (RFC 7858): the client side's TLS context.

Unbound's ``forward-tls-upstream: yes`` with ``forward-addr: ADDR@853#NAME``,
Knot Resolver's ``policy.TLS_FORWARD({{ADDR, hostname=NAME}})``: the
forwarder's certificate must be valid for the pinned name (``tls_auth_name``),
verified against the system's CA store or, with ``tls_ca_file``, against the
certificates in that file only. There is no opportunistic mode: a
certificate that does not verify is a failed exchange, never a fallback to
plain text (RFC 7858 strict privacy profile, RFC 8310).

A CA file is read as every file Holdfast reads (``dnssec.files``: a regular
file only, at most ``tls.MAX_PEM_BYTES``), once per path: the transport keeps
the contexts it built.
"""

from __future__ import annotations

import ssl

from dnssec.errors import HoldfastError
from dnssec.files import FileRefused, read_text

#: The port of DNS over TLS (RFC 7858), for a forwarder given without one.
DOT_PORT = 853


class UpstreamTlsError(HoldfastError):
    """A CA file for a forwarder's TLS cannot be used; says why."""


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """A TLS client context verifying names against ``ca_file`` only, or the system store.

    Raises:
        UpstreamTlsError: the file cannot be read or holds no usable certificate.
    """
    if not ca_file:
        context = ssl.create_default_context()
    else:
        # Here, not at the top: resolver.tls imports the configuration, which imports us.
        from resolver.tls import MAX_PEM_BYTES

        try:
            pem = read_text(ca_file, limit=MAX_PEM_BYTES)
        except FileRefused as exc:
            raise UpstreamTlsError(f"tls_ca_file {ca_file}: {exc.reason}") from exc
        if "-----BEGIN CERTIFICATE-----" not in pem:
            raise UpstreamTlsError(f"tls_ca_file {ca_file}: no PEM certificate in it")
        try:
            # With cadata, only these certificates are trusted (no system store).
            context = ssl.create_default_context(cadata=pem)
        except (ssl.SSLError, ValueError) as exc:
            raise UpstreamTlsError(
                f"tls_ca_file {ca_file}: not a usable CA certificate: {exc}"
            ) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
