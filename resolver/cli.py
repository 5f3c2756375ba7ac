"""The ``holdfast`` command: argument parsing, logging and exit codes.

Subcommands (a public contract other tooling scripts against):

* ``serve``     the resolver (``daemon``).
* ``ctl``       talk to a running resolver over its control socket.
* ``lab``       the lab's authoritative servers on 127.53.0.0/16.
* ``lab-fault`` inject or clear a fault on one server of a running lab.
* ``demo``      the lab plus a resolver pointed at it, with dig commands to try.
* ``bench``     the benchmark harness (``bench/harness.py``): Holdfast and
  Unbound side by side on the lab; its options follow (``holdfast bench -h``).
* ``drill tld-expired-sigs-2023`` replay the 9 July 2023 outage against the
  in-memory lab in simulated time and print what clients saw.
* ``rootzone check FILE`` validate every signed RRset of a zone file at a
  time and count secure, bogus and unsigned ones (exit 1 if any is bogus).

Exit codes: 0 success, 1 runtime failure (e.g. a port cannot be bound),
2 unusable configuration or arguments (nothing was started).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio
import trio.testing

from dnssec.anchors import TrustAnchors
from dnssec.errors import HoldfastError
from dnssec.signatures import utc_text
from resolver import __version__, daemon
from resolver.clock import SystemClock
from resolver.config import Config, load_config, parse_endpoint
from resolver.control import ControlError, default_socket_path, request
from resolver.lab import Lab, LabError, send_lab_command, serve_lab
from resolver.lab.drill import DrillReport, default_phases, tld_expired_sigs_2023
from rootzone.check import ZoneCheck, check_zone, validation_time
from rootzone.verify import Zone, ZoneStructureError
from rootzone.zonefile import ZoneFileError, parse_zone

log = logging.getLogger("holdfast")

EXIT_FAILURE = 1
EXIT_CONFIG = 2

#: The lab's port when we may not bind port 53 (not root).
UNPRIVILEGED_LAB_PORT = 5353


def _endpoint(text: str) -> str:
    try:
        parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="holdfast", description="A resilient, DNSSEC-validating recursive DNS resolver."
    )
    parser.add_argument("--version", action="version", version=f"holdfast {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the resolver")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--listen", action="append", type=_endpoint, metavar="ADDR:PORT",
                       help="answer clients here (repeatable; default 127.0.0.1:53 and [::1]:53)")
    serve.add_argument("--root-hints", metavar="FILE", help="root hints (zone-file text)")
    serve.add_argument("--trust-anchor", action="append", metavar="FILE",
                       help="DS/DNSKEY trust anchors (repeatable; replaces the built-in ones)")
    serve.add_argument("--upstream-allow", action="append", metavar="CIDR",
                       help="only send upstream queries into these networks (repeatable)")
    serve.add_argument("--upstream-port", type=int, metavar="N",
                       help="port of the authoritative servers (default 53)")
    serve.add_argument("--control", metavar="SOCKET", help="control socket path")

    ctl = commands.add_parser("ctl", help="control a running resolver")
    ctl.add_argument("--control", metavar="SOCKET", help="control socket path")
    ctl.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                     help="status | route add ZONE (--only|--prefer|--avoid) ADDR... "
                          "[--expires DURATION] | route del ZONE | route list | "
                          "holddown list | holddown clear [ADDRESS|ZONE]...")

    lab = commands.add_parser("lab", help="run the lab's authoritative servers")
    lab.add_argument("--dir", type=Path, help="where to write root.hints, trust-anchor.ds, ...")
    lab.add_argument("--port", type=int, default=53)

    fault = commands.add_parser("lab-fault", help="break or heal one server of a running lab")
    fault.add_argument("--dir", type=Path, required=True, help="the running lab's directory")
    fault.add_argument("--zone", help="apply the fault to this zone only")
    fault.add_argument("address", help="a lab server address, e.g. 127.53.1.1")
    fault.add_argument("kind", help="drop, delay:MS, servfail, refused, truncate, garbage, "
                                    "lame, expired-sigs, bogus-sigs (optional :P), or clear")

    demo = commands.add_parser("demo", help="run the lab and a resolver pointed at it")
    demo.add_argument("--listen", type=_endpoint, default="127.0.0.1:5300", metavar="ADDR:PORT")

    drill = commands.add_parser("drill", help="replay a real outage against the lab, "
                                               "in simulated time, and print the figures")
    drill.add_argument("scenario", choices=["tld-expired-sigs-2023"],
                       help="9 July 2023: .com/.net instances serving expired signatures")
    drill.add_argument("--minutes", type=float, default=20.0,
                       help="simulated minutes per phase (default 20)")
    drill.add_argument("--recovery-minutes", type=float, default=60.0,
                       help="simulated minutes after the heal (default 60)")
    drill.add_argument("--rate", type=float, default=60.0,
                       help="client queries per simulated minute (default 60)")
    drill.add_argument("--seed", type=int, default=2023)
    drill.add_argument("--json", action="store_true", help="print one JSON object")

    bench = commands.add_parser("bench", add_help=False,
                                help="benchmark Holdfast against Unbound on the lab")
    bench.add_argument("options", nargs=argparse.REMAINDER, help="see holdfast bench -h")

    rootzone = commands.add_parser("rootzone", help="check a root zone file")
    rootzone_commands = rootzone.add_subparsers(
        dest="rootzone_command", required=True, metavar="COMMAND")
    check = rootzone_commands.add_parser(
        "check", help="validate every signed RRset of a zone file, at a given time",
        description="Validate the apex DNSKEY RRset against the trust anchors, then every "
                    "RRSIG-covered RRset against the apex keys; count secure, bogus and "
                    "unsigned RRsets. Exit 0 when nothing is bogus, 1 when something is, "
                    "2 when the input is unusable.")
    check.add_argument("file", type=Path, metavar="FILE", help="the zone file")
    check.add_argument("--at", type=validation_time, metavar="TIME",
                       help="ISO 8601 (UTC unless an offset is given) or POSIX seconds; "
                            "default: now")
    check.add_argument("--trust-anchor", action="append", type=Path, default=[], metavar="FILE",
                       help="DS/DNSKEY trust anchors, zone-file text (repeatable; "
                            "replaces the built-in IANA root anchors)")
    check.add_argument("--json", action="store_true", help="print one JSON line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:  # its options are the harness's own
        return _bench(arguments[1:])
    args = make_parser().parse_args(arguments)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        handler = {"serve": _serve, "ctl": _ctl, "lab": _lab, "lab-fault": _lab_fault,
                   "demo": _demo, "rootzone": _rootzone, "drill": _drill}[args.command]
        return handler(args)
    except (HoldfastError, LabError) as exc:
        print(f"holdfast: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG if not isinstance(exc, ControlError) else EXIT_FAILURE
    except OSError as exc:
        print(f"holdfast: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 0


def _bench(options: Sequence[str]) -> int:
    """The harness lives in the repository's ``bench`` package, not in the resolver."""
    from bench.harness import main as bench_main

    return bench_main(options)


