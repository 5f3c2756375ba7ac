"""``--workers N``: a supervisor process and N worker processes sharing the ports.

Python runs one query at a time per process, so the way to use several
cores is several processes, each a whole resolver with its own cache. With
``[workers] count`` above 1, ``holdfast serve`` becomes a supervisor:

* It binds, for each worker, one UDP and one TCP socket per listen endpoint
  and one TCP socket per DNS over TLS and HTTPS endpoint (``listen_tls``,
  ``listen_https``), all with SO_REUSEPORT (the kernel spreads clients
  across the sockets by their address and port), the public control socket
  and the metrics endpoint;
  then it drops privileges; only then does it start the workers, each with
  its socket set and one end of a socket pair as its private control
  channel: forked by the zygote (``zygote``: a process forked before the
  supervisor's loop runs, with the code imported and the start-up heap
  frozen, so the workers share those pages), or, without one, exec'd
  (``holdfast worker``, hidden). Workers never bind and never
  change user: they run as whoever the supervisor became (so the files the
  configuration names must be readable by ``[server] user``, as a reload
  needs anyway). The supervisor keeps every worker's sockets open, so a
  worker that dies is restarted without privileges, and the queries waiting
  in its sockets are answered by its successor rather than lost. (Closing
  them instead would spread the next queries over the other workers, but
  the port could then not be bound again without root.)
* A worker gets its configuration from the supervisor (the ``Config`` it
  checked, over the channel), not by reading the file: a restart after the
  file has been broken on disk starts from the last good configuration.
* Every ctl command is forwarded to every worker and the replies are
  combined (``combine``): ``{"workers": 2, "applied": 2, "results": ...}``,
  or an error naming the workers that failed, with the others' results.
  ``status`` adds the supervisor's own view. ``reload`` is checked by the
  supervisor first: a bad file is refused before any worker is touched.
* The cache is shared through the host's map (``host_cache``, ``[workers]
  shared_cache``); the workers' in-process caches are its fronts, which
  split an eighth of the RRsets' part of ``[cache] max_bytes``
  (``host_cache.cache_shares``).
* Hold-downs are shared: every second the supervisor gives each worker
  the hold-downs another one learned (``holddown_sharing``), so a bad
  server is learned once per host, and a restarted worker gets those in
  force.
* The local root is fetched, checked and parsed once per host: with
  ``[local_root] sources`` the supervisor runs the one refresh task
  (its checking process, the saved zonefile, ``ctl local-root refresh``)
  and hands each copy it installs, and each successful refresh, to every
  worker (``root_sharing``); a restarted worker gets the copy in force
  before it serves. ``ctl local-root status`` adds the supervisor's view
  (sources, refusals) as ``refresh``.
* Route, local-root and local-data/local-zone overrides the operator gave
  are kept in a bounded ``ReplayLog`` and applied by a restarted worker
  before it serves, so an override reaches every process, including one
  started later. SIGHUP reopens the workers' query log files
  (``log-reopen``), then reloads.
* ``/metrics`` and ``ctl stats`` are the workers' ``stats`` merged
  (``metrics.merge``), plus the supervisor's restart count. A restarted
  worker counts from zero, so the sums drop: Prometheus takes that for a
  counter reset, as it would after a restart of the whole server.
* A worker that exits is logged (``worker_died``) and restarted after a
  back-off (``Backoff``); the others keep serving. A worker that is alive
  but no longer answers (a loop stuck in one computation, a SIGSTOP) would
  hold its share of the clients' queries for good, so the supervisor sends
  each worker a heartbeat (``status``, over its channel) every
  ``[workers] heartbeat_interval``; one not answered within
  ``heartbeat_timeout`` gets the worker killed (SIGKILL: a stopped process
  takes no other signal), logged (``worker_hung``), counted
  (``holdfast_worker_hung_total``) and restarted like a dead one.
  SIGTERM or SIGINT stops the workers (SIGTERM, each finishes its in-flight
  queries) and then the supervisor. A worker whose supervisor is gone sees
  its channel close and stops likewise.

The pure parts (``ReplayLog``, ``Backoff``, ``combine``) are tested without
processes; ``tests/scenarios/test_workers.py`` runs the real thing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import trio

from resolver import __version__, daemon, holddown_sharing, logs, nta
from resolver.clock import SystemClock
from resolver.commands import command_words
from resolver.config import Config, parse_endpoint
from resolver.connections import show
from resolver.control import (
    Channel,
    ChannelClosed,
    ControlError,
    default_socket_path,
    serve_control,
)
from resolver.encrypted import EncryptedListening, bind_encrypted, encrypted_endpoints
from resolver.errors import ConfigError, HoldfastError
from resolver.heap import freeze_startup_heap
from resolver.host_cache import HostCache, cache_shares, host_cache, private_directory
from resolver.metrics import Snapshot, merge
from resolver.metrics_endpoint import serve_metrics
from resolver.privileges import drop_privileges
from resolver.reload import LOCAL_ZONE_OPTIONS, effective, read_candidate
from resolver.root_sharing import Handoff, RootFollower, RootPublisher
from resolver.routes import Route, RouteError, parse_duration, route_from_words, zone_from_text
from resolver.server import Listening, bind_all
from resolver.settings import read_anchors
from resolver.zygote import Zygote, ZygoteGone, run_forked, start_zygote
from rootzone.service import in_process

log = logging.getLogger("holdfast.workers")

#: Seconds a worker gets to start (build its resolver and answer ``status``).
START_DEADLINE = 30.0
#: Seconds a forwarded command may take, waiting for a starting worker
#: included: under the 5 s ``holdfast ctl`` waits for the supervisor.
FORWARD_TIMEOUT = 4.0
#: Bytes of the length that comes before a worker's start message.
_LENGTH_BYTES = 8
#: Seconds a worker gets to adopt a local root copy (read ~2 MB, rebuild it
#: in parts); under the heartbeat timeout, as the channel waits meanwhile.
ROOT_HANDOFF_TIMEOUT = 8.0


class WorkerFailed(HoldfastError):
    """A worker could not be started (at start-up: nothing is left running)."""


# --- Pure parts --------------------------------------------------------------------------


@dataclass(slots=True)
class Backoff:
    """How long to wait before restarting a worker that exited.

    The first restart waits ``first`` seconds, each further one twice as
    long up to ``longest``; a worker that ran ``settled`` seconds before it
    exited starts the sequence over, so an occasional crash costs a second,
    and a crash loop costs little CPU.
    """

    first: float = 1.0
    longest: float = 30.0
    settled: float = 60.0
    _next: float = field(default=0.0, init=False)

    def delay(self, ran_for: float) -> float:
        """The wait before the next start of a worker that ran ``ran_for`` seconds."""
        if ran_for >= self.settled or not self._next:
            self._next = self.first
        delay = self._next
        self._next = min(delay * 2, self.longest)
        return delay


#: ``ctl local-data`` and ``local-zone`` changes a ``ReplayLog`` keeps at most.
MAX_LOCAL_CHANGES = 10_000

#: The ctl commands that change the local zones, by their first two words.
_LOCAL_CHANGES = (
    ["local-data", "add"], ["local-data", "remove"], ["local-zone", "add"], ["local-zone", "remove"]
)
#: The ctl commands that change the stub and forward zones, by their first two words.
_FORWARDING_CHANGES = (
    ["forward", "add"], ["forward", "remove"], ["stub", "add"], ["stub", "remove"]
)


class ReplayLog:
    """The operator's overrides since start, for a worker started later.

    Kept: ``route add`` and ``route del`` (the last one per zone), ``nta
    add`` with its absolute expiry and ``nta del`` of an anchor ctl did not
    add (the configuration's; the last one per zone),
    ``local-root disable|enable`` (the last one), and every ``local-data``
    and ``local-zone`` change in order (each one's effect depends on the
    zones in force when it came: data outside every zone makes one), at most
    ``MAX_LOCAL_CHANGES`` until a reload rebuilds the local zones from the
    file and drops them (``forget_local``), and the last ``stub`` or
    ``forward`` ``add``/``remove`` per zone (a reload keeps what ctl set
    there, as it keeps control routes). Nothing else changes
    state a new worker lacks: flushes and hold-down clears concern caches
    and hold-downs it starts without. Bounded: at most one entry per zone
    with a live control route (a worker refuses routes beyond
    ``routes.MAX_ROUTES``) or with a configured route that was deleted.

    A route is kept with its absolute expiry, so a replay an hour later
    gives it only the time it has left, and drops it if it has lapsed.
    """

    def __init__(self) -> None:
        #: Zone (canonical text) to its route, or None: deleted.
        self._routes: dict[str, Route | None] = {}
        self._local_root: str | None = None
        self._local: list[tuple[str, ...]] = []
        #: (stub|forward, zone) to its last add or remove, oldest first.
        self._forwarding: dict[tuple[str, str], tuple[str, ...]] = {}
        #: Zone (canonical text) to a ctl anchor's expiry, or None: deleted.
        self._anchors: dict[str, float | None] = {}

    @staticmethod
    def replays(words: Sequence[str]) -> bool:
        """Whether ``words`` is a command this log keeps."""
        head = list(words[:2])
        changes = (
            ["route", "add"], ["route", "del"], ["nta", "add"], ["nta", "del"],
            *_LOCAL_CHANGES, *_FORWARDING_CHANGES,
        )
        return head in changes or list(words) in (
            ["local-root", "disable"],
            ["local-root", "enable"],
        )

    def full(self, words: Sequence[str]) -> bool:
        """Whether ``words`` changes the local zones and no more such changes can be kept."""
        return list(words[:2]) in _LOCAL_CHANGES and len(self._local) >= MAX_LOCAL_CHANGES

    def forget_local(self) -> None:
        """A reload rebuilt the local zones from the file: what ctl changed there is gone."""
        self._local.clear()

    def record(self, words: Sequence[str], now: float, configured: frozenset[str]) -> None:
        """Keep ``words`` if it is a command worth replaying (one some worker applied).

        Args:
            now: Wall time the command was given (a route's expiry counts from it).
            configured: Zones (canonical text) with a route in the configuration.
        """
        if not self.replays(words):
            return
        if list(words[:2]) in _LOCAL_CHANGES:
            self._local.append(tuple(words))
            return
        if words[0] == "local-root":
            self._local_root = words[1]
            return
        if list(words[:2]) in _FORWARDING_CHANGES:
            try:
                key = (words[0], zone_from_text(words[2]).to_text()) if len(words) > 2 else None
            except RouteError:
                return
            if key is not None:
                self._forwarding.pop(key, None)
                self._forwarding[key] = tuple(words)
            return
        if words[0] == "nta":
            self._record_anchor(words, now)
            return
        try:
            if words[1] == "add":
                route = route_from_words(words[2:], now=now)
                self._routes[route.zone.to_text()] = route
                return
            zone = zone_from_text(words[2]).to_text() if len(words) == 3 else None
        except RouteError:
            return
        if zone in configured:
            self._routes[zone] = None
        elif zone is not None:
            self._routes.pop(zone, None)

    def commands(self, now: float, configured: frozenset[str]) -> list[list[str]]:
        """The commands that bring a new worker to the operator's state at ``now``."""
        commands = []
        for zone, route in list(self._routes.items()):
            if route is None:
                if zone in configured:
                    commands.append(["route", "del", zone])
            elif route.expired(now):
                del self._routes[zone]
            else:
                commands.append(_route_words(route, now))
        for zone, until in list(self._anchors.items()):
            if until is None:
                commands.append(["nta", "del", zone])
            elif until <= now:
                del self._anchors[zone]
            else:
                commands.append(["nta", "add", zone, "--expires", f"{until - now:.3f}"])
        if self._local_root is not None:
            commands.append(["local-root", self._local_root])
        forwarding = [list(words) for words in self._forwarding.values()]
        return commands + forwarding + [list(words) for words in self._local]

    def _record_anchor(self, words: Sequence[str], now: float) -> None:
        """Keep ``nta add ZONE [--expires D]`` or ``nta del ZONE`` (applied by some worker)."""
        try:
            zone = zone_from_text(words[2]).to_text()
            if words[1] == "add":
                lifetime = parse_duration(words[4]) if len(words) == 5 else nta.DEFAULT_LIFETIME
                self._anchors[zone] = now + lifetime
            elif self._anchors.get(zone) is not None:  # ctl's own anchor: nothing to replay
                del self._anchors[zone]
            else:  # a configured anchor, deleted
                self._anchors[zone] = None
        except (IndexError, RouteError):
            return


def _route_words(route: Route, now: float) -> list[str]:
    words = ["route", "add", route.zone.to_text(), f"--{route.mode.value}", *route.addresses]
    if route.expires is not None:
        words += ["--expires", f"{max(route.expires - now, 0.001):.3f}"]
    return words


def configured_zones(config: Config) -> frozenset[str]:
    """The zones (canonical text) with a route in ``config``."""
    return frozenset(route.zone.to_text() for route in config["routes"])


@dataclass(frozen=True, slots=True)
class Reply:
    """One worker's answer to a forwarded command: its result, or the error text."""

    ok: bool
    value: Any


def combine(replies: Mapping[int, Reply]) -> Any:
    """The supervisor's answer to a command forwarded to every worker.

    When every worker applied it: text results (``cache dump``) joined
    under a ``;; worker N`` line each, so ``ctl`` still prints text; any
    other results as ``{"workers": n, "applied": n, "results": {"0": ...}}``.

    Raises:
        ControlError: some worker failed: the message gives each error with
            the workers it came from, then the results of the others.
    """
    failed: dict[str, list[int]] = {}
    for index, reply in sorted(replies.items()):
        if not reply.ok:
            failed.setdefault(str(reply.value), []).append(index)
    results = {str(i): reply.value for i, reply in sorted(replies.items()) if reply.ok}
    if not failed:
        values = list(results.values())
        if values and all(isinstance(value, str) for value in values):
            return "\n".join(f";; worker {i}\n{text}" for i, text in results.items())
        return {"workers": len(replies), "applied": len(results), "results": results}
    everyone = len(replies)
    message = "; ".join(f"{error} ({_who(indices, everyone)})" for error, indices in failed.items())
    if results:
        applied = _who([int(i) for i in results], everyone)
        message += f"; applied by {applied}: {json.dumps(results, sort_keys=True)}"
    raise ControlError(message)


def _who(indices: Sequence[int], everyone: int) -> str:
    if len(indices) == everyone > 1:
        return f"all {everyone} workers"
    if len(indices) == 1:
        return f"worker {indices[0]}"
    return "workers " + ", ".join(str(i) for i in indices)


# --- The worker process ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerStart:
    """What the supervisor sends a new worker before anything else, on its channel.

    Pickled: a ``Config`` holds routes and names, not just JSON values, and
    both ends are the same program talking over a socket pair nobody else
    holds.
    """

    index: int
    config: Config
    #: File descriptors (inherited) of its UDP and TCP socket per listen endpoint.
    sockets: tuple[tuple[int, int], ...]
    #: ``ReplayLog.commands``: applied before the worker serves.
    replay: tuple[tuple[str, ...], ...]
    #: Transport ("dot", "doh") and file descriptor of its DoT and DoH listening sockets.
    encrypted: tuple[tuple[str, int], ...] = ()
    #: The cache map shared by the workers (``host_cache``), if there is one.
    host_cache: HostCache | None = None
    #: Where the supervisor puts the local root copies it checked
    #: (``root_sharing``); None: this worker fetches its own, if any.
    root_directory: str | None = None
    #: The local root copy in force when the worker was started.
    root_handoff: Handoff | None = None


def worker_main(channel_fd: int, fds: Mapping[int, int] | None = None) -> None:
    """A worker process (``holdfast worker --channel FD``): serve until told to stop.

    Reads its ``WorkerStart`` from the channel, builds its resolver from the
    configuration in it, applies the replayed overrides, then serves on the
    inherited sockets with the channel as its control socket. ``fds`` maps
    the descriptor numbers the start message names (the supervisor's) to
    this process's, in a worker forked by the zygote (``zygote``); an
    exec'd worker inherited them under the same numbers.
    """
    channel = socket.socket(fileno=channel_fd)
    start: WorkerStart = pickle.loads(_receive_start(channel))
    logs.configure(start.config["logging.level"], start.config["logging.format"])
    logs.configure_query_log(start.config["logging.query_log_target"],
                             start.config["logging.format"])
    _tag_log_records(start.index)
    clock = SystemClock()
    resolver = daemon.build(start.config, clock,
                            cache_shares=cache_shares(start.config, start.host_cache))
    if start.host_cache is not None and resolver.recursor.tier is None:
        # A Redis tier, when configured, is shared more widely: it wins.
        anchors = resolver.iterator.validator.negative_anchors
        withheld = anchors.covering if anchors is not None else None
        resolver.recursor.tier = start.host_cache.tier(resolver.cache, clock, withheld=withheld)
    handler = daemon.commands(resolver)
    for words in start.replay:
        try:
            handler({"command": list(words)})
        except HoldfastError as error:
            log.warning("worker %d: replaying %r failed: %s", start.index, " ".join(words), error)
    follower = None
    if start.root_directory is not None:
        follower = RootFollower(resolver.local_root, Path(start.root_directory))
        follower.adopt_at_start(start.root_handoff)
    mine = dict(fds or {})
    listening = [_adopt(mine.get(udp, udp), mine.get(tcp, tcp)) for udp, tcp in start.sockets]
    encrypted = [_adopt_stream(kind, mine.get(fd, fd)) for kind, fd in start.encrypted]
    freeze_startup_heap()
    trio.run(_serve_worker, resolver, listening, encrypted, channel, follower)


def _receive_start(channel: socket.socket) -> bytes:
    header = _receive_exactly(channel, _LENGTH_BYTES)
    return _receive_exactly(channel, int.from_bytes(header, "big"))


def _receive_exactly(channel: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = channel.recv(min(size - len(data), 1 << 20))
        if not chunk:
            raise WorkerFailed("the supervisor closed the channel before the start message")
        data += chunk
    return bytes(data)


def _tag_log_records(index: int) -> None:
    """Give every log record of this process a ``worker`` field (a key in JSON logs)."""

    def tag(record: logging.LogRecord) -> bool:
        record.__dict__.setdefault("worker", index)
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(tag)


def _adopt(udp_fd: int, tcp_fd: int) -> Listening:
    udp = socket.socket(fileno=udp_fd)
    tcp = socket.socket(fileno=tcp_fd)
    host, port = udp.getsockname()[:2]
    return (str(host), int(port)), udp, tcp


def _adopt_stream(kind: str, fd: int) -> EncryptedListening:
    sock = socket.socket(fileno=fd)
    host, port = sock.getsockname()[:2]
    return kind, (str(host), int(port)), sock


async def _serve_worker(
    resolver: daemon.Resolver,
    listening: list[Listening],
    encrypted: list[EncryptedListening],
    channel: socket.socket,
    follower: RootFollower | None,
) -> None:
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(channel))
    await daemon.run(resolver, handover=daemon.Handover(listening, stream, encrypted, follower))


# --- The supervisor ----------------------------------------------------------------------


class WorkerProcess(Protocol):
    """A worker's process: exec'd (``trio.Process``) or forked by the zygote (``ForkedWorker``)."""

    @property
    def pid(self) -> int: ...

    async def wait(self) -> int | None: ...

    def kill(self) -> None: ...


@dataclass(eq=False)
class Worker:
    """The supervisor's record of one worker slot: its sockets outlive its processes."""

    index: int
    listening: list[Listening]
    #: Its DoT and DoH listening sockets (none without ``listen_tls``/``listen_https``).
    encrypted: list[EncryptedListening] = field(default_factory=list)
    state: Literal["starting", "running", "down"] = "starting"
    pid: int | None = None
    channel: Channel | None = None
    #: Wall time the running process became ready.
    since: float = 0.0
    restarts: int = 0
    #: Processes killed because they stopped answering heartbeats.
    hangs: int = 0
    #: Trio time of the next start while ``down``.
    retry_at: float = 0.0
    #: Set once the current process answers; replaced at each start.
    ready: trio.Event = field(default_factory=trio.Event)
    #: The local root copy last handed to the current process (``root_sharing``).
    root: Handoff | None = None

    def view(self) -> dict[str, Any]:
        """This worker for ``status``."""
        view: dict[str, Any] = {"index": self.index, "pid": self.pid, "state": self.state,
                                "restarts": self.restarts, "hangs": self.hangs}
        if self.state == "running":
            view["uptime_seconds"] = round(time.time() - self.since, 1)
        return view

    def unavailable(self) -> str:
        """Why a command cannot reach this worker now."""
        if self.state == "down":
            wait = max(0.0, self.retry_at - trio.current_time())
            return f"not running, restarting in {math.ceil(wait)} s"
        return "still starting"


class Supervisor:
    """Runs ``config["workers.count"]`` workers on shared ports, as described above."""

    def __init__(self, config: Config, zygote: Zygote | None = None) -> None:
        self.config = config
        #: Forks the workers (``zygote``); None: each is exec'd afresh.
        self.zygote = zygote
        self.replay = ReplayLog()
        self.workers: list[Worker] = []
        self.started = time.time()
        self.host_cache: HostCache | None = None
        #: The host's one local root refresh task, with ``[local_root] sources``.
        self.root: RootPublisher | None = None
        #: Held by a round of ``share_holddowns`` and by ``holddown clear``.
        self._holddowns_lock = trio.Lock()

    async def run(self) -> None:
        """Bind, drop privileges, start the workers, and serve until SIGTERM or SIGINT.

        Raises:
            BindError: a listen endpoint cannot be bound.
            WorkerFailed: a worker could not start (the others are stopped).
        """
        config = self.config
        endpoints = [parse_endpoint(text) for text in config["server.listen"]]
        control_path = Path(config["control.socket"] or default_socket_path())
        signals_wanted = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        with trio.open_signal_receiver(*signals_wanted) as signals, contextlib.ExitStack() as held:
            first = bind_all(endpoints, held, reuse_port=True)
            bound = [endpoint for endpoint, _, _ in first]
            first_encrypted = bind_encrypted(encrypted_endpoints(config), held, reuse_port=True)
            bound_encrypted = [(kind, endpoint) for kind, endpoint, _ in first_encrypted]
            self.workers = [Worker(0, first, first_encrypted)] + [
                Worker(index, bind_all(bound, held, reuse_port=True),
                       bind_encrypted(bound_encrypted, held, reuse_port=True))
                for index in range(1, config["workers.count"])
            ]
            async with trio.open_nursery() as nursery:
                if self.zygote is not None:
                    await nursery.start(self.zygote.run)
                await nursery.start(serve_control, control_path, self.handle)
                if config["metrics.listen"]:
                    metrics = parse_endpoint(config["metrics.listen"])
                    await nursery.start(serve_metrics, metrics, self.snapshot)
                drop_privileges(config["server.user"])
                # Made as the user the workers run as; a Redis tier takes its place.
                if config["workers.shared_cache"] and not config["shared_cache.servers"]:
                    self.host_cache = held.enter_context(
                        host_cache(config["workers.shared_cache_bytes"]))
                self.root = self._root_publisher(held)
                if self.root is not None:
                    nursery.start_soon(self.root.service.run)
                    nursery.start_soon(self.share_root, self.root)
                for worker in self.workers:
                    nursery.start_soon(self._keep, worker)
                for worker in self.workers:
                    await worker.ready.wait()
                nursery.start_soon(self.share_holddowns)
                serving = [f"{host}:{port}" for host, port in bound]
                serving += [f"{kind} on {show(endpoint)}" for kind, endpoint in bound_encrypted]
                log.info(
                    "holdfast %s serving on %s with %d workers (control socket %s)",
                    __version__, ", ".join(serving), len(self.workers), control_path,
                    extra={"event": "started", "workers": len(self.workers)},
                )
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        nursery.start_soon(self._reload_on_signal)
                        continue
                    log.info("%s received: stopping the workers", signal.Signals(signum).name,
                             extra={"event": "stopping"})
                    nursery.cancel_scope.cancel()  # each worker gets SIGTERM, and is waited for
        log.info("holdfast stopped", extra={"event": "stopped"})

    # -- Workers --

    async def _keep(self, worker: Worker) -> None:
        """Run ``worker``, restarting it whenever it exits, until the supervisor stops.

        Raises:
            WorkerFailed: its very first process did not start.
        """
        backoff = Backoff()
        while True:
            began = trio.current_time()
            ended = await self._run_once(worker)
            started = worker.ready.is_set()
            if not started and not worker.restarts:
                raise WorkerFailed(f"worker {worker.index} did not start: it {ended}")
            delay = backoff.delay(trio.current_time() - began)
            what = ended if started else f"did not start: it {ended}"
            log.error("worker %d (pid %s) %s; starting it again in %g s",
                      worker.index, worker.pid, what, delay,
                      extra={"event": "worker_died" if started else "worker_failed",
                             "worker": worker.index, "pid": worker.pid})
            worker.state = "down"
            worker.retry_at = trio.current_time() + delay
            await trio.sleep(delay)
            worker.restarts += 1
            worker.ready = trio.Event()

    async def _run_once(self, worker: Worker) -> str:
        """Run one process for ``worker``; how it ended ("exited with status 3", ...).

        The process is ready once it answers ``status`` on its channel. On
        cancellation (the supervisor stopping) it gets SIGTERM and is waited
        for (``trio.run_process``), SIGKILL if it lingers.
        """
        worker.state = "starting"
        ours, theirs = socket.socketpair()
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        replay = self.replay.commands(time.time(), configured_zones(self.config))
        start = WorkerStart(
            index=worker.index,
            config=self._worker_config(),
            sockets=tuple((udp.fileno(), tcp.fileno()) for _, udp, tcp in worker.listening),
            replay=tuple(tuple(words) for words in replay),
            encrypted=tuple((kind, sock.fileno()) for kind, _, sock in worker.encrypted),
            host_cache=self.host_cache,
            root_directory=None if self.root is None else str(self.root.directory),
            root_handoff=None if self.root is None else self.root.current,
        )
        worker.root = start.root_handoff
        argv = [sys.executable, "-m", "resolver", "worker", "--channel", str(theirs.fileno())]
        fds = [theirs.fileno(), *(fd for pair in start.sockets for fd in pair),
               *(fd for _, fd in start.encrypted)]
        async with stream, trio.open_nursery() as nursery:
            try:
                process: WorkerProcess = await nursery.start(self._start_process, argv, fds)
            except OSError as error:
                worker.pid = None
                return f"could not be run: {error}"
            finally:
                theirs.close()
            worker.pid = process.pid
            channel = Channel(stream)
            payload = pickle.dumps(start)
            try:
                await stream.send_all(len(payload).to_bytes(_LENGTH_BYTES, "big") + payload)
                with trio.fail_after(START_DEADLINE):
                    await channel.request({"command": ["status"]})
            except (trio.BrokenResourceError, ControlError):
                return _ended(await process.wait())
            except trio.TooSlowError:
                process.kill()
                return f"did not answer within {START_DEADLINE:g} s, so was killed"
            worker.channel = channel
            worker.state = "running"
            worker.since = time.time()
            worker.ready.set()
            if worker.restarts:
                log.info("worker %d restarted (pid %d)", worker.index, process.pid,
                         extra={"event": "worker_restarted", "worker": worker.index,
                                "pid": process.pid, "restarts": worker.restarts})
            try:
                return await self._watch(worker, process, channel)
            finally:
                worker.channel = None

    async def _start_process(
        self, argv: list[str], fds: list[int], *, task_status: trio.TaskStatus[WorkerProcess]
    ) -> None:
        """Run one worker process until it ends: forked by the zygote, else exec'd (``argv``).

        Raises:
            OSError: it could not be exec'd.
        """
        if self.zygote is not None and not self.zygote.gone:
            try:
                await run_forked(self.zygote, fds, task_status=task_status)
                return
            except ZygoteGone as error:  # raised before the start: exec it instead
                log.warning("worker started afresh: %s", error)
        await trio.run_process(
            argv, check=False, pass_fds=fds, stdin=subprocess.DEVNULL,
            start_new_session=True,  # signals from a terminal reach the supervisor only
            task_status=task_status)

    async def _watch(self, worker: Worker, process: WorkerProcess, channel: Channel) -> str:
        """Wait for a running worker's process to end, killing it if it stops answering.

        Returns how it ended, as ``_run_once`` does.
        """
        interval = self.config["workers.heartbeat_interval"]
        timeout = self.config["workers.heartbeat_timeout"]
        hung = False

        async def heartbeat() -> None:
            nonlocal hung
            while True:
                await trio.sleep(interval)
                try:
                    with trio.fail_after(timeout):
                        await channel.request({"command": ["status"]})
                except ChannelClosed:
                    return  # it is exiting: process.wait() says how
                except ControlError:
                    continue  # it answered, if with an error: alive
                except trio.TooSlowError:
                    hung = True
                    worker.hangs += 1
                    log.error("worker %d (pid %d) did not answer a heartbeat within %g s: "
                              "killing it", worker.index, process.pid, timeout,
                              extra={"event": "worker_hung", "worker": worker.index,
                                     "pid": process.pid})
                    process.kill()
                    return

        async with trio.open_nursery() as watching:
            watching.start_soon(heartbeat)
            status = await process.wait()
            watching.cancel_scope.cancel()
        if hung:
            return f"stopped answering for {timeout:g} s, so was killed"
        return _ended(status)

    def _root_publisher(self, held: contextlib.ExitStack) -> RootPublisher | None:
        """The local root refresh task of the host, run here (``root_sharing``), or None.

        Made after the privilege drop: its directory and the checking
        process belong to the user the workers run as. If the directory
        cannot be made, each worker fetches its own copy, as without this.
        """
        config = self.config
        if not config["local_root.sources"]:
            return None
        try:
            directory = held.enter_context(private_directory("holdfast-root-"))
        except OSError as error:
            log.warning("each worker fetches its own local root: %s", error)
            return None
        allow = [ipaddress.ip_network(text) for text in config["upstream.allow"]]
        service = daemon.root_service_for(
            config, daemon.local_root_for(config, time.time), read_anchors(config), allow,
            in_process)
        assert service is not None  # there are sources
        return RootPublisher(service, Path(directory))

    async def share_root(self, publisher: RootPublisher) -> None:
        """Hand the local root copy in force to every worker that lacks it (``root_sharing``).

        After each round of the refresh task, and every second (a worker
        just started, a handoff that failed and is due again).
        """
        failure = ""
        while True:
            with trio.move_on_after(holddown_sharing.SYNC_INTERVAL):
                await publisher.changed()
            try:
                current = await publisher.publish()
            except OSError as error:
                if str(error) != failure:  # once per cause, not every second
                    log.error("cannot hand the local root copy to the workers: %s", error,
                              extra={"event": "local_root_handoff_failed"})
                failure = str(error)
                continue
            failure = ""
            if current is None:
                continue
            async with trio.open_nursery() as nursery:
                for worker in self.workers:
                    if worker.root != current and worker.state == "running":
                        nursery.start_soon(self._hand_root, worker, current)

    async def _hand_root(self, worker: Worker, handoff: Handoff) -> None:
        """Give ``worker`` the copy in force; a failure is logged and tried at the next change."""
        channel = worker.channel
        if channel is None:
            return
        worker.root = handoff
        try:
            with trio.fail_after(ROOT_HANDOFF_TIMEOUT):
                await channel.request(handoff.message())
        except (ControlError, trio.TooSlowError) as error:
            log.error("worker %d did not adopt local root serial %d: %s",
                      worker.index, handoff.serial, str(error) or "no reply in time",
                      extra={"event": "local_root_handoff_failed", "worker": worker.index})

    def _worker_config(self) -> Config:
        """The configuration a worker runs: the supervisor's, without its metrics endpoint."""
        config = self.config.with_overrides({"metrics.listen": ""}, source="worker")
        return replace(config, source=self.config.source)

    # -- Control --

    async def handle(self, request: dict[str, Any]) -> Any:
        """A ctl request: forwarded to every worker, the replies combined."""
        words = command_words(request)
        if words == ["status"]:
            return await self.status()
        if words == ["reload"]:
            return combine(await self.reload())
        if words == ["stats"]:
            return await self.snapshot()
        if self.root is not None and words == ["local-root", "refresh"]:
            self.root.service.request_refresh()  # the host's one refresh task is here
            return {"refresh": "requested; see: holdfast ctl local-root status"}
        if self.root is not None and words == ["local-root", "status"]:
            # The workers' copies, and the refresh task's sources and refusals.
            return {**combine(await self.forward(words)), "refresh": self.root.service.status()}
        if words[:2] == ["holddown", "clear"]:
            async with self._holddowns_lock:  # no round brings back what is lifted
                return combine(await self.forward(words))
        if self.replay.full(words):
            raise ControlError(
                f"{MAX_LOCAL_CHANGES} local-data/local-zone changes since the last reload are "
                "kept for workers started later, and no more: write them in the configuration "
                "file and reload")
        replies = await self.forward(words)
        if any(reply.ok for reply in replies.values()):
            self.replay.record(words, time.time(), configured_zones(self.config))
        return combine(replies)

    async def share_holddowns(self) -> None:
        """Give every worker the hold-downs another one learned (``holddown_sharing``)."""
        while True:
            await trio.sleep(holddown_sharing.SYNC_INTERVAL)
            async with self._holddowns_lock:
                listed = await self.forward(["holddown", "list"])
                wanted = holddown_sharing.orders(
                    {i: reply.value for i, reply in listed.items()
                     if reply.ok and isinstance(reply.value, list)})
                for index, orders in wanted.items():
                    for order in orders:
                        channel = self.workers[index].channel
                        if channel is None:
                            break  # it died: the round after its restart gives it them
                        with trio.move_on_after(FORWARD_TIMEOUT), \
                                contextlib.suppress(ControlError):
                            await channel.request({"command": order.words()})

    async def forward(self, words: Sequence[str]) -> dict[int, Reply]:
        """Send ``words`` to every worker at once; each one's reply by index."""
        deadline = trio.current_time() + FORWARD_TIMEOUT
        note = ", and gets this when it starts" if ReplayLog.replays(words) else ""
        replies: dict[int, Reply] = {}

        async def ask(worker: Worker) -> None:
            if worker.state == "starting":
                with trio.move_on_at(deadline):
                    await worker.ready.wait()
            channel = worker.channel
            if worker.state != "running" or channel is None:
                replies[worker.index] = Reply(False, worker.unavailable() + note)
                return
            try:
                with trio.fail_at(deadline):
                    replies[worker.index] = Reply(True, await channel.request({"command": words}))
            except ControlError as error:
                replies[worker.index] = Reply(False, str(error))
            except trio.TooSlowError:
                replies[worker.index] = Reply(False, f"no reply within {FORWARD_TIMEOUT:g} s")

        async with trio.open_nursery() as nursery:
            for worker in self.workers:
                nursery.start_soon(ask, worker)
        return replies

    async def status(self) -> dict[str, Any]:
        """``status``: the supervisor's view, and each worker's own status."""
        replies = await self.forward(["status"])
        view: dict[str, Any] = {
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started, 1),
            "config": self.config.source,
            "listen": self.config["server.listen"],
            "metrics": self.config["metrics.listen"] or "off",
            "supervisor_pid": os.getpid(),
            "zygote_pid": None if self.zygote is None or self.zygote.gone else self.zygote.pid,
            "workers": len(self.workers),
            "applied": sum(reply.ok for reply in replies.values()),
            "worker_processes": [worker.view() for worker in self.workers],
            "results": {str(i): reply.value for i, reply in sorted(replies.items()) if reply.ok},
        }
        if self.root is not None:
            view["local_root"] = self.root.summary()
        errors = {str(i): reply.value for i, reply in sorted(replies.items()) if not reply.ok}
        if errors:
            view["errors"] = errors
        return view

    async def reload(self) -> dict[int, Reply]:
        """``reload``: check the file here first; only a good one goes to the workers.

        Each worker then reloads it itself (``reload.reload``); new workers
        get what the running ones apply (``reload.effective``). Returns the
        workers' replies.

        Raises:
            ConfigError: the file is unusable (logged); no worker was asked.
        """
        running = self.config
        # Read in a thread: the supervisor's loop keeps the workers' channels going.
        candidate = await trio.to_thread.run_sync(read_candidate, running)
        fresh = candidate.config
        replies = await self.forward(["reload"])
        if any(reply.ok for reply in replies.values()):
            self.config = effective(running, fresh)
            if self.root is not None:  # the next candidate is checked with the new anchors
                self.root.service.anchors = candidate.anchors
            logs.set_level(self.config["logging.level"])
            if any(running[name] != fresh[name] for name in LOCAL_ZONE_OPTIONS):
                self.replay.forget_local()  # the workers rebuilt them from the file
        return replies

    async def _reload_on_signal(self) -> None:
        """SIGHUP: ``log-reopen`` then ``reload``, what did not go well in the log.

        The workers' query log files are reopened first, whatever the reload
        makes of the file: logrotate's SIGHUP must not leave them writing to
        the renamed one. (There is no one to tell of a failure but the log.)
        """
        reopened = await self.forward(["log-reopen"])
        failed = {index: reply.value for index, reply in reopened.items() if not reply.ok}
        if failed:
            log.error("the query log was not reopened by every worker: %s", failed,
                      extra={"event": "query_log_reopen_failed", "workers": sorted(failed)})
        try:
            replies = await self.reload()
        except ConfigError:
            return  # refused and logged; nothing changed
        failed = {index: reply.value for index, reply in replies.items() if not reply.ok}
        if failed:
            log.error("the reload did not reach every worker: %s", failed,
                      extra={"event": "config_reload_incomplete", "workers": sorted(failed)})

    async def snapshot(self) -> Snapshot:
        """The metrics: the workers' ``stats`` merged, and the supervisor's restart and hang counts.

        Raises:
            SnapshotError: no worker answered.
        """
        replies = await self.forward(["stats"])
        snapshot = merge([reply.value for reply in replies.values() if reply.ok])
        snapshot["worker_restarts"] = sum(worker.restarts for worker in self.workers)
        if self.root is not None:  # candidates are refused here, not by the workers
            snapshot["local_root"]["rejections"] = dict(self.root.service.local_root.rejections)
        snapshot["worker_hung"] = sum(worker.hangs for worker in self.workers)
        return snapshot


def _ended(status: int | None) -> str:
    """How a process ended, from its exit status (negative: the signal that killed it)."""
    if status is None:
        return "exited (how is unknown: the zygote that forked it is gone)"
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


def serve(config: Config) -> None:
    """``holdfast serve`` with ``[workers] count`` above 1: the supervisor, until stopped.

    The zygote the workers are forked from is forked first, before the
    supervisor's Trio loop runs (``zygote``).
    """
    zygote = start_zygote(config["server.user"], worker_main,
                          redis=bool(config["shared_cache.servers"]))
    try:
        trio.run(Supervisor(config, zygote).run)
    finally:
        if zygote is not None:
            zygote.close()
