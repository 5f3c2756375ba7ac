"""What sharing the cache buys (issue 22): across workers, across hosts, and with Redis paused.

Three measurements over the lab, each in a private network namespace:

* **Workers.** The same Zipf name mix (``workloads.mixed``) is asked of
  ``--workers 1, 2, 4``, with the workers' shared cache map on and off; the
  figure is the upstream queries per client query (from ``ctl stats``). Each
  query comes from a fresh UDP port, so SO_REUSEPORT spreads them over the
  workers as it spreads real clients. With the mix asked (the caches
  warm), the memory of the whole service: the resident set (RSS) of the
  supervisor, its zygote and its workers added up, and their proportional set (PSS,
  ``/proc/PID/smaps_rollup``), which counts the pages they share (the map
  on ``/dev/shm``, the code) once rather than once per process, and the
  private pages of a worker (``Private_Dirty``: what it made or copied).
* **Second host.** Two resolvers share one ``redis-server``; the first is
  warmed with a list of names, then the second asks the same names: the
  share of its questions answered from the tier (entries adopted, upstream
  queries it did not send) and its latency, beside the first's cold latency.
* **Redis paused.** The cached p50/p99 of the first resolver, with Redis
  running and then SIGSTOPped, while uncached names are asked beside
  (they are what would wait on Redis, if anything did).

    python -m bench.shared_cache [--queries 2000] [--names 300] [--json]

Needs ``redis-server`` for the last two (``make tools`` installs it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dns.message
import dns.query

from bench import workloads
from bench.processes import (
    LOOPBACK,
    Started,
    isolate,
    resident_bytes,
    start_holdfast,
    start_lab,
)
from resolver.control import request

REDIS_PORT = 6390


def ask(server: Started, name: str, rdtype: str) -> float:
    """One query from a fresh port; its round trip in milliseconds."""
    query = dns.message.make_query(name, rdtype)
    began = time.perf_counter()
    dns.query.udp(query, LOOPBACK, port=server.port, timeout=10)
    return (time.perf_counter() - began) * 1000


def stats(workdir: Path) -> dict[str, Any]:
    snapshot: dict[str, Any] = request(workdir / "holdfast.sock", {"command": ["stats"]},
                                       timeout=10)
    return snapshot


def upstream_queries(workdir: Path) -> int:
    return sum(stats(workdir)["upstream"].get("queries", {}).values())


def tier_stats(workdir: Path) -> dict[str, Any]:
    status: dict[str, Any] = request(workdir / "holdfast.sock", {"command": ["status"]},
                                     timeout=10)
    return dict(status["shared_cache"])


def service_pids(workdir: Path, server: Started) -> list[int]:
    """The supervisor, the zygote and the workers (or the one process without ``--workers``)."""
    status: dict[str, Any] = request(workdir / "holdfast.sock", {"command": ["status"]},
                                     timeout=10)
    workers = [int(w["pid"]) for w in status.get("worker_processes", []) if w.get("pid")]
    zygote = [int(status["zygote_pid"])] if status.get("zygote_pid") else []
    return [server.popen.pid, *zygote, *workers]


def rollup_bytes(pid: int, field: str = "Pss") -> int:
    """One line of a process's ``/proc/PID/smaps_rollup``, in bytes.

    ``Pss``: its private pages, and its share of the pages it shares;
    ``Private_Dirty``: the pages it wrote that no other process maps (with
    workers forked from the zygote: what the process made or copied on
    write, its own cost).
    """
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/smaps_rollup")


@contextmanager
def holdfast(workdir: Path, *extra: str, port: int = 5300) -> Iterator[Started]:
    workdir.mkdir()
    (workdir / "lab").symlink_to(workdir.parent / "lab")  # where start_holdfast finds the lab
    started = start_holdfast(workdir, None, ["--metrics", "off", *extra], port=port)
    try:
        yield started
    finally:
        started.stop()


def workers_figure(root: Path, queries: int) -> list[dict[str, Any]]:
    mix = workloads.mixed(queries)
    rows = []
    for shared in (True, False):
        for count in (1, 2, 4):
            workdir = root / f"workers-{count}-{'shared' if shared else 'own'}"
            config = root / f"{workdir.name}.toml"
            config.write_text(f"[workers]\nshared_cache = {'true' if shared else 'false'}\n")
            with holdfast(workdir, "--workers", str(count), "--config", str(config)) as server:
                before = upstream_queries(workdir)
                for name, rdtype in mix:
                    ask(server, name, rdtype)
                sent = upstream_queries(workdir) - before
                pids = service_pids(workdir, server)
                rss = sum(resident_bytes(pid) for pid in pids)
                pss = sum(rollup_bytes(pid) for pid in pids)
                serving = pids[2:] if count > 1 else pids  # not the supervisor and zygote
                private = statistics.mean(rollup_bytes(pid, "Private_Dirty") for pid in serving)
            rows.append({"workers": count, "shared_cache": shared, "client_queries": len(mix),
                         "upstream_queries": sent,
                         "upstream_per_client_query": round(sent / len(mix), 3),
                         "processes": len(pids), "rss_mib": round(rss / 2**20, 1),
                         "pss_mib": round(pss / 2**20, 1),
                         "worker_private_mib": round(private / 2**20, 1)})
    return rows


@contextmanager
def redis_server(root: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (root / "redis.log").open("wb") as log:
        process = subprocess.Popen(
            ["redis-server", "--port", str(REDIS_PORT), "--bind", LOOPBACK, "--save", "",
             "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait()


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)}


def hosts_figures(root: Path, names: int, queries: int) -> dict[str, Any]:
    secret = root / "secret"
    secret.write_text("bench secret, thirty-two bytes..\n")
    config = root / "shared.toml"
    config.write_text(f'[shared_cache]\nservers = ["{LOOPBACK}:{REDIS_PORT}"]\n'
                      f'secret_file = "{secret}"\n')
    start = workloads.COLD_START + 50_000
    listed = [(workloads.bench_name(i), "A") for i in range(start, start + names)]
    with redis_server(root) as redis, \
            holdfast(root / "first", "--config", str(config), port=5300) as first, \
            holdfast(root / "second", "--config", str(config), port=5302) as second:
        time.sleep(1.5)  # the tiers' first probes
        base_first = upstream_queries(root / "first")
        cold = [ask(first, name, rdtype) for name, rdtype in listed]
        first_sent = upstream_queries(root / "first") - base_first
        time.sleep(1)
        base_second = upstream_queries(root / "second")
        shared = [ask(second, name, rdtype) for name, rdtype in listed]
        second_sent = upstream_queries(root / "second") - base_second
        tier = tier_stats(root / "second")
        hosts = {
            "names": names,
            "first_host_cold": percentiles(cold),
            "second_host_from_tier": percentiles(shared),
            "first_host_upstream_queries": first_sent,
            "second_host_upstream_queries": second_sent,
            "second_host_lookups": tier["lookups"],
            "second_host_adopted": tier["adopted"],
            "second_host_lookup_results": {key: tier[key] for key in
                                           ("hits", "misses", "skipped", "failed")},
            "second_host_call_timeouts": tier["timeouts"],
        }
        cached = [name for name, _ in listed[:100]]
        fresh = iter(range(start + names, start + names + 10 * queries))

        def cached_run() -> list[float]:
            samples = []
            for index in range(queries):
                samples.append(ask(first, cached[index % len(cached)], "A"))
                if index % 10 == 0:
                    ask(first, workloads.bench_name(next(fresh)), "A")
            return samples

        running = percentiles(cached_run())
        redis.send_signal(signal.SIGSTOP)
        paused = percentiles(cached_run())
        redis.send_signal(signal.SIGCONT)
    return {**hosts, "cached_redis_running": running, "cached_redis_paused": paused,
            "cached_queries": queries}


def markdown(workers: list[dict[str, Any]], hosts: dict[str, Any] | None) -> str:
    lines = ["## `python -m bench.shared_cache`: one cache for workers and hosts (issue 22)", "",
             f"Upstream queries per client query, {workers[0]['client_queries']} queries of "
             "the Zipf mix (`bench.workloads.mixed`), each from a fresh source port:", "",
             "| workers | shared map | upstream queries | per client query | processes "
             "| RSS MiB | PSS MiB | private MiB per worker |", "|---|---|---|---|---|---|---|---|"]
    for row in workers:
        lines.append(f"| {row['workers']} | {'yes' if row['shared_cache'] else 'no'} | "
                     f"{row['upstream_queries']} | {row['upstream_per_client_query']} | "
                     f"{row['processes']} | {row['rss_mib']} | {row['pss_mib']} | "
                     f"{row['worker_private_mib']} |")
    if hosts is None:
        lines += ["", "redis-server is not installed: the two-host figures were skipped."]
        return "\n".join(lines) + "\n"
    first, second = hosts["first_host_cold"], hosts["second_host_from_tier"]
    lines += [
        "", f"Two hosts sharing one Redis, {hosts['names']} signed bench.com names asked of the "
        "first, then of the second:", "",
        "| | upstream queries | p50 ms | p99 ms |", "|---|---|---|---|",
        f"| first host (cold) | {hosts['first_host_upstream_queries']} | {first['p50_ms']} | "
        f"{first['p99_ms']} |",
        f"| second host (from the tier) | {hosts['second_host_upstream_queries']} | "
        f"{second['p50_ms']} | {second['p99_ms']} |",
        "", f"The second host asked the tier {hosts['second_host_lookups']} times and adopted "
        f"{hosts['second_host_adopted']} entries (lookups: "
        + ", ".join(f"{count} {key}" for key, count in hosts["second_host_lookup_results"].items())
        + f"; calls out of time: {hosts['second_host_call_timeouts']}).", "",
        f"Cached answers ({hosts['cached_queries']} queries, one uncached name every 10th):", "",
        "| Redis | p50 ms | p99 ms |", "|---|---|---|",
        f"| running | {hosts['cached_redis_running']['p50_ms']} | "
        f"{hosts['cached_redis_running']['p99_ms']} |",
        f"| SIGSTOPped | {hosts['cached_redis_paused']['p50_ms']} | "
        f"{hosts['cached_redis_paused']['p99_ms']} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--names", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    isolate(sys.argv[1:], "bench.shared_cache")
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-") as directory:
        root = Path(directory)
        lab = start_lab(root, None)
        try:
            workers = workers_figure(root, args.queries)
            hosts = None
            if shutil.which("redis-server") is not None:
                hosts = hosts_figures(root, args.names, args.queries)
        finally:
            lab.stop()
    if args.json:
        print(json.dumps({"workers": workers, "hosts": hosts}, indent=2))
    else:
        print(markdown(workers, hosts))


if __name__ == "__main__":
    main()
