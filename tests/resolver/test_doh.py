"""The sans-I/O DNS over HTTPS sessions, driven by h11 and h2 clients in memory."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import dns.message
import dns.rrset
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import h11
import hpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resolver.doh import (
    MAX_QUERY_BYTES,
    DnsRequest,
    Http1Session,
    Http2Session,
    _dns_parameter,
    _RememberingDecoder,
    _UnindexedEncoder,
    cache_control,
)

PATH = "/dns-query"


def _query(name: str = "www.example.com", qid: int = 0) -> bytes:
    query = dns.message.make_query(name, "A")
    query.id = qid
    return query.to_wire()


def _response(query: bytes, ttls: tuple[int, ...] = (300, 60)) -> bytes:
    message = dns.message.make_response(dns.message.from_wire(query))
    for index, ttl in enumerate(ttls):
        message.answer.append(dns.rrset.from_text("www.example.com.", ttl, "IN", "A",
                                                  f"10.0.{index // 250}.{index % 250 + 1}"))
    return message.to_wire()


def _get_target(query: bytes) -> bytes:
    return f"{PATH}?dns={base64.urlsafe_b64encode(query).rstrip(b'=').decode()}".encode()


# -- HTTP/1.1 --------------------------------------------------------------------


def _h1(session: Http1Session, *events: h11.Request | h11.Data | h11.EndOfMessage
        ) -> tuple[h11.Connection, list[DnsRequest]]:
    client = h11.Connection(h11.CLIENT)
    data = b"".join(client.send(event) or b"" for event in events)
    return client, session.receive(data)


def _h1_response(client: h11.Connection, session: Http1Session) -> tuple[h11.Response, bytes]:
    client.receive_data(session.data_to_send())
    head = client.next_event()
    assert isinstance(head, h11.Response)
    body = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            break
    return head, body


def test_http1_get_with_id_0_and_cache_control_from_the_smallest_ttl() -> None:
    query = _query(qid=0)
    session = Http1Session(PATH)
    client, requests = _h1(session, h11.Request(method="GET", target=_get_target(query),
                                                headers=[("Host", "x")]), h11.EndOfMessage())
    assert requests == [DnsRequest(0, query)]
    assert session.respond(0, _response(query)) == []
    head, body = _h1_response(client, session)
    headers = dict(head.headers)
    assert head.status_code == 200
    assert headers[b"content-type"] == b"application/dns-message"
    assert headers[b"cache-control"] == b"max-age=60"
    assert dns.message.from_wire(body).id == 0
    assert not session.closed  # keep-alive


def test_http1_remembered_heads_follow_the_ttls_whatever_the_id() -> None:
    """A remembered head (``_RememberedHeads``) is the head of those very bytes, ID aside."""
    query = _query(qid=0)
    ages = []
    for qid, ttls in ((0, (300,)), (7, (300,)), (0, (299,)), (0, (300, 5))):
        session = Http1Session(PATH)
        client, requests = _h1(session, h11.Request(method="GET", target=_get_target(query),
                                                    headers=[("Host", "x")]), h11.EndOfMessage())
        response = bytearray(_response(query, ttls))
        response[:2] = qid.to_bytes(2, "big")
        session.respond(requests[0].stream, bytes(response))
        head, body = _h1_response(client, session)
        assert body == response
        ages.append(dict(head.headers)[b"cache-control"])
    assert ages == [b"max-age=300", b"max-age=300", b"max-age=299", b"max-age=5"]


@settings(max_examples=1000, deadline=None)
@given(st.text("dns=?&#%+;/-_aAzZ09", max_size=24))
@example("?dns=AAAA")
@example("?x?dns=AAAA")
@example("#x?dns=AAAA")
@example("?dns=AAAA&dns=BBBB")
@example("?dns=AA%2BA")
@example("?dns=")
@example("?dns=AAAA==")
def test_dns_parameter_is_what_urllib_reads(rest: str) -> None:
    """The read of a plain ``?dns=`` target (``_dns_parameter``) agrees with urllib's."""
    target = PATH + rest
    values = parse_qs(urlsplit(target).query).get("dns")
    assert (_dns_parameter(target.encode()) or None) == (values[0] if values else None)


