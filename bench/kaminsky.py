"""The Kaminsky drill of issue 17: how often does a spoofer poison an answer?

For each never-asked name a client asks, an off-path spoofer (raw sockets,
``tests/scenarios/spoofing.py``) forges the answer from the genuine
servers' addresses while the genuine reply is delayed (``--delay-ms``, the
lab's ``delay`` fault, kept under the resolver's 50 ms smallest RTO so no
retry muddles the count):

* **known port**: the resolver's query port read from ``/proc/net/udp`` (the
  side channel), then all 65,536 IDs in random order;
* **blind**: 65,536 packets to random ephemeral ports and random IDs.

The forged name is in lower case: the spoofer cannot see the case 0x20
gave it. Each is run against a signed zone (``example.com``: the forgery
carries a garbage RRSIG; names that exist, as a NXDOMAIN would let aggressive
NSEC use answer the next names from the cache) and an unsigned one
(``insecure.com``: names that do not exist), with 0x20
off and on. Printed: poisoned answers served per query, and what the extra
bits predict: with 0x20 each guess must also match the case of every
letter of the name, so the rate with it is the rate without it times
2^-letters; blind, the port is one of 28,232 more.

Root, inside its own namespace (re-executed under ``unshare -n``), bounded:
``--queries`` per case (100), at most 65,536 packets per query (the sweep
stops once the client has its answer), a few minutes.

    python -m bench.kaminsky [--queries 20] [--delay-ms 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query

from bench import overload
from bench.processes import LOAD_CPU, RESOLVER_CPU, isolate, start_holdfast, start_lab
from dnssec.signatures import key_tag as key_tag_of
from resolver.control import request
from resolver.lab.control import send_lab_command
from tests.scenarios.spoofing import (
    POISON,
    RawSender,
    UdpSocket,
    forged_reply,
    udp_packet,
    upstream_sockets,
)

ZONES = {"signed": "bench.com.", "unsigned": "insecure.com."}
#: Linux's default ephemeral port range (net.ipv4.ip_local_port_range): 32768-60999.
EPHEMERAL = range(32768, 61000)
IDS = 65536
#: Forgeries sent between two looks at whether the client has its answer.
CHUNK = 512
#: Seconds to wait for the resolver's query socket to appear.
PORT_WAIT = 2.0


def servers(labdir: Path) -> dict[str, list[str]]:
    """The addresses of each drill zone's servers, from the lab's ``lab.json``."""
    listed = json.loads((labdir / "lab.json").read_text(encoding="utf-8"))["servers"]
    return {zone: [server["address"] for server in listed if zone in server["zones"]]
            for zone in ZONES.values()}


def letters(name: str) -> int:
    return sum(character.isalpha() for character in name)


def ask(name: str) -> dns.message.Message:
    query = dns.message.make_query(name, "A", want_dnssec=True)
    # The blind spoofer's random ports include the client's own: ignore what is not the answer.
    return dns.query.udp(query, overload.SERVER[0], port=overload.SERVER[1], timeout=10,
                         ignore_unexpected=True)


def key_tag(zone: str, server: str) -> int:
    reply = dns.query.udp(dns.message.make_query(zone, "DNSKEY"), server, timeout=5)
    return key_tag_of(reply.answer[0][0].to_digestable())


def spoof_one(
    sender: RawSender, name: str, zone: str, addresses: list[str], mode: str, rng: random.Random
) -> bool:
    """Ask ``name`` while spoofing its answer; whether the forged address was served."""
    signer = dns.name.from_text(zone) if zone == ZONES["signed"] else None
    forged = forged_reply(dns.message.make_query(name.lower(), "A", id=0), signer=signer,
                          key_tag=key_tag(zone, addresses[0]) if signer is not None else 0)
    with ThreadPoolExecutor(max_workers=1) as client:
        pending = client.submit(ask, name)
        deadline = time.monotonic() + PORT_WAIT
        targets: list[UdpSocket] = []
        while not pending.done() and time.monotonic() < deadline and not targets:
            targets = upstream_sockets(addresses)
        ids = rng.sample(range(IDS), IDS)
        for start in range(0, IDS if targets else 0, CHUNK):
            if pending.done():
                break  # answered: later forgeries find the port closed
            target = targets[0]
            if mode == "known port":
                packet = udp_packet(target.remote, target.local, forged)
                sender.sweep(packet, ids[start:start + CHUNK])
            else:
                for query_id in ids[start:start + CHUNK]:
                    port = rng.choice(EPHEMERAL)
                    packet = udp_packet(target.remote, (target.local[0], port), forged)
                    sender.sweep(packet, [query_id])
        reply = pending.result(timeout=15)
    return any(POISON in rrset.to_text() for rrset in reply.answer)


def fresh_names(zone: str, count: int, used: set[str]) -> list[str]:
    """``count`` names of ``zone`` never asked in this run (a poisoned one stays cached)."""
    names: list[str] = []
    while len(names) < count:
        number = len(used)
        name = (f"n{number}.{zone}" if zone == ZONES["signed"]
                else f"kaminsky{number}.{zone}")
        used.add(name)
        names.append(name)
    return names


def drill(
    addresses: dict[str, list[str]], queries: int, case: bool, seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    sender = RawSender()
    rows = []
    used: set[str] = set()
    try:
        for kind, zone in ZONES.items():
            for mode in ("known port", "blind"):
                names = fresh_names(zone, queries, used)
                poisoned = sum(
                    spoof_one(sender, name, zone, addresses[zone], mode, rng) for name in names
                )
                rows.append({"zone": kind, "mode": mode, "0x20": case, "queries": queries,
                             "poisoned": poisoned, "letters": letters(names[0])})
    finally:
        sender.close()
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    holddowns: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="holdfast-kaminsky-") as temporary:
        workdir = Path(temporary)
        lab = start_lab(workdir, LOAD_CPU)
        try:
            addresses = servers(workdir / "lab")
            for address in (a for zone in ZONES.values() for a in addresses[zone]):
                send_lab_command(workdir / "lab", {"op": "fault", "address": address,
                                                   "kind": f"delay:{args.delay_ms:g}"})
            for case in (False, True):
                config = workdir / f"case-{case}.toml"
                config.write_text(f"[upstream]\nqname_case_randomisation = {str(case).lower()}\n")
                holdfast = start_holdfast(workdir, RESOLVER_CPU, ["--config", str(config)])
                try:  # the zones' keys and delegations cached: the spoofer races one query
                    for name in ("www.bench.com.", "www.insecure.com."):
                        ask(name)
                    rows += drill(addresses, args.queries, case, seed=int(case))
                    holddowns[f"0x20 {'on' if case else 'off'}"] = request(
                        workdir / "holdfast.sock", {"command": ["holddown", "list"]}, timeout=10
                    )
                finally:
                    holdfast.stop()
        finally:
            lab.stop()
    off = {(row["zone"], row["mode"]): row for row in rows if not row["0x20"]}
    for row in rows:
        base = off[(row["zone"], row["mode"])]
        rate_off = base["poisoned"] / base["queries"]
        row["rate"] = row["poisoned"] / row["queries"]
        row["predicted"] = rate_off * 2.0 ** -row["letters"] if row["0x20"] else None
    return {"delay_ms": args.delay_ms, "rows": rows, "holddowns": holddowns}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100, help="client queries per case")
    parser.add_argument("--delay-ms", type=float, default=40.0, help="genuine reply delay")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(arguments)
    args.queries = min(max(args.queries, 1), 1000)
    if os.geteuid() != 0:
        print("bench.kaminsky: needs root (raw sockets and port 53 in a private namespace)",
              file=sys.stderr)
        return 2
    isolate(arguments, "bench.kaminsky")
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"genuine replies {result['delay_ms']:g} ms late; forged names in lower case; "
          f"65,536 forgeries per query")
    print(f"{'zone':<9} {'spoofer':<11} {'0x20':<4} {'poisoned':>9} {'rate':>7} "
          f"{'predicted (rate off x 2^-letters)':>34}")
    for row in result["rows"]:
        predicted = "-" if row["predicted"] is None else (
            f"{row['predicted']:.2e} ({row['letters']} letters)")
        print(f"{row['zone']:<9} {row['mode']:<11} {'on' if row['0x20'] else 'off':<4} "
              f"{row['poisoned']:>4}/{row['queries']:<4} {row['rate']:>7.1%} {predicted:>34}")
    print(f"hold-downs after the drill: {result['holddowns']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
