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
* ``anchor [--file PATH] [--check] [--from FILE]`` create or check the
  RFC 5011 trust anchor state file (``anchor_command.py``).
* ``rootzone check FILE`` validate every signed RRset of a zone file at a
  time, count secure, bogus and unsigned ones, apply the ZONEMD policy and
  compute the retirement time (exit 1 if the local root would not use it;
  ``rootzone_command.py``).

Exit codes: 0 success, 1 runtime failure (a port or the control socket
cannot be had, a server that does not answer ``ctl``), 2 unusable
configuration or arguments (nothing was started). Ctrl-C before a server
is up ends the process by the signal (the shell shows 130) with nothing on
stderr; once it serves, Ctrl-C is a graceful stop (0), as SIGTERM is.
Every failure is one line on stderr, ``holdfast: error: ...``, never a
traceback.

Each subcommand imports what it needs when it runs: ``holdfast ctl`` and
``--version`` import neither Trio nor the resolver, and start in about a
tenth of a second (``bench/ctl_startup.py``) instead of half a second or more.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnssec.errors import HoldfastError
from resolver import __version__, logs
from resolver.control_client import ControlError, default_socket_path, request
from resolver.logs import FORMATS

if TYPE_CHECKING:
    from resolver.config import Config

EXIT_FAILURE = 1
EXIT_CONFIG = 2

#: The lab's port when we may not bind port 53 (not root).
UNPRIVILEGED_LAB_PORT = 5353

#: What to do about an address that cannot be bound, by the system's reason.
BIND_ADVICE = {
    errno.EACCES: "run as root or grant CAP_NET_BIND_SERVICE, or use a port above 1023",
    errno.EADDRINUSE: "another process uses it: stop that one, or choose another address "
                      "or port",
    errno.EADDRNOTAVAIL: "that address is not configured on this host",
}


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
    from resolver.config import parse_endpoint

    try:
        parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _validation_time(text: str) -> int:
    from rootzone.check import validation_time

    return validation_time(text)


def _zonemd_policy(text: str) -> str:
    from rootzone.verify import ZonemdPolicy

    try:
        return ZonemdPolicy(text).value
    except ValueError:
        choices = ", ".join(repr(policy.value) for policy in ZonemdPolicy)
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {choices})") from None


