"""The running resolver: builds every stage from a ``Config`` and runs them.

``build`` is plain wiring (cache, server selection, iterator, transport,
recursor, server), kept apart from ``run`` so tests can assemble the same
resolver over the in-memory lab. ``run`` starts the server, the recursor's
service nursery and the control socket, reloads the configuration on
SIGHUP (``reload.py``), and on SIGTERM or SIGINT stops accepting, lets
in-flight queries finish briefly, and returns (exit 0).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from dnssec.anchors import TrustAnchors
from resolver import __version__, logs, nta, trace_command
from resolver.access import AccessList
from resolver.anchor_refresh import AnchorMaintainer
from resolver.answers import AnswerCache
from resolver.cache import Cache
from resolver.clock import Clock
from resolver.commands import Commands
from resolver.config import FORWARD_ZONE, POLICY, STUB_ZONE, Config, parse_endpoint
from resolver.control import Handler, default_socket_path, serve_control, serve_stream
from resolver.dns64 import Dns64
from resolver.dnstap_output import DnstapOutput, TappedTransport
from resolver.encrypted import EncryptedListening, EncryptedServer, encrypted_server_for
from resolver.errors import ConfigError
from resolver.exchange import Transport
from resolver.failures import FailureCache
from resolver.forwarding import Kind, configured_table
from resolver.iterator import LOCAL_ROOT, Iterator
from resolver.logs import QueryLogError
from resolver.metrics import Snapshot, collect
from resolver.metrics_endpoint import serve_metrics
from resolver.policy import Policy
from resolver.privileges import drop_privileges
from resolver.recursor import Recursor
from resolver.reload import apply, read_candidate
from resolver.renumber import Renumbering
from resolver.root_sharing import RootFollower
from resolver.routes import RouteTable
from resolver.selection import ServerSelection
from resolver.server import DnsServer, Listening, ServerLimits
from resolver.settings import (
    cache_bytes,
    cache_lifetimes,
    chaos_identity,
    failure_policy,
    local_zones,
    query_limits,
    read_anchors,
    read_hints,
    read_managed,
    stale_policy,
    template_share,
)
from resolver.shared_tier import shared_tier_for
from resolver.signaling import signal_key_tags
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
#: The IPv6 listener of the default ``[server] listen``.
DEFAULT_IPV6_LISTENER = "[::1]:53"
#: What binding ::1 fails with on a host without IPv6: the kernel has none
#: (EAFNOSUPPORT), or the loopback has no ::1 (EADDRNOTAVAIL, disable_ipv6).
NO_IPV6 = frozenset({errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL})


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
    #: The DNS over TLS and HTTPS listeners, if configured (a reload swaps their certificate).
    encrypted: EncryptedServer | None = None
    #: The RFC 5011 refresh of ``[dnssec] trust_anchor_file``, if one is set.
    maintainer: AnchorMaintainer | None = None
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
            "stub_zones": len(self.iterator.forwarding.entries(Kind.STUB)),
            "forward_zones": len(self.iterator.forwarding.entries(Kind.FORWARD)),
            "holddowns": len(self.selection.holddowns()),
            "cache": _as_dict(self.cache.statistics()),
            "answers": _as_dict(self.answers.statistics()) if self.answers else "off",
            "recursor": _as_dict(self.recursor.stats),
            "shared_cache": _as_dict(tier.stats) if (tier := self.recursor.tier) else "off",
            "server": _as_dict(self.server.stats),
            "encrypted": _as_dict(self.encrypted.stats) if self.encrypted else "off",
            "dnstap": self.dnstap_summary(),
        }

    def dnstap_summary(self) -> dict[str, Any] | str:
        """The dnstap stream's frame counters for ``status``, or "off"."""
        dnstap = self.server.dnstap
        if dnstap is None:
            return "off"
        return {"socket": dnstap.path, **_as_dict(dnstap.statistics())}

    def local_root_summary(self) -> str:
        """One line on the local root for ``status``."""
        if self.root_service is None:
            return "off (no [local_root] sources; resolving through the root servers)"
        unavailable = self.root_service.unavailable
        if unavailable is not None and self.local_root.in_use() is None:
            return f"unavailable, resolving through the root servers: {unavailable}"
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
    cache_shares: tuple[float, float] = (1.0, 1.0),
) -> Resolver:
    """Assemble a resolver; ``transport`` replaces the real one in tests.

    ``offload`` runs the local root's parsing and verification (a worker
    process; tests use a thread, drills under simulated time run it inline).
    ``cache_shares``: the shares of their parts of ``[cache] max_bytes``
    the RRset and ready-made answer caches get (workers in front of the
    host's map, ``host_cache.cache_shares``).

    Raises:
        HoldfastError: a hints or anchor file is unusable.
    """
    hints = read_hints(config)
    anchors = read_anchors(config)
    policy = stale_policy(config)
    rrset_bytes, answer_bytes = (
        int(part * share) for part, share in zip(cache_bytes(config), cache_shares, strict=True)
    )
    cache = Cache(
        clock,
        max_entries=config["cache.max_entries"],
        max_bytes=rrset_bytes,
        lifetimes=cache_lifetimes(config),
    )
    selection = ServerSelection(
        clock,
        holddown=config["upstream.holddown"],
        max_holddown=config["upstream.max_holddown"],
        max_rto=config["upstream.max_timeout"],
    )
    negative_anchors = nta.NegativeTrustAnchors(
        clock, nta.zone_names(config["dnssec.negative_trust_anchors"])
    )
    validator = Validator(
        anchors=anchors,
        cache=cache,
        clock=clock,
        bogus_ttl=config["dnssec.bogus_ttl"],
        negative_anchors=negative_anchors,
        # Bound late: the iterator, built next, tells bogus data from the
        # local root copy apart from a server's.
        hold_down=lambda address, zone, reason: iterator.hold_down(address, zone, reason),
    )
    routes = RouteTable(clock, config["routes"])
    local_root = local_root_for(config, clock.wall)
    local_root.on_withdrawn = lambda: cache.flush_source(LOCAL_ROOT)
    iterator = Iterator(
        cache=cache,
        selection=selection,
        hints=hints,
        limits=query_limits(config),
        validator=validator,
        qname_minimisation=config["upstream.qname_minimisation"],
        harden_glue=config["upstream.harden_glue"],
        aggressive_nsec=config["dnssec.aggressive_nsec"],
        routes=routes,
        local_root=local_root,
        failed_targets=FailureCache(clock, failure_policy(config)),
        forwarding=configured_table(config[STUB_ZONE], config[FORWARD_ZONE]),
    )
    allow = [ipaddress.ip_network(n) for n in config["upstream.allow"]]
    root_service = root_service_for(config, local_root, anchors, allow, offload)
    if transport is None:
        transport = UdpTcpTransport(
            port=config["upstream.port"],
            allow=allow or None,
            case_randomisation=config["upstream.qname_case_randomisation"],
            case_exempt=nta.zone_names(config["upstream.qname_case_exempt"]),
        )
    dnstap = None
    if config["dnstap.socket"]:
        dnstap = DnstapOutput(
            config["dnstap.socket"],
            sample=config["dnstap.sample"],
            max_rate=config["dnstap.max_rate"],
            client_messages=config["dnstap.client_messages"],
            resolver_messages=config["dnstap.resolver_messages"],
        )
        transport = TappedTransport(transport, dnstap, config["upstream.port"])
    recursor = Recursor(
        iterator,
        transport,
        StaleAnswers(policy),
        failures=FailureCache(clock, failure_policy(config)),
        root_key_sentinel=config["dnssec.root_key_sentinel"],
        tier=shared_tier_for(config, cache, clock, withheld=negative_anchors.covering),
        dns64=Dns64.from_texts(
            config["dns64.prefix"],
            synthall=config["dns64.synthall"],
            ignore_aaaa=config["dns64.ignore_aaaa"],
            exclude=config["dns64.exclude"],
        ),
        renumber=Renumbering.from_texts(config["renumber.prefixes"]),
    )
    recursor.trace_sample.rate = config["logging.trace_sample"]
    answers = None
    if config["cache.max_answers"]:
        answers = AnswerCache(
            clock,
            udp_payload=config["server.max_udp_size"],
            max_entries=config["cache.max_answers"],
            max_bytes=answer_bytes,
            cache_generation=lambda: cache.generation,
            lifetime_share=template_share(policy),
        )
    access = AccessList(config["server.allow"])
    server = DnsServer(
        [parse_endpoint(text) for text in config["server.listen"]],
        recursor.handle,
        access,
        limits=ServerLimits.from_config(config),
        answers=answers,
        lifetimes=lambda: cache.lifetimes,
    )
    server.query_log = config["logging.query_log"]
    server.local_zones = local_zones(config)
    server.policy = Policy(config[POLICY])
    server.identity = chaos_identity(config)
    server.dnstap = dnstap
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
        encrypted_server_for(config, server),
        maintainer_for(config, anchors, clock),
    )