def test_http1_post_and_pipelining() -> None:
    first, second = _query("a.example.com"), _query("b.example.com")

    def post(query: bytes) -> list[h11.Request | h11.Data | h11.EndOfMessage]:
        return [h11.Request(method="POST", target=PATH, headers=[
            ("Host", "x"), ("Content-Type", "application/dns-message"),
            ("Content-Length", str(len(query)))]), h11.Data(data=query), h11.EndOfMessage()]

    session = Http1Session(PATH)
    client = h11.Connection(h11.CLIENT)
    wire = b"".join(client.send(event) or b"" for event in post(first))
    client.start_next_cycle = lambda: None  # type: ignore[method-assign]
    second_client = h11.Connection(h11.CLIENT)
    wire += b"".join(second_client.send(event) or b"" for event in post(second))
    assert session.receive(wire) == [DnsRequest(0, first)]  # one at a time
    assert session.respond(0, _response(first)) == [DnsRequest(0, second)]


@pytest.mark.parametrize(
    ("method", "target", "headers", "body", "status"),
    [
        ("GET", "/other?dns=AAAA", [], b"", 404),
        ("PUT", PATH, [("Content-Type", "application/dns-message")], b"x" * 20, 405),
        ("GET", PATH, [], b"", 400),  # no dns parameter
        ("GET", f"{PATH}?dns=***", [], b"", 400),  # not base64url
        ("GET", f"{PATH}?dns=AAAA", [], b"", 400),  # shorter than a DNS header
        ("POST", PATH, [("Content-Type", "text/plain")], b"x" * 20, 415),
        ("POST", PATH, [("Content-Type", "application/dns-message")], b"", 400),
        ("POST", PATH, [("Content-Type", "application/dns-message"),
                        ("Content-Length", str(MAX_QUERY_BYTES + 1))], None, 413),
    ],
)
def test_http1_refusals(method: str, target: str, headers: list[tuple[str, str]],
                        body: bytes | None, status: int) -> None:
    session = Http1Session(PATH)
    client = h11.Connection(h11.CLIENT)
    all_headers = [("Host", "x"), *headers]
    if body is not None and not any(name == "Content-Length" for name, _ in headers):
        all_headers.append(("Content-Length", str(len(body))))
    wire = client.send(h11.Request(method=method, target=target, headers=all_headers)) or b""
    if body:
        wire += client.send(h11.Data(data=body)) or b""
    if body is not None:
        wire += client.send(h11.EndOfMessage()) or b""
    assert session.receive(wire) == []
    head, _ = _h1_response(client, session)
    assert head.status_code == status
    assert session.closed


def test_http1_dropped_query_is_400() -> None:
    query = _query()
    session = Http1Session(PATH)
    client, requests = _h1(session, h11.Request(method="GET", target=_get_target(query),
                                                headers=[("Host", "x")]), h11.EndOfMessage())
    session.respond(requests[0].stream, None)
    assert _h1_response(client, session)[0].status_code == 400


# -- HTTP/2 ----------------------------------------------------------------------


def _h2_client() -> h2.connection.H2Connection:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    return client


def _exchange(client: h2.connection.H2Connection, session: Http2Session) -> list[DnsRequest]:
    requests = session.receive(client.data_to_send())
    return requests


def _h2_events(client: h2.connection.H2Connection, session: Http2Session
               ) -> list[h2.events.Event]:
    return client.receive_data(session.data_to_send())


