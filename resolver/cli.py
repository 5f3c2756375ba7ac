"""The ``holdfast`` command: argument parsing, logging and exit codes.

Subcommands (a public contract other tooling scripts against):

* ``serve``     the resolver (``daemon``).
* ``ctl``       talk to a running resolver over its control socket.
* ``check-config FILE`` check a configuration file; start nothing.
* ``lab``       the lab's authoritative servers on 127.53.0.0/16.
* ``lab-fault`` inject or clear a fault on one server of a running lab.
* ``demo``      the lab plus a resolver pointed at it, with dig commands to try.
* ``bench``     the benchmark harness (``bench/harness.py``): Holdfast and
  Unbound side by side on the lab; its options follow (``holdfast bench -h``).
* ``drill tld-expired-sigs-2023`` replay the 9 July 2023 outage against the
  in-memory lab in simulated time and print what clients saw;
  ``drill root-zonemd-2023`` likewise the 4 October 2023 stale local root
  (exit 1 if an expectation was not met).
* ``rootzone check FILE`` validate every signed RRset of a zone file at a
  time, count secure, bogus and unsigned ones, apply the ZONEMD policy and
  compute the retirement time (exit 1 if the local root would not use it).

Exit codes: 0 success, 1 runtime failure (e.g. a port cannot be bound),
2 unusable configuration or arguments (nothing was started).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trio.testing

from dnssec.anchors import TrustAnchors
from dnssec.errors import HoldfastError
from dnssec.signatures import utc_text
from resolver import __version__, daemon, logs, workers
from resolver.clock import SystemClock
from resolver.config import Config, load_config, parse_endpoint
from resolver.control import ControlError, default_socket_path, request
from resolver.lab import Lab, LabError, send_lab_command, serve_lab
from resolver.lab.drill import default_phases, tld_expired_sigs_2023
from resolver.lab.rootdrill import DAY, Schedule, root_zonemd_2023
from resolver.logs import FORMATS
from resolver.privileges import lookup_user
from resolver.server import BindError
from resolver.settings import check_files
from rootzone.candidate import (
    LoadPolicy,
    build_zone,
    check_dnssec,
    check_zonemd_policy,
    load_zone,
    records_from_text,
)
from rootzone.check import ZoneCheck, check_zone, validation_time
from rootzone.errors import CandidateRejected
from rootzone.lifecycle import LifetimePolicy, Retirement, retirement
from rootzone.verify import Zone, ZonemdPolicy, ZonemdResult

log = logging.getLogger("holdfast")

EXIT_FAILURE = 1
EXIT_CONFIG = 2

#: The lab's port when we may not bind port 53 (not root).
UNPRIVILEGED_LAB_PORT = 5353


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _endpoint_or_off(text: str) -> str:
    return "" if text == "off" else _endpoint(text)


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
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="overrides [logging] level (default info)")
    parser.add_argument("--log-format", choices=list(FORMATS),
                        help="human (default) or json: one object per line, stable keys; "
                             "overrides [logging] format")
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
    serve.add_argument("--local-root", action="append", metavar="SOURCE",
                       help="load the root zone locally from this file, axfr://ADDR[:PORT] or "
                            "URL (repeatable, tried in order; replaces [local_root] sources)")
    serve.add_argument("--metrics", type=_endpoint_or_off, metavar="ADDR:PORT",
                       help="Prometheus endpoint (default 127.0.0.1:9153); off for none")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="processes sharing the listening ports, each with its own cache "
                            "(default 1)")
    serve.add_argument("--user", metavar="NAME",
                       help="after binding the ports, run as this user (like Unbound's username)")
    serve.add_argument("--query-log", action="store_true", default=None,
                       help="log every client query (logger holdfast.query)")

    check_config = commands.add_parser(
        "check-config", help="check a configuration file without starting anything",
        description="Read FILE as holdfast serve --config would, check every option and the "
                    "files it names, and print the settings that differ from the defaults. "
                    "Exit 0 when it is usable, 2 when it is not (with the reason).")
    check_config.add_argument("file", type=Path, metavar="FILE")

    ctl = commands.add_parser("ctl", help="control a running resolver")
    ctl.add_argument("--control", metavar="SOCKET", help="control socket path")
    ctl.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                     help="status | stats | route add ZONE (--only|--prefer|--avoid) ADDR... "
                          "[--expires DURATION] | route del ZONE | route list | "
                          "holddown list | holddown clear [ADDRESS|ZONE]... | "
                          "local-root status|refresh|disable|enable | "
                          "flush NAME | flush zone ZONE | flush all | "
                          "cache dump [ZONE] [--limit N] | reload")

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
    drill.add_argument("scenario", choices=["tld-expired-sigs-2023", "root-zonemd-2023"],
                       help="tld-expired-sigs-2023: 9 July 2023, .com/.net instances serving "
                            "expired signatures; root-zonemd-2023: 4 October 2023, a local "
                            "root copy kept while no new version loads")
    drill.add_argument("--minutes", type=_positive, default=20.0,
                       help="tld-expired-sigs-2023: simulated minutes per phase (default 20)")
    drill.add_argument("--recovery-minutes", type=_positive, default=60.0,
                       help="tld-expired-sigs-2023: simulated minutes after the heal (default 60)")
    drill.add_argument("--days", type=_positive, default=10.5,
                       help="root-zonemd-2023: simulated days (default 10.5; at most 13)")
    drill.add_argument("--restart-day", type=_positive, default=5.0,
                       help="root-zonemd-2023: when a second instance starts cold "
                            "(default 5; none if past --days)")
    drill.add_argument("--rate", type=_positive,
                       help="client queries per simulated minute "
                            "(default 60; root-zonemd-2023: 1)")
    drill.add_argument("--seed", type=int, default=2023)
    drill.add_argument("--json", action="store_true", help="print one JSON object")

    bench = commands.add_parser("bench", add_help=False,
                                help="benchmark Holdfast against Unbound on the lab")
    bench.add_argument("options", nargs=argparse.REMAINDER, help="see holdfast bench -h")

    # Not listed (no help): what a --workers supervisor starts, never typed by hand.
    worker = commands.add_parser("worker")
    worker.add_argument("--channel", type=int, required=True, metavar="FD")

    rootzone = commands.add_parser("rootzone", help="check a root zone file")
    rootzone_commands = rootzone.add_subparsers(
        dest="rootzone_command", required=True, metavar="COMMAND")
    check = rootzone_commands.add_parser(
        "check", help="would this root zone file be used as the local root, at a given time?",
        description="Parse the file, validate the apex DNSKEY RRset against the trust anchors "
                    "and every RRSIG-covered RRset against the apex keys (counting secure, "
                    "bogus and unsigned RRsets), apply the ZONEMD policy, and compute when the "
                    "copy would be retired. Exit 0 when the local root would use the copy at "
                    "that time, 1 when it would refuse it or has already retired it, 2 when "
                    "the input is unusable (unreadable, or not a zone).")
    check.add_argument("file", type=Path, metavar="FILE", help="the zone file")
    check.add_argument("--at", type=validation_time, metavar="TIME",
                       help="ISO 8601 (UTC unless an offset is given) or POSIX seconds; "
                            "default: now")
    check.add_argument("--trust-anchor", action="append", type=Path, default=[], metavar="FILE",
                       help="DS/DNSKEY trust anchors, zone-file text (repeatable; "
                            "replaces the built-in IANA root anchors)")
    check.add_argument("--zonemd", choices=[policy.value for policy in ZonemdPolicy],
                       default=ZonemdPolicy.VERIFY.value,
                       help="ZONEMD policy, as [local_root] zonemd (default: verify)")
    check.add_argument("--json", action="store_true", help="print one JSON line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:  # its options are the harness's own
        return _bench(arguments[1:])
    args = make_parser().parse_args(arguments)
    logs.configure(args.log_level or "info", args.log_format or "human")
    try:
        handler = {"serve": _serve, "ctl": _ctl, "lab": _lab, "lab-fault": _lab_fault,
                   "demo": _demo, "rootzone": _rootzone, "drill": _drill,
                   "check-config": _check_config, "worker": _worker}[args.command]
        return handler(args)
    except (HoldfastError, LabError) as exc:
        print(f"holdfast: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE if isinstance(exc, ControlError | BindError) else EXIT_CONFIG
    except OSError as exc:
        print(f"holdfast: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 0


def _bench(options: Sequence[str]) -> int:
    """The harness lives in the repository's ``bench`` package, not in the resolver."""
    from bench.harness import main as bench_main

    return bench_main(options)


