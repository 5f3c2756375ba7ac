"""Where candidate root copies come from: files, AXFR, HTTP(S).

The lab AXFR test binds 127.53.0.0/16 (run it inside ``tests/run-isolated``;
it skips where that range cannot be bound). Every other server here listens
on 127.0.0.1 on a port the kernel picks. Nothing sleeps: timeouts only bound.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.server
import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from resolver.framing import frame, read_frames
from resolver.lab import Lab, serve_lab
from rootzone.errors import CandidateRejected, SourceError
from rootzone.sources import (
    AxfrSource,
    Fetched,
    FileSource,
    HttpSource,
    source_from_text,
)
from rootzone.zonefile import Record

LAB_ROOT = "127.53.0.1"
LAB_PORT = 5354


def _content(records: list[Record]) -> list[tuple[bytes, int, int, int, bytes]]:
    """The records without their line numbers, in a stable order."""
    return sorted((r.owner, r.rdtype, r.rdclass, r.ttl, r.rdata) for r in records)


async def _parsed(fetched: Fetched) -> list[Record]:
    return await trio.to_thread.run_sync(fetched.parse)


# --- Files -------------------------------------------------------------------


@pytest.fixture
def zone_file(tmp_path: Path, lab_root_text: str) -> Path:
    path = tmp_path / "root.zone"
    path.write_text(lab_root_text, encoding="utf-8")
    return path


def _touch(path: Path) -> None:
    """Move the modification time on by one nanosecond, keeping the content."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))


def _replace_keeping_size_and_time(path: Path) -> None:
    """Replace ``path`` by a copy (a new inode) with the same size and times."""
    stat = path.stat()
    replacement = path.with_name(path.name + ".new")
    replacement.write_bytes(path.read_bytes())
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    replacement.replace(path)
    assert path.stat().st_ino != stat.st_ino


async def test_file_is_read_first_then_only_when_it_changes(
    zone_file: Path, lab_records: list[Record]
) -> None:
    source = FileSource(zone_file)
    fetched = await source.fetch()
    assert fetched is not None
    assert fetched.source == source.name == str(zone_file)
    data = await trio.Path(zone_file).read_bytes()
    assert fetched.size == len(data)
    assert fetched.fingerprint == hashlib.sha256(data).hexdigest()
    assert await _parsed(fetched) == lab_records
    assert await source.fetch() is None

    _touch(zone_file)
    touched = await source.fetch()
    assert touched is not None
    assert touched.fingerprint == fetched.fingerprint
    assert await source.fetch() is None


async def test_a_file_replaced_by_rename_is_read_even_with_the_same_size_and_time(
    zone_file: Path,
) -> None:
    source = FileSource(zone_file)
    assert await source.fetch() is not None
    _replace_keeping_size_and_time(zone_file)
    assert await source.fetch() is not None


async def test_a_missing_file_is_a_source_error_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "absent.zone"
    source = FileSource(path)
    with pytest.raises(SourceError, match=r"absent\.zone: cannot read: No such file"):
        await source.fetch()
    with pytest.raises(SourceError):
        await source.fetch()
    path.write_text(". 86400 IN NS a.root-servers.net.\n", encoding="utf-8")
    assert await source.fetch() is not None


async def test_text_that_is_not_utf8_is_bad_content_not_an_unavailable_source(
    tmp_path: Path,
) -> None:
    path = tmp_path / "latin1.zone"
    path.write_bytes(b'. 86400 IN TXT "caf\xe9"\n')
    fetched = await FileSource(path).fetch()
    assert fetched is not None
    with pytest.raises(
        CandidateRejected, match=r"latin1\.zone: not UTF-8 text at offset 19"
    ) as info:
        fetched.parse()
    assert info.value.kind == "parse"


async def test_a_line_that_does_not_parse_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.zone"
    path.write_text(". 86400 IN NS a.\n. 86400 IN FROBNICATE 1\n", encoding="utf-8")
    fetched = await FileSource(path).fetch()
    assert fetched is not None
    with pytest.raises(CandidateRejected, match=r"bad\.zone:2") as info:
        fetched.parse()
    assert info.value.kind == "parse"


