"""Cold latency when a zone's servers misbehave: staggered attempts at work.

The lab's authoritative servers run as real UDP servers (``bench.processes``)
and each resolver, Holdfast then Unbound, is asked never-asked bench.com
names with dnsperf in three scenarios:

* healthy: both bench.com servers answer;
* one drops: one of the two bench.com servers drops every query (the goal
  for Holdfast: cold p99 at most 1.5x the healthy p99);
* all slow: every bench.com server answers 3 s late, later than any RTO
  (the goal: the answers still arrive, within the 5 s time budget).

Each scenario starts the resolver afresh (nothing known about any server)
and warms it with one bench.com name, as the main harness does (delegations
and the zone's keys cached), before the fault is set through the lab's
control socket. Latencies are dnsperf's own, per answered query; lost
queries (no answer within dnsperf's 10 s) are counted apart.

    python -m bench.hedging [--names 600] [--slow-names 100] [--runs 3]

Traffic stays on loopback: the run re-executes itself in a private network
namespace (``bench.processes.isolate``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import workloads
from bench.dnsperf import DnsperfRun
from bench.dnsperf import run as dnsperf
from bench.figures import latency_spreads, percentile
from bench.processes import (
    LOAD_CPU,
    RESOLVER_CPU,
    Started,
    isolate,
    start_holdfast,
    start_lab,
    start_unbound,
    unbound_available,
)
from resolver.lab.catalogue import plans
from resolver.lab.control import send_lab_command

ZONE = "bench.com."
#: Queries in flight: fewer than the harness's cold runs (100), so that on
#: a shared machine admission control (``resolver.admission``) does not
#: drop queries and the latencies are the resolution's own.
OUTSTANDING = 20
#: dnsperf's wait before a query counts as lost: longer than the 3 s delay.
LOST_AFTER = 10.0
#: Cold names for this benchmark start here (the harness's cold runs stay below).
FIRST_NAME = 60_000

#: Scenario name -> the fault every chosen bench.com server gets (None: healthy),
#: and which servers get it: the first only, or all.
SCENARIOS: dict[str, tuple[str | None, bool]] = {
    "healthy": (None, False),
    "one of two drops": ("drop", False),
    "all answer after 3 s": ("delay:3000", True),
}


@dataclass
class Scenario:
    """What one resolver did in one scenario, over the runs."""

    runs: list[DnsperfRun] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        answered = [run.latencies for run in self.runs if run.latencies]
        spreads = latency_spreads(answered) if answered else {}
        return {
            "latency_ms": {
                label: {key: value * 1000 for key, value in spread.as_dict().items()}
                for label, spread in spreads.items()
            },
            "answered": sum(run.completed for run in self.runs),
            "sent": sum(run.sent for run in self.runs),
            "lost": sum(run.lost for run in self.runs),
            "rcodes": {
                rcode: sum(run.rcodes[rcode] for run in self.runs)
                for rcode in sorted({r for run in self.runs for r in run.rcodes})
            },
        }


def _p99(latencies: list[float]) -> float:
    return percentile(sorted(latencies), 99) if latencies else float("nan")


def names_per_resolver(names: int, slow_names: int, runs: int) -> int:
    """Cold names one resolver is asked over every scenario and run."""
    return runs * sum(slow_names if everyone else names for _, everyone in SCENARIOS.values())


def zone_servers(zone: str) -> list[str]:
    """The lab addresses serving ``zone``."""
    return [address for plan in plans() if plan.origin == zone for _, address in plan.servers]


def measure(
    start: Callable[[Path, int | None], Started],
    workdir: Path,
    names: int,
    slow_names: int,
    runs: int,
    first: int,
) -> tuple[str, dict[str, Scenario]]:
    """Every scenario for one resolver, started afresh for each run."""
    labdir = workdir / "lab"
    servers = zone_servers(ZONE)
    figures: dict[str, Scenario] = {}
    version = ""
    for scenario, (fault, everyone) in SCENARIOS.items():
        figures[scenario] = Scenario()
        count = slow_names if everyone else names
        for _ in range(runs):
            resolver = start(workdir, RESOLVER_CPU)
            version = resolver.version
            try:
                warm = workloads.write(workdir / "warm.txt", [("www.bench.com", "A")])
                dnsperf(resolver.server, warm, cpu=LOAD_CPU, passes=1)
                faulty = servers if everyone else servers[:1]
                if fault is not None:
                    for address in faulty:
                        send_lab_command(labdir, {"op": "fault", "address": address,
                                                  "kind": fault, "zone": ZONE})
                batch = [(workloads.bench_name(i), "A") for i in range(first, first + count)]
                first += count
                queries = workloads.write(workdir / "cold.txt", batch)
                result = dnsperf(
                    resolver.server, queries, cpu=LOAD_CPU, passes=1, outstanding=OUTSTANDING,
                    verbose=True, timeout=LOST_AFTER,
                )
                figures[scenario].runs.append(result)
                print(f"{resolver.name}, {scenario}: {result.completed}/{result.sent} answered "
                      f"{dict(result.rcodes)} in {result.elapsed:.1f} s, p99 "
                      f"{_p99(result.latencies) * 1000:.0f} ms", file=sys.stderr)
            finally:
                for address in servers:
                    send_lab_command(labdir, {"op": "clear", "address": address})
                resolver.stop()
    return version, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=600, help="cold names per run")
    parser.add_argument("--slow-names", type=int, default=100,
                        help="cold names per run when every server is 3 s late")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario")
    parser.add_argument("--no-unbound", action="store_true")
    args = parser.parse_args()
    if FIRST_NAME + 2 * names_per_resolver(args.names, args.slow_names, args.runs) > min(
        workloads.MIXED_RANGE
    ):
        parser.error("that many names would reach the mixed workload's bench.com names")
    isolate(sys.argv[1:], "bench.hedging")
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="holdfast-hedging-") as directory:
        workdir = Path(directory)
        lab = start_lab(workdir, LOAD_CPU)
        try:
            starters: list[tuple[str, Callable[[Path, int | None], Started]]] = [
                ("Holdfast", start_holdfast)
            ]
            if unbound_available() and not args.no_unbound:
                starters.append(("Unbound", start_unbound))
            first = FIRST_NAME
            per_resolver = names_per_resolver(args.names, args.slow_names, args.runs)
            for name, start in starters:
                version, figures = measure(
                    start, workdir, args.names, args.slow_names, args.runs, first
                )
                first += per_resolver
                results[name] = {
                    "version": version,
                    **{scenario: figure.summary() for scenario, figure in figures.items()},
                }
        finally:
            lab.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