def _serve_config(args: argparse.Namespace) -> Config:
    config = load_config(args.config) if args.config else Config.defaults()
    flags: dict[str, Any] = {
        "server.listen": args.listen,
        "upstream.root_hints": args.root_hints,
        "dnssec.trust_anchors": args.trust_anchor,
        "upstream.allow": args.upstream_allow,
        "upstream.port": args.upstream_port,
        "control.socket": args.control,
    }
    overrides = {name: value for name, value in flags.items() if value is not None}
    return config.with_overrides(overrides, source="command line")


def _serve(args: argparse.Namespace) -> int:
    resolver = daemon.build(_serve_config(args), SystemClock())
    trio.run(daemon.run, resolver)
    return 0


def _ctl(args: argparse.Namespace) -> int:
    if not args.words:
        raise ControlError("no command given; try: holdfast ctl status")
    path = Path(args.control) if args.control else default_socket_path()
    result = request(path, {"command": args.words})
    print(json.dumps(result, indent=2) if not isinstance(result, str) else result)
    return 0


def _drill(args: argparse.Namespace) -> int:
    """Run a drill in simulated time (Trio's clock jumps over every wait)."""
    phases = default_phases(args.minutes, args.recovery_minutes)

    async def run() -> DrillReport:
        return await tld_expired_sigs_2023(
            phases=phases, queries_per_minute=args.rate, seed=args.seed
        )

    report = trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))
    print(json.dumps(report.as_json()) if args.json else report.text())
    return 0 if report.bogus_served == 0 else EXIT_FAILURE


