"""The running resolver: builds every stage from a ``Config`` and runs them.

``build`` is plain wiring (cache, server selection, iterator, transport,
recursor, server), kept apart from ``run`` so tests can assemble the same
resolver over the in-memory lab. ``run`` starts the server, the recursor's
service nursery and the control socket, and on SIGTERM or SIGINT stops
accepting, lets in-flight queries finish briefly, and returns (exit 0).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from dnssec.anchors import TrustAnchors
from dnssec.work import WorkLimits
from resolver import __version__
from resolver.access import AccessList
from resolver.answers import AnswerCache
from resolver.cache import Cache
from resolver.clock import Clock
from resolver.commands import Commands
from resolver.config import Config, parse_endpoint
from resolver.control import default_socket_path, serve_control
from resolver.errors import ConfigError
from resolver.exchange import Transport
from resolver.iterator import LOCAL_ROOT, PREFETCH_SHARE, Iterator
from resolver.limits import Limits
from resolver.messages import OUR_UDP_PAYLOAD
from resolver.privileges import drop_privileges
from resolver.recursor import Recursor
from resolver.routes import RouteTable
from resolver.selection import ServerSelection
from resolver.server import DnsServer
from resolver.stale import StaleAnswers, StalePolicy
from resolver.transport import UdpTcpTransport
from resolver.validation import Validator
from rootzone.candidate import LoadPolicy
from rootzone.hints import RootHints
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


def stale_policy(config: Config) -> StalePolicy:
    """The ``[serve_stale]`` section as a ``StalePolicy``."""
    return StalePolicy(
        enabled=config["serve_stale.enabled"],
        max_stale=config["serve_stale.max_stale"],
        reply_ttl=config["serve_stale.reply_ttl"],
        client_timeout=config["serve_stale.client_timeout"],
        failure_recheck=config["serve_stale.failure_recheck"],
        prefetch=config["serve_stale.prefetch"],
    )


def read_hints(config: Config) -> RootHints:
    """The root hints from the configured file, or the IANA ones."""
    path = config["upstream.root_hints"]
    if not path:
        return RootHints.builtin()
    return RootHints.from_text(_read(Path(path)), source=path)


def read_anchors(config: Config) -> TrustAnchors:
    """The trust anchors from the configured files, or the IANA root anchors."""
    paths: list[str] = config["dnssec.trust_anchors"]
    if not paths:
        return TrustAnchors.builtin()
    return TrustAnchors.merge(TrustAnchors.from_text(_read(Path(p)), source=p) for p in paths)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from exc


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
    cache = Cache(
        clock,
        max_entries=config["cache.max_entries"],
        min_ttl=config["cache.min_ttl"],
        max_ttl=config["cache.max_ttl"],
        max_negative_ttl=config["cache.max_negative_ttl"],
        bogus_ttl=config["dnssec.bogus_ttl"],
        stale_window=policy.max_stale if policy.enabled else 0.0,
    )
    selection = ServerSelection(
        clock,
        holddown=config["upstream.holddown"],
        max_holddown=config["upstream.max_holddown"],
        max_rto=config["upstream.max_timeout"],
    )
    limits = Limits(
        max_upstream_queries=config["limits.max_upstream_queries"],
        max_referrals=config["limits.max_referrals"],
        max_depth=config["limits.max_depth"],
        max_cname_chain=config["limits.max_cname_chain"],
        time_budget=config["limits.time_budget"],
        timeout_rounds=config["upstream.timeout_rounds"],
        validation=WorkLimits(
            max_signatures_per_query=config["dnssec.max_signatures_per_query"],
            max_signatures_per_response=config["dnssec.max_signatures_per_response"],
            max_keys_per_tag=config["dnssec.max_keys_per_tag"],
            max_nsec3_iterations=config["dnssec.max_nsec3_iterations"],
            max_nsec3_hashes_per_response=config["dnssec.max_nsec3_hashes"],
        ),
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
        limits=limits,
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
            # With prefetch, a template ends where prefetch begins, so the
            # slow path sees the question again in time to refresh it.
            lifetime_share=1.0 - PREFETCH_SHARE if policy.prefetch else 1.0,
        )
    server = DnsServer(
        [parse_endpoint(text) for text in config["server.listen"]],
        recursor.handle,
        AccessList(config["server.allow"]),
        answers=answers,
    )
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
        resolver.root_service,
    )


async def run(
    resolver: Resolver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    Everything that needs privileges (the listening ports, the control
    socket) is bound first; then we become ``[server] user`` if one is set,
    and only then does the local root's refresh task start (it writes the
    ``zonefile`` as that user). ``task_status.started()`` is called once
    every socket is bound.
    """
    control_path = Path(resolver.config["control.socket"] or default_socket_path())
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(resolver.recursor.run)
            endpoints = await nursery.start(resolver.server.serve)
            await nursery.start(serve_control, control_path, commands(resolver))
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
                log.info("%s received: finishing in-flight queries", signal.Signals(signum).name,
                         extra={"event": "stopping"})
                await resolver.server.shutdown(SHUTDOWN_GRACE)
                nursery.cancel_scope.cancel()
                break
    log.info("holdfast stopped", extra={"event": "stopped"})