def without_missing_ipv6(config: Config) -> Config:
    """``config``, minus the default ``[::1]:53`` listener if this host has no IPv6.

    The default listens on both loopbacks; on a host built without IPv6
    that would stop ``holdfast serve`` from starting at all. Like Unbound,
    which skips an interface whose address family the system lacks
    (services/listen_dnsport.c: ``noproto`` on EAFNOSUPPORT), the IPv6
    listener is skipped and that is logged; IPv4 is served. A listener the
    operator named, and any other bind failure, still stops the start.
    """
    listen: list[str] = config["server.listen"]
    if listen != Config.defaults()["server.listen"] or DEFAULT_IPV6_LISTENER not in listen:
        return config
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        if error.errno not in NO_IPV6:
            return config  # the real bind reports it
        log.warning("%s skipped: no IPv6 on this host (%s); serving IPv4 only",
                    DEFAULT_IPV6_LISTENER, error.strerror,
                    extra={"event": "listener_skipped", "listen": DEFAULT_IPV6_LISTENER})
        kept = [text for text in listen if text != DEFAULT_IPV6_LISTENER]
        return config.with_overrides({"server.listen": kept}, source="no IPv6 on this host")
    return config


def local_root_for(config: Config, wall: Callable[[], float]) -> LocalRoot:
    """The holder of the ``[local_root]`` copy, with the operator's bounds on its life."""
    local_root = LocalRoot(
        wall,
        LifetimePolicy(
            safety_margin=config["local_root.safety_margin"],
            max_age=config["local_root.max_age"] or None,
        ),
    )
    local_root.enabled = config["local_root.enabled"]
    return local_root


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


