"""Event-loop stall while a local root copy loads through the refresh task's offload.

``bench.harness`` measures the server's cached p99 while a root zone is
parsed and verified *beside* it, in another process. This measures what
the serving process itself goes through when ``rootzone.service`` loads a
candidate: a Trio task that wakes every 0.5 ms records how late each wake-up
is while the real 2017 root (22,772 records) is checked ``--loads`` times,
either in a worker process (the daemon's ``in_process``: the copy comes back
pickled in parts, rebuilt a part at a time) or in a worker thread
(``in_thread``). A late wake-up is the delay a client query would have seen.

    python -m bench.reload_stall [--offload process|thread] [--loads 3] [--json]

Needs ``../shared/testdata/rootzone/root-2017082100.zone``.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time

import trio

from bench.rootzone_load import AT_2017, KSK_2010, SNAPSHOT_2017
from dnssec.anchors import TrustAnchors
from rootzone.candidate import LoadPolicy, check_candidate, records_from_text
from rootzone.service import Offload, in_process, in_thread

#: How often the probe task asks to wake up, seconds.
TICK = 0.0005


async def measure(offload_name: str, loads: int) -> dict[str, object]:
    """Load the 2017 root ``loads`` times through the offload; the probe's lateness figures."""
    text = SNAPSHOT_2017.read_text(encoding="utf-8")
    work = functools.partial(
        check_candidate,
        functools.partial(records_from_text, text, source=SNAPSHOT_2017.name),
        source=SNAPSHOT_2017.name,
        size=len(text.encode()),
        anchors=TrustAnchors.from_text(KSK_2010, source="KSK-2010"),
        now=AT_2017,
        policy=LoadPolicy(),
        current=None,
    )
    offloads: dict[str, Offload] = {"process": in_process, "thread": in_thread}
    offload = offloads[offload_name]
    late: list[float] = []

    async def probe() -> None:
        while True:
            before = time.perf_counter()
            await trio.sleep(TICK)
            late.append(time.perf_counter() - before - TICK)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(probe)
        started = time.perf_counter()
        for _ in range(loads):
            copy = await offload(work)
            assert copy is not None
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    late.sort()
    return {
        "benchmark": "reload_stall",
        "offload": offload_name,
        "loads": loads,
        "load_s": round(elapsed / loads, 3),
        "wakeups": len(late),
        "late_median_ms": round(statistics.median(late) * 1000, 2),
        "late_p99_ms": round(late[int(len(late) * 0.99)] * 1000, 2),
        "late_max_ms": round(late[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--offload", choices=["process", "thread"], default="process")
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    if not SNAPSHOT_2017.is_file():
        sys.exit(f"{SNAPSHOT_2017} is absent")
    figures = trio.run(measure, args.offload, args.loads)
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['offload']}: {figures['load_s']} s a load; probe late by median "
            f"{figures['late_median_ms']} ms, p99 {figures['late_p99_ms']} ms, "
            f"max {figures['late_max_ms']} ms over {figures['wakeups']} wake-ups"
        )


if __name__ == "__main__":
    main()
