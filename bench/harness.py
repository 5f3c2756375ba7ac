"""The benchmark harness: Holdfast and Unbound side by side on the lab.

Run as ``make bench`` (which installs dnsperf and Unbound from Debian first)
or ``holdfast bench``. One run starts the lab's authoritative servers, then
each resolver in turn, and puts both through the same workloads with the same
query files (``bench.workloads``):

1. cold validated: never-asked bench.com names, TLD delegations warm;
2. cached: 1,000 warmed names, maximum throughput, then latency at half of
   Holdfast's maximum rate;
3. mixed: Zipf-popular names over the catalogue and bench.com, 5% NXDOMAIN;
4. cached latency while a root zone is parsed and verified in a worker
   process on the resolver's CPU (how the local-root reload runs);

then times the root-zone loader (``bench/rootzone_load.py``) and the cache's
memory per RRset (``bench/memory.py``) on their own. The resolver under test
runs on CPU 0, dnsperf and the lab on CPU 1. Every figure is the median of
``--runs`` runs with their min-max; ratios to Unbound are the point (absolute
figures drift on shared machines, ratios within one run hold).

The results go to ``bench/results/latest.md`` (the table, with the targets
met or not), ``latest.json`` (every figure) and ``latency-cdf.svg``.

Traffic stays on loopback: the harness re-runs itself inside a private
network namespace (``unshare -n``) when it can, and the lab binds port 53
on 127.53.0.0/16, which needs root there.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import workloads
from bench.dnsperf import DnsperfRun
from bench.dnsperf import run as dnsperf
from bench.figures import Spread, latency_spreads
from bench.plot import write_cdf_svg
from bench.processes import (
    LOAD_CPU,
    RESOLVER_CPU,
    ProcessError,
    Started,
    isolate,
    start_holdfast,
    start_lab,
    start_unbound,
    unbound_available,
    validates,
)
from bench.report import write_report

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
#: Queries in flight for throughput runs (enough to keep one resolver CPU busy).
THROUGHPUT_OUTSTANDING = 200
#: Queries in flight for cold runs: each waits for the lab.
COLD_OUTSTANDING = 100


@dataclass
class Settings:
    runs: int = 3
    seconds: float = 5.0
    cold_names: int = 3_000
    mixed_queries: int = 100_000
    with_unbound: bool = True


@dataclass
class ResolverFigures:
    """Everything measured for one resolver."""

    name: str
    version: str
    validates: bool = False
    cold: list[DnsperfRun] = field(default_factory=list)
    cold_lab_cpu: list[float] = field(default_factory=list)
    cold_resolver_cpu: list[float] = field(default_factory=list)
    cached_max: list[DnsperfRun] = field(default_factory=list)
    cached_latency: list[DnsperfRun] = field(default_factory=list)
    mixed: list[DnsperfRun] = field(default_factory=list)
    reload_latency: list[DnsperfRun] = field(default_factory=list)
    #: Reload workers that finished during those runs (each parses and verifies
    #: the lab root and, when present, the real 2017 root three times).
    reloads: int = 0
    #: The fixed rate of the latency runs: half of Holdfast's maximum, for both.
    offered_rate: float = 0.0
    rss_bytes: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: spreads of each measurement across runs."""

        def qps(runs: Sequence[DnsperfRun]) -> dict[str, float]:
            return Spread.of(run.qps for run in runs).as_dict()

        def latency(runs: Sequence[DnsperfRun]) -> dict[str, dict[str, float]]:
            spreads = latency_spreads([run.latencies for run in runs])
            return {name: spread.as_dict() for name, spread in spreads.items()}

        def lost(runs: Sequence[DnsperfRun]) -> int:
            return sum(run.lost for run in runs)

        return {
            "name": self.name,
            "version": self.version,
            "validates": self.validates,
            "cold_qps": qps(self.cold),
            "cold_latency": latency(self.cold),
            "cold_lost": lost(self.cold),
            "cold_rcodes": dict(sum((run.rcodes for run in self.cold), Counter())),
            "cold_lab_cpu": Spread.of(self.cold_lab_cpu).as_dict(),
            "cold_resolver_cpu": Spread.of(self.cold_resolver_cpu).as_dict(),
            "cached_qps": qps(self.cached_max),
            "cached_lost": lost(self.cached_max),
            "cached_rate": self.cached_latency[0].qps if self.cached_latency else 0,
            "cached_latency": latency(self.cached_latency),
            "mixed_qps": qps(self.mixed),
            "mixed_lost": lost(self.mixed),
            "reload_latency": latency(self.reload_latency) if self.reload_latency else {},
            "reload_workers": self.reloads,
            "rss_bytes": self.rss_bytes,
        }


