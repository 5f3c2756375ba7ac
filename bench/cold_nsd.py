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
import contextlib
import datetime
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
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


def measure_each(
    starters: Sequence[Callable[[Path, int | None], Started]],
    nsd: NsdProcesses,
    workdir: Path,
    runs: int,
    names: int,
) -> list[ColdFigures]:
    """``measure`` each resolver in turn, each with its own ``runs`` slices of new names."""
    slices = workloads.cold_slices(len(starters) * runs, names)
    return [measure(start, nsd, workdir, [next(slices) for _ in range(runs)])
            for start in starters]


def bench_names(resolvers: int, runs: int, names: int) -> int:
    """How many bench.com names NSD must serve for ``measure_each``."""
    return workloads.COLD_START + resolvers * runs * names


@contextlib.contextmanager
def serving(workdir: Path, names: int) -> Iterator[NsdProcesses]:
    """NSD serving the lab's zones with ``names`` bench.com names, on ``LOAD_CPU``."""
    _say(f"signing {names:,} bench.com names and starting NSD")
    nsd = start_nsd(workdir, names, LOAD_CPU)
    try:
        yield nsd
    finally:
        nsd.stop()


def requirements_refusal(runs: int) -> str:
    """Why a cold bench over NSD cannot run here; empty when it can."""
    missing = [tool for tool in ("dnsperf", "taskset", "nsd") if shutil.which(tool) is None]
    if runs < 3 or missing or os.geteuid() != 0 or not nsd_available():
        return ("needs --runs >= 3, root, and dnsperf, taskset and nsd (`make bench-tools`); "
                f"missing: {', '.join(missing) or 'none'}")
    return ""


def commit() -> str:
    """The short commit of the tree measured."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False, cwd=REPO).stdout.strip()


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
        *table(figures),
    ]
    return "\n".join(lines) + "\n"


def table(figures: list[ColdFigures], reference: str = "Unbound") -> list[str]:
    """One column per resolver; the ratios to ``reference``'s medians when it ran."""
    lines = [
        "| | " + " | ".join(result.name for result in figures) + " |",
        "|---|" + "---|" * len(figures),
    ]

    def row(label: str, cells: Sequence[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("answers/s", [_spread(result.qps(), "{:,.0f}") for result in figures])
    base = next((result for result in figures if result.name == reference), None)
    if base is not None and len(figures) > 1:
        row(f"answers/s / {reference}'s", [
            _ratio(result.qps().median / base.qps().median, result is base) for result in figures])
    for label, spread in ((label, [latency_spreads([run.latencies for run in result.runs])
                                   for result in figures]) for label in ("p50", "p99")):
        row(f"latency {label} (ms)", [_spread(_ms(one[label]), "{:.1f}") for one in spread])
    row("resolver CPU (share of one core)",
        [_spread(Spread.of(result.resolver_cpu), "{:.0%}") for result in figures])
    row("resolver CPU per answer (ms)", [_spread(result.cpu_per_answer(), "{:.2f}")
                                         for result in figures])
    if base is not None and len(figures) > 1:
        row(f"{reference}'s CPU per answer / this", [
            _ratio(base.cpu_per_answer().median / result.cpu_per_answer().median, result is base)
            for result in figures])
    row("NSD CPU (share of one core)",
        [_spread(Spread.of(result.authority_cpu), "{:.0%}") for result in figures])
    row("validates (AD on a secure answer)", ["yes" if r.validates else "no" for r in figures])
    row("queries lost", [str(sum(run.lost for run in result.runs)) for result in figures])
    return lines


def _ratio(value: float, reference: bool) -> str:
    return "1" if reference else f"**{value:.2f}x**"


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
    refusal = requirements_refusal(args.runs)
    if refusal:
        print(f"cold_nsd: {refusal}", file=sys.stderr)
        return 2
    isolate(arguments, "bench.cold_nsd")
    extra = () if args.holdfast_config is None else ("--config", str(args.holdfast_config))
    starters: list[Callable[[Path, int | None], Started]] = [
        functools.partial(start_holdfast, extra=extra)]
    if not args.no_unbound and unbound_available():
        starters.append(start_unbound)
    with tempfile.TemporaryDirectory(prefix="holdfast-cold-nsd-") as temporary:
        workdir = Path(temporary)
        try:
            with serving(workdir, bench_names(len(starters), args.runs, args.names)) as nsd:
                figures = measure_each(starters, nsd, workdir, args.runs, args.names)
        except ProcessError as error:
            print(f"cold_nsd: {error}", file=sys.stderr)
            return 1
    text = report(figures, args.names, commit())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
