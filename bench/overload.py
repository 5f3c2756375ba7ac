"""Cached answers under a flood of cold queries: do they keep flowing?

Issue 16's overload target: while cold queries arrive at ``--multiple``
(10) times the rate Holdfast can resolve them, a client asking names that
are cached gets at least 99% answers with a p99 of at most 20 ms.

One run, inside a private network namespace (re-executed under
``unshare -n`` when it can be), under a minute:

1. start the lab and Holdfast (``bench.processes``; Holdfast on CPU 0,
   the load and this process, the cached client, on CPU 1), warm the
   catalogue's names;
2. measure the cold capacity: never-asked ``bench.com`` names with
   ``COLD_WINDOW`` queries outstanding, answers per second;
3. flood cold names at ``--multiple`` times that rate from a separate
   process (``--flood``, open loop: it never waits for answers), and
   meanwhile ask cached names at ``--cached-rate`` from this one, each
   with a 1 s timeout; print the cached client's answer share and
   latency percentiles, the flood's answers, and Holdfast's overload drops;
4. the same for Unbound (one thread, same CPU) when it is installed and
   ``--no-unbound`` is not given: its own cold capacity, ten times that.

Python load generators (dnsperf is not needed): bounded in count and
time, loopback only.

    python -m bench.overload [--seconds 10] [--multiple 10] [--cached-rate 200] [--no-unbound]
                             [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import workloads
from bench.processes import (
    HOLDFAST_PORT,
    LOAD_CPU,
    LOOPBACK,
    RESOLVER_CPU,
    Started,
    isolate,
    start_holdfast,
    start_lab,
    start_unbound,
    unbound_available,
)
from resolver.control import request

#: Cold queries outstanding while the capacity is measured (as ``bench.harness``).
COLD_WINDOW = 100
#: Seconds the cold capacity is measured for.
CAPACITY_SECONDS = 5.0
#: Seconds a cached query may take before it counts as unanswered.
CACHED_TIMEOUT = 1.0
#: Cold names: the capacity run starts here, the flood after what it used.
COLD_FIRST = workloads.COLD_START
#: Most queries per second the flood may send, whatever the capacity says.
MAX_FLOOD_RATE = 50_000
TARGET_SHARE = 0.99
TARGET_P99 = 0.020

SERVER = (LOOPBACK, HOLDFAST_PORT)
Server = tuple[str, int]


def encode(name: str, query_id: int) -> bytes:
    """A recursive A query for ``name`` with EDNS (4096), in wire format."""
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 1)
    question = labels + b"\x00\x00\x01\x00\x01"
    return header + question + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> Iterator[bytes]:
    while True:
        try:
            yield sock.recv(65535)
        except BlockingIOError:
            return


def cold_capacity(first: int, seconds: float, server: Server = SERVER) -> tuple[float, int]:
    """Cold answers per second with ``COLD_WINDOW`` outstanding; and the next unused name."""
    sock = _socket()
    outstanding: dict[int, float] = {}
    index, answered = first, 0
    ids = iter(range(1, 1 << 30))
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        while len(outstanding) < COLD_WINDOW:
            query_id = next(ids) & 0xFFFF
            sock.sendto(encode(workloads.bench_name(index), query_id), server)
            outstanding[query_id] = time.monotonic()
            index += 1
        select.select([sock], [], [], 0.05)
        for reply in _drain(sock):
            if outstanding.pop(struct.unpack_from("!H", reply)[0], None) is not None:
                answered += 1
        now = time.monotonic()
        for query_id, sent in list(outstanding.items()):
            if now - sent > 2.0:
                del outstanding[query_id]
    sock.close()
    return answered / (time.monotonic() - started), index


def flood(rate: float, seconds: float, first: int, server: Server = SERVER) -> dict[str, float]:
    """Send cold names at ``rate`` for ``seconds`` (open loop); count the answers."""
    return open_loop(
        rate, seconds, lambda n: workloads.bench_name(first + n % (workloads.BENCH_NAMES - first)),
        server,
    )


def open_loop(
    rate: float, seconds: float, name_of: Callable[[int], str], server: Server = SERVER
) -> dict[str, float]:
    """Send query ``name_of(n)`` at ``rate`` for ``seconds``, never waiting; count the answers.

    Also the attack load of ``bench.attacks``.
    """
    sock = _socket()
    sent = answered = 0
    started = time.monotonic()
    deadline = started + seconds
    while (now := time.monotonic()) < deadline:
        due = int((now - started) * rate)
        while sent < due:
            with contextlib.suppress(BlockingIOError):  # a full buffer loses the query
                sock.sendto(encode(name_of(sent), sent & 0xFFFF), server)
            sent += 1
        answered += sum(1 for _ in _drain(sock))
        time.sleep(0.0005)
    time.sleep(CACHED_TIMEOUT)
    answered += sum(1 for _ in _drain(sock))
    return {"sent": sent, "answered": answered, "seconds": seconds}


def probe_cached(rate: float, seconds: float, server: Server = SERVER) -> list[float | None]:
    """Ask cached names at ``rate`` for ``seconds``; each one's latency, None if unanswered."""
    sock = _socket()
    names = [name for name, rdtype in workloads.CATALOGUE if rdtype == "A"]
    sent_at: dict[int, float] = {}
    latencies: dict[int, float | None] = {}
    started = time.monotonic()
    deadline = started + seconds
    count = 0
    while (now := time.monotonic()) < deadline + CACHED_TIMEOUT:
        if now < deadline and count < int((now - started) * rate) + 1:
            query_id = count & 0xFFFF
            sock.sendto(encode(random.choice(names), query_id), server)
            sent_at[query_id] = now
            latencies[count] = None
            count += 1
        readable, _, _ = select.select([sock], [], [], 0.0005)
        received = time.monotonic()
        for reply in _drain(sock) if readable else ():
            query_id = struct.unpack_from("!H", reply)[0]
            sent = sent_at.pop(query_id, None)
            if sent is not None and received - sent <= CACHED_TIMEOUT:
                latencies[_count_of(query_id, count)] = received - sent
    sock.close()
    return list(latencies.values())


