"""The configuration's sections as the objects the resolver's stages take.

Shared by ``daemon.build`` (at start) and ``reload`` (on SIGHUP or
``holdfast ctl reload``), so that an option means the same thing both
times: a reload that translated ``[limits]`` on its own could drift from
what a restart would give. The files a configuration names (root hints,
trust anchors) are read here too.
"""

from __future__ import annotations

from pathlib import Path

from dnssec.anchors import TrustAnchors
from dnssec.work import WorkLimits
from resolver.cache import Lifetimes
from resolver.config import Config
from resolver.errors import ConfigError
from resolver.iterator import PREFETCH_SHARE
from resolver.limits import Limits
from resolver.privileges import lookup_user
from resolver.stale import StalePolicy
from rootzone.hints import RootHints


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


def template_share(policy: StalePolicy) -> float:
    """The share of its TTL a ready-made response lives (``answers.AnswerCache``).

    With prefetch, a template ends where prefetch begins, so the slow path
    sees the question again in time to refresh it.
    """
    return 1.0 - PREFETCH_SHARE if policy.prefetch else 1.0


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


def check_files(config: Config) -> TrustAnchors:
    """Check what ``load_config`` cannot: the files and the user the configuration names.

    ``holdfast check-config`` and a reload run it, so that a configuration
    they accept would also start. Returns the trust anchors it read.

    Raises:
        HoldfastError: a hints or anchor file is unusable, the user is unknown,
            or the cache bounds contradict each other.
    """
    read_hints(config)
    anchors = read_anchors(config)
    cache_lifetimes(config)
    if config["server.user"]:
        lookup_user(config["server.user"])
    return anchors


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from exc
