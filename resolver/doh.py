"""DNS over HTTPS (RFC 8484), sans-I/O: HTTP/1.1 (h11) and HTTP/2 (h2) sessions.

A session is fed the bytes a client sent (``receive``) and hands back the
DNS queries it completed; the Trio shell (``encrypted.py``) answers each
through the same ``DnsServer.answer`` as UDP and TCP and gives the response
back (``respond``); ``data_to_send`` is what goes on the wire. No socket, no
clock: tests and the fuzzer drive sessions with plain bytes.

The HTTP rules (RFC 8484 section 4.1), with the status a client gets when
it breaks one (checked by ``request_refusal`` and ``query_from``):

* the path is ``[server] https_path`` (404 otherwise);
* GET carries the query in ``?dns=``, base64url without padding (400 if
  absent or not decodable); POST carries it as the body with
  ``Content-Type: application/dns-message`` (415 otherwise); any other
  method is 405;
* a query is at most 65535 bytes, a DNS message's largest size (413); a
  body shorter than a DNS header, or one the DNS layer drops unanswered
  (a response, a packet with no header) is 400.

HTTP/1.1 answers an error and closes the connection (``Connection: close``):
a client that sends a malformed request gets told, and does not get to try
again and again on the same connection. HTTP/2 answers the error on its
stream only, and resets the stream of a malformed request (RFC 9113
section 8.1.1; ``_request_fields``). The query ID is passed through as it is: RFC 8484 section 4.1
asks clients to use ID 0, so that the same question is the same URI for
HTTP caches, and the ready-made answer path patches whatever ID it gets.

Responses carry ``Cache-Control: max-age`` of the smallest TTL of the
records in them (RFC 8484 section 5.1: the freshness lifetime must not
outlive the answer; for a negative answer the SOA's TTL, already clamped to
its minimum by the cache, is among them). A response without records (a
SERVFAIL, say) gets ``max-age=0``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.frame_buffer
import h2.settings
import h11
import hpack
import hyperframe.frame

from resolver.answers import ttl_offsets

#: A DNS message's largest size (its TCP length prefix is 16 bits).
MAX_QUERY_BYTES = 65535
#: The length of a DNS header: anything shorter is not a query.
_HEADER_BYTES = 12
#: Bytes of request head (request line and headers) accepted.
MAX_HEAD_BYTES = 8192
DNS_MESSAGE = b"application/dns-message"
#: The pseudo-header fields a request may carry (RFC 9113 section 8.3.1).
_REQUEST_PSEUDO_FIELDS = frozenset((b":method", b":scheme", b":authority", b":path"))
#: Distinct response header fields whose encoding is remembered (``_UnindexedEncoder``).
_ENCODED_FIELDS = 1024
#: Header blocks a connection remembers the decoding of, and their largest size
#: (``_RememberingDecoder``): a DNS client's blocks are a few dozen bytes.
_DECODED_BLOCKS = 64
_DECODED_BLOCK_BYTES = 256
#: Responses whose head is remembered (``_RememberedHeads``), and the largest:
#: a few hundred short answers take a few hundred kilobytes.
_REMEMBERED_RESPONSES = 512
_REMEMBERED_RESPONSE_BYTES = 512
_TTL = struct.Struct("!I")
#: A ``dns`` parameter that urllib would hand over unchanged: base64url, maybe padded.
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]+={0,2}")
#: Reason phrases of the statuses sent here (RFC 9110 section 15).
REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Content Too Large",
    415: b"Unsupported Media Type",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP error status for a request that is not a DNS query we take, and why."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class DnsRequest:
    """A DNS query completed on a session: its stream (0 on HTTP/1.1) and the query."""

    stream: int
    wire: bytes


class Session(Protocol):
    """What the shell needs of an HTTP session, whatever the HTTP version."""

    #: True once no more requests will be read: the shell sends what is left, then closes.
    closed: bool

    def receive(self, data: bytes) -> list[DnsRequest]:
        """Feed bytes from the client (b"" at end of stream); the queries completed."""

    def respond(self, stream: int, response: bytes | None) -> list[DnsRequest]:
        """The DNS response to ``stream`` (None: dropped, answered 400); queries now ready."""

    def data_to_send(self) -> bytes:
        """The bytes to send now, removed from the session."""


def request_refusal(method: bytes, target: bytes, content_type: bytes | None,
                    content_length: int | None, path: str) -> Refusal | None:
    """The refusal of a request by its head alone (before any body), or None if it may go on."""
    if target != path.encode():  # a POST's target is the path: no parsing
        try:
            parts = urlsplit(target.decode("ascii"))
        except UnicodeDecodeError:
            return Refusal(400, "the request target is not ASCII")
        if parts.path != path:
            return Refusal(404, f"only {path} answers DNS queries")
    if method == b"GET":
        return None
    if method != b"POST":
        return Refusal(405, "only GET and POST are allowed")
    if content_type is None or content_type.split(b";")[0].strip().lower() != DNS_MESSAGE:
        return Refusal(415, "the body must be application/dns-message")
    if content_length is not None and content_length > MAX_QUERY_BYTES:
        return Refusal(413, f"a DNS query is at most {MAX_QUERY_BYTES} bytes")
    return None


def query_from(method: bytes, target: bytes, body: bytes) -> bytes | Refusal:
    """The DNS query of a request that passed ``request_refusal``."""
    if method == b"GET":
        text = _dns_parameter(target)
        if not text:
            return Refusal(400, "missing the dns parameter")
        if len(text) > MAX_QUERY_BYTES * 4 // 3 + 4:
            return Refusal(413, f"a DNS query is at most {MAX_QUERY_BYTES} bytes")
        try:
            # RFC 8484 section 6: base64url, padding left off (we accept it too).
            body = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_",
                                    validate=True)
        except (binascii.Error, ValueError):
            return Refusal(400, "the dns parameter is not base64url")
    if len(body) < _HEADER_BYTES:
        return Refusal(400, "not a DNS message")
    return body


def _dns_parameter(target: bytes) -> str | None:
    """The ``dns`` parameter of a GET's target; None if it has none.

    Nearly every client sends the path, ``?dns=`` and the base64url query,
    nothing else: such a target is read as it is, which is what urllib
    makes of it (no other parameter, no fragment, nothing percent-encoded),
    at half the cost of a GET's query (5 to 2.8 µs). Any other target goes
    through urllib.
    """
    path, mark, value = target.partition(b"?dns=")
    if mark and b"?" not in path and b"#" not in path and _BASE64URL.fullmatch(value):
        return value.decode("ascii")
    values = parse_qs(urlsplit(target.decode("ascii")).query).get("dns")
    return values[0] if values else None


def cache_control(response: bytes) -> bytes:
    """``max-age=N``: N the smallest TTL in ``response`` (RFC 8484 section 5.1), 0 if none."""
    try:
        ttls = [_TTL.unpack_from(response, offset)[0] for offset in ttl_offsets(response)]
    except (IndexError, struct.error):
        ttls = []
    return b"max-age=%d" % min(ttls, default=0)


def response_headers(response: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of a 200 carrying ``response``."""
    return [
        (b"content-type", DNS_MESSAGE),
        (b"content-length", b"%d" % len(response)),
        (b"cache-control", cache_control(response)),
    ]