def _count_of(query_id: int, count: int) -> int:
    """The sequence number of the latest query sent with ``query_id``."""
    base = (count - 1) & ~0xFFFF
    number = base | query_id
    return number if number < count else number - 0x10000


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def warm(server: Server = SERVER) -> None:
    """Ask every catalogue A name until it is answered (it is then cached)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5.0)
        for round_ in range(2):
            for number, (name, rdtype) in enumerate(workloads.CATALOGUE):
                if rdtype == "A":
                    sock.sendto(encode(name, round_ * 100 + number), server)
                    sock.recv(65535)


def pin_to_load_cpu() -> None:
    """Keep this process (the cached client) off Holdfast's CPU, as the flood and the lab are.

    Unpinned, the scheduler may run it on ``RESOLVER_CPU`` and its own work
    shows up as Holdfast's latency.
    """
    with contextlib.suppress(OSError):  # a machine with one CPU
        os.sched_setaffinity(0, {LOAD_CPU})


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Holdfast's figures, and Unbound's when wanted and installed, one after the other."""
    pin_to_load_cpu()
    with tempfile.TemporaryDirectory(prefix="holdfast-overload-") as temporary:
        workdir = Path(temporary)
        lab = start_lab(workdir, LOAD_CPU)
        try:
            holdfast = start_holdfast(workdir, RESOLVER_CPU)
            results = {"Holdfast": under_flood(holdfast, args, workdir / "holdfast.sock")}
            if not args.no_unbound and unbound_available():
                results["Unbound"] = under_flood(start_unbound(workdir, RESOLVER_CPU), args)
        finally:
            lab.stop()
    return results


def under_flood(
    resolver: Started, args: argparse.Namespace, control: Path | None = None
) -> dict[str, Any]:
    """The cached client's figures while ``resolver`` is flooded; stops it.

    ``control``: Holdfast's control socket, for its overload drops.
    """
    server = resolver.server
    try:
        warm(server)
        capacity, next_name = cold_capacity(COLD_FIRST, CAPACITY_SECONDS, server)
        rate = min(capacity * args.multiple, MAX_FLOOD_RATE)
        flooding = subprocess.Popen(
            ["taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "bench.overload",
             "--flood", f"{rate:.0f}", "--seconds", str(args.seconds),
             "--first", str(next_name), "--port", str(resolver.port)],
            stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1],
        )
        time.sleep(0.5)  # the flood is under way before the cached client starts
        latencies = probe_cached(args.cached_rate, args.seconds - 1.0, server)
        out, _ = flooding.communicate(timeout=args.seconds + 30)
        stats = {} if control is None else request(control, {"command": ["stats"]}, timeout=10)
    finally:
        resolver.stop()
    answered = [value for value in latencies if value is not None]
    share = len(answered) / len(latencies) if latencies else 0.0
    p99 = percentile(answered, 0.99)
    return {
        "cold_capacity_qps": round(capacity, 1),
        "cold_offered_qps": round(rate, 1),
        "flood": json.loads(out),
        "cached": {
            "asked": len(latencies),
            "answered": len(answered),
            "share": round(share, 4),
            "p50_ms": round(percentile(answered, 0.5) * 1000, 3),
            "p99_ms": round(p99 * 1000, 3),
            "max_ms": round(max(answered, default=float("nan")) * 1000, 3),
        },
        "dropped": stats.get("dropped", {}),
        "targets_met": share >= TARGET_SHARE and p99 <= TARGET_P99,
    }


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the flood")
    parser.add_argument("--multiple", type=float, default=10.0, help="flood / cold capacity")
    parser.add_argument("--cached-rate", type=float, default=200.0, help="cached queries/s")
    parser.add_argument("--no-unbound", action="store_true", help="measure Holdfast only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--flood", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=HOLDFAST_PORT, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=COLD_FIRST, help=argparse.SUPPRESS)
    args = parser.parse_args(arguments)
    args.seconds = min(max(args.seconds, 2.0), 30.0)
    if args.flood is not None:
        rate = min(args.flood, MAX_FLOOD_RATE)
        print(json.dumps(flood(rate, args.seconds, args.first, (LOOPBACK, args.port))))
        return 0
    if os.geteuid() != 0:
        print("bench.overload: needs root (the lab binds port 53 in a private namespace)",
              file=sys.stderr)
        return 2
    isolate(arguments, "bench.overload")
    results = run(args)
    if args.json:
        print(json.dumps(results))
        return 0
    for name, result in results.items():
        cached = result["cached"]
        print(f"{name}: cold capacity {result['cold_capacity_qps']:,.0f} q/s; flood offered "
              f"{result['cold_offered_qps']:,.0f} q/s, {result['flood']['answered']:,} of "
              f"{result['flood']['sent']:,} answered; dropped {result['dropped'] or '-'}")
        print(f"  cached client: {cached['answered']}/{cached['asked']} answered "
              f"({cached['share']:.2%}), p50 {cached['p50_ms']} ms, p99 {cached['p99_ms']} ms, "
              f"max {cached['max_ms']} ms; targets (>= 99%, p99 <= 20 ms) "
              f"{'met' if result['targets_met'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
