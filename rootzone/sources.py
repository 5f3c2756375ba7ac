"""Where candidate copies of the root zone come from: a file, AXFR, HTTP(S).

A source only fetches. It returns the raw material (text or transferred
RRsets) with a ``parse`` closure that turns it into records; the service runs
that closure in a worker thread, so a 2 MB zone never stalls the event loop.
Two kinds of failure are kept apart: a source that cannot deliver raises
``SourceError`` (file missing, connection refused, HTTP 404, transfer cut
short); material that is delivered but wrong (not UTF-8, a line that does not
parse) is refused later by ``parse`` with ``CandidateRejected("parse", ...)``.

Every source remembers what it fetched last and answers ``None`` when there is
nothing new, so that a copy the service refused is not parsed again in a loop:
a file whose modification time, size and inode did not change; an AXFR
server whose SOA serial is that of the last complete transfer; an HTTP
server answering 304, or sending the same body again.

Egress is checked before any packet leaves: ``allow(address)`` sees the
AXFR server's address, or every address an HTTP host resolves to, and the
HTTP connection is made to the address that was checked (no second lookup,
no redirects, no proxy from the environment).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import ipaddress
import os
import re
import socket
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset
import trio

from dnssec.files import FileRefused, open_regular, read_capped
from rootzone.candidate import records_from_rrsets, records_from_text
from rootzone.errors import CandidateRejected, SourceError
from rootzone.zonefile import Record

#: The most a source fetches: the root zone is about 2 MB, so this only stops
#: absurd input (a runaway file, an endless transfer) from exhausting memory.
MAX_OCTETS = 64 * 1024 * 1024

#: An egress policy: may we connect to this IP address?
Allow = Callable[[str], bool]

_ROOT = dns.name.root
_LENGTH = 2
_RECEIVE_SIZE = 65536
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, slots=True)
class Fetched:
    """A candidate copy as fetched, not yet parsed.

    Attributes:
        source: where it came from (file path, ``axfr://ADDR:PORT``, URL).
        size: octets fetched (file or body length, or AXFR message octets).
        fingerprint: SHA-256 (hex) of the material, to recognise a copy
            already refused.
        parse: turns the material into records; CPU work, to be run off the
            event loop. Raises ``CandidateRejected("parse", ...)``.
    """

    source: str
    size: int
    fingerprint: str
    parse: Callable[[], list[Record]]


class Source(Protocol):
    """Somewhere copies of the root zone come from."""

    name: str

    async def fetch(self) -> Fetched | None:
        """A new candidate; ``None`` when nothing changed since the last fetch.

        Raises:
            SourceError: the source could not deliver (unreachable, missing,
                refused, cut short, too large, too slow, egress not allowed).
        """
        ...


def source_from_text(text: str, *, allow: Allow | None = None) -> Source:
    """The source ``text`` names: ``axfr://ADDR[:PORT]``, an HTTP(S) URL, or a file path.

    IPv6 addresses are written in brackets (``axfr://[2001:db8::1]:53``).

    Raises:
        SourceError: ``text`` is empty, names an unknown scheme, or is a
            malformed ``axfr://`` or HTTP(S) address.
    """
    if not text.strip():
        raise SourceError("empty local root source")
    if not _SCHEME.match(text):
        return FileSource(text)
    scheme = text.split("://", 1)[0].lower()
    if scheme == "axfr":
        address, port = _axfr_address(text)
        return AxfrSource(address, port, allow=allow)
    if scheme in ("http", "https"):
        return HttpSource(text, allow=allow)
    raise SourceError(
        f"{text!r}: unknown scheme {scheme!r} (use a path, axfr://, http:// or https://)"
    )


def _axfr_address(text: str) -> tuple[str, int]:
    """The address and port of ``axfr://ADDR[:PORT]``."""
    split = urllib.parse.urlsplit(text)
    if split.path not in ("", "/") or split.query or split.fragment or split.username:
        raise SourceError(f"{text!r}: an AXFR source is axfr://ADDRESS[:PORT], nothing more")
    try:
        host, port = split.hostname, split.port
    except ValueError as error:
        raise SourceError(f"{text!r}: bad port ({error})") from error
    if host is None:
        raise SourceError(f"{text!r}: no server address")
    try:
        address = ipaddress.ip_address(host)
    except ValueError as error:
        raise SourceError(f"{text!r}: {host!r} is not an IP address") from error
    if address.version == 6 and "[" not in split.netloc:
        raise SourceError(f"{text!r}: write an IPv6 address in brackets")
    return str(address), 53 if port is None else port


def _fingerprint(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def _text_fetched(source: str, data: bytes) -> Fetched:
    """Zone-file octets as a candidate; decoding is part of parsing."""
    return Fetched(
        source=source,
        size=len(data),
        fingerprint=_fingerprint(data),
        parse=functools.partial(_parse_text, data, source),
    )


def _parse_text(data: bytes, source: str) -> list[Record]:
    """The records of zone-file octets; text that is not UTF-8 is bad content."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CandidateRejected(
            "parse", f"{source}: not UTF-8 text at offset {error.start} ({error.reason})"
        ) from error
    return records_from_text(text, source=source)


def _check_allowed(allow: Allow | None, source: str, addresses: list[str]) -> None:
    refused = [address for address in addresses if allow is not None and not allow(address)]
    if refused:
        raise SourceError(f"{source}: egress not allowed to {', '.join(refused)}")


# --- Files -------------------------------------------------------------------

#: What identifies a version of a file without reading it.
_FileIdentity = tuple[int, int, int]


class FileSource:
    """A zone file on disk, read again whenever it changes.

    "Changed" means its modification time (ns), size or inode differ from the
    last successful read, so an editor's atomic rename is seen even when
    size and time are kept. A file that cannot be read is retried every time.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_octets: int = MAX_OCTETS) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.max_octets = max_octets
        self._seen: _FileIdentity | None = None

    async def fetch(self) -> Fetched | None:
        """The file's content if it changed since the last read, else ``None``.

        Raises:
            SourceError: the file is missing, unreadable or too large.
        """
        read = functools.partial(_read_if_changed, self.path, self._seen, self.max_octets)
        try:
            result = await trio.to_thread.run_sync(read)
        except FileRefused as error:
            raise SourceError(str(error)) from error
        if result is None:
            return None
        self._seen, data = result
        return _text_fetched(self.name, data)


def _read_if_changed(
    path: Path, seen: _FileIdentity | None, max_octets: int
) -> tuple[_FileIdentity, bytes] | None:
    """Identity and content of ``path``, or ``None`` if its identity is ``seen``.

    Only a regular file is read, and at most ``max_octets`` of it (a FIFO or
    ``/dev/zero`` is refused, not waited on or read forever: ``dnssec.files``).
    The identity comes from the open file, so it is that of the bytes read.

    Raises:
        FileRefused: missing, unreadable, not a regular file, or too large.
    """
    with open_regular(path) as file:
        stat = os.fstat(file.fileno())
        identity = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if identity == seen:
            return None
        return identity, read_capped(file, path, max_octets)


# --- AXFR --------------------------------------------------------------------


class AxfrSource:
    """Zone transfers (RFC 5936) of the root zone over TCP from one server, by IP address.

    Each fetch asks the SOA first and transfers only when its serial differs
    from that of the last complete transfer, whether that copy was used or
    refused. A transfer that fails on the way is not remembered, so the next
    fetch tries it again.
    """

    def __init__(
        self,
        address: str,
        port: int = 53,
        *,
        timeout: float = 10.0,
        allow: Allow | None = None,
        max_octets: int = MAX_OCTETS,
    ) -> None:
        self.address = address
        self.port = port
        self.timeout = timeout
        self.max_octets = max_octets
        self._allow = allow
        host = f"[{address}]" if ":" in address else address
        self.name = f"axfr://{host}:{port}"
        self._serial: int | None = None

    async def fetch(self) -> Fetched | None:
        """A transfer of the root zone, or ``None`` if its serial has not changed.

        Raises:
            SourceError: egress not allowed, no connection, a bad or refused
                answer, the connection closed early, more than
                ``max_octets``, or not done within ``timeout`` seconds.
        """
        _check_allowed(self._allow, self.name, [self.address])
        try:
            with trio.fail_after(self.timeout):
                return await self._fetch()
        except trio.TooSlowError as error:
            raise SourceError(f"{self.name}: no transfer within {self.timeout} s") from error
        except (OSError, trio.BrokenResourceError) as error:
            raise SourceError(f"{self.name}: {error}") from error

    async def _fetch(self) -> Fetched | None:
        stream = await trio.open_tcp_stream(self.address, self.port)
        async with stream:
            frames = _Frames(stream, self.name)
            serial = await self._ask_serial(frames)
            if serial == self._serial:
                return None
            transfer = await _Transfer.receive(frames, self.name, self.max_octets)
        self._serial = transfer.serial
        return Fetched(
            source=self.name,
            size=transfer.size,
            fingerprint=transfer.fingerprint,
            parse=functools.partial(records_from_rrsets, transfer.rrsets),
        )

    async def _ask_serial(self, frames: _Frames) -> int:
        query = dns.message.make_query(_ROOT, dns.rdatatype.SOA)
        await frames.send(query)
        reply = _decode(await frames.receive(), query, self.name)
        for rrset in reply.answer:
            if _is_apex_soa(rrset):
                return _soa_serial(rrset)
        raise SourceError(f"{self.name}: no SOA for . in the answer")


class _Frames:
    """DNS messages over TCP, each behind a two-octet length (RFC 1035 4.2.2)."""

    def __init__(self, stream: trio.abc.Stream, source: str) -> None:
        self._stream = stream
        self._source = source
        self._buffer = bytearray()

    async def send(self, query: dns.message.Message) -> None:
        wire = query.to_wire()
        await self._stream.send_all(len(wire).to_bytes(_LENGTH, "big") + wire)

    async def receive(self) -> bytes:
        """The next message; ``SourceError`` if the server closes before it is whole."""
        while True:
            if len(self._buffer) >= _LENGTH:
                end = _LENGTH + int.from_bytes(self._buffer[:_LENGTH], "big")
                if len(self._buffer) >= end:
                    wire = bytes(self._buffer[_LENGTH:end])
                    del self._buffer[:end]
                    return wire
            data = await self._stream.receive_some(_RECEIVE_SIZE)
            if not data:
                raise SourceError(f"{self._source}: the server closed the connection early")
            self._buffer += data


class _Transfer:
    """One AXFR response stream, checked as it arrives (RFC 5936 section 2.2)."""

    def __init__(self, source: str, max_octets: int) -> None:
        self.source = source
        self.max_octets = max_octets
        self.rrsets: list[dns.rrset.RRset] = []
        self.opening: dns.rrset.RRset | None = None
        self.size = 0
        self.done = False
        self._digest = hashlib.sha256()

    @classmethod
    async def receive(cls, frames: _Frames, source: str, max_octets: int) -> _Transfer:
        """Send the AXFR query and read messages until the closing SOA."""
        query = dns.message.make_query(_ROOT, dns.rdatatype.AXFR)
        transfer = cls(source, max_octets)
        await frames.send(query)
        while not transfer.done:
            wire = await frames.receive()
            transfer.count(wire)
            # Decoding a 64 KB message is CPU work: keep it off the loop.
            message = await trio.to_thread.run_sync(_decode, wire, query, source, True)
            transfer.add(message)
        return transfer

    @property
    def serial(self) -> int:
        assert self.opening is not None
        return _soa_serial(self.opening)

    @property
    def fingerprint(self) -> str:
        return self._digest.hexdigest()

    def count(self, wire: bytes) -> None:
        """Account for one message's octets; its ID is left out of the fingerprint."""
        self.size += len(wire)
        if self.size > self.max_octets:
            raise SourceError(f"{self.source}: transfer larger than {self.max_octets} octets")
        self._digest.update(len(wire).to_bytes(_LENGTH, "big") + wire[2:])

    def add(self, message: dns.message.Message) -> None:
        """Take the records of one message, up to and not including the closing SOA."""
        records = list(message.answer)
        if self.opening is None:
            if not message.question:
                raise SourceError(f"{self.source}: the first AXFR message has no question")
            if not records or not _is_apex_soa(records[0]):
                raise SourceError(f"{self.source}: the transfer does not begin with the SOA of .")
            self.opening = records.pop(0)
            self.rrsets.append(self.opening)
        for index, rrset in enumerate(records):
            if not _is_apex_soa(rrset):
                self.rrsets.append(rrset)
                continue
            if rrset != self.opening:
                raise SourceError(f"{self.source}: the closing SOA differs from the opening one")
            if index != len(records) - 1:
                raise SourceError(f"{self.source}: records after the closing SOA")
            self.done = True


def _decode(
    wire: bytes, query: dns.message.Message, source: str, transfer: bool = False
) -> dns.message.Message:
    """The reply to ``query`` in ``wire``, checked: ID, QR, opcode, question, rcode.

    A later message of a transfer may leave its question section empty.
    Signed (TSIG) messages are refused: we sent no key.
    """
    try:
        message = dns.message.from_wire(wire, one_rr_per_rrset=True)
    except dns.exception.DNSException as error:
        raise SourceError(f"{source}: malformed message ({error})") from error
    if message.id != query.id or not message.flags & dns.flags.QR:
        raise SourceError(f"{source}: the reply does not match the query")
    if message.opcode() != dns.opcode.QUERY:
        raise SourceError(f"{source}: reply opcode {dns.opcode.to_text(message.opcode())}")
    empty_allowed = transfer and not message.question
    if not empty_allowed and message.question != query.question:
        raise SourceError(f"{source}: the reply is for another question")
    if message.rcode() != dns.rcode.NOERROR:
        raise SourceError(f"{source}: the server answered {dns.rcode.to_text(message.rcode())}")
    return message


def _is_apex_soa(rrset: dns.rrset.RRset) -> bool:
    return rrset.name == _ROOT and rrset.rdtype == dns.rdatatype.SOA


def _soa_serial(rrset: dns.rrset.RRset) -> int:
    soa = rrset[0]
    assert isinstance(soa, dns.rdtypes.ANY.SOA.SOA)
    return int(soa.serial)


# --- HTTP(S) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    reason: str
    body: bytes
    etag: str | None
    last_modified: str | None


class HttpSource:
    """A zone file served over HTTP(S), fetched with a conditional GET.

    Redirects are not followed (each hop would need its own egress check):
    anything but 200 and 304 is a ``SourceError`` naming the status.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        allow: Allow | None = None,
        max_octets: int = MAX_OCTETS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        split = urllib.parse.urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise SourceError(f"{url!r}: not an http:// or https:// URL with a host")
        try:
            port = split.port
        except ValueError as error:
            raise SourceError(f"{url!r}: bad port ({error})") from error
        self.name = url
        self.timeout = timeout
        self.max_octets = max_octets
        self._allow = allow
        self._https = split.scheme == "https"
        self._host = split.hostname
        self._port = port or (443 if self._https else 80)
        self._target = urllib.parse.urlunsplit(("", "", split.path or "/", split.query, ""))
        self._tls = tls or ssl.create_default_context()
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._fingerprint: str | None = None

    async def fetch(self) -> Fetched | None:
        """The body if it changed since the last fetch, else ``None``.

        Raises:
            SourceError: the host does not resolve or is not allowed, no
                connection, a status other than 200/304, a body larger than
                ``max_octets``, or not done within ``timeout`` seconds.
        """
        try:
            with trio.fail_after(self.timeout):
                addresses = await self._resolve()
                get = functools.partial(self._get, addresses, self._conditions())
                response = await trio.to_thread.run_sync(get, abandon_on_cancel=True)
        except trio.TooSlowError as error:
            raise SourceError(f"{self.name}: no response within {self.timeout} s") from error
        except (OSError, http.client.HTTPException) as error:
            raise SourceError(f"{self.name}: {error}") from error
        if response.status == http.HTTPStatus.NOT_MODIFIED:
            return None
        if response.status != http.HTTPStatus.OK:
            raise SourceError(f"{self.name}: HTTP {response.status} {response.reason}")
        self._etag, self._last_modified = response.etag, response.last_modified
        fetched = _text_fetched(self.name, response.body)
        if fetched.fingerprint == self._fingerprint:
            return None
        self._fingerprint = fetched.fingerprint
        return fetched

    async def _resolve(self) -> list[str]:
        """The addresses the host resolves to, in order; all of them must be allowed."""
        try:
            infos = await trio.socket.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise SourceError(f"{self.name}: cannot resolve {self._host}: {error}") from error
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        _check_allowed(self._allow, self.name, addresses)
        return addresses

    def _conditions(self) -> dict[str, str]:
        headers = {}
        if self._etag is not None:
            headers["If-None-Match"] = self._etag
        if self._last_modified is not None:
            headers["If-Modified-Since"] = self._last_modified
        return headers

    def _get(self, addresses: list[str], headers: dict[str, str]) -> _Response:
        """One GET to the first of ``addresses`` that answers (blocking: run in a thread)."""
        connection: http.client.HTTPConnection
        if self._https:
            connection = _PinnedHTTPSConnection(
                self._host, self._port, addresses, self.timeout, self._tls
            )
        else:
            connection = _PinnedHTTPConnection(self._host, self._port, addresses, self.timeout)
        try:
            connection.request("GET", self._target, headers=headers)
            with connection.getresponse() as response:
                return _Response(
                    response.status,
                    response.reason,
                    self._body(response),
                    response.getheader("ETag"),
                    response.getheader("Last-Modified"),
                )
        finally:
            connection.close()

    def _body(self, response: http.client.HTTPResponse) -> bytes:
        """The body, refused unread when its announced length is over the bound."""
        too_large = SourceError(f"{self.name}: body larger than {self.max_octets} octets")
        length = response.getheader("Content-Length", "")
        if length.isdigit() and int(length) > self.max_octets:
            raise too_large
        body = response.read(self.max_octets + 1)
        if len(body) > self.max_octets:
            raise too_large
        return body


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the addresses that passed the egress check, not a fresh lookup of the host."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked addresses; the certificate is verified for the host."""

    def __init__(
        self, host: str, port: int, addresses: list[str], timeout: float, tls: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=tls)
        self._addresses = addresses
        self._tls = tls

    def connect(self) -> None:
        raw = _connect(self._addresses, self.port, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def _connect(addresses: list[str], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first of ``addresses`` that accepts one."""
    failure: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as error:
            failure = error
    raise failure or OSError(f"no address to connect to on port {port}")
