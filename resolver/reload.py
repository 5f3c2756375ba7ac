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
* ``logging.level``, ``logging.query_log``, ``logging.query_log_target``
  (a file that cannot be opened refuses the reload), ``logging.trace_sample``.
* The TLS certificate and key (``server.tls_certificate``, ``tls_key``):
  the files are read again at every reload, a renewal keeping their paths
  (new paths need a restart, like the listeners); one that fails
  ``tls.load_identity`` (unreadable, mismatched key, expired) refuses the
  whole file. New DoT and DoH connections get the new one; open ones are
  not dropped.
* ``[local_zones]``, ``[[local_zone]]``, ``[[local_data]]``: when one of
  them changed, the local zones are rebuilt from the file (zones and data
  added by ``ctl`` are gone, as with Unbound's reload), and the cache of the
  ready-made responses with them. A reload that leaves them as they were
  keeps what ``ctl`` changed.
* ``server.identity``, ``version``, ``hide_identity``, ``hide_version``.
* ``[[policy]]``: the rules are replaced. Their answers are never kept as
  ready-made responses, but what a newly blocked name was answered before
  is: the ready-made responses are dropped too.
* ``[[route]]``: the configured routes are replaced; routes added with
  ``ctl route`` stay and win for their zone. A duration (``expires =
  "2h"``) counts from the reload, since the file is read anew.
* ``[[stub_zone]]``, ``[[forward_zone]]``: the same, for the stub and
  forward zones and ``ctl stub|forward add`` (``forwarding.py``); what the
  cache learnt through the old servers stays until its TTL (as Unbound's
  ``forward_add``; ``ctl flush zone`` forgets it).

Reading is apart from applying: ``read_candidate`` reads and checks the
files (blocking, bounded: regular files only, size caps, ``dnssec.files``)
and is run in a thread by the event loop's callers (``daemon``, ``workers``),
so a slow disk cannot stall DNS; ``apply`` then runs on the loop and touches
no file.

Options that changed but need a restart are reported and logged as a
WARNING (event ``config_needs_restart``), and are not applied: the running
configuration keeps their old value, so ``status`` stays true and the next
reload reports them again. Command-line overrides are applied on top of the
file again (``Config.reread``), as at start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnssec.anchors import TrustAnchors
from dnssec.errors import HoldfastError
from resolver import logs, nta
from resolver.access import AccessList
from resolver.config import (
    FORWARD_ZONE,
    LOCAL_DATA,
    LOCAL_ZONE,
    OPTIONS,
    POLICY,
    STUB_ZONE,
    Config,
)
from resolver.errors import ConfigError
from resolver.forwarding import configured_table
from resolver.policy import Policy
from resolver.routes import RouteTable
from resolver.settings import (
    cache_lifetimes,
    chaos_identity,
    check_files,
    local_zones,
    query_limits,
    stale_policy,
    template_share,
)
from resolver.tls import TlsIdentity, identity_for

if TYPE_CHECKING:
    from resolver.daemon import Resolver

log = logging.getLogger("holdfast.reload")

#: Puts a prepared change in place; never fails.
Commit = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A configuration read and checked with the files it names, not yet applied.

    Attributes:
        config: The configuration as the file reads now, overrides on top.
        anchors: The trust anchors its files hold (read once, here).
        path: The file asked for instead of the running one, if any.
        tls: The TLS certificate and key its files hold, if DoT or DoH is
            served (read again at each reload: a renewal keeps the path).
    """

    config: Config
    anchors: TrustAnchors
    path: Path | None
    tls: TlsIdentity | None = None


#: Checks and builds what some options make (may raise), returning the commit.
Prepare = Callable[["Resolver", Candidate], Commit]

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
    """``read_candidate`` then ``apply``, blocking: for callers outside an event loop."""
    return apply(resolver, read_candidate(resolver.config, path))


def read_candidate(running: Config, path: Path | None = None) -> Candidate:
    """Read the configuration again, and the files it names, and check them all.

    Blocking (it reads files): async callers run it with
    ``trio.to_thread.run_sync``. It touches nothing of the running resolver.

    Args:
        running: The configuration in use (its file, its overrides).
        path: A file to read instead of the one the running configuration
            came from (later reloads then read it); None: that same file,
            or the defaults when it was started without one.

    Raises:
        ConfigError: the file (or one it names) is unusable (logged).
    """
    try:
        config = running.reread(path)
        anchors = check_files(config)
        tls = identity_for(config)
    except HoldfastError as exc:
        raise refused(running, exc, path) from exc
    return Candidate(config, anchors, path, tls)


def apply(resolver: Resolver, candidate: Candidate) -> dict[str, Any]:
    """Apply what changed in ``candidate``; refuse it whole if a part cannot be built.

    Returns:
        ``{"reloaded": source, "applied": [...], "needs_restart": [...],
        "unchanged": bool}``, option names sorted.

    Raises:
        ConfigError: a part is unusable (too many routes...); nothing changed.
    """
    running, config = resolver.config, candidate.config
    try:
        changed = _changed(running, config, resolver.anchors, candidate.anchors)
        commits = [
            part.prepare(resolver, candidate) for part in _PARTS if part.options & changed
        ]
    except HoldfastError as exc:
        raise refused(running, exc, candidate.path) from exc
    for commit in commits:
        commit()
    _renew_certificate(resolver, candidate)
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
    tables = (ROUTES, LOCAL_ZONE, LOCAL_DATA, STUB_ZONE, FORWARD_ZONE, POLICY)
    changed.update(name for name in tables if running[name] != config[name])
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
def _routes(resolver: Resolver, candidate: Candidate) -> Commit:
    # A dry run on a copy: too many routes beside the operator's refuse the file.
    routes = candidate.config[ROUTES]
    RouteTable(resolver.clock, resolver.routes.routes()).replace_configured(routes)
    return lambda: resolver.routes.replace_configured(routes)


@_applies(STUB_ZONE, FORWARD_ZONE)
def _forwarding(resolver: Resolver, candidate: Candidate) -> Commit:
    # As routes: the configured entries are replaced, ctl's stay and win.
    config = candidate.config
    entries = configured_table(config[STUB_ZONE], config[FORWARD_ZONE]).entries()
    return lambda: resolver.iterator.forwarding.replace_configured(entries)


@_applies("server.allow")
def _access(resolver: Resolver, candidate: Candidate) -> Commit:
    allow = AccessList(candidate.config["server.allow"])
    return lambda: resolver.access.replace(allow)


@_applies("upstream.holddown", "upstream.max_holddown")
def _holddowns(resolver: Resolver, candidate: Candidate) -> Commit:
    config = candidate.config
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
def _limits(resolver: Resolver, candidate: Candidate) -> Commit:
    limits = query_limits(candidate.config)

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
def _lifetimes(resolver: Resolver, candidate: Candidate) -> Commit:
    lifetimes = cache_lifetimes(candidate.config)

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
def _serve_stale(resolver: Resolver, candidate: Candidate) -> Commit:
    policy = stale_policy(candidate.config)

    def commit() -> None:
        if resolver.recursor.stale is not None:
            resolver.recursor.stale.policy = policy
        if resolver.answers is not None:
            resolver.answers.lifetime_share = template_share(policy)

    return commit


@_applies("dnssec.negative_trust_anchors")
def _negative_anchors(resolver: Resolver, candidate: Candidate) -> Commit:
    zones = nta.zone_names(candidate.config["dnssec.negative_trust_anchors"])

    def commit() -> None:
        anchors = resolver.iterator.validator.negative_anchors
        if anchors is None:
            return
        before = {anchor.zone for anchor in anchors.anchors() if anchor.expires is None}
        anchors.configure(zones)
        for zone in before.symmetric_difference(zones):  # judged the other way till now
            resolver.cache.flush_zone(zone)

    return commit


@_applies("dnssec.trust_anchors")
def _anchors(resolver: Resolver, candidate: Candidate) -> Commit:
    anchors = candidate.anchors

    def commit() -> None:
        different = _anchor_text(anchors) != _anchor_text(resolver.anchors)
        resolver.anchors = anchors
        resolver.iterator.validator.anchors = anchors
        if resolver.maintainer is not None:  # the managed zones' anchors stay its own
            resolver.maintainer.keep_static(anchors)
        if resolver.root_service is not None:
            resolver.root_service.anchors = anchors
        if different:  # not merely the same anchors from other files
            flushed = resolver.cache.flush_all()
            log.warning("trust anchors changed (%s): cache flushed, %d entries",
                        ", ".join(str(zone) for zone in anchors.zones()), flushed,
                        extra={"event": "trust_anchors_changed", "flushed": flushed})

    return commit


@_applies("local_root.enabled")
def _local_root(resolver: Resolver, candidate: Candidate) -> Commit:
    if candidate.config["local_root.enabled"]:
        return resolver.local_root.enable
    return resolver.local_root.disable


@_applies("logging.level")
def _log_level(resolver: Resolver, candidate: Candidate) -> Commit:
    level: str = candidate.config["logging.level"]
    return lambda: logs.set_level(level)


@_applies("logging.query_log")
def _query_log(resolver: Resolver, candidate: Candidate) -> Commit:
    enabled: bool = candidate.config["logging.query_log"]

    def commit() -> None:
        resolver.server.query_log = enabled

    return commit


@_applies("logging.trace_sample")
def _trace_sample(resolver: Resolver, candidate: Candidate) -> Commit:
    rate: float = candidate.config["logging.trace_sample"]

    def commit() -> None:
        resolver.recursor.trace_sample.rate = rate

    return commit


@_applies("logging.query_log_target")
def _query_log_target(resolver: Resolver, candidate: Candidate) -> Commit:
    # Opened here, so a file that cannot be opened refuses the reload.
    handler = logs.query_log_handler(
        candidate.config["logging.query_log_target"], resolver.config["logging.format"])
    return lambda: logs.use_query_log(handler)


#: The options the local zones are built from: a change rebuilds them, and
#: drops what ``ctl local-data`` and ``local-zone`` added (``workers.ReplayLog``).
LOCAL_ZONE_OPTIONS = (LOCAL_ZONE, LOCAL_DATA, "local_zones.defaults", "local_zones.nodefault")


@_applies(*LOCAL_ZONE_OPTIONS)
def _local_zones(resolver: Resolver, candidate: Candidate) -> Commit:
    zones = local_zones(candidate.config)

    def commit() -> None:
        resolver.server.local_zones = zones
        if resolver.answers is not None:
            resolver.answers.clear()

    return commit


@_applies(POLICY)
def _policy(resolver: Resolver, candidate: Candidate) -> Commit:
    rules = Policy(candidate.config[POLICY])

    def commit() -> None:
        resolver.server.policy = rules
        if resolver.answers is not None:
            resolver.answers.clear()

    return commit


@_applies("server.identity", "server.hide_identity", "server.version", "server.hide_version")
def _identity(resolver: Resolver, candidate: Candidate) -> Commit:
    chaos = chaos_identity(candidate.config)

    def commit() -> None:
        resolver.server.identity = chaos

    return commit


def _renew_certificate(resolver: Resolver, candidate: Candidate) -> None:
    """Serve the certificate the files hold now, if it is another one (never fails).

    Not an option's apply step: the paths are the same when a certificate
    is renewed, so it runs at every reload. It was checked completely by
    ``read_candidate`` (``tls.load_identity``); connections open now keep
    their session, the next ones get the new certificate. New paths need a
    restart, like the listeners, so then nothing is done here.
    """
    encrypted, tls, config = resolver.encrypted, candidate.tls, candidate.config
    if encrypted is None or tls is None or tls.fingerprint == encrypted.identity.fingerprint:
        return
    if any(config[name] != resolver.config[name]
           for name in ("server.tls_certificate", "server.tls_key")):
        return
    encrypted.identity = tls
    log.info("TLS certificate reloaded (valid until %s)",
             time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(tls.not_after)),
             extra={"event": "tls_certificate_reloaded"})


#: What a reload applies: the options with ``Option.reload``, and ``routes``.
RELOADABLE = frozenset(name for part in _PARTS for name in part.options)
