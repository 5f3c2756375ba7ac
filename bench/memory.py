"""Resident memory per cached RRset: the "at most 500 bytes at 1M entries" target.

The target is about what the operating system sees, so this measures RSS
(``/proc/self/statm``), not tracemalloc: RSS includes the allocator's
fragmentation and the dict and ordered-dict tables, which are what a big
cache really costs. Each size runs in a fresh child process so that memory
freed by one size (which CPython's allocator rarely returns to the system)
cannot hide the growth of the next.

Each child fills a ``Cache`` with N distinct single-address A RRsets, as the
iterator would store them, and reports the RSS growth divided by N. The
RRsets fed to the cache are built one at a time inside the loop and dropped
at once, so the figure is the cache's, not the inputs'. A few lookups then
check the cache really holds the data. Stores per second is a side figure;
it is timed without tracemalloc, which would slow every allocation.

    python -m bench.memory                  # 100k and 1M entries, a summary
    python -m bench.memory --sizes 10000 --json
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from bench.processes import resident_bytes
from dnssec.status import Security
from resolver.cache import Cache, Rank
from resolver.clock import FakeClock

#: The budget the cache's representation was chosen for (resolver/cache.py).
TARGET_BYTES_PER_RRSET = 500
#: The sizes measured unless ``--sizes`` says otherwise.
DEFAULT_SIZES = (100_000, 1_000_000)
#: The TTL of every stored RRset: long enough that nothing expires mid-run.
_TTL = 3600
#: The TTL as it sits in a response. Each input's TTL is decoded from it, as
#: dnspython's parser does, so each is its own int object (ints above 256 are
#: not shared) and the cache pays for keeping it, as it would in service.
_TTL_WIRE = _TTL.to_bytes(4, "big")
#: How many authoritative servers the fake answers come from. Real caches
#: hold data from many servers; the cache interns the address, so each
#: distinct one costs once, not per entry.
_SOURCES = tuple(f"192.0.2.{n}" for n in range(1, 14))
#: The hidden flag that makes the script measure one size in-process.
_CHILD_FLAG = "--child-entries"
#: Where ``python -m bench.memory`` must run from, for ``resolver`` to import.
_REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class SizeResult:
    """What one fresh process measured for one cache size.

    Attributes:
        entries: How many RRsets were stored (and are held).
        rss_bytes: RSS growth from the empty cache to the full one.
        bytes_per_rrset: ``rss_bytes / entries``.
        stores_per_second: ``Cache.store_rrset`` calls per second, timing
            only the calls (not building their inputs).
    """

    entries: int
    rss_bytes: int
    bytes_per_rrset: float
    stores_per_second: float


def owner(index: int) -> dns.name.Name:
    """Return the owner name of the ``index``-th RRset: ``n{index}.bench.com.``."""
    return dns.name.Name((b"n%d" % index, b"bench", b"com", b""))


def address(index: int) -> str:
    """Return the IPv4 address of the ``index``-th RRset, unique below 2**24."""
    return f"10.{(index >> 16) & 0xFF}.{(index >> 8) & 0xFF}.{index & 0xFF}"


def make_rrset(index: int) -> dns.rrset.RRset:
    """Build the ``index``-th input RRset: one A record, as parsed off the wire."""
    wire = bytes((10, (index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF))
    rdata = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.A, wire, 0, len(wire))
    return dns.rrset.from_rdata(owner(index), int.from_bytes(_TTL_WIRE, "big"), rdata)


def rss_bytes() -> int:
    """Return this process's resident set size, after a full collection.

    ``/proc/self/statm`` counts resident pages; the collection first frees
    whatever cyclic garbage would otherwise be counted against the cache.
    """
    gc.collect()
    return resident_bytes()


def _fill(cache: Cache, entries: int) -> float:
    """Store ``entries`` RRsets in ``cache``; return the seconds spent storing.

    Each input is built inside the loop and released before the next, so the
    memory left behind is what the cache kept.
    """
    perf_counter = time.perf_counter
    storing = 0.0
    for index in range(entries):
        rrset = make_rrset(index)
        source = _SOURCES[index % len(_SOURCES)]
        started = perf_counter()
        stored = cache.store_rrset(rrset, Rank.ANSWER, security=Security.INSECURE, source=source)
        storing += perf_counter() - started
        if not stored:
            raise RuntimeError(f"the cache refused RRset {index}: the figure would be wrong")
    return storing


def _check(cache: Cache, entries: int) -> None:
    """Raise RuntimeError unless the cache holds all ``entries`` RRsets, correctly.

    Without this a cache that dropped everything would report a splendid
    figure.
    """
    held = cache.statistics().entries
    if held != entries:
        raise RuntimeError(f"the cache holds {held} entries, not {entries}")
    for index in sorted({0, 1, entries // 3, entries // 2, entries - 1}):
        hit = cache.lookup_rrset(owner(index), dns.rdatatype.A)
        if hit is None:
            raise RuntimeError(f"n{index}.bench.com. A is missing from the cache")
        found = [rdata.to_text() for rdata in hit.rrset]
        if found != [address(index)] or hit.rrset.ttl != _TTL or hit.rank is not Rank.ANSWER:
            raise RuntimeError(f"n{index}.bench.com. A came back wrong: {hit}")
        if hit.security is not Security.INSECURE or hit.source not in _SOURCES:
            raise RuntimeError(f"n{index}.bench.com. A lost its provenance: {hit}")


def measure_here(entries: int) -> SizeResult:
    """Measure one size in this process (the child's work).

    A throwaway cache first stores and looks up one RRset, so that modules
    dnspython imports lazily and other one-time allocations are resident
    before the baseline is taken.
    """
    if entries < 1:
        raise ValueError(f"a size must be at least 1, not {entries}")
    clock = FakeClock()
    warm = Cache(clock, max_entries=1)
    warm.store_rrset(make_rrset(0), Rank.ANSWER, security=Security.INSECURE, source=_SOURCES[0])
    warm.lookup_rrset(owner(0), dns.rdatatype.A)
    del warm
    cache = Cache(clock, max_entries=entries)
    before = rss_bytes()
    storing = _fill(cache, entries)
    after = rss_bytes()
    _check(cache, entries)
    grown = after - before
    return SizeResult(
        entries=entries,
        rss_bytes=grown,
        bytes_per_rrset=grown / entries,
        stores_per_second=entries / storing if storing > 0 else float("inf"),
    )


def measure_in_child(entries: int) -> SizeResult:
    """Measure one size in a fresh Python process, so sizes don't share a heap."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.memory", _CHILD_FLAG, str(entries)],
        cwd=_REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"measuring {entries} entries failed ({completed.returncode}):\n{completed.stderr}"
        )
    fields = json.loads(completed.stdout)
    return SizeResult(
        entries=int(fields["entries"]),
        rss_bytes=int(fields["rss_bytes"]),
        bytes_per_rrset=float(fields["bytes_per_rrset"]),
        stores_per_second=float(fields["stores_per_second"]),
    )