async def test_a_file_larger_than_the_bound_is_a_source_error(zone_file: Path) -> None:
    with pytest.raises(SourceError, match="larger than the limit of 1000 bytes"):
        await FileSource(zone_file, max_octets=1000).fetch()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (os.mkfifo, "a FIFO"),
        (lambda path: path.symlink_to("/dev/zero"), "a character device"),
        (lambda path: path.mkdir(), "a directory"),
    ],
    ids=["FIFO", "symlink to /dev/zero", "directory"],
)
async def test_only_a_regular_file_is_a_local_root_source(
    tmp_path: Path, make: Callable[[Path], None], reason: str
) -> None:
    """Issue 16: a FIFO blocked the open; /dev/zero was read up to MAX_OCTETS."""
    path = tmp_path / "root.zone"
    make(path)
    with trio.fail_after(5), pytest.raises(
        SourceError, match=f"root.zone: {reason}, not a regular file"
    ):
        await FileSource(path).fetch()


# --- AXFR from the lab -------------------------------------------------------


def _can_bind(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, LAB_PORT))
        except OSError:
            return False
    return True


async def test_axfr_from_the_lab_root_gives_the_lab_root_once_per_serial(
    session_lab: Lab, lab_records: list[Record], tmp_path: Path, nursery: trio.Nursery
) -> None:
    if not _can_bind(LAB_ROOT):
        pytest.skip(f"cannot bind {LAB_ROOT}:{LAB_PORT} (run inside tests/run-isolated)")
    await nursery.start(partial(serve_lab, session_lab, directory=tmp_path, port=LAB_PORT))
    source = AxfrSource(LAB_ROOT, LAB_PORT, allow=lambda a: ipaddress.ip_address(a).is_loopback)
    assert source.name == f"axfr://{LAB_ROOT}:{LAB_PORT}"

    fetched = await source.fetch()
    assert fetched is not None
    assert fetched.source == source.name
    assert 0 < fetched.size < 1_000_000
    assert _content(await _parsed(fetched)) == _content(lab_records)
    assert await source.fetch() is None


# --- AXFR from a scripted primary ---------------------------------------------