def maintainer_for(config: Config, anchors: TrustAnchors, clock: Clock) -> AnchorMaintainer | None:
    """The RFC 5011 refresh of ``[dnssec] trust_anchor_file``, or None without one.

    ``anchors`` are all those in force (read by ``read_anchors``); the ones
    at the managed zones are the file's, the rest stay as they are.
    """
    points = read_managed(config)
    if not points:
        return None
    limits = query_limits(config).validation
    maintainer = AnchorMaintainer(Path(config["dnssec.trust_anchor_file"]), points, clock, limits)
    maintainer.keep_static(anchors)
    return maintainer


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
        reload=lambda: reload_off_loop(resolver),
        local_zones=lambda: resolver.server.local_zones,
        answers=resolver.answers,
        trace=lambda question, dnssec: trace_command.run(resolver.recursor, question, dnssec),
        forwarding=resolver.iterator.forwarding,
        negative_anchors=resolver.iterator.validator.negative_anchors,
        shared_tier=lambda: resolver.recursor.tier,
        forget=resolver.iterator.forget,
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
    #: Its own DNS over TLS and HTTPS sockets, if any are configured.
    encrypted: Sequence[EncryptedListening] = ()
    #: Adopts the local root the supervisor checked (``root_sharing``); with
    #: it, this worker runs no refresh task of its own.
    local_root: RootFollower | None = None


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
            if resolver.server.dnstap is not None:
                await nursery.start(resolver.server.dnstap.run)
            listening = None if handover is None else handover.listening
            endpoints = await nursery.start(resolver.server.serve, listening)
            if resolver.encrypted is not None:
                await nursery.start(resolver.encrypted.serve,
                                    None if handover is None else handover.encrypted)
            if handover is None:
                await nursery.start(serve_control, control_path, commands(resolver))
            else:
                handler: Handler = commands(resolver)
                if handover.local_root is not None:
                    handler = handover.local_root.handler(handler)
                nursery.start_soon(_serve_supervisor, handover.channel, handler)
            if resolver.config["metrics.listen"]:

                async def snapshot() -> Snapshot:
                    return collect(resolver)

                metrics = parse_endpoint(resolver.config["metrics.listen"])
                await nursery.start(serve_metrics, metrics, snapshot)
            drop_privileges(resolver.config["server.user"])
            if resolver.root_service is not None and (handover is None
                                                      or handover.local_root is None):
                await nursery.start(resolver.root_service.run)
            if resolver.maintainer is not None:  # writes its file as [server] user too
                await nursery.start(resolver.maintainer.run, resolver)
            if resolver.config["dnssec.trust_anchor_signaling"]:
                nursery.start_soon(signal_key_tags, resolver.recursor,
                                   lambda: resolver.iterator.validator.anchors)
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
                    nursery.start_soon(_reload_on_signal, resolver)
                    continue
                log.info("%s received: finishing in-flight queries", signal.Signals(signum).name,
                         extra={"event": "stopping"})
                async with trio.open_nursery() as stopping:  # the same grace for every transport
                    stopping.start_soon(resolver.server.shutdown, SHUTDOWN_GRACE)
                    if resolver.encrypted is not None:
                        stopping.start_soon(resolver.encrypted.shutdown, SHUTDOWN_GRACE)
                nursery.cancel_scope.cancel()
                break
    log.info("holdfast stopped", extra={"event": "stopped"})


