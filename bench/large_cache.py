"""The memory of a large warm cache: one process against workers over their map (issue 22).

``bench.shared_cache`` measures the service with a few hundred cached
names, where the interpreter dominates. What grows in a long-running
resolver is the cache, and with ``--workers N`` it lives twice: in each
worker's in-process cache (the front) and in the host's LMDB map behind them
(``resolver.host_cache``). This bench warms one configuration with many
distinct signed bench.com names and reports where the memory went:

* **PSS of every process** (supervisor, zygote, workers), without the
  pages of the map they have mapped (counted below instead, once);
* **the map**: the bytes its file holds in ``/dev/shm`` (tmpfs pages are
  memory; the file is allocated in full at start, ``posix_fallocate``), and
  the bytes its B-tree uses (LMDB's last page), with its record count;
* **the in-process caches' bytes** as they account them (``[cache]
  max_bytes``, ``holdfast_cache_bytes``), added up over the workers;
* **upstream queries per client query;**
* **a cached pass**: every tenth warmed name asked again, one at a time:
  p50/p99, the service's CPU time per answer, and how many came from the
  map (a miss in the front of the worker asked).

Each figure is taken twice: after ``--start`` names (the code paths run, the
validation chain cached: the empty-cache start) and after ``--names`` more.
The growth between the two is what the cache costs.

    python -m bench.large_cache --workers 4 [--names 20000] [--start 300] [--config F] [--json]

One configuration per run (``--workers 1`` is one process, without a map),
so that each stays within a few minutes on a small machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lmdb

from bench import workloads
from bench.processes import Started, isolate, start_lab
from bench.shared_cache import ask, holdfast, percentiles, rollup_bytes, service_pids, stats

#: Where the warmed names start: clear of the other benches' ranges.
FIRST_NAME = 20_000
#: Client threads asking at once (each query from a fresh port, as in
#: ``bench.shared_cache``): enough to keep every worker busy.
CLIENTS = 8
#: Every how many warmed names one is asked again for the cached figures.
REASKED_EVERY = 10
#: The map's data file, as ``host_cache`` names it.
MAP_FILE = "data.mdb"


def map_path(pids: list[int]) -> Path | None:
    """The map's data file, as the workers map it; None without a map."""
    for pid in pids:
        for line in Path(f"/proc/{pid}/maps").read_text(encoding="ascii").splitlines():
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].endswith(f"/{MAP_FILE}"):
                return Path(fields[5])
    return None


def mapping_pss(pid: int, path: Path) -> int:
    """The PSS of ``pid``'s mappings of ``path`` (``/proc/PID/smaps``), in bytes."""
    total, inside = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text(encoding="ascii").splitlines():
        first = line.split(maxsplit=1)[0]
        if "-" in first and not first.endswith(":"):  # a mapping's header line
            inside = line.rstrip().endswith(str(path))
        elif inside and first == "Pss:":
            total += int(line.split()[1]) * 1024
    return total


def map_usage(path: Path) -> dict[str, int]:
    """What the map's file holds in memory, and what its B-tree uses of it."""
    held = os.stat(path).st_blocks * 512
    env = lmdb.open(str(path.parent), readonly=True, lock=False, subdir=True)
    try:
        info, stat = env.info(), env.stat()
        return {"file_bytes": held, "used_bytes": (info["last_pgno"] + 1) * stat["psize"],
                "records": stat["entries"]}
    finally:
        env.close()


def measure(workdir: Path, server: Started, workers: int) -> dict[str, Any]:
    """The service's memory and counters now."""
    pids = service_pids(workdir, server)
    mapped = map_path(pids)
    pss = sum(rollup_bytes(pid) - (mapping_pss(pid, mapped) if mapped else 0) for pid in pids)
    snapshot = stats(workdir)
    caches = snapshot["cache"]
    usage = map_usage(mapped) if mapped else {"file_bytes": 0, "used_bytes": 0, "records": 0}
    return {
        "processes": len(pids),
        "pss_bytes": pss,
        "map": usage,
        "total_bytes": pss + usage["file_bytes"],
        "cache_bytes": caches["rrset"]["bytes"] + caches["answer"]["bytes"],
        "rrset_bytes": caches["rrset"]["bytes"],
        "rrset_entries": caches["rrset"]["entries"],
        "upstream_queries": sum(snapshot["upstream"].get("queries", {}).values()),
        "workers": workers,
    }


