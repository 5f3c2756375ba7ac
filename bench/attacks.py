"""Cached answers while the attacks of issue 16 run beside them.

Issue 16 asks, measured here: the cached-answer p99 (a client asking cached
names at a steady rate) while each attack runs, next to the baseline with
no attack in the same run, and the time to answer the glueless fan-out
query. The attacks, each from its own process (open loop, never waiting):

* **fan-out**: never-asked names under ``fanout.com.`` (``resolver/lab/fanout.py``):
  a referral to 10 NS names without glue, each in a zone that refers the same
  way one level deeper. Before the work budget one such query froze the loop
  for minutes;
* **RSA exponent** / **RSA modulus**: fresh names under ``bigexp.org.`` (a
  3071-bit public exponent) and ``rsa16k.org.`` (a 16384-bit modulus),
  whose keys cost 17.6 ms / 11 ms per verification unless refused;
* **10x cold**: never-asked ``bench.com`` names at ten times the cold
  capacity (``bench.overload``'s flood).

One run, inside a private network namespace (re-executed under
``unshare -n``), about a minute; loopback only, bounded in count and time:

    python -m bench.attacks [--seconds 8] [--cached-rate 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import overload
from bench.processes import LOAD_CPU, RESOLVER_CPU, isolate, start_holdfast, start_lab
from resolver.lab.fanout import cut_label

#: Queries per second of each attack (the issue's figures: 10 and 50 q/s for the RSA zones).
ATTACK_RATES = {"fanout": 20.0, "bigexp": 50.0, "rsa16k": 50.0}
#: Fresh fan-out queries timed one at a time, before the attacks.
FANOUT_SAMPLES = 5
REPO = Path(__file__).resolve().parents[1]


def attack_names(kind: str, seed: int) -> Callable[[int], str]:
    """The n-th never-asked name of an attack: each one costs the resolver the full work."""
    rng = random.Random(seed)
    if kind == "fanout":
        return lambda n: f"www.{cut_label(rng.randrange(10**12))}.fanout.com"
    if kind in ("bigexp", "rsa16k"):
        return lambda n: f"a{seed}-{n}.{kind}.org"
    raise ValueError(f"unknown attack {kind!r}")


def time_fanout() -> list[float]:
    """Seconds for each of ``FANOUT_SAMPLES`` fresh fan-out queries to be answered (SERVFAIL)."""
    names = attack_names("fanout", seed=1)
    took = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(30.0)
        for number in range(FANOUT_SAMPLES):
            started = time.monotonic()
            sock.sendto(overload.encode(names(number), number), overload.SERVER)
            sock.recv(65535)
            took.append(time.monotonic() - started)
    return took


def cached_figures(latencies: list[float | None]) -> dict[str, float]:
    answered = [value for value in latencies if value is not None]
    return {
        "asked": len(latencies),
        "share": round(len(answered) / len(latencies), 4) if latencies else 0.0,
        "p50_ms": round(overload.percentile(answered, 0.5) * 1000, 3),
        "p99_ms": round(overload.percentile(answered, 0.99) * 1000, 3),
    }


def beside(command: list[str] | None, args: argparse.Namespace) -> dict[str, Any]:
    """The cached client's figures while ``command`` (an attack process) runs, or alone."""
    attacker = None
    if command is not None:
        attacker = subprocess.Popen(
            ["taskset", "-c", str(LOAD_CPU), sys.executable, "-m", *command,
             "--seconds", str(args.seconds)],
            stdout=subprocess.PIPE, cwd=REPO,
        )
        time.sleep(0.5)  # the attack is under way before the cached client starts
    figures: dict[str, Any] = cached_figures(
        overload.probe_cached(args.cached_rate, args.seconds - 1.0)
    )
    if attacker is not None:
        out, _ = attacker.communicate(timeout=args.seconds + 30)
        figures["attack"] = json.loads(out)
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    overload.pin_to_load_cpu()
    with tempfile.TemporaryDirectory(prefix="holdfast-attacks-") as temporary:
        workdir = Path(temporary)
        lab = start_lab(workdir, LOAD_CPU)
        try:
            holdfast = start_holdfast(workdir, RESOLVER_CPU)
            try:
                overload.warm()
                fanout = time_fanout()
                rows = {"none (baseline)": beside(None, args)}
                for kind, rate in ATTACK_RATES.items():
                    rows[f"{kind} {rate:g} q/s"] = beside(
                        ["bench.attacks", "--attack", kind, "--rate", str(rate)], args
                    )
                capacity, next_name = overload.cold_capacity(
                    overload.COLD_FIRST, overload.CAPACITY_SECONDS
                )
                rate = min(capacity * 10, overload.MAX_FLOOD_RATE)
                rows[f"10x cold {rate:,.0f} q/s"] = beside(
                    ["bench.overload", "--flood", f"{rate:.0f}", "--first", str(next_name)], args
                )
            finally:
                holdfast.stop()
        finally:
            lab.stop()
    return {
        "fanout_answer_ms": [round(value * 1000, 1) for value in fanout],
        "cold_capacity_qps": round(capacity, 1),
        "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each attack")
    parser.add_argument("--cached-rate", type=float, default=200.0, help="cached queries/s")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--attack", choices=sorted(ATTACK_RATES), help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=10.0, help=argparse.SUPPRESS)
    args = parser.parse_args(arguments)
    args.seconds = min(max(args.seconds, 2.0), 30.0)
    if args.attack is not None:
        names = attack_names(args.attack, seed=os.getpid())
        print(json.dumps(overload.open_loop(min(args.rate, 1000.0), args.seconds, names)))
        return 0
    if os.geteuid() != 0:
        print("bench.attacks: needs root (the lab binds port 53 in a private namespace)",
              file=sys.stderr)
        return 2
    isolate(arguments, "bench.attacks")
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return 0
    fanout = result["fanout_answer_ms"]
    print(f"fan-out query answered (SERVFAIL, work limit) in {statistics.median(fanout):.0f} ms "
          f"median, {max(fanout):.0f} ms max over {len(fanout)} fresh queries; "
          f"cold capacity {result['cold_capacity_qps']:,.0f} q/s")
    print(f"{'attack beside the cached client':<34} {'answered':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'attack sent/answered':>21}")
    for label, row in result["rows"].items():
        attack = row.get("attack")
        sent = f"{attack['sent']:,}/{attack['answered']:,}" if attack else "-"
        print(f"{label:<34} {row['share']:>9.2%} {row['p50_ms']:>8} {row['p99_ms']:>8} {sent:>21}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
