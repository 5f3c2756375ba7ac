"""The query files of each benchmark workload, written in dnsperf's format.

Every workload asks the built-in lab (``testdata/lab/README.md``) and both
resolvers get the very same files. Names are chosen so that runs do not
overlap where that matters: the cached set is warmed once and then repeated,
while every cold run asks ``bench.com`` names nobody has asked before (the
lab has ``n0`` .. ``n99999.bench.com``, each needing a signed answer from the
bench.com servers).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

#: Names ``n0`` .. ``n{BENCH_NAMES - 1}.bench.com`` exist in the lab.
BENCH_NAMES = 100_000
#: The cached workload's names: ``n0`` .. ``n999``.
CACHED_NAMES = 1_000
#: Cold runs take fresh names from here upwards, ``COLD_SLICE`` per run.
COLD_START = 10_000
#: Mixed-workload bench.com names come from this range (never cold-queried).
MIXED_RANGE = range(80_000, BENCH_NAMES)
#: Share of mixed-workload queries for names that do not exist.
NXDOMAIN_SHARE = 0.05
#: Zipf exponent of the mixed workload (s = 1 is the classic DNS popularity curve).
ZIPF_EXPONENT = 1.0

#: Healthy catalogue entries (no faults, no bogus data: both resolvers must answer them).
CATALOGUE: tuple[tuple[str, str], ...] = (
    ("www.example.com", "A"),
    ("www.example.com", "AAAA"),
    ("example.com", "MX"),
    ("example.com", "TXT"),
    ("mail.example.com", "A"),
    ("anything.wild.example.com", "A"),
    ("inzone.example.com", "A"),
    ("www.example.net", "A"),
    ("www.example.org", "A"),
    ("www.nsec3.org", "A"),
    ("www.optout.nsec3.org", "A"),
    ("www.insecure.com", "A"),
    ("www.rsa.org", "A"),
    ("www.ecdsa.org", "A"),
    ("www.ed25519.org", "A"),
    ("www.bench.com", "A"),
)


def bench_name(index: int) -> str:
    return f"n{index}.bench.com"


def write(path: Path, queries: Sequence[tuple[str, str]]) -> Path:
    """Write ``(name, type)`` pairs as a dnsperf data file."""
    path.write_text("".join(f"{name} {rdtype}\n" for name, rdtype in queries), encoding="ascii")
    return path


def cached() -> list[tuple[str, str]]:
    """The 1,000 names warmed first and then asked over and over."""
    return [(bench_name(i), "A") for i in range(CACHED_NAMES)]


def cold_slices(count: int, size: int) -> Iterator[list[tuple[str, str]]]:
    """``count`` disjoint lists of ``size`` never-asked bench.com names."""
    if COLD_START + count * size > MIXED_RANGE.start:
        raise ValueError(f"{count} cold runs of {size} names do not fit the lab's bench.com")
    for run in range(count):
        first = COLD_START + run * size
        yield [(bench_name(i), "A") for i in range(first, first + size)]


def mixed(queries: int, seed: int = 53) -> list[tuple[str, str]]:
    """Zipf-popular names over the catalogue and bench.com, 5% of them NXDOMAIN.

    The popularity ranks are shuffled once, so the most popular names are a
    mix of catalogue and bench.com names; NXDOMAIN names are unique (each is
    a fresh negative answer, as junk traffic is in real life).
    """
    rng = random.Random(seed)
    universe = list(CATALOGUE) + [(bench_name(i), "A") for i in MIXED_RANGE]
    rng.shuffle(universe)
    weights = [1.0 / (rank**ZIPF_EXPONENT) for rank in range(1, len(universe) + 1)]
    picks = rng.choices(universe, weights=weights, k=queries)
    result: list[tuple[str, str]] = []
    for number, pick in enumerate(picks):
        if rng.random() < NXDOMAIN_SHARE:
            result.append((f"nx{number}.bench.com", "A"))
        else:
            result.append(pick)
    return result
