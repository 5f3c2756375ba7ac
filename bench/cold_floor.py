"""Cold validated answers: Unbound, Holdfast, and the floor of their stack, against NSD (issue 19).

Issue 19 asks Holdfast for at least 0.4x Unbound's cold validated answers
per second. Whether Python 3.11 + Trio + dnspython + cryptography can reach
that at all is measured here: in the same NSD set-up as ``bench.cold_nsd``
(whose parts this reuses) and in one invocation, each resolver pinned to
CPU 0 gets the same dnsperf passes (``--names`` never-asked
``n<i>.bench.com A``, 100 in flight, ``--runs`` runs): Unbound, Holdfast,
and the floor program (``bench.floor``), which does for each answer only
what any validating resolver on that stack must, in its variants
(``dns.dnssec.validate``, verification by hand, no validation, the reply
read by Holdfast's own reader, no dnspython).
The floor's ratio to Unbound bounds what Holdfast can reach on the stack.
Then each of the floor's steps is timed in memory on NSD's own reply
(``bench.floor_costs``), steady on a shared machine.

    make bench-tools && python -m bench.cold_floor [--runs 3] [--names 2000]

Needs root (NSD binds port 53 on 127.53.0.0/16 inside the private network
namespace the bench re-runs itself in), dnsperf, nsd and unbound.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.metadata
import os
import platform
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import floor_costs, floor_steps
from bench.cold_nsd import (
    REPO,
    ColdFigures,
    bench_names,
    commit,
    measure_each,
    requirements_refusal,
    serving,
    table,
)
from bench.floor import VARIANTS, fetch_trust
from bench.harness import COLD_OUTSTANDING
from bench.processes import (
    LOOPBACK,
    RESOLVER_CPU,
    ProcessError,
    Started,
    isolate,
    start_holdfast,
    start_program,
    start_unbound,
    unbound_available,
)

RESULTS = REPO / "bench" / "results" / "cold-floor.md"
FLOOR_PORT = 5302
_REPLY_TIMEOUT = 5.0


def stack() -> str:
    """The stack's versions, as the floor program runs on them."""
    versions = ", ".join(f"{package} {importlib.metadata.version(package)}"
                         for package in ("trio", "dnspython", "cryptography"))
    return f"Python {platform.python_version()}, {versions}"


def start_floor(variant: str, workdir: Path, cpu: int | None) -> Started:
    """The floor program in ``variant`` on ``FLOOR_PORT``, asking bench.com's first server."""
    command = [sys.executable, "-m", "bench.floor", "--listen", f"{LOOPBACK}:{FLOOR_PORT}",
               "--authority", floor_costs.BENCH_SERVER, "--variant", variant]
    started = start_program(f"Floor {variant}", command, workdir, cpu, port=FLOOR_PORT,
                            answers="www.bench.com.")
    started.version = stack()
    return started


def nsd_reply() -> bytes:
    """NSD's reply to the floor's upstream query for ``SAMPLE_NAME``, as the floor gets it."""
    query = floor_steps.read_query(floor_costs.client_query())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
        upstream.settimeout(_REPLY_TIMEOUT)
        upstream.sendto(floor_steps.upstream_query(query, 1), (floor_costs.BENCH_SERVER, 53))
        reply, _ = upstream.recvfrom(4096)
    return reply


def report(figures: list[ColdFigures], names: int, steps: dict[str, float], reply: bytes,
           load: tuple[Sequence[float], Sequence[float]]) -> str:
    """The markdown page: the cold table, then the floor's steps."""
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    before, after = (" ".join(f"{value:.2f}" for value in one) for one in load)
    lines = [
        f"# Cold validated answers: Unbound, Holdfast and the floor of the stack, {date}",
        "",
        f"Holdfast commit `{commit()}`; floor on {stack()}. {len(figures[0].runs)} runs of "
        f"{names:,} never-asked `n<i>.bench.com A` per resolver, {COLD_OUTSTANDING} in "
        "flight, median (min-max); NSD and dnsperf on CPU 1, the resolver alone on CPU 0. "
        f"Load average (1, 5, 15 min) before: {before}; after: {after}. Regenerate with "
        "`python -m bench.cold_floor`.",
        "",
        *table(figures),
        "",
        f"## The floor's steps: thread CPU µs per call, on NSD's reply ({len(reply)} bytes)",
        "",
        *floor_costs.table(steps),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.cold_floor",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per resolver (at least 3)")
    parser.add_argument("--names", type=int, default=2_000, help="new names per run")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS),
                        help="the floor program's variants to run")
    parser.add_argument("--repeat", type=int, default=2000, help="calls per step timing")
    parser.add_argument("--rounds", type=int, default=5, help="timings per step (median)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the markdown report")
    args = parser.parse_args(arguments)
    refusal = requirements_refusal(args.runs) or ("" if unbound_available() else "needs unbound")
    if refusal:
        print(f"cold_floor: {refusal}", file=sys.stderr)
        return 2
    isolate(arguments, "bench.cold_floor")
    before = os.getloadavg()
    starters: list[Callable[[Path, int | None], Started]] = [
        start_unbound, start_holdfast,
        *(functools.partial(start_floor, variant) for variant in args.variants)]
    with tempfile.TemporaryDirectory(prefix="holdfast-cold-floor-") as temporary:
        workdir = Path(temporary)
        try:
            with serving(workdir, bench_names(len(starters), args.runs, args.names)) as nsd:
                figures = measure_each(starters, nsd, workdir, args.runs, args.names)
                reply = nsd_reply()
                trust = fetch_trust(floor_costs.BENCH_SERVER, floor_costs.BENCH_ZONE)
        except ProcessError as error:
            print(f"cold_floor: {error}", file=sys.stderr)
            return 1
    os.sched_setaffinity(0, {RESOLVER_CPU})
    steps = floor_costs.costs(floor_costs.client_query(), reply, trust, repeat=args.repeat,
                              rounds=args.rounds)
    text = report(figures, args.names, steps, reply, (before, os.getloadavg()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