#: The options ``holdfast serve`` flags override, and the flag of each.
SERVE_FLAGS = {
    "server.listen": "--listen",
    "server.user": "--user",
    "workers.count": "--workers",
    "upstream.root_hints": "--root-hints",
    "upstream.allow": "--upstream-allow",
    "upstream.port": "--upstream-port",
    "dnssec.trust_anchors": "--trust-anchor",
    "local_root.sources": "--local-root",
    "control.socket": "--control",
    "metrics.listen": "--metrics",
    "logging.level": "--log-level",
    "logging.format": "--log-format",
    "logging.query_log": "--query-log",
}


def _serve_config(args: argparse.Namespace) -> Config:
    config = load_config(args.config) if args.config else Config.defaults()
    flags = {name: getattr(args, flag[2:].replace("-", "_")) for name, flag in SERVE_FLAGS.items()}
    overrides = {name: value for name, value in flags.items() if value is not None}
    return config.with_overrides(overrides, source="command line")


def _serve(args: argparse.Namespace) -> int:
    config = _serve_config(args)
    logs.configure(config["logging.level"], config["logging.format"])
    with _lone_error():
        if config["workers.count"] > 1:
            check_files(config)  # what each worker reads, and the user, before anything binds
            workers.serve(config)
        else:
            if config["server.user"]:
                lookup_user(config["server.user"])  # an unknown user stops us before binding
            trio.run(daemon.run, daemon.build(config, SystemClock()))
    return 0


