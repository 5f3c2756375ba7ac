"""How many calls one cold query makes across the resolver's modules, and into its cache.

Issue 19 counts module crossings for one cold query (about 70 then) and
calls into the cache (about 400): this script measures both the same way
every time, so that a change to the resolver core can be judged by the
numbers before and after. The resolver is the one ``holdfast serve``
builds (``daemon.build`` through ``resolver.lab.drill.lab_resolver``), over
the in-memory lab, asked through ``DnsServer.answer`` as a client would, in
simulated time: the counts are deterministic.

Two queries are measured, each under ``sys.setprofile``:

* ``first``: ``www.example.com A`` on an empty resolver (root, com and
  example.com cuts, keys and DS to fetch);
* ``new-name``: a never-asked ``n<i>.bench.com A`` once ``www.bench.com``
  has warmed the cuts and keys, which is what each query of the cold
  benchmark (``bench.cold_nsd``) is.

A *call* is a Python function call or generator resume in the resolver's
packages (``resolver``, ``dnssec``, ``rootzone``; the lab is the authority
and is left out); *all calls* counts every Python call of any module
(dnspython, Trio, the standard library) outside the lab's own. A
*crossing* is a call in the resolver's packages whose caller is in another
of those modules. *Cache calls* are calls of functions defined in
``resolver/cache.py`` (``entries`` counts only those made from outside it).

    python -m bench.crossings [--pairs 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import trio
import trio.testing

from resolver.clock import FakeClock
from resolver.lab import Lab
from resolver.lab.drill import ask, lab_resolver

PACKAGES = ("resolver", "dnssec", "rootzone")
CACHE_MODULE = "resolver.cache"
#: ``LabTransport``: it hands each reply to ``ReplyFilter.take``, as the sockets would.
LAB_TRANSPORT = "resolver.lab.network"


@dataclass
class Counts:
    """Calls seen while one query was answered."""

    calls: int = 0
    all_calls: int = 0
    crossings: int = 0
    cache_calls: int = 0
    cache_entries: int = 0
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    cache_functions: Counter[str] = field(default_factory=Counter)

    def as_dict(self, pairs: int) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "all_calls": self.all_calls,
            "crossings": self.crossings,
            "cache_calls": self.cache_calls,
            "cache_entries": self.cache_entries,
            "top_pairs": [[f"{a} -> {b}", n] for (a, b), n in self.pairs.most_common(pairs)],
            "cache_functions": dict(self.cache_functions.most_common(pairs)),
        }


def _ours(module: str) -> bool:
    return module.split(".", 1)[0] in PACKAGES and not module.startswith("resolver.lab")



def _authority(module: str) -> bool:
    """The lab's own code; its transport shell stands for the resolver's sockets and counts."""
    return module.startswith("resolver.lab") and module != LAB_TRANSPORT


def _module(frame: FrameType | None) -> str:
    return "" if frame is None else str(frame.f_globals.get("__name__", ""))


def counting(counts: Counts) -> Callable[[FrameType, str, object], None]:
    """A ``sys.setprofile`` hook adding every call of ours to ``counts``."""

    inside_lab: list[bool] = []

    def hook(frame: FrameType, event: str, _argument: object) -> None:
        if event == "return":
            if inside_lab:
                inside_lab.pop()
            return
        if event != "call":
            return
        callee = _module(frame)
        lab = (inside_lab[-1] if inside_lab else False) or _authority(callee)
        inside_lab.append(lab)
        if lab:
            return
        counts.all_calls += 1
        if not _ours(callee):
            return
        counts.calls += 1
        caller = _module(frame.f_back)
        if callee == CACHE_MODULE:
            counts.cache_calls += 1
            counts.cache_functions[frame.f_code.co_qualname] += 1
            counts.cache_entries += caller != CACHE_MODULE
        if caller != callee and _ours(caller):
            counts.crossings += 1
            counts.pairs[(caller, callee)] += 1

    return hook


async def _counted(query: Callable[[], Awaitable[object]]) -> Counts:
    counts = Counts()
    sys.setprofile(counting(counts))
    try:
        await query()
    finally:
        sys.setprofile(None)
    return counts


async def measure(directory: Path) -> dict[str, Counts]:
    """Count the ``first`` and ``new-name`` queries of one fresh resolver."""
    clock = FakeClock()
    lab = Lab.build(clock)
    resolver = lab_resolver(lab, clock, directory)
    results: dict[str, Counts] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(resolver.recursor.run)
        results["first"] = await _counted(lambda: ask(resolver, "www.example.com."))
        await ask(resolver, "www.bench.com.")
        results["new-name"] = await _counted(lambda: ask(resolver, "n12345.bench.com."))
        nursery.cancel_scope.cancel()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15, help="module pairs to list")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="holdfast-crossings-") as temporary:
        results = trio.run(measure, Path(temporary),
                           clock=trio.testing.MockClock(autojump_threshold=0))
    if args.json:
        print(json.dumps({name: c.as_dict(args.pairs) for name, c in results.items()}, indent=1))
        return 0
    for name, counts in results.items():
        print(f"{name}: {counts.all_calls} Python calls in all, {counts.calls} in the resolver's "
              f"modules, {counts.crossings} module crossings, "
              f"{counts.cache_calls} cache calls ({counts.cache_entries} from outside the cache)")
        for (caller, callee), number in counts.pairs.most_common(args.pairs):
            print(f"  {number:6} {caller} -> {callee}")
        print("  cache functions: " + ", ".join(
            f"{function} {number}" for function, number in counts.cache_functions.most_common(8)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
