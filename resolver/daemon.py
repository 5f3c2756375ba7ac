"""The running resolver: builds every stage from a ``Config`` and runs them.

``build`` is plain wiring (cache, server selection, iterator, transport,
recursor, server), kept apart from ``run`` so tests can assemble the same
resolver over the in-memory lab. ``run`` starts the server, the recursor's
service nursery and the control socket, reloads the configuration on
SIGHUP (``reload.py``), and on SIGTERM or SIGINT stops accepting, lets
in-flight queries finish briefly, and returns (exit 0).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from dnssec.anchors import TrustAnchors
from resolver import __version__
from resolver.access import AccessList
from resolver.answers import AnswerCache
from resolver.cache import Cache
from resolver.clock import Clock
from resolver.commands import Commands
from resolver.config import Config, parse_endpoint
from resolver.control import default_socket_path, serve_control, serve_stream
from resolver.errors import ConfigError
from resolver.exchange import Transport
from resolver.iterator import LOCAL_ROOT, Iterator
from resolver.messages import OUR_UDP_PAYLOAD
from resolver.metrics import Snapshot, collect
from resolver.metrics_endpoint import serve_metrics
from resolver.privileges import drop_privileges
from resolver.recursor import Recursor
from resolver.reload import reload
from resolver.routes import RouteTable
from resolver.selection import ServerSelection
from resolver.server import DnsServer, Listening
from resolver.settings import (
    cache_lifetimes,
    query_limits,
    read_anchors,
    read_hints,
    stale_policy,
    template_share,
)
from resolver.stale import StaleAnswers
from resolver.transport import UdpTcpTransport
from resolver.validation import Validator
from rootzone.candidate import LoadPolicy
from rootzone.lifecycle import LifetimePolicy, LocalRoot
from rootzone.service import Offload, RootService, in_process
from rootzone.sources import source_from_text
from rootzone.verify import ZonemdPolicy

log = logging.getLogger("holdfast")

#: Seconds in-flight queries get to finish after SIGTERM/SIGINT.
SHUTDOWN_GRACE = 2.0


@dataclass(slots=True)
class Resolver:
    """Every stage of one resolver instance, wired together."""

    config: Config
    cache: Cache
    selection: ServerSelection
    iterator: Iterator
    recursor: Recursor
    server: DnsServer
    anchors: TrustAnchors
    answers: AnswerCache | None
    routes: RouteTable
    clock: Clock
    local_root: LocalRoot
    root_service: RootService | None
    #: The server's client access list (a reload changes it in place).
    access: AccessList
    started: float = field(default_factory=time.time)

    def status(self) -> dict[str, Any]:
        """What ``holdfast ctl status`` shows."""
        return {
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started, 1),
            "config": self.config.source,
            "listen": self.config["server.listen"],
            "upstream_allow": self.config["upstream.allow"] or ["anywhere"],
            "trust_anchors": [str(zone) for zone in self.anchors.zones()],
            "workers": 1,
            "metrics": self.config["metrics.listen"] or "off",
            "local_root": self.local_root_summary(),
            "routes": len(self.routes.routes()),
            "holddowns": len(self.selection.holddowns()),
            "cache": _as_dict(self.cache.statistics()),
            "answers": _as_dict(self.answers.statistics()) if self.answers else "off",
            "recursor": _as_dict(self.recursor.stats),
            "server": _as_dict(self.server.stats),
        }

    def local_root_summary(self) -> str:
        """One line on the local root for ``status``."""
        if self.root_service is None:
            return "off (no [local_root] sources; resolving through the root servers)"
        state = self.local_root.state().value
        copy = self.local_root.copy
        return state if copy is None else f"{state}, serial {copy.serial} from {copy.source}"


def _as_dict(stats: object) -> dict[str, Any]:
    """A statistics dataclass as JSON-able values (counters become dicts)."""
    values: dict[str, Any] = {}
    for name in getattr(stats, "__slots__", ()):
        value = getattr(stats, name)
        values[name] = dict(value) if isinstance(value, Mapping) else value
    return values


def build(
    config: Config,
    clock: Clock,
    transport: Transport | None = None,
    *,
    offload: Offload = in_process,
) -> Resolver:
    """Assemble a resolver; ``transport`` replaces the real one in tests.

    ``offload`` runs the local root's parsing and verification (a worker
    process; tests use a thread, drills under simulated time run it inline).

    Raises:
        HoldfastError: a hints or anchor file is unusable.
    """
    hints = read_hints(config)
    anchors = read_anchors(config)
    policy = stale_policy(config)
    cache = Cache(clock, max_entries=config["cache.max_entries"], lifetimes=cache_lifetimes(config))
    selection = ServerSelection(
        clock,
        holddown=config["upstream.holddown"],
        max_holddown=config["upstream.max_holddown"],
        max_rto=config["upstream.max_timeout"],
    )
    validator = Validator(
        anchors=anchors,
        cache=cache,
        clock=clock,
        bogus_ttl=config["dnssec.bogus_ttl"],
        # Bound late: the iterator, built next, tells bogus data from the
        # local root copy apart from a server's.
        hold_down=lambda address, zone, reason: iterator.hold_down(address, zone, reason),
    )
    routes = RouteTable(clock, config["routes"])
    local_root = LocalRoot(
        clock.wall,
        LifetimePolicy(
            safety_margin=config["local_root.safety_margin"],
            max_age=config["local_root.max_age"] or None,
        ),
    )
    local_root.enabled = config["local_root.enabled"]
    local_root.on_withdrawn = lambda: cache.flush_source(LOCAL_ROOT)
    iterator = Iterator(
        cache=cache,
        selection=selection,
        hints=hints,
        limits=query_limits(config),
        validator=validator,
        qname_minimisation=config["upstream.qname_minimisation"],
        routes=routes,
        local_root=local_root,
    )
    allow = [ipaddress.ip_network(n) for n in config["upstream.allow"]]
    root_service = root_service_for(config, local_root, anchors, allow, offload)
    if transport is None:
        transport = UdpTcpTransport(port=config["upstream.port"], allow=allow or None)
    recursor = Recursor(iterator, transport, StaleAnswers(policy, clock))
    answers = None
    if config["cache.max_answers"]:
        answers = AnswerCache(
            clock,
            udp_payload=OUR_UDP_PAYLOAD,
            max_entries=config["cache.max_answers"],
            cache_generation=lambda: cache.generation,
            lifetime_share=template_share(policy),
        )
    access = AccessList(config["server.allow"])
    server = DnsServer(
        [parse_endpoint(text) for text in config["server.listen"]],
        recursor.handle,
        access,
        answers=answers,
    )
    server.query_log = config["logging.query_log"]
    return Resolver(
        config,
        cache,
        selection,
        iterator,
        recursor,
        server,
        anchors,
        answers,
        routes,
        clock,
        local_root,
        root_service,
        access,
    )


def root_service_for(
    config: Config,
    local_root: LocalRoot,
    anchors: TrustAnchors,
    allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    offload: Offload,
) -> RootService | None:
    """The refresh task of the ``[local_root]`` section, or None without sources."""
    texts: list[str] = config["local_root.sources"]
    if not texts:
        return None

    def allowed(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return not allow or any(ip in network for network in allow)

    zonefile = config["local_root.zonefile"]
    return RootService(
        local_root,
        [source_from_text(text, allow=allowed) for text in texts],
        anchors=anchors,
        policy=LoadPolicy(
            zonemd=ZonemdPolicy(config["local_root.zonemd"]),
            max_growth=config["local_root.max_growth"],
            max_delegation_change=config["local_root.max_delegation_change"],
        ),
        zonefile=Path(zonefile) if zonefile else None,
        offload=offload,
    )


def commands(resolver: Resolver) -> Commands:
    """The control commands of ``resolver``."""
    return Commands(
        resolver.status,
        resolver.routes,
        resolver.selection,
        resolver.clock,
        resolver.local_root,
        resolver.cache,
        resolver.root_service,
        stats=lambda: collect(resolver),
        reload=lambda: reload(resolver),
    )


@dataclass(frozen=True, slots=True)
class Handover:
    """What a ``--workers`` worker gets from its supervisor (``workers.py``) instead of binding.

    Attributes:
        listening: Its own sockets on every listen endpoint.
        channel: Its private control channel, in place of the control socket;
            when the supervisor closes it (or dies), the worker stops.
    """

    listening: Sequence[Listening]
    channel: trio.abc.Stream


async def run(
    resolver: Resolver,
    *,
    handover: Handover | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully; reload on SIGHUP.

    Everything that needs privileges (the listening ports, the control
    socket) is bound first; then we become ``[server] user`` if one is set,
    and only then does the local root's refresh task start (it writes the
    ``zonefile`` as that user). ``task_status.started()`` is called once
    every socket is bound. A worker serves what its ``handover`` holds
    (bound, and privileges dropped, by the supervisor).
    """
    control_path = Path(resolver.config["control.socket"] or default_socket_path())
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(resolver.recursor.run)
            listening = None if handover is None else handover.listening
            endpoints = await nursery.start(resolver.server.serve, listening)
            if handover is None:
                await nursery.start(serve_control, control_path, commands(resolver))
            else:
                nursery.start_soon(_serve_supervisor, handover.channel, commands(resolver))
            if resolver.config["metrics.listen"]:

                async def snapshot() -> Snapshot:
                    return collect(resolver)

                metrics = parse_endpoint(resolver.config["metrics.listen"])
                await nursery.start(serve_metrics, metrics, snapshot)
            drop_privileges(resolver.config["server.user"])
            if resolver.root_service is not None:
                await nursery.start(resolver.root_service.run)
            log.info(
                "holdfast %s serving on %s (control socket %s)",
                __version__,
                ", ".join(f"{host}:{port}" for host, port in endpoints),
                control_path,
                extra={"event": "started"},
            )
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    _reload_on_signal(resolver)
                    continue
                log.info("%s received: finishing in-flight queries", signal.Signals(signum).name,
                         extra={"event": "stopping"})
                await resolver.server.shutdown(SHUTDOWN_GRACE)
                nursery.cancel_scope.cancel()
                break
    log.info("holdfast stopped", extra={"event": "stopped"})


def _reload_on_signal(resolver: Resolver) -> None:
    """SIGHUP: reload the configuration; a failure is logged, and serving goes on."""
    try:
        reload(resolver)
    except ConfigError:
        pass  # logged by reload as config_refused; the running configuration stays
    except Exception:
        log.exception("configuration reload failed; the running configuration stays",
                      extra={"event": "config_refused"})


async def _serve_supervisor(channel: trio.abc.Stream, handler: Commands) -> None:
    """A worker's control channel; its end means the supervisor is gone: stop as on SIGTERM."""
    await serve_stream(channel, handler)
    log.warning("the supervisor closed the control channel: stopping",
                extra={"event": "supervisor_gone"})
    signal.raise_signal(signal.SIGTERM)