def _worker(args: argparse.Namespace) -> int:
    """One of the processes of ``serve --workers N`` (``workers.py``)."""
    with _lone_error():
        workers.worker_main(args.channel)
    return 0


@contextlib.contextmanager
def _lone_error() -> Iterator[None]:
    """Report a ``HoldfastError`` raised in a Trio nursery as itself (one line, not a trace).

    Trio wraps whatever a task raises in an ``ExceptionGroup``; when the
    group holds just one ``HoldfastError`` (a port that cannot be bound, a
    worker that cannot start), that error is the whole story.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if isinstance(error, HoldfastError):
            raise error from None
        raise


def _check_config(args: argparse.Namespace) -> int:
    """``check-config FILE``: everything ``serve --config FILE`` checks, nothing started."""
    config = load_config(args.file)
    check_files(config)
    changed = config.changed()
    print(f"{args.file}: ok, {len(changed)} option(s) differ from the defaults, "
          f"{len(config['routes'])} route(s)")
    for name, value in changed.items():
        print(f"  {name} = {json.dumps(value)}")
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
    clock = trio.testing.MockClock(autojump_threshold=0)
    if args.scenario == "root-zonemd-2023":
        schedule = Schedule(end=args.days * DAY, restart=args.restart_day * DAY)
        root = trio.run(functools.partial(
            root_zonemd_2023, schedule=schedule, queries_per_minute=args.rate or 1.0,
            seed=args.seed), clock=clock)
        print(json.dumps(root.as_json()) if args.json else root.text())
        return 0 if not root.failures() else EXIT_FAILURE
    tld = trio.run(functools.partial(
        tld_expired_sigs_2023, phases=default_phases(args.minutes, args.recovery_minutes),
        queries_per_minute=args.rate or 60.0, seed=args.seed), clock=clock)
    print(json.dumps(tld.as_json()) if args.json else tld.text())
    return 0 if tld.bogus_served == 0 else EXIT_FAILURE


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


#: The lab root server the demo transfers the root zone from.
DEMO_ROOT_SERVER = "127.53.0.1"


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
                        # RFC 8806: the root zone by AXFR from the lab's a.root-servers.net.
                        "local_root.sources": [f"axfr://{DEMO_ROOT_SERVER}:{lab_port}"],
                        "local_root.zonefile": str(directory / "local-root.zone"),
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
                control = directory / "control.sock"
                print(f"\n  holdfast ctl --control {control} status"
                      f"\n  holdfast ctl --control {control} local-root status"
                      f"\n  holdfast ctl --control {control} cache dump example.com"
                      f"\n  holdfast ctl --control {control} flush zone example.com"
                      f"\n  curl http://{config['metrics.listen']}/metrics\n"
                      "\nCtrl-C to stop.", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        trio.run(run)
    return 0


#: How many bogus RRsets ``holdfast rootzone check`` lists (all are counted).
ROOTZONE_SHOWN = 5


def _rootzone(args: argparse.Namespace) -> int:
    """``rootzone check``: 0 the copy would be used at ``--at``, 1 not, 2 unusable input."""
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
        text = _read_text(args.file)
        start = time.perf_counter()
        zone = build_zone(records_from_text(text, source=str(args.file)))
    except CandidateRejected as error:  # it does not parse, or is not one zone
        where = "" if error.kind == "parse" else f"{args.file}: "
        print(f"holdfast: error: {where}{error}", file=sys.stderr)
        return EXIT_CONFIG
    except HoldfastError as error:
        print(f"holdfast: error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    parsed = time.perf_counter()
    result = check_zone(zone, anchors, now)
    checked = time.perf_counter()
    verdict = _load_verdict(
        zone, str(args.file), len(text.encode()), anchors, now, ZonemdPolicy(args.zonemd)
    )
    loaded = time.perf_counter()
    timing = {
        "parse_s": round(parsed - start, 3),
        "check_s": round(checked - parsed, 3),
        "load_s": round(loaded - checked, 3),
    }
    if args.json:
        print(json.dumps({
            "zone": str(args.file),
            **result.to_json(ROOTZONE_SHOWN),
            **verdict.to_json(),
            **timing,
        }))
    else:
        _print_check(args.file, result)
        _print_verdict(verdict, now)
        print(f"time: parse {timing['parse_s']} s, check {timing['check_s']} s, "
              f"load {timing['load_s']} s")
    return 0 if verdict.used else EXIT_FAILURE


@dataclass(frozen=True, slots=True)
class _LoadVerdict:
    """What the local root would make of a zone at one time, under one ZONEMD policy."""

    at: int
    zonemd_policy: ZonemdPolicy
    #: The ZONEMD verdict, or why the policy refuses the zone.
    zonemd: ZonemdResult | CandidateRejected
    #: Why the signatures refuse the zone, or None if they pass.
    dnssec: CandidateRejected | None
    #: Why ``load_zone`` refuses it (its first failing check), or None.
    refusal: CandidateRejected | None
    #: When the copy would be retired, if it loads.
    retirement: Retirement | None

    @property
    def used(self) -> bool:
        """Loaded, and not yet past its retirement."""
        return self.retirement is not None and self.at < self.retirement.at

    def outcome(self) -> str:
        if self.refusal is not None:
            return "refused"
        return "used" if self.used else "retired"

    def to_json(self) -> dict[str, object]:
        zonemd = self.zonemd
        if isinstance(zonemd, CandidateRejected):
            status, detail = "refused", str(zonemd)
        else:
            status, detail = zonemd.status.value, zonemd.detail
        retired = self.retirement
        return {
            "dnssec_valid": self.dnssec is None,
            "dnssec_failure": None if self.dnssec is None else str(self.dnssec),
            "zonemd_policy": self.zonemd_policy.value,
            "zonemd": status,
            "zonemd_detail": detail,
            "retirement": None if retired is None else utc_text(int(retired.at)),
            "retirement_reason": None if retired is None else retired.reason,
            "verdict": self.outcome(),
            "refused_kind": None if self.refusal is None else self.refusal.kind,
            "refused_reason": None if self.refusal is None else str(self.refusal),
        }


def _load_verdict(
    zone: Zone, source: str, size: int, anchors: TrustAnchors, now: int, policy: ZonemdPolicy
) -> _LoadVerdict:
    """Run the local root's own checks (no copy in use) and its lifetime with default bounds.

    DNSSEC and ZONEMD are also judged on their own, so that a zone refused
    at one of them is still reported on the other.
    """
    try:
        zonemd: ZonemdResult | CandidateRejected = check_zonemd_policy(zone, policy)
    except CandidateRejected as error:
        zonemd = error
    dnssec: CandidateRejected | None = None
    try:
        check_dnssec(zone, anchors, now)
    except CandidateRejected as error:
        dnssec = error
    try:
        copy = load_zone(zone, source=source, size=size, anchors=anchors, now=now,
                         policy=LoadPolicy(zonemd=policy), current=None)
    except CandidateRejected as error:
        return _LoadVerdict(now, policy, zonemd, dnssec, error, None)
    retired = retirement(copy, loaded_at=now, refreshed_at=now, policy=LifetimePolicy())
    return _LoadVerdict(now, policy, zonemd, dnssec, None, retired)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise HoldfastError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise HoldfastError(f"{path}: not UTF-8 text (byte {error.start})") from None


def _print_check(path: Path, result: ZoneCheck) -> None:
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


def _print_verdict(verdict: _LoadVerdict, now: int) -> None:
    dnssec = verdict.dnssec
    print("DNSSEC: valid" if dnssec is None else f"DNSSEC: refused: {dnssec}")
    zonemd = verdict.zonemd
    policy = verdict.zonemd_policy.value
    if isinstance(zonemd, CandidateRejected):
        print(f"ZONEMD (policy {policy}): refused: {zonemd}")
    else:
        print(f"ZONEMD (policy {policy}): {zonemd.status.value}: {zonemd.detail}")
    retired = verdict.retirement
    if retired is None:
        print("retirement: none, the copy is refused")
    else:
        past = " (already past)" if retired.at <= now else ""
        print(f"retirement: {utc_text(int(retired.at))}{past}, {retired.reason}")
    refusal = verdict.refusal
    if refusal is not None:
        print(f"verdict: refused ({refusal.kind}): {refusal}")
    else:
        print(f"verdict: {verdict.outcome()} at {utc_text(now)}")


if __name__ == "__main__":
    sys.exit(main())
