"""Thread CPU time of each step of the floor program (``bench.floor``), per answer.

``bench.cold_floor`` measures the floor program whole under dnsperf; this
times its steps one by one, in memory, steadily on a shared machine (as
``bench.doh_session`` does for HTTP): reading the client's query, writing
the upstream query, reading the reply (also with Holdfast's reader,
``resolver.upstream_wire``), verifying (``dns.dnssec.validate``,
then the signed data built by hand, then the ECDSA verification alone),
writing the response, each with dnspython and by hand (``bench.floor_wire``);
and Trio's part: one UDP datagram sent and received on loopback (an answer
needs two: the client's query in and the response out, the upstream query
out and the reply in), and a task per query with its timeout and the wait
for its reply. A fresh UDP socket per upstream query (what Holdfast opens,
for source port randomisation; the floor shares one) is timed for comparison.

Figures are µs per call, the median of ``--rounds``, each the mean of
``--repeat`` calls. Alone it times the in-memory lab's reply (answer and
RRSIG only); ``bench.cold_floor`` times NSD's (with NS, glue and their RRSIGs):

    .venv/bin/python -m bench.floor_costs
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import dns.message
import dns.name
import dns.rdatatype
import trio

from bench import floor_steps, floor_wire
from bench.floor import UPSTREAM_TIMEOUT
from bench.floor_steps import ZoneTrust
from resolver import upstream_wire
from resolver.clock import SystemClock
from resolver.lab import Lab

BENCH_ZONE = dns.name.from_text("bench.com.")
#: Where the lab's (and NSD's) bench.com answers.
BENCH_SERVER = "127.53.3.31"
#: A bench.com name no cold run asks (they start at ``workloads.COLD_START``).
SAMPLE_NAME = "n9999.bench.com."

_COMMON = ("read query", "write upstream query", "find answer", "write response")
WIRE = ("wire: read query", "wire: write upstream query", "wire: read reply", "wire: verify",
        "wire: write response")
TRIO = ("trio: UDP datagram sent and received", "trio: task, timeout and wait per query")


def _answer(*steps: str) -> dict[str, int]:
    """One answer's steps, each once, and Trio's: two datagram rounds and a task."""
    return {**dict.fromkeys(steps, 1), TRIO[0]: 2, TRIO[1]: 1}


#: The steps one answer of each floor variant takes, and how many times.
VARIANTS: dict[str, dict[str, int]] = {
    "dnspython": _answer(*_COMMON, "read reply", "verify: dns.dnssec.validate"),
    "by-hand": _answer(*_COMMON, "read reply", "verify: by hand"),
    "unvalidated": _answer(*_COMMON, "read reply"),
    "holdfast-reader": _answer(*_COMMON, "read reply: Holdfast's reader", "verify: by hand"),
    "wire": _answer(*WIRE),
}


def client_query(name: str = SAMPLE_NAME) -> bytes:
    """What dnsperf sends: RD, no EDNS."""
    return dns.message.make_query(name, dns.rdatatype.A, use_edns=False).to_wire()


def lab_exchange() -> tuple[bytes, ZoneTrust]:
    """The in-memory lab's reply to the floor's upstream query, and bench.com's key."""
    lab = Lab.build(SystemClock())
    keys = dns.message.make_query(BENCH_ZONE, dns.rdatatype.DNSKEY, want_dnssec=True)
    keys_reply = lab.handle(BENCH_SERVER, keys.to_wire(), tcp=False).wire
    upstream = floor_steps.upstream_query(floor_steps.read_query(client_query()), 1)
    reply = lab.handle(BENCH_SERVER, upstream, tcp=False).wire
    if keys_reply is None or reply is None:
        raise ValueError("the in-memory lab did not answer bench.com")
    return reply, ZoneTrust.of(dns.message.from_wire(keys_reply).answer[0])


