"""Running dnsperf (Debian's ``dnsperf``) and reading what it prints.

dnsperf is the load generator for every workload: it measures throughput
with many queries outstanding, and with ``-Q RATE -v`` it sends at a fixed
offered rate and prints one line per answered query with its latency
(``> NOERROR n1.bench.com A 0.000084``), which is where the latency
percentiles come from. It runs pinned to its own CPU (``taskset``), away
from the resolver under test.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_FIGURE = {
    "sent": re.compile(r"Queries sent:\s+(\d+)"),
    "completed": re.compile(r"Queries completed:\s+(\d+)"),
    "lost": re.compile(r"Queries lost:\s+(\d+)"),
    "qps": re.compile(r"Queries per second:\s+([\d.]+)"),
    "elapsed": re.compile(r"Run time \(s\):\s+([\d.]+)"),
}
_VERBOSE_LINE = re.compile(r"^> (\S+) \S+ \S+ ([\d.]+)$", re.M)


class DnsperfError(RuntimeError):
    """dnsperf failed or printed something we cannot read."""


@dataclass(slots=True)
class DnsperfRun:
    """One dnsperf run: its totals and, with ``verbose``, every latency in seconds."""

    sent: int
    completed: int
    lost: int
    qps: float
    elapsed: float
    latencies: list[float] = field(default_factory=list)
    rcodes: Counter[str] = field(default_factory=Counter)


def run(
    server: tuple[str, int],
    queries: Path,
    *,
    cpu: int | None,
    seconds: float | None = None,
    passes: int | None = None,
    outstanding: int = 100,
    rate: float | None = None,
    verbose: bool = False,
    timeout: float = 5.0,
    mode: str = "udp",
    options: Sequence[str] = (),
    clients: int = 1,
) -> DnsperfRun:
    """Run dnsperf once against ``server`` with the queries in ``queries``.

    Args:
        cpu: pin dnsperf to this CPU (None: anywhere).
        seconds: stop after this long (``-l``).
        passes: stop after this many passes through the file (``-n``).
        outstanding: queries in flight at most (``-q``).
        rate: offered queries per second (``-Q``); None means as fast as possible.
        verbose: record every answered query's latency and rcode (``-v``).
        timeout: seconds before a query counts as lost (``-t``).
        mode: the transport (``-m``): udp, tcp, dot or doh.
        options: long options (``-O NAME=VALUE`` each), e.g. ``doh-uri=...``.
        clients: connections (UDP sockets) dnsperf spreads the queries over (``-c``).
    """
    host, port = server
    command = ["dnsperf", "-s", host, "-p", str(port), "-d", str(queries),
               "-c", str(clients), "-T", "1", "-q", str(outstanding), "-t", str(timeout),
               "-m", mode]
    for option in options:
        command += ["-O", option]
    if seconds is not None:
        command += ["-l", str(seconds)]
    if passes is not None:
        command += ["-n", str(passes)]
    if rate is not None:
        command += ["-Q", str(int(rate))]
    if verbose:
        command.append("-v")
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    limit = (seconds or 600) + timeout + 60
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DnsperfError(f"{' '.join(command)}: {error}") from error
    if done.returncode != 0:
        raise DnsperfError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return parse(done.stdout)


def parse(output: str) -> DnsperfRun:
    """Read dnsperf's summary (and its ``-v`` lines, if any)."""
    figures: dict[str, float] = {}
    for name, pattern in _FIGURE.items():
        found = pattern.search(output)
        if found is None:
            raise DnsperfError(f"dnsperf printed no {name!r} figure:\n{output[-2000:]}")
        figures[name] = float(found.group(1))
    result = DnsperfRun(
        sent=int(figures["sent"]),
        completed=int(figures["completed"]),
        lost=int(figures["lost"]),
        qps=figures["qps"],
        elapsed=figures["elapsed"],
    )
    for rcode, latency in _VERBOSE_LINE.findall(output):
        result.rcodes[rcode] += 1
        result.latencies.append(float(latency))
    return result