_Head = TypeVar("_Head")


class _RememberedHeads(Generic[_Head]):
    """The head of a 200 carrying a response, made by ``make`` once per response, whatever its ID.

    Ready-made answers repeat byte for byte but for the ID (until a TTL
    ticks down). Reading the TTLs of each again was a tenth of the cost of
    answering over HTTP/2; over HTTP/1.1, h11 checks the fields of every
    ``Response`` it is given as it makes it, a fifth of the cost of an answer,
    and a remembered one (h11's events are immutable) is checked once.
    """

    def __init__(self, make: Callable[[bytes], _Head]) -> None:
        self._make = make
        self._heads: dict[bytes, _Head] = {}

    def __call__(self, response: bytes) -> _Head:
        key = response[2:]  # whatever the ID
        head = self._heads.get(key)
        if head is None:
            head = self._make(response)
            if len(response) <= _REMEMBERED_RESPONSE_BYTES:
                if len(self._heads) >= _REMEMBERED_RESPONSES:
                    self._heads.clear()
                self._heads[key] = head
        return head


#: The HTTP/2 header fields of a 200 carrying a response.
_h2_response_headers = _RememberedHeads(
    lambda response: ((b":status", b"200"), *response_headers(response)))
#: The HTTP/1.1 head (h11 event) of a 200 carrying a response.
_h1_response = _RememberedHeads(
    lambda response: h11.Response(status_code=200, headers=response_headers(response)))


