"""Configuration reload without a restart: SIGHUP and ``holdfast ctl reload``.

Why two steps: the November 2025 outage (shared/incidents.md) was a file
that grew past a hard limit and took the fleet down as every instance
loaded it. So a reload first reads the file again and checks it completely,
touching nothing: ``load_config`` (unknown keys, types, CIDRs, ranges, TOML,
size), the files and user it names (as ``holdfast check-config`` does), and
every object the new values make. Any problem refuses the whole file with
an ERROR event ``config_refused``; the running configuration stays exactly
as it was. Only then are the changes applied, by steps that cannot fail.

What a reload applies (every option with ``Option.reload``, and routes):

* ``server.allow``: the access list, from the next packet.
* ``upstream.holddown``, ``upstream.max_holddown``: hold-downs from now on
  (servers held down now keep their time).
* ``upstream.timeout_rounds``, ``limits.*``, ``dnssec.max_*``: the work
  limits of every client query from now on.
* ``cache.min_ttl``, ``max_ttl``, ``max_negative_ttl``, ``dnssec.bogus_ttl``:
  data cached from now on. ``serve_stale.enabled`` and ``max_stale`` also set
  the cache's stale window, which applies to what it holds at once.
* ``serve_stale.*``: the next question (and, for ``prefetch``, how long
  ready-made responses live).
* ``dnssec.trust_anchors``: the files are read again even when the list is
  unchanged; a different set of anchors flushes the cache, whose validation
  verdicts were reached under the old ones.
* ``local_root.enabled``: switched as ``ctl local-root enable|disable`` does.
* ``logging.level``, ``logging.query_log``.
* ``[[route]]``: the configured routes are replaced; routes added with
  ``ctl route`` stay and win for their zone. A duration (``expires =
  "2h"``) counts from the reload, since the file is read anew.

Options that changed but need a restart are reported and logged as a
WARNING (event ``config_needs_restart``), and are not applied: the running
configuration keeps their old value, so ``status`` stays true and the next
reload reports them again. Command-line overrides are applied on top of the
file again (``Config.reread``), as at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnssec.anchors import TrustAnchors
from dnssec.errors import HoldfastError
from resolver import logs
from resolver.access import AccessList
from resolver.config import OPTIONS, Config
from resolver.errors import ConfigError
from resolver.routes import RouteTable
from resolver.settings import (
    cache_lifetimes,
    check_files,
    query_limits,
    read_anchors,
    stale_policy,
    template_share,
)

if TYPE_CHECKING:
    from resolver.daemon import Resolver

log = logging.getLogger("holdfast.reload")

#: Puts a prepared change in place; never fails.
Commit = Callable[[], None]
#: Checks and builds what some options make (may raise), returning the commit.
Prepare = Callable[["Resolver", Config], Commit]

#: The name under which the ``[[route]]`` tables are compared and reported.
ROUTES = "routes"


@dataclass(frozen=True, slots=True)
class _Part:
    """Options applied together, and how."""

    options: frozenset[str]
    prepare: Prepare


_PARTS: list[_Part] = []


def _applies(*options: str) -> Callable[[Prepare], Prepare]:
    """Register a ``Prepare`` for ``options``: it runs when any of them changed."""

    def register(prepare: Prepare) -> Prepare:
        _PARTS.append(_Part(frozenset(options), prepare))
        return prepare

    return register


def reload(resolver: Resolver, path: Path | None = None) -> dict[str, Any]:
    """Read the configuration again and apply what changed; refuse it whole if it is unusable.

    Args:
        resolver: The running resolver.
        path: A file to read instead of the one the running configuration
            came from (later reloads then read it); None: that same file,
            or the defaults when it was started without one.

    Returns:
        ``{"reloaded": source, "applied": [...], "needs_restart": [...],
        "unchanged": bool}``, option names sorted.

    Raises:
        ConfigError: the file (or one it names) is unusable; nothing changed.
    """
    running = resolver.config
    try:
        config = running.reread(path)
        anchors = check_files(config)
        changed = _changed(running, config, resolver.anchors, anchors)
        commits = [part.prepare(resolver, config) for part in _PARTS if part.options & changed]
    except HoldfastError as exc:
        raise refused(running, exc, path) from exc
    for commit in commits:
        commit()
    applied = sorted(changed & RELOADABLE)
    needs_restart = sorted(changed - RELOADABLE)
    resolver.config = effective(running, config)
    if needs_restart:
        log.warning("changed options that need a restart, not applied: %s",
                    ", ".join(needs_restart),
                    extra={"event": "config_needs_restart", "options": needs_restart})
    log.info("configuration reloaded from %s: %s", config.source,
             ", ".join(applied) if applied else "no change applied",
             extra={"event": "config_reloaded", "source": config.source, "applied": applied,
                    "needs_restart": needs_restart})
    return {
        "reloaded": config.source,
        "applied": applied,
        "needs_restart": needs_restart,
        "unchanged": not changed,
    }


def refused(running: Config, exc: HoldfastError, path: Path | None = None) -> ConfigError:
    """Log (ERROR, event ``config_refused``) why a new configuration is refused; the error to raise.

    Used here and by the ``--workers`` supervisor, which checks a file before
    any worker sees it.
    """
    source = str(path or running.path or running.source)
    log.error("configuration refused, the running one stays: %s", exc,
              extra={"event": "config_refused", "source": source, "reason": str(exc)})
    return ConfigError(f"refused, the running configuration stays: {exc}")


def _changed(
    running: Config, config: Config, anchors_in_use: TrustAnchors, anchors: TrustAnchors
) -> set[str]:
    """Names of the options (and ``routes``) whose value differs; anchors by content too."""
    changed = {option.name for option in OPTIONS if running[option.name] != config[option.name]}
    if running[ROUTES] != config[ROUTES]:
        changed.add(ROUTES)
    if _anchor_text(anchors_in_use) != _anchor_text(anchors):
        changed.add("dnssec.trust_anchors")
    return changed


def _anchor_text(anchors: TrustAnchors) -> list[str]:
    return sorted(rrset.to_text() for rrset in anchors.rrsets)


def effective(running: Config, config: Config) -> Config:
    """The configuration now in effect: the new one, except options that need a restart."""
    values = dict(config.values)
    for option in OPTIONS:
        if option.name not in RELOADABLE:
            values[option.name] = running[option.name]
    return Config(values, config.source, config.path, config.overrides)


# -- what each option does, in order (routes first: the only prepare that
#    reads live state another command changes) ---------------------------------


@_applies(ROUTES)
def _routes(resolver: Resolver, config: Config) -> Commit:
    # A dry run on a copy: too many routes beside the operator's refuse the file.
    RouteTable(resolver.clock, resolver.routes.routes()).replace_configured(config[ROUTES])
    return lambda: resolver.routes.replace_configured(config[ROUTES])


@_applies("server.allow")
def _access(resolver: Resolver, config: Config) -> Commit:
    allow = AccessList(config["server.allow"])
    return lambda: resolver.access.replace(allow)


@_applies("upstream.holddown", "upstream.max_holddown")
def _holddowns(resolver: Resolver, config: Config) -> Commit:
    holddown, longest = config["upstream.holddown"], config["upstream.max_holddown"]
    return lambda: resolver.selection.set_holddowns(holddown, longest)


@_applies(
    "upstream.timeout_rounds",
    "limits.max_upstream_queries",
    "limits.max_referrals",
    "limits.max_depth",
    "limits.max_cname_chain",
    "limits.time_budget",
    "dnssec.max_signatures_per_query",
    "dnssec.max_signatures_per_response",
    "dnssec.max_keys_per_tag",
    "dnssec.max_nsec3_iterations",
    "dnssec.max_nsec3_hashes",
)
def _limits(resolver: Resolver, config: Config) -> Commit:
    limits = query_limits(config)

    def commit() -> None:
        resolver.iterator.limits = limits

    return commit


@_applies(
    "cache.min_ttl",
    "cache.max_ttl",
    "cache.max_negative_ttl",
    "dnssec.bogus_ttl",
    "serve_stale.enabled",
    "serve_stale.max_stale",
)
def _lifetimes(resolver: Resolver, config: Config) -> Commit:
    lifetimes = cache_lifetimes(config)

    def commit() -> None:
        resolver.cache.lifetimes = lifetimes
        resolver.iterator.validator.bogus_ttl = lifetimes.bogus_ttl

    return commit


@_applies(
    "serve_stale.enabled",
    "serve_stale.max_stale",
    "serve_stale.reply_ttl",
    "serve_stale.client_timeout",
    "serve_stale.failure_recheck",
    "serve_stale.prefetch",
)
def _serve_stale(resolver: Resolver, config: Config) -> Commit:
    policy = stale_policy(config)

    def commit() -> None:
        if resolver.recursor.stale is not None:
            resolver.recursor.stale.policy = policy
        if resolver.answers is not None:
            resolver.answers.lifetime_share = template_share(policy)

    return commit


@_applies("dnssec.trust_anchors")
def _anchors(resolver: Resolver, config: Config) -> Commit:
    anchors = read_anchors(config)

    def commit() -> None:
        different = _anchor_text(anchors) != _anchor_text(resolver.anchors)
        resolver.anchors = anchors
        resolver.iterator.validator.anchors = anchors
        if resolver.root_service is not None:
            resolver.root_service.anchors = anchors
        if different:  # not merely the same anchors from other files
            flushed = resolver.cache.flush_all()
            log.warning("trust anchors changed (%s): cache flushed, %d entries",
                        ", ".join(str(zone) for zone in anchors.zones()), flushed,
                        extra={"event": "trust_anchors_changed", "flushed": flushed})

    return commit


@_applies("local_root.enabled")
def _local_root(resolver: Resolver, config: Config) -> Commit:
    if config["local_root.enabled"]:
        return resolver.local_root.enable
    return resolver.local_root.disable


@_applies("logging.level")
def _log_level(resolver: Resolver, config: Config) -> Commit:
    level: str = config["logging.level"]
    return lambda: logs.set_level(level)


@_applies("logging.query_log")
def _query_log(resolver: Resolver, config: Config) -> Commit:
    enabled: bool = config["logging.query_log"]

    def commit() -> None:
        resolver.server.query_log = enabled

    return commit


#: What a reload applies: the options with ``Option.reload``, and ``routes``.
RELOADABLE = frozenset(name for part in _PARTS for name in part.options)