def measure(sizes: Sequence[int] = DEFAULT_SIZES) -> list[SizeResult]:
    """Measure every size, each in its own child process, in order."""
    return [measure_in_child(entries) for entries in sizes]


def report(results: Sequence[SizeResult]) -> dict[str, object]:
    """Return the JSON report: every size, and the target it is judged by."""
    return {
        "sizes": [asdict(result) for result in results],
        "target_bytes_per_rrset": TARGET_BYTES_PER_RRSET,
    }


def summary(results: Sequence[SizeResult]) -> str:
    """Return a few human lines: one per size, marked against the target."""
    lines = [f"RSS per cached single-address A RRset (target <= {TARGET_BYTES_PER_RRSET} B):"]
    for result in results:
        verdict = "ok" if result.bytes_per_rrset <= TARGET_BYTES_PER_RRSET else "OVER TARGET"
        lines.append(
            f"  {result.entries:>10,} entries: {result.rss_bytes / 2**20:8.1f} MiB, "
            f"{result.bytes_per_rrset:6.1f} B/RRset ({verdict}), "
            f"{result.stores_per_second:,.0f} stores/s"
        )
    return "\n".join(lines)


def _sizes(text: str) -> list[int]:
    """Parse ``--sizes``: comma-separated entry counts such as ``100000,1e6``."""
    try:
        sizes = [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from error
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive counts, not {text!r}")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement; return the process's exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated entry counts (default: 100000,1000000)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(_CHILD_FLAG, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_entries is not None:
        print(json.dumps(asdict(measure_here(args.child_entries))))
        return 0
    results = measure(args.sizes)
    print(json.dumps(report(results)) if args.json else summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