def _error_body(refusal: Refusal) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = refusal.reason.encode() + b"\n"
    return [(b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body))], body


def _content_length(value: bytes | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


@dataclass(slots=True)
class _Pending:
    """A request whose head is in and body is arriving."""

    method: bytes
    target: bytes
    body: bytearray = field(default_factory=bytearray)


class Http1Session:
    """One HTTP/1.1 connection (h11): one request at a time, pipelined ones wait their turn."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._out = bytearray()
        self._pending: _Pending | None = None
        #: A query was handed out and its response is not in yet.
        self._busy = False
        self.closed = False

    def receive(self, data: bytes) -> list[DnsRequest]:
        if not self.closed:
            self._h11.receive_data(data)
        return self._next()

    def respond(self, stream: int, response: bytes | None) -> list[DnsRequest]:
        self._busy = False
        if response is None:
            self._refuse(Refusal(400, "not a DNS query"))
            return []
        self._send(_h1_response(response))
        self._send(h11.Data(data=response))
        self._send(h11.EndOfMessage())
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        elif self._h11.our_state is h11.MUST_CLOSE:
            self.closed = True
        return self._next()

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def _next(self) -> list[DnsRequest]:
        """Read events until a query is complete, more data is needed, or the end."""
        while not self.closed and not self._busy:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as error:
                self._refuse(Refusal(error.error_status_hint, "malformed HTTP request"))
                break
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            if isinstance(event, h11.ConnectionClosed):
                self.closed = True
            elif isinstance(event, h11.Request):
                self._begin(event)
            elif isinstance(event, h11.Data) and self._pending is not None:
                self._pending.body += event.data
                if len(self._pending.body) > MAX_QUERY_BYTES:
                    self._refuse(Refusal(413, f"a DNS query is at most {MAX_QUERY_BYTES} bytes"))
            elif isinstance(event, h11.EndOfMessage) and self._pending is not None:
                pending, self._pending = self._pending, None
                query = query_from(pending.method, pending.target, bytes(pending.body))
                if isinstance(query, Refusal):
                    self._refuse(query)
                else:
                    self._busy = True
                    return [DnsRequest(0, query)]
        return []

    def _begin(self, request: h11.Request) -> None:
        headers = dict(request.headers)
        refusal = request_refusal(request.method, request.target, headers.get(b"content-type"),
                                  _content_length(headers.get(b"content-length")), self._path)
        if refusal is not None:
            self._refuse(refusal)
        else:
            self._pending = _Pending(request.method, request.target)

    def _refuse(self, refusal: Refusal) -> None:
        """Answer ``refusal`` (if a response may still be sent) and close the connection."""
        self.closed = True
        if self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        headers, body = _error_body(refusal)
        try:
            self._send(h11.Response(status_code=refusal.status,
                                    headers=[*headers, (b"connection", b"close")],
                                    reason=REASONS.get(refusal.status, b"")))
            self._send(h11.Data(data=body))
            self._send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            pass  # h11 has no request to answer (a garbled request line): just close

    def _send(self, event: h11.Response | h11.Data | h11.EndOfMessage) -> None:
        data = self._h11.send(event)
        if data:
            self._out += data


class Http2Session:
    """One HTTP/2 connection (h2): concurrent streams, each a query, up to ``max_streams``.

    A client that opens more streams than our SETTINGS allow, or breaks the
    protocol otherwise, gets GOAWAY and the connection closes (RFC 9113
    section 5.1.2 lets us treat it as a connection error).
    """

    def __init__(self, path: str, max_streams: int) -> None:
        self._path = path
        # Our own response headers are known good: h2's checks of them cost
        # more than the rest of an answer. h2's checks of what clients send
        # cost as much again; ``_request_fields`` keeps the ones that matter
        # to a server that reads four fields and forwards nothing.
        config = h2.config.H2Configuration(client_side=False, header_encoding=None,
                                           validate_outbound_headers=False,
                                           normalize_outbound_headers=False,
                                           validate_inbound_headers=False,
                                           normalize_inbound_headers=False)
        self._h2 = h2.connection.H2Connection(config)
        self._h2.encoder = _UnindexedEncoder()
        self._h2.decoder = _RememberingDecoder()
        _quieten_frames(self._h2)
        self._h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEAD_BYTES,
        })
        self._h2.initiate_connection()
        self._pending: dict[int, _Pending] = {}
        #: Response bytes each stream still has to send (flow control holds them).
        self._outgoing: dict[int, bytes] = {}
        self.closed = False

    def receive(self, data: bytes) -> list[DnsRequest]:
        if self.closed:
            return []
        if not data:
            self.closed = True
            return []
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            self._goaway(error)
            return []
        requests = []
        for event in events:
            if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                self._begin(event.stream_id, event.headers or [])
            elif isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                self._h2.acknowledge_received_data(event.flow_controlled_length or 0,
                                                   event.stream_id)
                self._body(event.stream_id, event.data or b"")
            elif isinstance(event, h2.events.StreamEnded):
                request = self._complete(event.stream_id)
                if request is not None:
                    requests.append(request)
            elif isinstance(event, h2.events.StreamReset) and event.stream_id is not None:
                self._pending.pop(event.stream_id, None)
                self._outgoing.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.closed = True
        self._flush()
        return requests

    def respond(self, stream: int, response: bytes | None) -> list[DnsRequest]:
        if self.closed or stream not in self._h2.streams:
            return []
        if response is None:
            self._refuse(stream, Refusal(400, "not a DNS query"))
            return []
        self._h2.send_headers(stream, _h2_response_headers(response))
        self._send_body(stream, response)
        return []

    def data_to_send(self) -> bytes:
        return self._h2.data_to_send()

    def _begin(self, stream: int, headers: Iterable[tuple[bytes | str, bytes | str]]) -> None:
        # header_encoding=None: h2 hands the fields over as bytes.
        fields = _request_fields(cast(Iterable[tuple[bytes, bytes]], headers))
        if fields is None:
            # RFC 9113 section 8.1.1: a malformed request is a stream error.
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.reset_stream(stream, h2.errors.ErrorCodes.PROTOCOL_ERROR)
            return
        method, target = fields[b":method"], fields[b":path"]
        refusal = request_refusal(method, target, fields.get(b"content-type"),
                                  _content_length(fields.get(b"content-length")), self._path)
        if refusal is not None:
            self._refuse(stream, refusal)
        else:
            self._pending[stream] = _Pending(method, target)

    def _body(self, stream: int, data: bytes) -> None:
        pending = self._pending.get(stream)
        if pending is None:
            return
        pending.body += data
        if len(pending.body) > MAX_QUERY_BYTES:
            del self._pending[stream]
            self._refuse(stream, Refusal(413, f"a DNS query is at most {MAX_QUERY_BYTES} bytes"))

    def _complete(self, stream: int | None) -> DnsRequest | None:
        pending = self._pending.pop(stream, None) if stream is not None else None
        if pending is None or stream is None:
            return None
        query = query_from(pending.method, pending.target, bytes(pending.body))
        if isinstance(query, Refusal):
            self._refuse(stream, query)
            return None
        return DnsRequest(stream, query)

    def _refuse(self, stream: int, refusal: Refusal) -> None:
        headers, body = _error_body(refusal)
        try:
            self._h2.send_headers(stream, [(b":status", b"%d" % refusal.status), *headers])
        except h2.exceptions.ProtocolError:
            return  # the stream is gone already
        self._send_body(stream, body)

    def _flush(self) -> None:
        """Send what flow control lets through of each stream's response, ending it when done."""
        for stream, data in list(self._outgoing.items()):
            self._send_body(stream, data)

    def _send_body(self, stream: int, data: bytes) -> None:
        """Send what flow control lets through of ``data`` on ``stream``; keep the rest."""
        try:
            size = min(self._h2.local_flow_control_window(stream),
                       self._h2.max_outbound_frame_size)
            while True:
                if size >= len(data):  # the usual case: a DNS answer in one frame
                    self._h2.send_data(stream, data, end_stream=True)
                    self._outgoing.pop(stream, None)
                    return
                if size <= 0:
                    break
                self._h2.send_data(stream, data[:size])
                data = data[size:]
                size = min(self._h2.local_flow_control_window(stream),
                           self._h2.max_outbound_frame_size)
            self._outgoing[stream] = data
        except h2.exceptions.ProtocolError:  # reset or closed meanwhile
            self._outgoing.pop(stream, None)

    def _goaway(self, error: h2.exceptions.ProtocolError) -> None:
        code = getattr(error, "error_code", h2.errors.ErrorCodes.PROTOCOL_ERROR)
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.close_connection(error_code=code)
        self.closed = True


def _request_fields(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes] | None:
    """The fields of a request's header block by name; None if it is malformed.

    What stands in for h2's ``validate_inbound_headers`` (RFC 9113 section
    8.3.1): the request pseudo-header fields only, each once, all before
    the regular ones, with ``:method``, ``:scheme`` and ``:path`` present. Not
    checked, because nothing here depends on them: the characters of field
    values and connection-specific fields (RFC 9113 section 8.2), whose
    harm is to a proxy that forwards them into HTTP/1.1; we forward and
    echo no field, and ``request_refusal`` matches the path, method and
    content type exactly, so anything odd there is refused with a 4xx.
    A repeated regular field counts once (its last value); the body's
    length is still held to ``content-length`` by h2.
    """
    fields: dict[bytes, bytes] = {}
    regular = False
    for name, value in headers:
        if name[:1] == b":":
            if regular or name in fields or name not in _REQUEST_PSEUDO_FIELDS:
                return None
        else:
            regular = True
        fields[name] = value
    if b":method" not in fields or b":scheme" not in fields or b":path" not in fields:
        return None
    return fields


def _quiet(frame_class: type[hyperframe.frame.Frame]) -> type[hyperframe.frame.Frame]:
    """``frame_class`` with a repr that formats nothing but its stream and length."""

    def __repr__(self: hyperframe.frame.Frame) -> str:
        return f"{frame_class.__name__}(stream_id={self.stream_id}, {self.body_len} bytes)"

    return type(frame_class.__name__, (frame_class,), {"__repr__": __repr__, "__slots__": ()})


#: The frames of every request, HEADERS and DATA, by class: their quiet twins.
_QUIET_FRAMES: dict[type[hyperframe.frame.Frame], type[hyperframe.frame.Frame]] = {
    frame: _quiet(frame)
    for frame in (hyperframe.frame.HeadersFrame, hyperframe.frame.DataFrame)}


class _QuietFrameBuffer(h2.frame_buffer.FrameBuffer):
    """h2's frame buffer, handing out HEADERS and DATA frames whose repr is cheap.

    h2 logs every frame it receives at its trace level, and formats the
    argument before its logger can decline it (``repr(frame)`` in
    ``H2Connection._receive_frame``, whatever the logger): the frame's
    flags, sorted, and all of its data in hex. For the two frames of a DNS
    request that was 2-3 µs of the 35 h2 took to take it in. The
    frames are h2's own, parsed and checked by h2 (a subclass passes every
    ``isinstance`` check h2 makes); only their class changes, to one that
    formats less.
    """

    def __next__(self) -> hyperframe.frame.Frame:
        frame = super().__next__()
        quiet = _QUIET_FRAMES.get(frame.__class__)
        if quiet is not None:
            frame.__class__ = quiet
        return frame


def _quieten_frames(connection: h2.connection.H2Connection) -> None:
    """Have ``connection`` read its frames through ``_QuietFrameBuffer``.

    h2 dispatches a received frame by its exact class, so the quiet classes
    are entered in its dispatch table beside the ones they stand for.
    """
    # Before anything is read: the new buffer still expects the preface.
    connection.incoming_buffer = _QuietFrameBuffer(server=not connection.config.client_side)
    table = connection._frame_dispatch_table
    for frame, twin in _QUIET_FRAMES.items():
        table[twin] = table[frame]


class _UnindexedEncoder(hpack.Encoder):
    """HPACK for our responses with an empty dynamic table: each field encoded once, reused.

    hpack's encoder looks every field up in its tables and encodes it again
    for each response, which cost about as much as the rest of sending it.
    With a dynamic table of size 0 (RFC 7541 section 4.2 lets an encoder
    use less than the peer allows; the first block says so), a field's
    encoding no longer depends on what was sent before, so the encoding of
    each field is kept (a few content lengths and TTLs repeat). The price
    is bytes: a repeated field costs its literal value (about 30 bytes a
    response) instead of a one-byte index.
    """

    def __init__(self) -> None:
        super().__init__()
        self._encoded: dict[object, bytes] = {}
        # hpack's own setter: size 0, and the update that says so, sent first.
        hpack.Encoder.header_table_size.fset(self, 0)  # type: ignore[attr-defined]

    @property
    def header_table_size(self) -> int:
        return 0

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        """The peer's SETTINGS_HEADER_TABLE_SIZE: we keep using none of it."""

    def encode(self, headers: Iterable[hpack.HeaderTuple | tuple[bytes | str, bytes | str]
                                       | tuple[bytes | str, bytes | str, bool | None]]
               | dict[bytes | str, bytes | str], huffman: bool = True) -> bytes:
        fields = list(headers.items()) if isinstance(headers, dict) else headers
        # The pending table size update, if any, goes first (RFC 7541 section 4.2).
        block = [super().encode((), huffman)] if self.header_table.resized else []
        for pair in fields:
            encoded = self._encoded.get(pair)
            if encoded is None:
                if len(self._encoded) >= _ENCODED_FIELDS:
                    self._encoded.clear()
                encoded = self._encoded[pair] = super().encode((pair,), huffman)
            block.append(encoded)
        return b"".join(block)


class _RememberingDecoder(hpack.Decoder):
    """HPACK decoding that remembers the last few header blocks while the table stays the same.

    A DNS client sends the same header block again and again: nghttp2
    (dnsperf, curl) indexes the fields that repeat and sends ``:path`` and
    ``content-length`` as literals it never indexes, so a block changes only
    with the query's length. Decoding it again in pure Python was the
    largest cost left of a request. The result of decoding a block depends
    only on its bytes, the dynamic table and the limits, so it is kept for
    as long as none of them changes: a block that adds to or resizes the
    table, or new limits from our SETTINGS, forget everything remembered.
    """

    def __init__(self) -> None:
        super().__init__()
        self._decoded: dict[tuple[bytes, bool], list[hpack.HeaderTuple]] = {}
        self._state = self._table_state()

    def _table_state(self) -> tuple[object, ...]:
        """What a decoding depends on besides the block (the newest entry by identity)."""
        table = self.header_table
        newest = table.dynamic_entries[0] if table.dynamic_entries else None
        return (id(newest), newest, len(table.dynamic_entries), table.maxsize,
                self.max_header_list_size, self.max_allowed_table_size)

    def decode(self, data: bytes, raw: bool = False) -> Iterable[hpack.HeaderTuple]:
        key = (bytes(data), raw)
        if self._table_state() == self._state:
            known = self._decoded.get(key)
            if known is not None:
                return list(known)
        else:
            self._decoded.clear()
        headers = list(super().decode(data, raw))
        state = self._table_state()
        if state != self._state:  # the block changed the table: what was known is stale
            self._decoded.clear()
            self._state = state
        elif len(data) <= _DECODED_BLOCK_BYTES:
            if len(self._decoded) >= _DECODED_BLOCKS:
                self._decoded.clear()
            self._decoded[key] = headers
        return list(headers)
