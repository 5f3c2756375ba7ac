"""CPU time per DoH request in the sans-I/O HTTP sessions alone, in memory (issue 21).

``bench.encrypted`` measures the whole server under dnsperf on a machine
shared with others, and its figures move with the load. This one measures
only what HTTP costs per cached answer, steadily: the bytes an nghttp2
client (dnsperf, curl) sends for a POST (HEADERS with ``:path`` and
``content-length`` never indexed, then DATA, a dozen requests a read, as
dnsperf's arrive) fed to ``doh.Http2Session``, each answered with the same
response, output taken after each one as the server does. Beside it, h2's
floor: h2 with the session's settings doing only what any server must (take
the frames in, acknowledge the data, send HEADERS and DATA); and
``doh.Http1Session`` with pipelined POSTs (h11).

Figures are thread CPU µs per request, the median of ``--rounds``:

    .venv/bin/python -m bench.doh_session
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import hpack
import hyperframe.frame

from resolver import doh

PATH = "/dns-query"
_QUERY = (struct.pack("!6H", 0, 0x0100, 1, 0, 0, 0)
          + b"\x03www\x07example\x03com\x00\x00\x01\x00\x01")
#: A cached answer: one A record, TTL 300.
_RESPONSE = (struct.pack("!6H", 0, 0x8180, 1, 1, 0, 0) + _QUERY[12:]
             + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\x0a\x00\x00\x01")
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + hyperframe.frame.SettingsFrame(0).serialize()


def h2_reads(requests: int, per_read: int) -> list[bytes]:
    """What an nghttp2 client sends for ``requests`` POSTs, ``per_read`` to a read.

    Each read also gives back the connection window the answers to the
    previous one used, as the client's WINDOW_UPDATE does.
    """
    encoder = hpack.Encoder()
    credit = hyperframe.frame.WindowUpdateFrame(0, window_increment=per_read * len(_RESPONSE))
    reads = []
    stream = 1
    for _ in range(requests // per_read):
        data = b""
        for _ in range(per_read):
            block = encoder.encode([
                (b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"127.0.0.1"),
                hpack.NeverIndexedHeaderTuple(b":path", PATH.encode()),
                (b"accept", doh.DNS_MESSAGE), (b"content-type", doh.DNS_MESSAGE),
                hpack.NeverIndexedHeaderTuple(b"content-length", b"%d" % len(_QUERY)),
            ])
            headers = hyperframe.frame.HeadersFrame(stream, block, flags=["END_HEADERS"])
            body = hyperframe.frame.DataFrame(stream, _QUERY, flags=["END_STREAM"])
            data += headers.serialize() + body.serialize()
            stream += 2
        reads.append(data + credit.serialize())
    return reads


def session_cost(reads: list[bytes]) -> tuple[float, float]:
    """µs per request of ``Http2Session``: taking requests in, and answering them."""
    session = doh.Http2Session(PATH, max_streams=100)
    session.receive(_PREFACE)
    session.data_to_send()
    taking = answering = 0.0
    answered = 0
    for data in reads:
        started = time.thread_time()
        requests = session.receive(data)
        taking += time.thread_time() - started
        started = time.thread_time()
        while requests:
            request = requests.pop()
            session.data_to_send()
            requests += session.respond(request.stream, _RESPONSE)
            answered += 1
        session.data_to_send()
        answering += time.thread_time() - started
    return taking / answered * 1e6, answering / answered * 1e6


def h2_floor(reads: list[bytes]) -> tuple[float, float]:
    """µs per request of h2 alone, configured as the session configures it."""
    config = h2.config.H2Configuration(client_side=False, header_encoding=None,
                                       validate_outbound_headers=False,
                                       normalize_outbound_headers=False,
                                       validate_inbound_headers=False,
                                       normalize_inbound_headers=False)
    connection = h2.connection.H2Connection(config)
    connection.encoder = doh._UnindexedEncoder()
    connection.decoder = doh._RememberingDecoder()
    doh._quieten_frames(connection)
    connection.initiate_connection()
    connection.receive_data(_PREFACE)
    connection.data_to_send()
    headers = ((b":status", b"200"), *doh.response_headers(_RESPONSE))
    taking = answering = 0.0
    answered = 0
    for data in reads:
        started = time.thread_time()
        ended = []
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.DataReceived) and event.stream_id:
                connection.acknowledge_received_data(event.flow_controlled_length or 0,
                                                     event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id:
                ended.append(event.stream_id)
        taking += time.thread_time() - started
        started = time.thread_time()
        for stream in ended:
            connection.send_headers(stream, headers)
            connection.send_data(stream, _RESPONSE, end_stream=True)
            answered += 1
        connection.data_to_send()
        answering += time.thread_time() - started
    return taking / answered * 1e6, answering / answered * 1e6


def http1_cost(requests: int, per_read: int) -> float:
    """µs per request of ``Http1Session``, ``per_read`` pipelined POSTs to a read."""
    head = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: %s\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\n\r\n" % (PATH.encode(), doh.DNS_MESSAGE, doh.DNS_MESSAGE,
                                             len(_QUERY)))
    data = (head + _QUERY) * per_read
    session = doh.Http1Session(PATH)
    answered = 0
    started = time.thread_time()
    for _ in range(requests // per_read):
        pending = session.receive(data)
        while pending:
            request = pending.pop()
            pending += session.respond(request.stream, _RESPONSE)
            answered += 1
        session.data_to_send()
    return (time.thread_time() - started) / answered * 1e6


def _median(runs: list[tuple[float, float]]) -> dict[str, float]:
    return {"take": round(statistics.median(r[0] for r in runs), 1),
            "answer": round(statistics.median(r[1] for r in runs), 1),
            "total": round(statistics.median(r[0] + r[1] for r in runs), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--per-read", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    reads = h2_reads(args.requests, args.per_read)
    measures: dict[str, Callable[[], tuple[float, float]]] = {
        "http2_session": lambda: session_cost(reads),
        "h2_floor": lambda: h2_floor(reads),
        "http1_session": lambda: (http1_cost(args.requests, args.per_read), 0.0),
    }
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in measures}
    for _ in range(args.rounds):  # interleaved: a burst of load hits all alike
        for name, measure in measures.items():
            runs[name].append(measure())
    figures = {name: _median(r) for name, r in runs.items()}
    figures["http1_session"] = {"total": figures["http1_session"]["take"]}  # one figure
    print(json.dumps({"us_per_request": figures, "per_read": args.per_read,
                      "rounds": args.rounds}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