def _headers(method: str, path: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [(":method", method), (":path", path), (":scheme", "https"),
            (":authority", "x"), *extra]


def test_http2_get_and_post_on_concurrent_streams() -> None:
    session = Http2Session(PATH, max_streams=10)
    client = _h2_client()
    first, second = _query("a.example.com", 0), _query("b.example.com", 0)
    client.send_headers(1, _headers("GET", _get_target(first).decode()), end_stream=True)
    client.send_headers(3, _headers("POST", PATH, ("content-type", "application/dns-message"),
                                    ("content-length", str(len(second)))))
    client.send_data(3, second, end_stream=True)
    requests = _exchange(client, session)
    assert requests == [DnsRequest(1, first), DnsRequest(3, second)]
    session.respond(3, _response(second, (120,)))
    session.respond(1, _response(first, (30, 90)))
    events = _h2_events(client, session)
    statuses = {e.stream_id: dict(e.headers) for e in events
                if isinstance(e, h2.events.ResponseReceived)}
    assert statuses[1][b":status"] == b"200"
    assert statuses[1][b"cache-control"] == b"max-age=30"
    assert statuses[3][b"cache-control"] == b"max-age=120"
    ended = {e.stream_id for e in events if isinstance(e, h2.events.StreamEnded)}
    assert ended == {1, 3}


def test_http2_refusals_are_per_stream() -> None:
    session = Http2Session(PATH, max_streams=10)
    client = _h2_client()
    client.send_headers(1, _headers("GET", "/elsewhere"), end_stream=True)
    client.send_headers(3, _headers("DELETE", PATH), end_stream=True)
    client.send_headers(5, _headers("POST", PATH, ("content-type", "text/plain")),
                        end_stream=True)
    assert _exchange(client, session) == []
    events = _h2_events(client, session)
    statuses = {e.stream_id: dict(e.headers)[b":status"] for e in events
                if isinstance(e, h2.events.ResponseReceived)}
    assert statuses == {1: b"404", 3: b"405", 5: b"415"}
    assert not session.closed


def test_http2_more_streams_than_allowed_closes_the_connection() -> None:
    session = Http2Session(PATH, max_streams=2)
    client = _h2_client()
    # A client that does not wait for our SETTINGS (at most 2 streams), or ignores them.
    for stream in (1, 3, 5):
        client.send_headers(stream, _headers("POST", PATH, ("content-type",
                                                            "application/dns-message")))
    assert _exchange(client, session) == []
    assert session.closed
    events = _h2_events(client, session)
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in events)


def test_http2_large_response_respects_flow_control() -> None:
    session = Http2Session(PATH, max_streams=10)
    client = _h2_client()
    query = _query()
    client.send_headers(1, _headers("GET", _get_target(query).decode()), end_stream=True)
    [request] = _exchange(client, session)
    response = _response(query, tuple(range(1, 3000)))  # about 48 KB
    session.respond(request.stream, response)
    received = b""
    for _ in range(20):
        for event in _h2_events(client, session):
            if isinstance(event, h2.events.DataReceived):
                received += event.data
                client.acknowledge_received_data(event.flow_controlled_length, 1)
        session.receive(client.data_to_send())
        if len(received) == len(response):
            break
    assert received == response


class _TraceRecorder:
    """An h2 logger that keeps what h2 formats for its trace level."""

    def __init__(self) -> None:
        self.traced: list[str] = []

    def debug(self, *args: object) -> None:
        pass

    def trace(self, message: str, *args: object) -> None:
        self.traced.append(message % args)


def test_http2_frames_are_logged_without_their_data() -> None:
    """h2 formats every frame it receives; a request's frames format no data (``_quiet``)."""
    session = Http2Session(PATH, max_streams=10)
    recorder = _TraceRecorder()
    session._h2.config.logger = recorder
    client = _h2_client()
    query = _query() + b"\x00" * 3000  # trailing bytes, to make a DATA frame of weight
    client.send_headers(1, _headers("POST", PATH, ("content-type", "application/dns-message"),
                                    ("content-length", str(len(query)))))
    client.send_data(1, query, end_stream=True)
    assert _exchange(client, session) == [DnsRequest(1, query)]
    request = [line for line in recorder.traced if line.startswith("Received frame")][-2:]
    assert [line.split("(")[0] for line in request] == [
        "Received frame: HeadersFrame", "Received frame: DataFrame"]
    assert all(len(line) < 80 for line in request)


