"""End to end: DNS over TLS and HTTPS asked by real clients (issue 21).

``holdfast serve`` over the lab, with a certificate made at test time, is
asked by ``dig +tls`` / ``+https`` (BIND 9.18), ``kdig +tls`` / ``+https``
(Knot) and ``curl --doh-url`` (curl resolves a lab name through our DoH and
connects to the address we gave it: a tiny HTTP server on 127.0.0.1). Then
the certificate is replaced and SIGHUP reloads it; a broken one is refused
and the old one keeps serving.
"""

from __future__ import annotations

import http.server
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.certificates import write_certificate, write_encrypted_config
from tests.scenarios.processes import (
    DIG_TIMEOUT,
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    dig,
    free_port,
    serving,
)

pytestmark = [pytest.mark.integration, NEEDS_DIG]

NEEDS_KDIG = pytest.mark.skipif(shutil.which("kdig") is None, reason="kdig is not installed")
NEEDS_CURL = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


class Encrypted:
    """The resolver and where it serves DoT and DoH."""

    def __init__(self, resolver: ResolverProcess, tls_port: int, https_port: int,
                 certificate: Path, key: Path) -> None:
        self.resolver = resolver
        self.tls_port = tls_port
        self.https_port = https_port
        self.certificate = certificate
        self.key = key


@pytest.fixture(scope="module")
def encrypted(lab: LabProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Encrypted]:
    workdir = tmp_path_factory.mktemp("encrypted")
    setup = write_encrypted_config(workdir, free_port, "[logging]\nquery_log = true\n")
    with serving(ResolverProcess.start(lab, workdir, "--config", str(setup.config))) as resolver:
        yield Encrypted(resolver, setup.tls_port, setup.https_port, setup.certificate, setup.key)


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=DIG_TIMEOUT,
                            check=False)
    return result.stdout + result.stderr


def test_dig_over_tls(encrypted: Encrypted) -> None:
    reply = dig("127.0.0.1", encrypted.tls_port, "www.example.com", "A",
                extra=["+tls", f"+tls-ca={encrypted.certificate}", "+tls-hostname=localhost"])
    assert reply.status == "NOERROR", reply.output
    assert reply.answers("A") == ["192.0.2.1"]
    assert "(TLS)" in reply.output


def test_dig_over_https(encrypted: Encrypted) -> None:
    reply = dig("127.0.0.1", encrypted.https_port, "www.example.com", "AAAA",
                extra=["+https", f"+tls-ca={encrypted.certificate}",
                       "+tls-hostname=localhost"])
    assert reply.status == "NOERROR", reply.output
    assert reply.answers("AAAA") == ["2001:db8::1"]
    assert "(HTTPS)" in reply.output


def test_dig_over_https_get(encrypted: Encrypted) -> None:
    reply = dig("127.0.0.1", encrypted.https_port, "alias.example.com", "A",
                extra=["+https-get", "+tls-ca=" + str(encrypted.certificate),
                       "+tls-hostname=localhost"])
    assert reply.status == "NOERROR", reply.output
    assert "192.0.2.3" in reply.answers("A")


@NEEDS_KDIG
@pytest.mark.parametrize("transport", ["+tls", "+https"])
def test_kdig(encrypted: Encrypted, transport: str) -> None:
    port = encrypted.tls_port if transport == "+tls" else encrypted.https_port
    output = _run("kdig", "@127.0.0.1", "-p", str(port), transport,
                  f"+tls-ca={encrypted.certificate}", "+tls-hostname=localhost",
                  "+timeout=10", "+retry=0", "www.example.com", "A")
    assert "status: NOERROR" in output, output
    assert "192.0.2.1" in output
    assert ";; TLS session" in output
    if transport == "+https":
        assert ";; HTTP session (HTTP/2" in output


@NEEDS_CURL
def test_curl_resolves_through_doh(encrypted: Encrypted) -> None:
    """curl looks up a lab name over our DoH and fetches from the address it got.

    ns1.example.com is 127.53.3.1 in the lab (its name server): a tiny HTTP
    server listens there, so the fetch works only if the DoH answer came,
    and nothing leaves 127.0.0.0/8.
    """
    body = b"hello from the lab\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    with http.server.HTTPServer(("127.53.3.1", 0), Handler) as web:
        thread = threading.Thread(target=web.serve_forever, daemon=True)
        thread.start()
        try:
            output = _run(
                "curl", "-sS", "-v", "-4", "--max-time", "20",
                "--doh-url", f"https://127.0.0.1:{encrypted.https_port}/dns-query",
                "--doh-insecure", f"http://ns1.example.com:{web.server_address[1]}/",
            )
        finally:
            web.shutdown()
            thread.join()
    assert "DoH A: 127.53.3.1" in output, output
    assert "hello from the lab" in output, output


def _served_certificate(port: int) -> bytes:
    """The DER certificate the DoT listener presents now."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def _until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(what)


def test_certificate_reload(encrypted: Encrypted, tmp_path: Path) -> None:
    """SIGHUP loads a renewed certificate at the same path; a broken one is refused."""
    before = _served_certificate(encrypted.tls_port)
    # An open DoT connection survives the reload.
    context = ssl.create_default_context(cafile=str(encrypted.certificate))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", encrypted.tls_port), timeout=10) as raw, \
            context.wrap_socket(raw) as kept:
        new_cert, new_key = write_certificate(tmp_path, "renewed")
        shutil.copyfile(new_cert, encrypted.certificate)
        shutil.copyfile(new_key, encrypted.key)
        encrypted.resolver.process.send_signal(signal.SIGHUP)
        _until(lambda: _served_certificate(encrypted.tls_port) != before,
               "the renewed certificate is not served")
        query = bytes.fromhex("1234010000010000000000000377777707657861"
                              "6d706c6503636f6d0000010001")
        kept.sendall(len(query).to_bytes(2, "big") + query)
        assert len(kept.recv(65535)) > 2  # still answered on the old session
    renewed = _served_certificate(encrypted.tls_port)
    # A key that does not belong to the certificate is refused; the renewed one stays.
    _, other_key = write_certificate(tmp_path, "other")
    shutil.copyfile(other_key, encrypted.key)
    encrypted.resolver.process.send_signal(signal.SIGHUP)
    log = encrypted.resolver.log
    _until(lambda: "do not load together" in log.read_text(), "the bad key was not refused")
    assert _served_certificate(encrypted.tls_port) == renewed
    reply = dig("127.0.0.1", encrypted.tls_port, "www.example.com", "A", extra=["+tls"])
    assert reply.status == "NOERROR", reply.output
    shutil.copyfile(new_key, encrypted.key)  # the module's other tests get a good pair


def test_query_log_names_the_transport(encrypted: Encrypted) -> None:
    dig("127.0.0.1", encrypted.tls_port, "www.example.com", "TXT", extra=["+tls"])
    log = encrypted.resolver.log.read_text()
    assert " dot " in log, log
    assert " doh " in log, log