def _default_lab_port() -> int:
    return 53 if os.geteuid() == 0 else UNPRIVILEGED_LAB_PORT


def _lab(args: argparse.Namespace) -> int:
    directory = args.dir or Path(tempfile.mkdtemp(prefix="holdfast-lab-"))
    lab = Lab.build(SystemClock())

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: serve_lab(
                lab, directory=directory, port=args.port, task_status=task_status))
            print(f"lab serving {len(lab.servers)} addresses on port {args.port}; "
                  f"files in {directory}", flush=True)
            await _wait_for_signal()
            nursery.cancel_scope.cancel()

    trio.run(run)
    return 0


async def _wait_for_signal() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            return


def _lab_fault(args: argparse.Namespace) -> int:
    if args.kind == "clear":
        message: dict[str, Any] = {"op": "clear", "address": args.address}
    else:
        message = {"op": "fault", "address": args.address, "kind": args.kind, "zone": args.zone}
    print(json.dumps(send_lab_command(args.dir, message)))
    return 0


#: What the demo suggests trying, and what each answers (testdata/lab/README.md).
DEMO_QUERIES = (
    ("www.example.com A", "192.0.2.1"),
    ("www.example.com AAAA", "2001:db8::1"),
    ("anything.wild.example.com A", "192.0.2.2 (wildcard)"),
    ("alias.example.com A", "CNAME www.example.net., then 192.0.2.3"),
    ("www.sub.example.com A", "DNAME example.org., CNAME www.example.org., then 192.0.2.4"),
    ("nx.example.com A", "status: NXDOMAIN, with the SOA"),
    ("www.noglue.com A", "192.0.2.15 (its NS names have no glue)"),
    ("www.tcponly.com A", "192.0.2.18 (fetched over TCP after truncation)"),
)


