"""Cold validated resolutions per second against a real authority (NSD), Holdfast and Unbound.

The harness's cold figure (``bench.harness``) is bounded by its Python lab
(issue 19). Here the lab's zones are served by NSD (``bench.nsd``) pinned
to CPU 1 with dnsperf; the resolver under test runs alone on CPU 0. Each
resolver, started over the lab's hints and trust anchor only, is warmed with
``www.bench.com`` (the root, ``com.`` and ``bench.com.`` cuts and keys), then
asked ``--names`` never-asked ``n<i>.bench.com`` names per run, each needing
one signed answer from the bench.com servers and a validation. The report
gives answers per second (median and min-max of ``--runs`` runs), the ratio
to Unbound in the same run, cold latency percentiles, and the CPU share of
the resolver and of NSD: an authority well under one core shows the figure
is the resolver's. The resolver's CPU time per answer is given too: other
work on a shared machine lowers answers/s, much less the CPU an answer costs.

    make bench-tools && python -m bench.cold_nsd [--runs 5] [--names 3000]

Needs root (NSD binds port 53 on 127.53.0.0/16 inside the private network
namespace the bench re-runs itself in).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import workloads
from bench.dnsperf import DnsperfRun
from bench.figures import Spread, latency_spreads
from bench.harness import COLD_OUTSTANDING, cold_pass, warm_delegations
from bench.nsd import NsdProcesses, nsd_available, start_nsd
from bench.processes import (
    LOAD_CPU,
    RESOLVER_CPU,
    ProcessError,
    Started,
    isolate,
    start_holdfast,
    start_unbound,
    unbound_available,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "cold-nsd.md"


@dataclass
class ColdFigures:
    """The cold runs of one resolver."""

    name: str
    version: str
    validates: bool = False
    runs: list[DnsperfRun] = field(default_factory=list)
    resolver_cpu: list[float] = field(default_factory=list)
    authority_cpu: list[float] = field(default_factory=list)

    def qps(self) -> Spread:
        return Spread.of(run.qps for run in self.runs)

    def cpu_per_answer(self) -> Spread:
        """Resolver CPU milliseconds per answer: steadier than answers/s on a shared machine."""
        return Spread.of(1000 * share * run.elapsed / max(1, run.completed)
                         for share, run in zip(self.resolver_cpu, self.runs, strict=True))


def measure(
    start: Callable[[Path, int | None], Started],
    nsd: NsdProcesses,
    workdir: Path,
    slices: list[list[tuple[str, str]]],
) -> ColdFigures:
    """Warm one resolver's delegations, then one dnsperf pass per slice of new names."""
    resolver = start(workdir, RESOLVER_CPU)
    figures = ColdFigures(resolver.name, resolver.version)
    try:
        figures.validates = warm_delegations(resolver, workdir, LOAD_CPU)
        for number, names in enumerate(slices):
            queries = workloads.write(workdir / f"cold-{resolver.name}-{number}.txt", names)
            result, nsd_cpu, resolver_cpu = cold_pass(
                resolver, queries, nsd.cpu_seconds, load_cpu=LOAD_CPU
            )
            figures.runs.append(result)
            figures.authority_cpu.append(nsd_cpu)
            figures.resolver_cpu.append(resolver_cpu)
            _say(f"{resolver.name} run {number + 1}: {result.qps:,.0f} answers/s, "
                 f"lost {result.lost}, NSD {figures.authority_cpu[-1]:.0%} of a core")
    finally:
        resolver.stop()
    return figures