def warm(server: Started, first: int, count: int) -> None:
    """Ask ``count`` distinct names from ``first`` on, ``CLIENTS`` at a time."""
    names = [workloads.bench_name(index) for index in range(first, first + count)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda name: ask(server, name, "A"), names))


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cached_pass(workdir: Path, server: Started, names: list[str]) -> dict[str, Any]:
    """Ask warmed names again, one at a time: latency, CPU per answer, where they came from.

    With workers, a name comes back to the worker that resolved it only one
    time in N (each query from a fresh port): the others find it in the map,
    after a miss in their front.
    """
    pids = service_pids(workdir, server)
    before, cpu = stats(workdir), cpu_seconds(pids)
    samples = [ask(server, name, "A") for name in names]
    used, after = cpu_seconds(pids) - cpu, stats(workdir)

    def moved(snapshot: dict[str, Any]) -> tuple[int, int]:
        return (snapshot["shared_cache"]["lookups"].get("hit", 0),
                sum(snapshot["upstream"].get("queries", {}).values()))

    (map_before, sent_before), (map_after, sent_after) = moved(before), moved(after)
    return {"queries": len(names), **percentiles(samples),
            "cpu_ms_per_answer": round(used * 1000 / len(names), 3),
            "from_map": map_after - map_before, "upstream_queries": sent_after - sent_before}


def run(root: Path, workers: int, start: int, names: int, config: str) -> dict[str, Any]:
    workdir = root / f"workers-{workers}"
    extra = ("--config", config) if config else ()
    with holdfast(workdir, "--workers", str(workers), *extra) as server:
        warm(server, FIRST_NAME, start)
        empty = measure(workdir, server, workers)
        began = time.monotonic()
        warm(server, FIRST_NAME + start, names)
        seconds = time.monotonic() - began
        full = measure(workdir, server, workers)
        again = [workloads.bench_name(index) for index in
                 range(FIRST_NAME + start, FIRST_NAME + start + names, REASKED_EVERY)]
        cached = cached_pass(workdir, server, again)
    sent = full["upstream_queries"] - empty["upstream_queries"]
    return {"workers": workers, "start_names": start, "names": names,
            "warm_seconds": round(seconds, 1), "start": empty, "warm": full,
            "upstream_per_client_query": round(sent / names, 3), "cached": cached}


def mib(count: int) -> float:
    return round(count / 2**20, 1)


def markdown(row: dict[str, Any]) -> str:
    """One table row per state (start, warm) and the growth between them."""
    lines = []
    for state in ("start", "warm"):
        figure = row[state]
        lines.append(
            f"| {row['workers']} | {state} | {mib(figure['pss_bytes'])} | "
            f"{mib(figure['map']['file_bytes'])} | {mib(figure['map']['used_bytes'])} | "
            f"{figure['map']['records']} | {mib(figure['cache_bytes'])} | "
            f"{figure['rrset_entries']} | {mib(figure['total_bytes'])} |")
    growth = row["warm"]["total_bytes"] - row["start"]["total_bytes"]
    cached = row["cached"]
    return "\n".join(lines) + (
        f"\n\n{row['names']} names in {row['warm_seconds']} s; total growth "
        f"{mib(growth)} MiB; upstream queries per client query "
        f"{row['upstream_per_client_query']}; cached pass: {cached['queries']} warmed names "
        f"asked again, {cached['from_map']} from the map, {cached['upstream_queries']} upstream "
        f"queries, p50 {cached['p50_ms']} ms, p99 {cached['p99_ms']} ms, "
        f"{cached['cpu_ms_per_answer']} ms CPU per answer\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--names", type=int, default=20_000)
    parser.add_argument("--start", type=int, default=300)
    parser.add_argument("--config", default="", help="a configuration file for serve")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    isolate(sys.argv[1:], "bench.large_cache")
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-") as directory:
        root = Path(directory)
        lab = start_lab(root, None)
        try:
            row = run(root, args.workers, args.start, args.names, args.config)
        finally:
            lab.stop()
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print("| workers | state | PSS MiB (without the map) | map file MiB | map used MiB "
              "| map records | in-process cache MiB | RRsets | total MiB |\n"
              "|---|---|---|---|---|---|---|---|---|")
        print(markdown(row))


if __name__ == "__main__":
    main()