def warm_delegations(resolver: Started, workdir: Path, load_cpu: int | None) -> bool:
    """Ask ``www.bench.com`` once, so that each cold name then costs one upstream query.

    Returns whether the resolver validates (``validates``), asked once it is warm.
    """
    warm = workloads.write(workdir / "delegations.txt", [("www.bench.com", "A")])
    dnsperf(resolver.server, warm, cpu=load_cpu, passes=1)
    return validates(resolver)


def cold_pass(
    resolver: Started,
    queries: Path,
    authority_seconds: Callable[[], float],
    *,
    load_cpu: int | None,
) -> tuple[DnsperfRun, float, float]:
    """One dnsperf pass over never-asked names, ``COLD_OUTSTANDING`` in flight.

    Returns the run and the shares of a core the authority (``authority_seconds``,
    its CPU time so far) and the resolver used during it.
    """
    authority_before, resolver_before = authority_seconds(), resolver.cpu_seconds()
    result = dnsperf(resolver.server, queries, cpu=load_cpu, passes=1,
                     outstanding=COLD_OUTSTANDING, verbose=True)
    return (
        result,
        (authority_seconds() - authority_before) / result.elapsed,
        (resolver.cpu_seconds() - resolver_before) / result.elapsed,
    )


def measure(
    start: Callable[[Path, int | None], Started],
    lab: Started,
    workdir: Path,
    settings: Settings,
    cold_names: list[list[tuple[str, str]]],
    rate: float | None,
    cpus: tuple[int | None, int | None],
) -> ResolverFigures:
    """Put one resolver through every workload; ``rate`` None means measure it first."""
    resolver_cpu, load_cpu = cpus
    resolver = start(workdir, resolver_cpu)
    figures = ResolverFigures(resolver.name, resolver.version)
    name = resolver.name.lower()
    try:
        _say(f"{resolver.name}: cold validated resolutions")
        figures.validates = warm_delegations(resolver, workdir, load_cpu)
        for number, names in enumerate(cold_names):
            queries = workloads.write(workdir / f"cold-{name}-{number}.txt", names)
            result, lab_share, resolver_share = cold_pass(
                resolver, queries, lab.cpu_seconds, load_cpu=load_cpu
            )
            figures.cold.append(result)
            figures.cold_lab_cpu.append(lab_share)
            figures.cold_resolver_cpu.append(resolver_share)
        _say(f"{resolver.name}: cached throughput")
        cached = workloads.write(workdir / "cached.txt", workloads.cached())
        for _ in range(2):
            dnsperf(resolver.server, cached, cpu=load_cpu, passes=1, outstanding=COLD_OUTSTANDING)
        for _ in range(settings.runs):
            figures.cached_max.append(dnsperf(
                resolver.server, cached, cpu=load_cpu, seconds=settings.seconds,
                outstanding=THROUGHPUT_OUTSTANDING,
            ))
        if rate is None:
            rate = Spread.of(run.qps for run in figures.cached_max).median / 2
        figures.offered_rate = rate
        _say(f"{resolver.name}: cached latency at {rate:,.0f} queries/s")
        for _ in range(settings.runs):
            figures.cached_latency.append(dnsperf(
                resolver.server, cached, cpu=load_cpu, seconds=settings.seconds,
                outstanding=THROUGHPUT_OUTSTANDING, rate=rate, verbose=True,
            ))
        _say(f"{resolver.name}: mixed Zipf workload")
        mixed = workloads.write(workdir / "mixed.txt", workloads.mixed(settings.mixed_queries))
        for _ in range(settings.runs):
            figures.mixed.append(dnsperf(
                resolver.server, mixed, cpu=load_cpu, seconds=settings.seconds,
                outstanding=THROUGHPUT_OUTSTANDING,
            ))
        _say(f"{resolver.name}: cached latency during a root zone parse and verify")
        for _ in range(settings.runs):
            with _reloads_running(resolver_cpu) as reloads:
                figures.reload_latency.append(dnsperf(
                    resolver.server, cached, cpu=load_cpu, seconds=settings.seconds,
                    outstanding=THROUGHPUT_OUTSTANDING, rate=rate, verbose=True,
                ))
            figures.reloads += len(reloads)
        figures.rss_bytes = resolver.rss_bytes()
    finally:
        resolver.stop()
    return figures