def _global_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """``--log-level`` and ``--log-format``, before the subcommand or after it.

    Each subcommand's copy defaults to SUPPRESS, so that it sets the value
    only when given there and never hides one given before the subcommand.
    """
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        default=default, help="overrides [logging] level (default info)")
    parser.add_argument("--log-format", choices=list(FORMATS), default=default,
                        help="human (default) or json: one object per line, stable keys; "
                             "overrides [logging] format")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="holdfast", description="A resilient, DNSSEC-validating recursive DNS resolver.",
        epilog="Exit status: 0 success, 1 runtime failure (e.g. a port that cannot be bound), "
               "2 configuration or arguments refused, 130 (SIGINT) Ctrl-C before serving.",
    )
    parser.add_argument("--version", action="version", version=f"holdfast {__version__}")
    _global_flags(parser, None)
    flags = argparse.ArgumentParser(add_help=False)
    _global_flags(flags, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[flags], **kwargs)

    serve = command("serve", help="run the resolver")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--listen", action="append", type=_endpoint, metavar="ADDR:PORT",
                       help="answer clients here (repeatable; default 127.0.0.1:53 and [::1]:53, "
                            "the latter skipped on a host without IPv6)")
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

    check_config = command(
        "check-config", help="check a configuration file without starting anything",
        description="Read FILE as holdfast serve --config would, check every option and the "
                    "files it names, and print the settings that differ from the defaults. "
                    "Exit 0 when it is usable, 2 when it is not (with the reason).")
    check_config.add_argument("file", type=Path, metavar="FILE")

    ctl = command("ctl", help="control a running resolver",
                  description="Exit 0 when the server carried out the command, 1 when it "
                              "refused it or does not answer.")
    where = ctl.add_mutually_exclusive_group()
    where.add_argument("--control", metavar="SOCKET", help="control socket path")
    where.add_argument("--config", type=Path, metavar="FILE",
                       help="find the control socket in this configuration file "
                            "([control] socket)")
    ctl.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                     help="status | stats | route add ZONE (--only|--prefer|--avoid) ADDR... "
                          "[--expires DURATION] | route del ZONE | route list | "
                          "holddown list | holddown clear [ADDRESS|ZONE]... | "
                          "holddown add ADDRESS ZONE --expires DURATION | "
                          "local-root status|refresh|disable|enable | "
                          "flush NAME | flush zone ZONE | flush all | "
                          "cache dump [ZONE] [--limit N] | "
                          "local-data add 'NAME [TTL] [IN] TYPE RDATA' | "
                          "local-data remove NAME [TYPE] | local-data list | "
                          "local-zone add ZONE TYPE | local-zone remove ZONE | local-zone list | "
                          "forward|stub add ZONE ADDR[@PORT]... [--first] [--tls NAME] | "
                          "forward|stub remove ZONE | forward|stub list | "
                          "nta add ZONE [--expires DURATION] | nta del ZONE | nta list | "
                          "log-reopen | reload | trace NAME [TYPE] [--dnssec]")

    lab = command("lab", help="run the lab's authoritative servers")
    lab.add_argument("--dir", type=Path, help="where to write root.hints, trust-anchor.ds, ...")
    lab.add_argument("--port", type=int, default=53,
                     help="port on every lab address (default 53: root or CAP_NET_BIND_SERVICE)")

    fault = command("lab-fault", help="break or heal one server of a running lab")
    fault.add_argument("--dir", type=Path, required=True, help="the running lab's directory")
    fault.add_argument("--zone", help="apply the fault to this zone only")
    fault.add_argument("address", help="a lab server address, e.g. 127.53.1.1")
    fault.add_argument("kind", help="drop, delay:MS, servfail, refused, truncate, garbage, "
                                    "lame, expired-sigs, bogus-sigs (optional :P), or clear")

    demo = command("demo", help="run the lab and a resolver pointed at it")
    demo.add_argument("--listen", type=_endpoint, default="127.0.0.1:5300", metavar="ADDR:PORT")
    demo.add_argument("--metrics", type=_endpoint_or_off, metavar="ADDR:PORT",
                      help="Prometheus endpoint (default 127.0.0.1:9153); off for none")

    drill = command("drill", help="replay a real outage against the lab, "
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
    worker = command("worker")
    worker.add_argument("--channel", type=int, required=True, metavar="FD")

    anchor = command(
        "anchor", help="create or check the RFC 5011 trust anchor state file",
        description="Without the file: create it from the built-in IANA root anchors (or "
                    "--from FILE), nothing fetched. With it: print its trust points and keys. "
                    "Exit 0 usable, 1 needs attention, 2 unusable.")
    anchor.add_argument("--file", type=Path, default=None, metavar="PATH",
                        help="the state file, as [dnssec] trust_anchor_file "
                             "(default /var/lib/holdfast/root.key)")
    anchor.add_argument("--check", action="store_true",
                        help="only check: a missing file is reported (exit 1), not created")
    anchor.add_argument("--from", dest="source", type=Path, metavar="FILE",
                        help="DS/DNSKEY records to create the file from")

    rootzone = command("rootzone", help="check a root zone file")
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
    check.add_argument("--at", type=_validation_time, metavar="TIME",
                       help="ISO 8601 (UTC unless an offset is given) or POSIX seconds; "
                            "default: now")
    check.add_argument("--trust-anchor", action="append", type=Path, default=[], metavar="FILE",
                       help="DS/DNSKEY trust anchors, zone-file text (repeatable; "
                            "replaces the built-in IANA root anchors)")
    check.add_argument("--zonemd", type=_zonemd_policy, default="verify",
                       metavar="verify|require|ignore",
                       help="ZONEMD policy, as [local_root] zonemd (default: verify)")
    check.add_argument("--json", action="store_true", help="print one JSON line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:  # its options are the harness's own
        return _bench(arguments[1:])
    # Until a command serves and installs its own handler (serve, lab and demo
    # stop gracefully on SIGINT then), Ctrl-C ends the process at once, as
    # SIGTERM does: nothing has started that needs a clean stop, and no
    # KeyboardInterrupt can surface as a traceback from wherever it landed
    # (dnspython even wraps one in its SyntaxError). The shell reports 130.
    interrupt = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        args = make_parser().parse_args(arguments)
        logs.configure(args.log_level or "info", args.log_format or "human")
        return HANDLERS[args.command](args)
    except (HoldfastError, OSError, BaseExceptionGroup) as raised:
        error = _sole_error(raised)
        if not isinstance(error, HoldfastError | OSError):
            raise
        message, status = _failure(error)
        print(f"holdfast: error: {message}", file=sys.stderr)
        return status
    finally:
        signal.signal(signal.SIGINT, interrupt)


def _sole_error(error: BaseException) -> BaseException:
    """What a Trio nursery's ``ExceptionGroup`` stands for: the one error in it.

    Trio wraps whatever a task raises in a group; when the group holds just
    one error (a port that cannot be bound, a worker that cannot start),
    that error is the whole story.
    """
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _failure(error: HoldfastError | OSError) -> tuple[str, int]:
    """The one line and the exit status for an error that stopped a command."""
    if isinstance(error, ControlError | OSError):
        return str(error), EXIT_FAILURE
    from resolver.server import BindError  # imported already by whatever tried to bind

    if isinstance(error, BindError):
        cause = error.__cause__
        advice = BIND_ADVICE.get(cause.errno or 0) if isinstance(cause, OSError) else None
        return (f"{error}; {advice}" if advice else str(error)), EXIT_FAILURE
    return str(error), EXIT_CONFIG


def _bench(options: Sequence[str]) -> int:
    """The harness lives in the repository's ``bench`` package, not in the resolver."""
    from bench.harness import main as bench_main

    return bench_main(options)


def _serve_config(args: argparse.Namespace) -> Config:
    from resolver.config import Config, load_config
    from resolver.settings import SERVE_FLAGS

    config = load_config(args.config) if args.config else Config.defaults()
    flags = {name: getattr(args, flag[2:].replace("-", "_"), None)
             for name, flag in SERVE_FLAGS.items()}
    overrides = {name: value for name, value in flags.items() if value is not None}
    return config.with_overrides(overrides, source="command line")


def _serve(args: argparse.Namespace) -> int:
    import trio

    from resolver import daemon, workers
    from resolver.clock import SystemClock
    from resolver.heap import freeze_startup_heap
    from resolver.privileges import lookup_user
    from resolver.settings import check_files

    config = _serve_config(args)
    logs.configure(config["logging.level"], config["logging.format"])
    config = daemon.without_missing_ipv6(config)
    if config["workers.count"] > 1:
        check_files(config)  # what each worker reads, and the user, before anything binds
        workers.serve(config)
    else:
        if config["server.user"]:
            lookup_user(config["server.user"])  # an unknown user stops us before binding
        logs.configure_query_log(config["logging.query_log_target"], config["logging.format"])
        resolver = daemon.build(config, SystemClock())
        freeze_startup_heap()
        trio.run(daemon.run, resolver)
    return 0


def _worker(args: argparse.Namespace) -> int:
    """One of the processes of ``serve --workers N`` (``workers.py``)."""
    from resolver import workers

    workers.worker_main(args.channel)
    return 0


def _check_config(args: argparse.Namespace) -> int:
    """``check-config FILE``: everything ``serve --config FILE`` checks, nothing started."""
    from resolver.config import load_config
    from resolver.settings import check_files

    config = load_config(args.file)
    check_files(config)
    changed = config.changed()
    print(f"{args.file}: ok, {len(changed)} option(s) differ from the defaults, "
          f"{len(config['routes'])} route(s), {len(config['stub_zone'])} stub zone(s), "
          f"{len(config['forward_zone'])} forward zone(s)")
    for name, value in changed.items():
        print(f"  {name} = {json.dumps(value)}")
    return 0


#: Seconds ``ctl trace`` waits: above the longest time budget allowed (``limits.time_budget``).
CTL_TRACE_TIMEOUT = 65.0


def _ctl(args: argparse.Namespace) -> int:
    if not args.words:
        raise ControlError("no command given; try: holdfast ctl status")
    path = Path(args.control) if args.control else _configured_socket(args.config)
    # A trace resolves a question: it may take the whole time budget (limits.time_budget).
    timeout = CTL_TRACE_TIMEOUT if args.words[0] == "trace" else 5.0
    result = request(path, {"command": args.words}, timeout=timeout)
    print(json.dumps(result, indent=2) if not isinstance(result, str) else result)
    return 0


def _configured_socket(config_file: Path | None) -> Path:
    """The control socket ``serve --config FILE`` would use; the default without a file."""
    if config_file is None:
        return default_socket_path()
    from resolver.config import load_config

    configured: str = load_config(config_file)["control.socket"]
    return Path(configured) if configured else default_socket_path()


def _drill(args: argparse.Namespace) -> int:
    """Run a drill in simulated time (Trio's clock jumps over every wait)."""
    import functools

    import trio
    import trio.testing

    from resolver.lab.drill import default_phases, tld_expired_sigs_2023
    from resolver.lab.rootdrill import DAY, Schedule, root_zonemd_2023

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
    import trio

    from resolver.clock import SystemClock
    from resolver.lab import Lab, serve_lab

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
    import trio

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            return


def _lab_fault(args: argparse.Namespace) -> int:
    from resolver.lab import send_lab_command

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
    import trio

    from resolver import daemon
    from resolver.clock import SystemClock
    from resolver.config import Config, parse_endpoint
    from resolver.lab import Lab, serve_lab

    host, port = parse_endpoint(args.listen)
    lab_port = _default_lab_port()

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="holdfast-demo-") as tmp:
            directory = Path(tmp)
            lab = Lab.build(SystemClock())
            async with trio.open_nursery() as nursery:
                await nursery.start(lambda task_status: serve_lab(
                    lab, directory=directory, port=lab_port, task_status=task_status))
                overrides: dict[str, Any] = {
                    "server.listen": [args.listen],
                    "upstream.root_hints": str(directory / "root.hints"),
                    "dnssec.trust_anchors": [str(directory / "trust-anchor.ds")],
                    "upstream.allow": ["127.0.0.0/8"],
                    "upstream.port": lab_port,
                    "control.socket": str(directory / "control.sock"),
                    # RFC 8806: the root zone by AXFR from the lab's a.root-servers.net.
                    "local_root.sources": [f"axfr://{DEMO_ROOT_SERVER}:{lab_port}"],
                    "local_root.zonefile": str(directory / "local-root.zone"),
                }
                if args.metrics is not None:
                    overrides["metrics.listen"] = args.metrics
                config = Config.defaults().with_overrides(overrides, source="holdfast demo")
                resolver = daemon.build(config, SystemClock())

                async def resolve_until_signal(task_status: trio.TaskStatus[None]) -> None:
                    await daemon.run(resolver, task_status=task_status)
                    nursery.cancel_scope.cancel()

                await nursery.start(resolve_until_signal)
                _print_demo(host, port, lab_port, directory / "control.sock",
                            config["metrics.listen"])

    trio.run(run)
    return 0


def _print_demo(host: str, port: int, lab_port: int, control: Path, metrics: str) -> None:
    address = f"[{host}]" if ":" in host else host
    print(f"\nHoldfast demo: resolver on {address}:{port}, lab on 127.53.0.0/16 "
          f"port {lab_port}, egress limited to 127.0.0.0/8. Try:\n")
    for query, expect in DEMO_QUERIES:
        print(f"  dig @{host} -p {port} {query}\n      -> {expect}")
    print(f"\n  holdfast ctl --control {control} status"
          f"\n  holdfast ctl --control {control} local-root status"
          f"\n  holdfast ctl --control {control} cache dump example.com"
          f"\n  holdfast ctl --control {control} flush zone example.com"
          + (f"\n  curl http://{metrics}/metrics" if metrics else "")
          + "\n\nCtrl-C to stop.", flush=True)


def _anchor(args: argparse.Namespace) -> int:
    from resolver import anchor_command

    if args.file is None:
        args.file = anchor_command.DEFAULT_FILE
    return anchor_command.run(args)


def _rootzone(args: argparse.Namespace) -> int:
    from resolver import rootzone_command

    return rootzone_command.run(args)


#: Each subcommand's handler (``bench`` is handed its arguments before parsing).
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _serve,
    "ctl": _ctl,
    "lab": _lab,
    "lab-fault": _lab_fault,
    "demo": _demo,
    "rootzone": _rootzone,
    "anchor": _anchor,
    "drill": _drill,
    "check-config": _check_config,
    "worker": _worker,
}


if __name__ == "__main__":
    sys.exit(main())