def report(figures: list[ColdFigures], names: int, commit: str) -> str:
    """The markdown page: throughput, ratio, latency and CPU shares."""
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = len(figures[0].runs)
    lines = [
        f"# Cold validated resolutions against NSD, {date}",
        "",
        f"Holdfast commit `{commit}`; {runs} runs of {names:,} never-asked `n<i>.bench.com` "
        f"names per resolver, {COLD_OUTSTANDING} in flight; median (min-max) of the runs. "
        "The lab's zones (root, com/net, org, bench.com) are served by NSD 4.6.1 "
        "(`bench/nsd.py`) on CPU 1 with dnsperf; the resolver runs alone on CPU 0. Regenerate with "
        "`python -m bench.cold_nsd`.",
        "",
        "| | " + " | ".join(result.name for result in figures) + " |",
        "|---|" + "---|" * len(figures),
    ]

    def row(label: str, cells: Sequence[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("answers/s", [_spread(result.qps(), "{:,.0f}") for result in figures])
    if len(figures) > 1:
        ratio = figures[0].qps().median / figures[1].qps().median
        row(f"{figures[0].name} / {figures[1].name}", [f"**{ratio:.2f}x**", ""])
    for label, spread in ((label, [latency_spreads([run.latencies for run in result.runs])
                                   for result in figures]) for label in ("p50", "p99")):
        row(f"latency {label} (ms)", [_spread(_ms(one[label]), "{:.1f}") for one in spread])
    row("resolver CPU (share of one core)",
        [_spread(Spread.of(result.resolver_cpu), "{:.0%}") for result in figures])
    row("resolver CPU per answer (ms)", [_spread(result.cpu_per_answer(), "{:.2f}")
                                         for result in figures])
    row("NSD CPU (share of one core)",
        [_spread(Spread.of(result.authority_cpu), "{:.0%}") for result in figures])
    row("validates (AD on a secure answer)", ["yes" if r.validates else "no" for r in figures])
    row("queries lost", [str(sum(run.lost for run in result.runs)) for result in figures])
    return "\n".join(lines) + "\n"


def _ms(spread: Spread) -> Spread:
    return Spread(spread.median * 1000, spread.low * 1000, spread.high * 1000)


def _spread(spread: Spread, form: str) -> str:
    return f"{form.format(spread.median)} ({form.format(spread.low)}-{form.format(spread.high)})"


def _say(text: str) -> None:
    print(f"[cold-nsd {time.strftime('%H:%M:%S')}] {text}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.cold_nsd",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per resolver (at least 3)")
    parser.add_argument("--names", type=int, default=3_000, help="new names per run")
    parser.add_argument("--no-unbound", action="store_true", help="measure Holdfast alone")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the markdown report")
    parser.add_argument("--holdfast-config", type=Path, help="a TOML file for Holdfast's serve")
    args = parser.parse_args(arguments)
    missing = [tool for tool in ("dnsperf", "taskset", "nsd") if shutil.which(tool) is None]
    if args.runs < 3 or missing or os.geteuid() != 0 or not nsd_available():
        print("cold_nsd: needs --runs >= 3, root, and dnsperf, taskset and nsd "
              f"(`make bench-tools`); missing: {', '.join(missing) or 'none'}", file=sys.stderr)
        return 2
    isolate(arguments, "bench.cold_nsd")
    extra = () if args.holdfast_config is None else ("--config", str(args.holdfast_config))
    starters: list[Callable[[Path, int | None], Started]] = [
        functools.partial(start_holdfast, extra=extra)]
    if not args.no_unbound and unbound_available():
        starters.append(start_unbound)
    slices = workloads.cold_slices(len(starters) * args.runs, args.names)
    bench_names = workloads.COLD_START + len(starters) * args.runs * args.names
    figures: list[ColdFigures] = []
    with tempfile.TemporaryDirectory(prefix="holdfast-cold-nsd-") as temporary:
        workdir = Path(temporary)
        _say(f"signing {bench_names:,} bench.com names and starting NSD")
        nsd = start_nsd(workdir, bench_names, LOAD_CPU)
        try:
            for start in starters:
                figures.append(measure(start, nsd, workdir,
                                       [next(slices) for _ in range(args.runs)]))
        except ProcessError as error:
            print(f"cold_nsd: {error}", file=sys.stderr)
            return 1
        finally:
            nsd.stop()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False, cwd=REPO).stdout.strip()
    text = report(figures, args.names, commit)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
