"""How long ``holdfast`` takes to start for the quick commands: ``--version`` and ``ctl``.

An operator (or a monitoring script run every few seconds) types
``holdfast ctl status`` expecting an answer at once; before the CLI imported
its subcommands lazily, each call spent about 1.5 s importing the whole
resolver. This runs, ``--runs`` times each, as fresh processes:

* ``python -m resolver --version``;
* ``python -m resolver ctl --control <a socket that does not exist> status``
  (which exits 1 at once: it measures start-up, not a server);

and prints the median and 90th percentile wall time of each. A benchmark,
not a test: the figures depend on the machine and its load.

    python -m bench.ctl_startup [--runs 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Each command's arguments after ``python -m resolver``; ``{socket}`` is filled in.
COMMANDS = {
    "--version": ["--version"],
    "ctl status (no server)": ["ctl", "--control", "{socket}", "status"],
}


def time_command(arguments: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` fresh runs of ``python -m resolver ARGUMENTS``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "resolver", *arguments],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="holdfast-ctl-bench-") as tmp:
        socket = str(Path(tmp) / "nothing-here.sock")
        figures = {}
        for name, template in COMMANDS.items():
            arguments = [word.format(socket=socket) for word in template]
            times = time_command(arguments, args.runs)
            figures[name] = {
                "runs": args.runs,
                "median_s": round(statistics.median(times), 3),
                "p90_s": round(percentile(times, 0.9), 3),
            }
    if args.json:
        print(json.dumps(figures))
    else:
        for name, figure in figures.items():
            print(f"holdfast {name}: median {figure['median_s']} s, p90 {figure['p90_s']} s "
                  f"({figure['runs']} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