@dataclass
class Primary:
    """An AXFR server that can split, cut short, refuse or stall transfers.

    It serves the lab root's records (as the lab transfers them) under
    whatever SOA serial the test sets.
    """

    records: list[dns.rrset.RRset]
    serial: int
    messages: int = 1
    cut_after: int | None = None
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    stall: bool = False
    connections: int = 0
    transfers: int = 0

    def soa(self) -> dns.rrset.RRset:
        opening = self.records[0]
        return dns.rrset.from_rdata(
            opening.name, opening.ttl, opening[0].replace(serial=self.serial)
        )

    def zone(self) -> list[dns.rrset.RRset]:
        return [self.soa(), *self.records[1:]]

    def replies(self, query: dns.message.Message) -> list[dns.message.Message]:
        question = query.question[0]
        reply = dns.message.make_response(query)
        if question.rdtype == dns.rdatatype.SOA:
            reply.answer = [self.soa()]
            return [reply]
        self.transfers += 1
        if self.rcode != dns.rcode.NOERROR:
            reply.set_rcode(self.rcode)
            return [reply]
        stream = [*self.zone(), self.soa()]
        size = -(-len(stream) // self.messages)
        replies = []
        for start in range(0, len(stream), size):
            part = dns.message.make_response(query)
            if start:
                part.question = []
            part.answer = stream[start : start + size]
            replies.append(part)
        return replies[: self.cut_after]

    async def serve(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        async with stream, contextlib.aclosing(read_frames(stream)) as frames:
            async for wire in frames:
                if self.stall:
                    await trio.sleep_forever()
                query = dns.message.from_wire(wire)
                for reply in self.replies(query):
                    await stream.send_all(frame(reply.to_wire(max_size=65535)))
                if self.cut_after is not None and query.question[0].rdtype == dns.rdatatype.AXFR:
                    return


@pytest.fixture(scope="session")
def lab_transfer(session_lab: Lab) -> list[dns.rrset.RRset]:
    """The lab root's records in transfer order, one RRset per record, no closing SOA."""
    query = dns.message.make_query(".", "AXFR")
    wire = session_lab.handle(LAB_ROOT, query.to_wire(), tcp=True).wire
    assert wire is not None
    return list(dns.message.from_wire(wire, one_rr_per_rrset=True).answer[:-1])


@pytest.fixture
async def primary(
    lab_transfer: list[dns.rrset.RRset], nursery: trio.Nursery
) -> tuple[Primary, int]:
    server = Primary(lab_transfer, serial=2026010100)
    listeners = await nursery.start(partial(trio.serve_tcp, server.serve, 0, host="127.0.0.1"))
    return server, listeners[0].socket.getsockname()[1]


async def test_a_transfer_in_several_messages_is_collected_whole(
    primary: tuple[Primary, int], lab_records: list[Record]
) -> None:
    server, port = primary
    server.messages = 7
    fetched = await AxfrSource("127.0.0.1", port).fetch()
    assert fetched is not None
    records = await _parsed(fetched)
    soa = [r for r in records if r.rdtype == dns.rdatatype.SOA]
    assert len(records) == len(lab_records)
    assert len(soa) == 1


async def test_a_new_serial_is_transferred_again_and_the_same_one_is_not(
    primary: tuple[Primary, int],
) -> None:
    server, port = primary
    source = AxfrSource("127.0.0.1", port)
    first = await source.fetch()
    assert first is not None
    assert await source.fetch() is None
    assert server.transfers == 1
    server.serial += 1
    second = await source.fetch()
    assert second is not None
    assert second.fingerprint != first.fingerprint
    assert server.transfers == 2


async def test_same_content_gives_the_same_fingerprint_whatever_the_message_ids(
    primary: tuple[Primary, int],
) -> None:
    _, port = primary
    first = await AxfrSource("127.0.0.1", port).fetch()
    second = await AxfrSource("127.0.0.1", port).fetch()
    assert first is not None
    assert second is not None
    assert first.fingerprint == second.fingerprint


async def test_a_server_closing_mid_transfer_is_a_source_error_and_is_tried_again(
    primary: tuple[Primary, int],
) -> None:
    server, port = primary
    server.messages, server.cut_after = 3, 2
    source = AxfrSource("127.0.0.1", port)
    with pytest.raises(SourceError, match="closed the connection early"):
        await source.fetch()
    server.cut_after = None
    assert await source.fetch() is not None
    assert server.transfers == 2


async def test_a_refused_transfer_names_the_rcode(primary: tuple[Primary, int]) -> None:
    server, port = primary
    server.rcode = dns.rcode.REFUSED
    with pytest.raises(SourceError, match="answered REFUSED"):
        await AxfrSource("127.0.0.1", port).fetch()


async def test_a_transfer_over_the_bound_is_a_source_error(primary: tuple[Primary, int]) -> None:
    server, port = primary
    server.messages = 4
    with pytest.raises(SourceError, match="larger than 2000 octets"):
        await AxfrSource("127.0.0.1", port, max_octets=2000).fetch()


async def test_egress_not_allowed_means_no_connection(primary: tuple[Primary, int]) -> None:
    server, port = primary
    source = AxfrSource("127.0.0.1", port, allow=lambda address: address != "127.0.0.1")
    with pytest.raises(SourceError, match=r"egress not allowed to 127\.0\.0\.1"):
        await source.fetch()
    assert server.connections == 0


async def test_a_silent_server_times_out(
    primary: tuple[Primary, int], autojump_clock: trio.testing.MockClock
) -> None:
    server, port = primary
    server.stall = True
    with pytest.raises(SourceError, match=r"no transfer within 10\.0 s"):
        await AxfrSource("127.0.0.1", port).fetch()


async def test_nobody_listening_is_a_source_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        with pytest.raises(SourceError, match=rf"axfr://127\.0\.0\.1:{port}"):
            await AxfrSource("127.0.0.1", port).fetch()


# --- HTTP(S) ------------------------------------------------------------------


@dataclass
class Site:
    """What the test web server serves, and the requests it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    etags: bool = True
    last_modified: str | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    site: Site

    def do_GET(self) -> None:
        self.site.requests.append((self.path, dict(self.headers.items())))
        if self.path == "/moved":
            self._reply(302, b"", {"Location": "/root.zone"})
            return
        body = self.site.files.get(self.path)
        if body is None:
            self._reply(404, b"not here", {})
            return
        headers = {}
        if self.site.etags:
            headers["ETag"] = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
            if self.headers.get("If-None-Match") == headers["ETag"]:
                self._reply(304, b"", headers)
                return
        if self.site.last_modified is not None:
            headers["Last-Modified"] = self.site.last_modified
        self._reply(200, body, headers)

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads ``Site.requests`` instead."""


@contextlib.contextmanager
def _web(site: Site, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 in a thread; yields the base URL."""
    handler = type("Handler", (_Handler,), {"site": site})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def site(lab_root_text: str) -> Iterator[tuple[Site, str]]:
    served = Site(files={"/root.zone": lab_root_text.encode()})
    with _web(served) as base:
        yield served, base


async def test_http_fetches_then_revalidates_with_the_etag(
    site: tuple[Site, str], lab_records: list[Record]
) -> None:
    served, base = site
    source = HttpSource(f"{base}/root.zone", allow=lambda a: a == "127.0.0.1")
    fetched = await source.fetch()
    assert fetched is not None
    assert fetched.source == f"{base}/root.zone"
    assert fetched.size == len(served.files["/root.zone"])
    assert await _parsed(fetched) == lab_records
    assert "If-None-Match" not in served.requests[0][1]
    assert await source.fetch() is None
    etag = f'"{hashlib.sha256(served.files["/root.zone"]).hexdigest()[:16]}"'
    assert served.requests[-1][1]["If-None-Match"] == etag
    served.files["/root.zone"] += b"; a comment\n"
    changed = await source.fetch()
    assert changed is not None
    assert changed.fingerprint != fetched.fingerprint


async def test_http_without_validators_recognises_the_same_body(
    site: tuple[Site, str],
) -> None:
    served, base = site
    served.etags = False
    served.last_modified = "Wed, 01 Jan 2026 00:00:00 GMT"
    source = HttpSource(f"{base}/root.zone")
    assert await source.fetch() is not None
    assert await source.fetch() is None
    assert served.requests[-1][1]["If-Modified-Since"] == served.last_modified


@pytest.mark.parametrize(
    ("path", "message"), [("/absent.zone", "HTTP 404 Not Found"), ("/moved", "HTTP 302 Found")]
)
async def test_http_status_other_than_200_is_a_source_error(
    site: tuple[Site, str], path: str, message: str
) -> None:
    _, base = site
    with pytest.raises(SourceError, match=message):
        await HttpSource(f"{base}{path}").fetch()


async def test_http_egress_not_allowed_sends_no_request(site: tuple[Site, str]) -> None:
    served, base = site
    with pytest.raises(SourceError, match=r"egress not allowed to 127\.0\.0\.1"):
        await HttpSource(f"{base}/root.zone", allow=lambda a: False).fetch()
    assert served.requests == []


async def test_http_body_over_the_bound_is_a_source_error(site: tuple[Site, str]) -> None:
    _, base = site
    with pytest.raises(SourceError, match="larger than 1000 octets"):
        await HttpSource(f"{base}/root.zone", max_octets=1000).fetch()


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "holdfast test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    return server, ssl.create_default_context(cafile=str(cert_path))


async def test_https_verifies_the_certificate(tmp_path: Path, lab_root_text: str) -> None:
    server_tls, client_tls = _self_signed(tmp_path)
    with _web(Site(files={"/root.zone": lab_root_text.encode()}), server_tls) as base:
        assert await HttpSource(f"{base}/root.zone", tls=client_tls).fetch() is not None
        with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
            await HttpSource(f"{base}/root.zone").fetch()


# --- Naming sources -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("/var/lib/holdfast/root.zone", FileSource, "/var/lib/holdfast/root.zone"),
        ("root.zone", FileSource, "root.zone"),
        ("axfr://127.53.0.1", AxfrSource, "axfr://127.53.0.1:53"),
        ("axfr://192.0.32.132:5353", AxfrSource, "axfr://192.0.32.132:5353"),
        ("axfr://[2001:500:12::d0d]", AxfrSource, "axfr://[2001:500:12::d0d]:53"),
        ("axfr://[::1]:5353/", AxfrSource, "axfr://[::1]:5353"),
        ("https://www.internic.net/domain/root.zone", HttpSource, None),
        ("http://127.0.0.1:8080/root.zone?v=1", HttpSource, None),
    ],
)
def test_source_from_text(text: str, kind: type, name: str | None) -> None:
    source = source_from_text(text)
    assert isinstance(source, kind)
    assert source.name == (name or text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://example.net/root.zone", "unknown scheme 'ftp'"),
        ("axfr://", "no server address"),
        ("axfr://a.root-servers.net", "not an IP address"),
        ("axfr://127.0.0.1:99999", "bad port"),
        ("axfr://127.0.0.1:x", "bad port"),
        ("axfr://127.0.0.1/root", "nothing more"),
        ("axfr://user@127.0.0.1", "nothing more"),
        ("http://", "with a host"),
        ("https://example.net:0x50/", "bad port"),
    ],
)
def test_bad_source_text_is_a_clear_source_error(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        source_from_text(text)


@pytest.mark.parametrize("text", ["axfr://127.0.0.1:53", "http://127.0.0.1:80/root.zone"])
async def test_named_sources_keep_the_egress_policy(text: str) -> None:
    with pytest.raises(SourceError, match="egress not allowed"):
        await source_from_text(text, allow=lambda address: False).fetch()
