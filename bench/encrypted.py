"""Cached queries per second over DoT and DoH against plain UDP, in one run (issue 21).

Starts the lab and ``holdfast serve`` (UDP, DoT and DoH on 127.0.0.1, a
certificate made at start), and Unbound with its ``tls-port`` and
``https-port`` on the same certificate when it is installed, inside a
private network namespace; warms a few names, then asks them over and over
for ``--seconds`` per transport. Prints answers per second, the ratios
to UDP (goals: DoT at least 0.5x, DoH at least 0.3x) and the resolver's CPU
time per answer (user and system, from /proc).

The client is dnsperf when installed (``-m udp|dot|doh``: ``--connections``
connections, one by default, ``--window`` queries in flight in all,
pinned to the other CPU than the resolver, as ``bench/harness.py`` does).
Without it, a pure-Python client (ssl, h2) keeps ``--window`` queries
outstanding: its figures include its own cost and are a lower bound for
the server. Bounded: each run stops at its deadline.

    tests/run-isolated .venv/bin/python -m bench.encrypted --seconds 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h2.config
import h2.connection
import h2.events

from bench import dnsperf
from bench.processes import (
    HOLDFAST_PORT,
    LOAD_CPU,
    LOOPBACK,
    RESOLVER_CPU,
    UNBOUND_PORT,
    Started,
    start_holdfast,
    start_lab,
    start_unbound,
    unbound_available,
    wait_until_answering,
)
from tests.certificates import write_certificate

NAMES = ("www.example.com", "www.example.net", "alias.example.com", "www.example.org")
TRANSPORTS = ("udp", "dot", "doh")
#: Ports of each resolver, by transport.
_PORTS = {
    "Holdfast": {"udp": HOLDFAST_PORT, "dot": 8531, "doh": 4431},
    "Unbound": {"udp": UNBOUND_PORT, "dot": 8532, "doh": 4432},
}


def encode(name: str, qid: int) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\x00\x00\x01\x00\x01"


def _tls(port: int, alpn: str) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([alpn])
    sock = context.wrap_socket(socket.create_connection((LOOPBACK, port), timeout=5))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def udp_rate(port: int, seconds: float, window: int) -> float:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((LOOPBACK, port))
    sock.settimeout(0.5)
    answered = outstanding = sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        while outstanding < window:
            sock.send(encode(NAMES[sent % len(NAMES)], sent & 0xFFFF))
            sent += 1
            outstanding += 1
        try:
            sock.recv(4096)
            answered += 1
            outstanding -= 1
        except TimeoutError:
            outstanding = 0  # lost: start the window again
    return answered / (time.perf_counter() - start)


def dot_rate(port: int, seconds: float, window: int) -> float:
    sock = _tls(port, "dot")
    buffer = b""
    answered = outstanding = sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        batch = b""
        while outstanding < window:
            wire = encode(NAMES[sent % len(NAMES)], sent & 0xFFFF)
            batch += len(wire).to_bytes(2, "big") + wire
            sent += 1
            outstanding += 1
        if batch:
            sock.sendall(batch)
        buffer += sock.recv(65536)
        while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
            buffer = buffer[2 + int.from_bytes(buffer[:2], "big"):]
            answered += 1
            outstanding -= 1
    elapsed = time.perf_counter() - start
    sock.close()
    return answered / elapsed


def doh_rate(port: int, seconds: float, window: int) -> float:
    sock = _tls(port, "h2")
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    sock.sendall(connection.data_to_send())
    answered = outstanding = sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        while outstanding < window:
            stream = connection.get_next_available_stream_id()
            wire = encode(NAMES[sent % len(NAMES)], 0)
            connection.send_headers(stream, [
                (":method", "POST"), (":path", "/dns-query"), (":scheme", "https"),
                (":authority", LOOPBACK), ("content-type", "application/dns-message"),
                ("content-length", str(len(wire)))])
            connection.send_data(stream, wire, end_stream=True)
            sent += 1
            outstanding += 1
        sock.sendall(connection.data_to_send())
        for event in connection.receive_data(sock.recv(65536)):
            if isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                connection.acknowledge_received_data(event.flow_controlled_length or 0,
                                                     event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                answered += 1
                outstanding -= 1
        sock.sendall(connection.data_to_send())
    elapsed = time.perf_counter() - start
    sock.close()
    return answered / elapsed


#: The pure-Python client, by transport: (port, seconds, window) to answers per second.
PYTHON_CLIENT: dict[str, Callable[[int, float, int], float]] = {
    "udp": udp_rate, "dot": dot_rate, "doh": doh_rate,
}


def start_resolvers(workdir: Path, with_unbound: bool) -> list[Started]:
    """Holdfast, and Unbound if wanted and installed, each serving UDP, DoT and DoH."""
    certificate, key = write_certificate(workdir)
    ports = _PORTS["Holdfast"]
    config = workdir / "holdfast.toml"
    config.write_text(
        "[server]\n"
        f'listen_tls = ["{LOOPBACK}:{ports["dot"]}"]\n'
        f'listen_https = ["{LOOPBACK}:{ports["doh"]}"]\n'
        f'tls_certificate = "{certificate}"\ntls_key = "{key}"\n'
        '[metrics]\nlisten = ""\n'
    )
    resolvers = [start_holdfast(workdir, RESOLVER_CPU, ["--config", str(config)])]
    if with_unbound and unbound_available():
        ports = _PORTS["Unbound"]
        resolvers.append(start_unbound(workdir, RESOLVER_CPU, (
            f"  interface: {LOOPBACK}@{ports['dot']}\n"
            f"  interface: {LOOPBACK}@{ports['doh']}\n"
            f"  tls-port: {ports['dot']}\n"
            f"  https-port: {ports['doh']}\n"
            f'  tls-service-pem: "{certificate}"\n'
            f'  tls-service-key: "{key}"\n'
            "  incoming-num-tcp: 256\n"
        )))
    return resolvers


def measure(resolver: Started, queries: Path, seconds: float, window: int,
            connections: int = 1) -> tuple[dict[str, float], dict[str, float]]:
    """Answers per second over each transport in turn, and the resolver's CPU µs per answer.

    The CPU cost is the steadier figure on a shared machine: the rate moves
    with whatever else runs on the resolver's CPU, the cost much less.
    """
    for name in NAMES:
        wait_until_answering(resolver, name + ".")
    ports = _PORTS[resolver.name]
    rates = {}
    costs = {}
    for transport in TRANSPORTS:
        port = ports[transport]
        cpu = resolver.cpu_seconds()
        if shutil.which("dnsperf") is None:
            rates[transport] = PYTHON_CLIENT[transport](port, seconds, window)
            answered = rates[transport] * seconds
        else:
            options = [f"doh-uri=https://{LOOPBACK}:{port}/dns-query", "doh-method=POST"]
            run = dnsperf.run((LOOPBACK, port), queries, cpu=LOAD_CPU, seconds=seconds,
                              outstanding=window, mode=transport,
                              options=options if transport == "doh" else (),
                              clients=connections)
            rates[transport] = run.qps
            answered = run.completed
        costs[transport] = (resolver.cpu_seconds() - cpu) / max(answered, 1) * 1e6
    return rates, costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=100,
                        help="queries in flight (Holdfast's tls_pipelined_queries and "
                             "https_max_streams default to 100)")
    parser.add_argument("--connections", type=int, default=1,
                        help="dnsperf connections (-c); the window is spread over them")
    parser.add_argument("--no-unbound", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {
        "client": "dnsperf" if shutil.which("dnsperf") else "Python (dnsperf not installed)",
        "connections": args.connections,
        "goals": {"dot_to_udp": 0.5, "doh_to_udp": 0.3},
    }
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-") as tmp:
        workdir = Path(tmp)
        queries = workdir / "queries.txt"
        queries.write_text("".join(f"{name} A\n" for name in NAMES))
        lab = start_lab(workdir, LOAD_CPU)
        resolvers: list[Started] = []
        try:
            resolvers = start_resolvers(workdir, not args.no_unbound)
            for resolver in resolvers:
                rates, costs = measure(resolver, queries, args.seconds, args.window,
                                       max(1, args.connections))
                figures[resolver.name] = {
                    "queries_per_second": {kind: round(rate) for kind, rate in rates.items()},
                    "cpu_us_per_answer": {kind: round(cost) for kind, cost in costs.items()},
                    "dot_to_udp": round(rates["dot"] / rates["udp"], 2),
                    "doh_to_udp": round(rates["doh"] / rates["udp"], 2),
                }
        finally:
            for started in [*resolvers, lab]:
                started.stop()
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"client: {figures['client']}")
    for name in _PORTS:
        result = figures.get(name)
        if not isinstance(result, dict):
            continue
        rates, costs = result["queries_per_second"], result["cpu_us_per_answer"]
        print(f"{name}: " + ", ".join(f"{kind} {rate:,} q/s ({costs[kind]} us CPU each)"
                                      for kind, rate in rates.items())
              + f"; DoT/UDP {result['dot_to_udp']:.2f} (goal 0.5), "
              f"DoH/UDP {result['doh_to_udp']:.2f} (goal 0.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
