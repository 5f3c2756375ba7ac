"""What dnstap costs the cached path: ``DnsServer.answer_ready`` with and without it.

Run: ``python -m bench.dnstap_cost [--queries 200000]``. The ready-made
answer path is timed in a loop (no sockets): off, on with the default cap
(1,000 exchanges a second), and on with no effective cap (every answer
encoded, the worst case). The frames go to a queue nobody drains, as when
the collector is slow: dropped frames cost the encoding, nothing more.
"""

from __future__ import annotations

import argparse
import time

import dns.message
import dns.rrset

from resolver.answers import AnswerCache
from resolver.clock import SystemClock
from resolver.dnstap_output import DnstapOutput
from resolver.messages import OUR_UDP_PAYLOAD
from resolver.question import Outcome
from resolver.server import DnsServer


async def _unused(query: object) -> Outcome:
    raise AssertionError("the cached path only")


def _per_answer(server: DnsServer, wire: bytes, queries: int) -> float:
    started = time.perf_counter()
    for _ in range(queries):
        server.answer_ready(wire, "127.0.0.1", tcp=False)
    return (time.perf_counter() - started) / queries


def measure(queries: int) -> dict[str, float]:
    """Microseconds per cached answer: off, default cap, uncapped."""
    answers = AnswerCache(SystemClock(), udp_payload=OUR_UDP_PAYLOAD)
    server = DnsServer([("127.0.0.1", 0)], _unused, answers=answers)
    query = dns.message.make_query("www.example.com", "A", use_edns=0)
    response = dns.message.make_response(query)
    response.answer.append(
        dns.rrset.from_text("www.example.com.", 300, "IN", "A", "192.0.2.1")
    )
    wire = query.to_wire()
    answers.remember(wire, response.to_wire())
    results = {}
    for label, output in (
        ("off", None),
        ("default cap", DnstapOutput("/nonexistent", queue=1 << 20)),
        ("uncapped", DnstapOutput("/nonexistent", max_rate=10**9, queue=1 << 20)),
    ):
        server.dnstap = output
        _per_answer(server, wire, queries // 10)  # warm up
        results[label] = _per_answer(server, wire, queries) * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200_000)
    args = parser.parse_args()
    results = measure(args.queries)
    base = results["off"]
    for label, micros in results.items():
        print(f"{label:12} {micros:6.2f} us/answer  {100 * (micros / base - 1):+6.1f}%")


if __name__ == "__main__":
    main()
