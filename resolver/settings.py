"""The configuration's sections as the objects the resolver's stages take.

Shared by ``daemon.build`` (at start) and ``reload`` (on SIGHUP or
``holdfast ctl reload``), so that an option means the same thing both
times: a reload that translated ``[limits]`` on its own could drift from
what a restart would give. The files a configuration names (root hints,
trust anchors) are read here too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from dnssec.anchors import TrustAnchors
from dnssec.anchorstate import anchors_of, read_state
from dnssec.files import FileRefused
from dnssec.rfc5011 import TrustPoint
from dnssec.work import WorkLimits
from resolver.cache import Lifetimes
from resolver.config import LOCAL_DATA, LOCAL_ZONE, Config
from resolver.errors import ConfigError
from resolver.failures import FailurePolicy
from resolver.identity import Identity
from resolver.iterator import PREFETCH_SHARE
from resolver.limits import Limits
from resolver.localzones import LocalZones
from resolver.logs import query_target_problem
from resolver.privileges import lookup_user
from resolver.shared_tier import shared_settings
from resolver.stale import StalePolicy
from resolver.tls import identity_for
from rootzone.hints import RootHints

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


def failure_policy(config: Config) -> FailurePolicy:
    """RFC 9520 failure caching: ``[cache] failure_ttl``, ``max_failure_ttl``, ``max_failures``.

    Raises:
        ConfigError: max_failure_ttl is below failure_ttl.
    """
    return FailurePolicy(
        initial=config["cache.failure_ttl"],
        cap=config["cache.max_failure_ttl"],
        max_entries=config["cache.max_failures"],
    )


def query_limits(config: Config) -> Limits:
    """The work limits of one client query: ``[limits]``, upstream rounds, DNSSEC work."""
    return Limits(
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


def local_zones(config: Config) -> LocalZones:
    """``[local_zones]``, ``[[local_zone]]`` and ``[[local_data]]`` as the table the server asks."""
    return LocalZones.from_settings(
        config[LOCAL_ZONE],
        config[LOCAL_DATA],
        defaults=config["local_zones.defaults"],
        nodefault=config["local_zones.nodefault"],
    )


def chaos_identity(config: Config) -> Identity:
    """What the CHAOS identity and version names say (``[server]``), and which are hidden."""
    return Identity(
        identity=config["server.identity"],
        hide_identity=config["server.hide_identity"],
        version=config["server.version"],
        hide_version=config["server.hide_version"],
    )


def template_share(policy: StalePolicy) -> float:
    """The share of its TTL a ready-made response lives (``answers.AnswerCache``).

    With prefetch, a template ends where prefetch begins, so the slow path
    sees the question again in time to refresh it.
    """
    return 1.0 - PREFETCH_SHARE if policy.prefetch else 1.0


#: The share of ``[cache] max_bytes`` the RRset cache gets; the ready-made
#: responses get the rest. Unbound advises an rrset-cache-size twice the
#: msg-cache-size; a template here is a whole response (two copies), but it
#: is rebuilt from the RRset cache at the cost of one slow answer.
RRSET_SHARE = 0.75


def cache_bytes(config: Config) -> tuple[int, int]:
    """``[cache] max_bytes`` split: bytes for the RRset cache, bytes for the templates."""
    total: int = config["cache.max_bytes"]
    rrsets = int(total * RRSET_SHARE)
    return rrsets, total - rrsets


def cache_lifetimes(config: Config) -> Lifetimes:
    """How long the cache keeps data: ``[cache]`` TTL bounds, stale window, bogus TTL.

    Raises:
        ConfigError: the bounds contradict each other (min_ttl above a maximum).
    """
    policy = stale_policy(config)
    return Lifetimes(
        min_ttl=config["cache.min_ttl"],
        max_ttl=config["cache.max_ttl"],
        max_negative_ttl=config["cache.max_negative_ttl"],
        stale_window=policy.max_stale if policy.enabled else 0.0,
        bogus_ttl=config["dnssec.bogus_ttl"],
    )


def read_hints(config: Config) -> RootHints:
    """The root hints from the configured file, or the IANA ones.

    Raises:
        ConfigError: the file cannot be read (naming the option or flag).
        RecordFileError: it does not parse (naming the file and line).
    """
    path = config["upstream.root_hints"]
    if not path:
        return RootHints.builtin()
    with _naming(config, "upstream.root_hints"):
        return RootHints.from_file(path)


def read_anchors(config: Config) -> TrustAnchors:
    """The trust anchors: the configured files and the managed ones, or the IANA root anchors.

    Raises:
        ConfigError: a file cannot be read (naming the option or flag), or
            a zone has both a static and a managed anchor.
        RecordFileError: it does not parse (naming the file and line).
    """
    paths: list[str] = config["dnssec.trust_anchors"]
    if not paths and not config["dnssec.trust_anchor_file"]:
        return TrustAnchors.builtin()
    with _naming(config, "dnssec.trust_anchors"):
        static = TrustAnchors.merge(TrustAnchors.from_file(p) for p in paths)
    managed = read_managed(config)
    both = set(static.zones()) & {point.zone for point in managed}
    if both:
        raise ConfigError(
            f"dnssec.trust_anchors and dnssec.trust_anchor_file both anchor "
            f"{', '.join(sorted(str(zone) for zone in both))}: keep one of them",
            source=str(config.path) if config.path is not None else None,
        )
    return TrustAnchors.merge((static, anchors_of(managed)))


def read_managed(config: Config) -> tuple[TrustPoint, ...]:
    """The RFC 5011 trust points of ``[dnssec] trust_anchor_file``; none if it is not set.

    Raises:
        ConfigError: the file cannot be read (a missing one says how to make it).
        AnchorStateError: it does not parse (naming the file and line).
    """
    path: str = config["dnssec.trust_anchor_file"]
    if not path:
        return ()
    with _naming(config, "dnssec.trust_anchor_file"):
        if not os.path.lexists(path):  # only for the advice: the read decides
            raise FileRefused(path, f"no such file; create it with holdfast anchor --file {path}")
        return read_state(path)


@contextlib.contextmanager
def _naming(config: Config, option: str) -> Iterator[None]:
    """Say which setting named a file that cannot be read: the flag if given, else the option.

    "x.ds: cannot open: No such file" alone leaves a new user asking where
    that name came from.
    """
    try:
        yield
    except FileRefused as error:
        if option in config.overrides:
            raise ConfigError(str(error), source=SERVE_FLAGS[option]) from error
        where = str(config.path) if config.path is not None else None
        raise ConfigError(f"{option}: {error}", source=where) from error


def check_files(config: Config) -> TrustAnchors:
    """Check what ``load_config`` cannot: the files and the user the configuration names.

    ``holdfast check-config`` and a reload run it, so that a configuration
    they accept would also start. Returns the trust anchors it read.

    Raises:
        HoldfastError: a hints or anchor file is unusable, the user is unknown,
            or the cache bounds (TTLs, failure holds) contradict each other.
    """
    read_hints(config)
    anchors = read_anchors(config)
    cache_lifetimes(config)
    failure_policy(config)
    identity_for(config)  # the TLS certificate and key, if DoT or DoH is served
    shared_settings(config)  # the shared cache's secret and password files
    problem = query_target_problem(config["logging.query_log_target"])
    if problem is not None:
        where = str(config.path) if config.path is not None else None
        raise ConfigError(f"logging.query_log_target: {problem}", source=where)
    if config["server.user"]:
        lookup_user(config["server.user"])
    return anchors