@contextlib.contextmanager
def _reloads_running(cpu: int | None) -> Iterator[list[int]]:
    """Root zone parses + verifies back to back, in worker processes on the resolver's CPU.

    This is how a local-root reload runs: off the event loop, in a worker
    process under SCHED_IDLE, which the kernel preempts as soon as the server
    has a packet to handle (nice 19 alone still let it hold the CPU for
    milliseconds: a p99 of 4.5 ms). The resolver's latency meanwhile is the
    figure that says whether serving stalls. Yields a list that ends up holding how many
    reloads completed.
    """
    command = ["chrt", "--idle", "0", sys.executable, "-m", "bench.rootzone_load", "--runs", "3"]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    stop = threading.Event()
    completed: list[int] = []

    def reload_until_stopped() -> None:
        while not stop.is_set():
            done = subprocess.run(command, cwd=REPO, capture_output=True, check=False)
            if done.returncode != 0:
                _say(f"a reload worker failed: {done.stderr.decode()[-300:]}")
                return
            completed.append(1)

    worker = threading.Thread(target=reload_until_stopped, daemon=True)
    worker.start()
    try:
        yield completed
    finally:
        stop.set()
        worker.join()


def _json_of(command: list[str]) -> Any:
    """Run a benchmark script that prints one JSON object; None (and a note) if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if done.returncode != 0:
        _say(f"{' '.join(command[1:])} failed: {done.stderr.strip()[-500:]}")
        return None
    return json.loads(done.stdout)


def machine_facts() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False, cwd=REPO).stdout.strip()
    dnsperf_version = subprocess.run(["dnsperf", "-h"], capture_output=True, text=True,
                                     check=False)
    version_line = next((line for line in (dnsperf_version.stdout + dnsperf_version.stderr)
                         .splitlines() if line.startswith("Version")), "")
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "dnspython": importlib.metadata.version("dnspython"),
        "trio": importlib.metadata.version("trio"),
        "dnsperf": version_line.replace("Version", "").strip(),
        "commit": commit,
    }


def _say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="holdfast bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (at least 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed run")
    parser.add_argument("--cold-names", type=int, default=3_000, help="names per cold run")
    parser.add_argument("--no-unbound", action="store_true", help="measure Holdfast alone")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where results go")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(arguments)
    if args.runs < 3:
        print("holdfast bench: --runs must be at least 3 (figures are medians)", file=sys.stderr)
        return 2
    missing = [tool for tool in ("dnsperf", "taskset") if shutil.which(tool) is None]
    if missing:
        print(f"holdfast bench: {', '.join(missing)} not found; `make bench` installs them "
              "(Debian: apt-get install dnsperf util-linux)", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("holdfast bench: needs root (the lab binds port 53 inside a private network "
              "namespace)", file=sys.stderr)
        return 2
    isolate(arguments, "bench.harness")
    if not os.environ.get("HOLDFAST_ISOLATED"):
        _say("no private network namespace here: running on the host's loopback")
    settings = Settings(runs=args.runs, seconds=args.seconds, cold_names=args.cold_names,
                        with_unbound=not args.no_unbound and unbound_available())
    if not settings.with_unbound and not args.no_unbound:
        _say("unbound not installed: measuring Holdfast alone (`make bench` installs it)")
    cpus: tuple[int | None, int | None] = (
        (RESOLVER_CPU, LOAD_CPU) if (os.cpu_count() or 1) >= 2 else (None, None)
    )
    slices = workloads.cold_slices(2 * settings.runs, settings.cold_names)
    starters: list[Callable[[Path, int | None], Started]] = [start_holdfast]
    if settings.with_unbound:
        starters.append(start_unbound)
    figures: list[ResolverFigures] = []
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-") as temporary:
        workdir = Path(temporary)
        _say("starting the lab")
        lab = start_lab(workdir, cpus[1])
        try:
            rate = None
            for start in starters:
                names = [next(slices) for _ in range(settings.runs)]
                result = measure(start, lab, workdir, settings, names, rate, cpus)
                rate = rate or result.offered_rate
                figures.append(result)
        except ProcessError as error:
            print(f"holdfast bench: {error}", file=sys.stderr)
            return 1
        finally:
            lab.stop()
    _say("root zone parse and verify")
    rootzone = _json_of([sys.executable, "-m", "bench.rootzone_load", "--json"])
    _say("cache memory per RRset (100k and 1M entries)")
    memory = _json_of([sys.executable, "-m", "bench.memory", "--json"])
    results = {
        "machine": machine_facts(),
        "settings": vars(settings),
        "resolvers": [result.summary() for result in figures],
        "rootzone": rootzone,
        "memory": memory,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    write_cdf_svg(
        args.output / "latency-cdf.svg",
        "Latency CDF: cached (at half of Holdfast's maximum rate) and cold validated",
        {
            f"{result.name} {kind}": [value for run in runs for value in run.latencies]
            for result in figures
            for kind, runs in (("cached", result.cached_latency), ("cold", result.cold))
        },
    )
    report = write_report(args.output / "latest.md", results)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