async def reload_off_loop(resolver: Resolver) -> dict[str, Any]:
    """``reload.reload`` with the files read in a thread: a slow disk never stalls DNS.

    Raises:
        ConfigError: the file (or one it names) is unusable; nothing changed.
    """
    candidate = await trio.to_thread.run_sync(read_candidate, resolver.config)
    return apply(resolver, candidate)


async def _reload_on_signal(resolver: Resolver) -> None:
    """SIGHUP: reopen the query log file, reload the configuration; failures are logged.

    The reopen comes first and whatever the reload makes of the file:
    logrotate's SIGHUP must not leave the query log in the renamed file.
    """
    reopen_query_log()
    try:
        await reload_off_loop(resolver)
    except ConfigError:
        pass  # logged by reload as config_refused; the running configuration stays
    except Exception:
        log.exception("configuration reload failed; the running configuration stays",
                      extra={"event": "config_refused"})


def reopen_query_log() -> None:
    """``logs.reopen_query_log``; a file that cannot be reopened is logged, not raised."""
    try:
        logs.reopen_query_log()
    except QueryLogError as error:
        log.error("%s; the query log goes on to the old file", error,
                  extra={"event": "query_log_reopen_failed"})


async def _serve_supervisor(channel: trio.abc.Stream, handler: Handler) -> None:
    """A worker's control channel; its end means the supervisor is gone: stop as on SIGTERM."""
    await serve_stream(channel, handler)
    log.warning("the supervisor closed the control channel: stopping",
                extra={"event": "supervisor_gone"})
    signal.raise_signal(signal.SIGTERM)