def _demo(args: argparse.Namespace) -> int:
    host, port = parse_endpoint(args.listen)
    lab_port = _default_lab_port()

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="holdfast-demo-") as tmp:
            directory = Path(tmp)
            lab = Lab.build(SystemClock())
            async with trio.open_nursery() as nursery:
                await nursery.start(lambda task_status: serve_lab(
                    lab, directory=directory, port=lab_port, task_status=task_status))
                config = Config.defaults().with_overrides(
                    {
                        "server.listen": [args.listen],
                        "upstream.root_hints": str(directory / "root.hints"),
                        "dnssec.trust_anchors": [str(directory / "trust-anchor.ds")],
                        "upstream.allow": ["127.0.0.0/8"],
                        "upstream.port": lab_port,
                        "control.socket": str(directory / "control.sock"),
                    },
                    source="holdfast demo",
                )
                resolver = daemon.build(config, SystemClock())

                async def resolve_until_signal(task_status: trio.TaskStatus[None]) -> None:
                    await daemon.run(resolver, task_status=task_status)
                    nursery.cancel_scope.cancel()

                await nursery.start(resolve_until_signal)
                address = f"[{host}]" if ":" in host else host
                print(f"\nHoldfast demo: resolver on {address}:{port}, lab on 127.53.0.0/16 "
                      f"port {lab_port}, egress limited to 127.0.0.0/8. Try:\n")
                for query, expect in DEMO_QUERIES:
                    print(f"  dig @{host} -p {port} {query}\n      -> {expect}")
                print(f"\n  holdfast ctl --control {directory / 'control.sock'} status\n"
                      "\nCtrl-C to stop.", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        trio.run(run)
    return 0


#: How many bogus RRsets ``holdfast rootzone check`` lists (all are counted).
ROOTZONE_SHOWN = 5


def _rootzone(args: argparse.Namespace) -> int:
    """``rootzone check``: 0 nothing bogus, 1 something bogus, 2 unusable input."""
    now = int(time.time()) if args.at is None else args.at
    try:
        anchors = (
            TrustAnchors.merge(
                TrustAnchors.from_text(_read_text(path), source=str(path))
                for path in args.trust_anchor
            )
            if args.trust_anchor
            else TrustAnchors.builtin()
        )
        start = time.perf_counter()
        zone = Zone(parse_zone(_read_text(args.file), source=str(args.file)))
    except ZoneFileError as error:
        token = "" if repr(error.token) in str(error) else f" (at {error.token!r})"
        print(f"holdfast: error: {error}{token}", file=sys.stderr)
        return EXIT_CONFIG
    except ZoneStructureError as error:  # no SOA, or data outside the zone
        print(f"holdfast: error: {args.file}: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except HoldfastError as error:
        print(f"holdfast: error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    parsed = time.perf_counter()
    result = check_zone(zone, anchors, now)
    checked = time.perf_counter()
    timing = {"parse_s": round(parsed - start, 3), "check_s": round(checked - parsed, 3)}
    if args.json:
        print(json.dumps({"zone": str(args.file), **result.to_json(ROOTZONE_SHOWN), **timing}))
    else:
        _print_check(args.file, result, timing)
    return 0 if result.ok else EXIT_FAILURE


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise HoldfastError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise HoldfastError(f"{path}: not UTF-8 text (byte {error.start})") from None


def _print_check(path: Path, result: ZoneCheck, timing: dict[str, float]) -> None:
    signed = result.secure + len(result.bogus)
    print(f"zone {result.origin} serial {result.serial} ({path}: {result.records} records, "
          f"{result.rrsets} RRsets), checked at {utc_text(result.at)}")
    if result.anchor_failure is None:
        print("apex DNSKEY: validated by the trust anchors")
    else:
        print(f"bogus: the apex DNSKEY RRset does not validate against the trust anchors, so "
              f"all {signed} signed RRsets are bogus: {result.anchor_failure}")
    print(f"secure: {result.secure}")
    kinds = ", ".join(f"{count} {kind}" for kind, count in result.bogus_kinds().items())
    print(f"bogus: {len(result.bogus)}" + (f" ({kinds})" if kinds else ""))
    if result.anchor_failure is None:
        for bogus in result.bogus[:ROOTZONE_SHOWN]:
            print(f"  {bogus.reason}")
        if len(result.bogus) > ROOTZONE_SHOWN:
            print(f"  ... and {len(result.bogus) - ROOTZONE_SHOWN} more")
    unsigned = result.unsigned_authoritative
    print(f"unsigned: {result.unsigned_delegation + len(unsigned)} "
          f"({result.unsigned_delegation} delegation NS and glue, as expected; "
          f"{len(unsigned)} authoritative without RRSIG"
          + (f", e.g. {', '.join(unsigned[:3])})" if unsigned else ")"))
    expiration = result.earliest_expiration
    if expiration is None:
        print("earliest signature expiration: none (no RRSIG)")
    else:
        more = f", and {expiration.rrsets - 1} more RRsets" if expiration.rrsets > 1 else ""
        past = " (already past)" if expiration.at < result.at else ""
        print(f"earliest signature expiration: {expiration.iso}{past}: "
              f"{expiration.rrset}{more}")
    print(f"ZONEMD: {'present' if result.zonemd_present else 'absent'} (not checked here)")
    print(f"time: parse {timing['parse_s']} s, check {timing['check_s']} s")


if __name__ == "__main__":
    sys.exit(main())