def step_calls(query_wire: bytes, reply_wire: bytes, trust: ZoneTrust
               ) -> dict[str, Callable[[], object]]:
    """Each in-memory step, ready to call again and again with the same input."""
    now = time.time()
    query = floor_steps.read_query(query_wire)
    reply = floor_steps.read_reply(reply_wire)
    answer = floor_steps.answer_of(query, reply)
    wire_query = floor_wire.read_query(query_wire)
    wire_answer = floor_wire.read_reply(reply_wire, wire_query)
    if answer is None or wire_answer is None:
        raise ValueError("the reply holds no signed answer to the query")
    rrsig = answer[1][0]
    data = floor_steps.signed_data(
        rrsig.to_digestable()[:18], trust.signer, answer[0].name.to_digestable(),
        answer[0].rdtype, rrsig.original_ttl, [rdata.to_digestable() for rdata in answer[0]])
    return {
        "read query": lambda: floor_steps.read_query(query_wire),
        "write upstream query": lambda: floor_steps.upstream_query(query, 1),
        "read reply": lambda: floor_steps.read_reply(reply_wire),
        "read reply: Holdfast's reader": lambda: upstream_wire.read_reply(reply_wire),
        "find answer": lambda: floor_steps.answer_of(query, reply),
        "verify: dns.dnssec.validate": lambda: floor_steps.verify_with_dnspython(
            answer, trust, now),
        "verify: by hand": lambda: floor_steps.verify_by_hand(answer, trust, now),
        "ECDSA P-256 verification alone": lambda: floor_steps.ecdsa_verifies(
            trust.public, data, rrsig.signature),
        "write response": lambda: floor_steps.render(query, answer, True),
        "wire: read query": lambda: floor_wire.read_query(query_wire),
        "wire: write upstream query": lambda: floor_wire.upstream_query(wire_query, 1),
        "wire: read reply": lambda: floor_wire.read_reply(reply_wire, wire_query),
        "wire: verify": lambda: floor_wire.verify(wire_answer, wire_query, trust, now),
        "wire: write response": lambda: floor_wire.render(wire_query, wire_answer, True),
    }


def _per_call(call: Callable[[], object], repeat: int) -> float:
    started = time.thread_time()
    for _ in range(repeat):
        call()
    return (time.thread_time() - started) / repeat * 1e6


async def trio_costs(repeat: int) -> dict[str, float]:
    """µs per datagram round on loopback, per task with its wait, per fresh socket."""
    sender = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sender, receiver:
        await sender.bind(("127.0.0.1", 0))
        await receiver.bind(("127.0.0.1", 0))
        address = receiver.getsockname()
        payload = bytes(64)
        started = time.thread_time()
        for _ in range(repeat):
            await sender.sendto(payload, address)
            await receiver.recvfrom(4096)
        datagram = (time.thread_time() - started) / repeat * 1e6

    async def waits(arrived: trio.Event) -> None:
        with trio.move_on_after(UPSTREAM_TIMEOUT):
            await arrived.wait()

    started = time.thread_time()
    async with trio.open_nursery() as nursery:
        for _ in range(repeat):
            arrived = trio.Event()
            nursery.start_soon(waits, arrived)
            await trio.lowlevel.checkpoint()
            arrived.set()
            await trio.lowlevel.checkpoint()
    task = (time.thread_time() - started) / repeat * 1e6
    started = time.thread_time()
    for _ in range(repeat):
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as fresh:
            await fresh.bind(("127.0.0.1", 0))
    fresh_socket = (time.thread_time() - started) / repeat * 1e6
    return {TRIO[0]: datagram, TRIO[1]: task,
            "trio: fresh UDP socket (open, bind, close)": fresh_socket}


def costs(query_wire: bytes, reply_wire: bytes, trust: ZoneTrust, *, repeat: int,
          rounds: int) -> dict[str, float]:
    """Median µs per call of every step; rounds interleaved so a burst of load hits all alike."""
    calls = step_calls(query_wire, reply_wire, trust)
    runs: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, call in calls.items():
            runs.setdefault(name, []).append(_per_call(call, repeat))
        for name, cost in trio.run(trio_costs, repeat).items():
            runs.setdefault(name, []).append(cost)
    return {name: round(statistics.median(values), 1) for name, values in runs.items()}


def per_answer(figures: dict[str, float]) -> dict[str, float]:
    """The sum of the steps one answer of each floor variant takes."""
    return {variant: round(sum(figures[step] * times for step, times in uses.items()), 1)
            for variant, uses in VARIANTS.items()}


def table(figures: dict[str, float]) -> list[str]:
    """Markdown: each step's µs, then each variant's sum per answer."""
    lines = ["| step | µs per call |", "|---|---|"]
    lines += [f"| {name} | {cost:,.1f} |" for name, cost in figures.items()]
    lines += [f"| **sum per answer, floor {variant}** (Trio datagram twice) | **{total:,.1f}** |"
              for variant, total in per_answer(figures).items()]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_costs",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000, help="calls per timing")
    parser.add_argument("--rounds", type=int, default=5, help="timings per step (median)")
    parser.add_argument("--json", action="store_true", help="print JSON, not markdown")
    args = parser.parse_args(argv)
    reply, trust = lab_exchange()
    figures = costs(client_query(), reply, trust, repeat=args.repeat, rounds=args.rounds)
    if args.json:
        print(json.dumps({"us_per_call": figures, "us_per_answer": per_answer(figures),
                          "reply_bytes": len(reply)}, indent=2))
    else:
        print("\n".join(table(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