def _unchecked_client() -> h2.connection.H2Connection:
    """A client whose h2 sends any header block it is given."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
    client.initiate_connection()
    return client


@pytest.mark.parametrize("headers", [
    [(":method", "POST"), (":path", PATH), (":authority", "x")],  # no :scheme
    [(":method", "GET"), (":scheme", "https"), (":authority", "x")],  # no :path
    [(":method", "GET"), (":path", PATH), (":path", "/x"), (":scheme", "https")],  # twice
    [(":method", "GET"), (":path", PATH), ("accept", "*/*"), (":scheme", "https")],  # late
    [(":method", "GET"), (":path", PATH), (":scheme", "https"), (":protocol", "x")],  # unknown
    [(":method", "GET"), (":path", PATH), (":scheme", "https"), (":status", "200")],  # response
])
def test_http2_malformed_request_is_reset_and_the_connection_goes_on(
        headers: list[tuple[str, str]]) -> None:
    """RFC 9113 section 8.1.1: a stream error (in place of h2's own checks, turned off)."""
    session = Http2Session(PATH, max_streams=10)
    client = _unchecked_client()
    query = _query()
    client.send_headers(1, headers, end_stream=True)
    client.send_headers(3, _headers("GET", _get_target(query).decode()), end_stream=True)
    assert _exchange(client, session) == [DnsRequest(3, query)]
    events = _h2_events(client, session)
    resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert [(e.stream_id, e.error_code) for e in resets] == [
        (1, h2.errors.ErrorCodes.PROTOCOL_ERROR)]
    assert not session.closed


def test_http2_fields_we_do_not_use_are_not_checked() -> None:
    """Connection-specific fields and odd value characters harm proxies; we forward nothing."""
    session = Http2Session(PATH, max_streams=10)
    client = _unchecked_client()
    query = _query()
    client.send_headers(1, _headers("GET", _get_target(query).decode(), ("connection", "close"),
                                    ("x-odd", "a\x00b")), end_stream=True)
    assert _exchange(client, session) == [DnsRequest(1, query)]


def test_http2_responses_leave_the_client_table_empty_whatever_its_settings() -> None:
    """Fields encoded without the dynamic table, the same bytes each time; size 0 announced."""
    session = Http2Session(PATH, max_streams=10)
    client = _h2_client()
    client.update_settings({h2.settings.SettingCodes.HEADER_TABLE_SIZE: 100})
    blocks = []
    for stream in (1, 3, 5):
        query = _query(qid=stream)
        client.send_headers(stream, _headers("GET", _get_target(query).decode()),
                            end_stream=True)
        [request] = _exchange(client, session)
        session.respond(request.stream, _response(query))
        data = session.data_to_send()
        blocks.append(_header_blocks(data))
        events = client.receive_data(data)
        [head] = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
        assert dict(head.headers)[b"cache-control"] == b"max-age=60"
        assert not client.decoder.header_table.dynamic_entries
    assert blocks[0] == [b"\x20" + blocks[1][0]]  # RFC 7541 section 6.3: size 0, at first
    assert blocks[1] == blocks[2]


def _header_blocks(data: bytes) -> list[bytes]:
    """The payloads of the HEADERS frames in ``data`` (RFC 9113 section 4.1)."""
    blocks = []
    while data:
        length, kind = int.from_bytes(data[:3], "big"), data[3]
        if kind == 0x1:
            blocks.append(data[9:9 + length])
        data = data[9 + length:]
    return blocks


def test_unindexed_encoder_remembers_a_bounded_number_of_fields() -> None:
    encoder = _UnindexedEncoder()
    decoder = hpack.Decoder()
    for length in range(3000):
        fields = [(b"content-length", b"%d" % length)]
        assert decoder.decode(encoder.encode(fields), raw=True) == fields
    assert len(encoder._encoded) <= 1024


def _literal(name: bytes, value: bytes) -> bytes:
    """An HPACK literal field with incremental indexing, new name, no Huffman (RFC 7541 6.2.1)."""
    return b"\x40" + bytes([len(name)]) + name + bytes([len(value)]) + value


def test_remembering_decoder_forgets_when_the_table_changes() -> None:
    """The same block (dynamic index 62) means another field once the table changed."""
    newest = b"\xbe"  # indexed field 62: the newest entry of the dynamic table
    blocks = [
        _literal(b"x-a", b"1"), newest, newest,
        _literal(b"x-a", b"2"), newest,  # a new newest entry
        b"\x3f\x0e",  # size update to 45 (one entry of this size): the table empties
        _literal(b"x-a", b"3"), newest, _literal(b"x-a", b"4"), newest,  # evicts, same length
    ]
    ours, reference = _RememberingDecoder(), hpack.Decoder()
    for block in blocks:
        assert ours.decode(block, raw=True) == reference.decode(block, raw=True)


def test_cache_control_of_a_response_without_records_is_0() -> None:
    query = _query()
    assert cache_control(_response(query, ())) == b"max-age=0"


# -- Fuzzing: no exception, and the session ends closed ---------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_http1_fuzz(chunks: list[bytes]) -> None:
    session = Http1Session(PATH)
    for chunk in chunks:
        for request in session.receive(chunk):
            session.respond(request.stream, None)
        session.data_to_send()
    session.receive(b"")
    session.data_to_send()
    assert session.closed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_http2_fuzz(chunks: list[bytes]) -> None:
    session = Http2Session(PATH, max_streams=4)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for chunk in [preface, *chunks]:
        for request in session.receive(chunk):
            session.respond(request.stream, request.wire)
        session.data_to_send()
    session.receive(b"")
    assert session.closed
