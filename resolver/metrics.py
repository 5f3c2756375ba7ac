"""Prometheus metrics: a process's counters as a snapshot, snapshots merged, text rendered.

Three pure steps, so that ``--workers N`` can do the middle one in the
supervisor:

* ``collect(resolver)`` reads the counters every stage keeps already (the
  server, both caches, the recursor, the transport, the validator, server
  selection, the local root) into a ``Snapshot``: a JSON-able dict that
  crosses process boundaries (``holdfast ctl stats`` returns it). Nothing
  is counted here and no prometheus_client object is touched per query:
  the stages count in plain integers (``counters``), because the ready-made
  answer path serves ~100,000 queries a second and a prometheus_client
  ``Counter.inc`` (a lock, a label lookup) would cost a large share of that.
* ``merge(snapshots)`` combines the snapshots of several workers into one.
* ``exposition(snapshot)`` builds the metric families at scrape time (a
  custom collector on a private registry) and renders the text format with
  ``generate_latest``. ``docs/operations.md`` lists every series.

Merge semantics (per key, recursively; dicts are merged key by key over the
union of their keys, a key missing from a worker counts as nothing):

* counters (everything ending in a count, per-label dicts, the per-server
  tables, histogram ``counts`` and ``sum``): added up;
* ``workers``, ``cache.*.entries``, ``cache.*.bytes``, ``holddowns.current``,
  ``tcp_connections.open``, ``tls_connections.open``, ``local_root.state``
  (workers per state), ``shared_cache.store`` (workers per kind of store),
  ``shared_cache.breaker_open`` (workers whose breaker is open): added up
  too, since each worker has its own cache, hold-downs, sockets and breaker;
* ``uptime_seconds``, ``local_root.age_seconds``,
  ``local_root.refresh_age_seconds``, ``local_root.stale``,
  ``local_root.configured``, ``negative_trust_anchors.current`` (each worker
  has the same anchors): the maximum (the worst or oldest worker);
* ``local_root.serial``, ``local_root.seconds_to_retirement``: the minimum
  (the worker closest to trouble);
* ``build``, ``format`` and histogram ``bounds``: must be equal;
* ``None`` (a gauge with no value, e.g. no local root copy) is ignored.

A supervisor adds ``worker_restarts`` and ``worker_hung`` (counts) to its
merged snapshot; they are shown as ``holdfast_worker_restarts_total`` and
``holdfast_worker_hung_total``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dns.edns
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from dnssec.status import Security
from resolver import __version__
from resolver.counters import Histogram, ServerTable
from resolver.errors import HoldfastError
from resolver.scrub import REASONS
from rootzone.lifecycle import RootState

if TYPE_CHECKING:
    from resolver.daemon import Resolver
    from resolver.failures import FailureCache

#: A JSON-able dict of everything the metrics show (see the module docstring).
Snapshot = dict[str, Any]

#: Version of the snapshot layout; snapshots of different versions do not merge.
FORMAT = 1

#: Label values shown at 0 before they first happen, so ratios have a denominator.
_RCODES = ("NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR")
_TRANSPORTS = ("udp", "tcp", "dot", "doh")


class SnapshotError(HoldfastError):
    """Snapshots that cannot be merged: different layouts or types."""


def collect(resolver: Resolver) -> Snapshot:
    """Everything ``resolver`` counts, as a JSON-able snapshot."""
    server = resolver.server
    stats = server.stats
    cache = resolver.cache.statistics()
    recursor = resolver.recursor.stats
    validator = resolver.iterator.validator
    servers = getattr(resolver.recursor.transport, "servers", None)
    answers = resolver.answers.statistics() if resolver.answers is not None else None
    return {
        "format": FORMAT,
        "build": {"version": __version__, "python": platform.python_version()},
        "workers": 1,
        "uptime_seconds": round(time.time() - resolver.started, 3),
        "queries": {"udp": stats.queries_udp, "tcp": stats.queries_tcp,
                    "dot": stats.queries_dot, "doh": stats.queries_doh},
        "responses": dict(stats.responses),
        "qtypes": dict(stats.qtypes),
        "extended_errors": {str(code): count for code, count in stats.extended_errors.items()},
        "dropped": {"unanswerable": stats.dropped, "overload": stats.overloaded},
        "refused_by_acl": stats.refused_by_acl,
        "tcp_connections": {
            "accepted": stats.tcp_connections,
            "refused": stats.tcp_refused,
            "evicted": stats.tcp_evicted,
            "open": stats.tcp_open,
        },
        "tls_connections": _tls_connections(resolver),
        "latency": {
            "cached": server.cached_latency.snapshot(),
            "resolved": server.resolved_latency.snapshot(),
        },
        "cache": {
            "rrset": {
                "entries": cache.entries,
                "bytes": resolver.cache.accounted_bytes,
                "hits": cache.hits,
                "stale_hits": cache.stale_hits,
                "misses": cache.misses,
                "evictions": cache.evictions,
            },
            "answer": {
                "entries": answers.entries if answers else 0,
                "bytes": resolver.answers.accounted_bytes if resolver.answers else 0,
                "hits": answers.hits if answers else 0,
                "misses": answers.misses if answers else 0,
            },
        },
        "recursor": {
            "resolutions": recursor.resolutions,
            "shared": recursor.shared,
            "timeouts": recursor.timeouts,
            "prefetches": recursor.prefetches,
            "internal_errors": recursor.bugs,
        },
        "stale_answers": {
            "failure": recursor.stale_answers - recursor.stale_on_timer,
            "client_timeout": recursor.stale_on_timer,
        },
        "failure_cache": {
            "question": _failure_cache(resolver.recursor.failures),
            "ns_name": _failure_cache(resolver.iterator.failed_targets),
        },
        "upstream": {
            **(servers.snapshot() if isinstance(servers, ServerTable) else {}),
            **validator.bogus_servers.snapshot(),
        },
        "validation": dict(validator.verdicts),
        "scrubbed": dict(resolver.iterator.scrubbed),
        "aggressive_nsec": resolver.iterator.synthesised,
        "holddowns": {
            "current": len(resolver.selection.holddowns()),
            "started": resolver.selection.holddowns_started,
        },
        "negative_trust_anchors": _negative_anchors(resolver),
        "local_root": _local_root(resolver),
        "dnstap": _dnstap(resolver),
        "shared_cache": _shared_cache(resolver),
    }


def _shared_cache(resolver: Resolver) -> dict[str, Any]:
    """The shared cache tier's counters (``shared_tier.TierStats``); zeros without one.

    ``store`` counts the workers using each kind of store, ``breaker_open``
    the workers whose breaker is open (the tier skipped), as
    ``local_root.state`` counts workers per state.
    """
    tier = resolver.recursor.tier
    if tier is None:
        return {"store": {}, "breaker_open": 0, "breaker_openings": 0,
                "lookups": {}, "adopted": 0, "rejected": 0, "published": 0, "deleted": 0,
                "flushed": 0, "dropped": 0, "call_failures": {},
                "call_latency": {label: Histogram().snapshot() for label in _TIER_CALLS}}
    stats = tier.stats
    return {
        "store": {tier.kind: 1},
        "breaker_open": int(not tier.breaker.closed),
        "breaker_openings": tier.breaker.trips,
        "lookups": {"hit": stats.hits, "miss": stats.misses, "skipped": stats.skipped,
                    "failed": stats.failed},
        "adopted": stats.adopted,
        "rejected": stats.rejected,
        "published": stats.published,
        "deleted": stats.deleted,
        "flushed": stats.flushed,
        "dropped": stats.dropped,
        "call_failures": {"timeout": stats.timeouts, "error": stats.failures - stats.timeouts},
        "call_latency": {label: histogram.snapshot()
                         for label, histogram in tier.call_latency.items()},
    }


def _failure_cache(failures: FailureCache[Any]) -> dict[str, int]:
    """An RFC 9520 failure memory's size and the lookups it answered."""
    return {"entries": len(failures), "hits": failures.hits}
def _negative_anchors(resolver: Resolver) -> dict[str, int]:
    """The negative trust anchors in force, and the key lookups they made insecure."""
    anchors = resolver.iterator.validator.negative_anchors
    if anchors is None:
        return {"current": 0, "applied": 0}
    return {"current": len(anchors), "applied": anchors.applied}


def _dnstap(resolver: Resolver) -> dict[str, int]:
    """The dnstap stream's counters (all 0 without ``[dnstap] socket``)."""
    dnstap = resolver.server.dnstap
    stats = dnstap.statistics() if dnstap is not None else None
    return {
        "sent": stats.sent if stats else 0,
        "dropped": stats.dropped if stats else 0,
        "capped": stats.capped if stats else 0,
    }


def _tls_connections(resolver: Resolver) -> dict[str, Any]:
    """The DoT/DoH connection counters (``encrypted.EncryptedStats``); zeros without listeners."""
    encrypted = resolver.encrypted
    if encrypted is None:
        return {"accepted": {}, "open": 0, "refused": 0, "evicted": 0,
                "handshake_failures": {"error": 0, "timeout": 0}}
    stats = encrypted.stats
    return {
        "accepted": dict(stats.accepted),
        "open": stats.open,
        "refused": stats.refused,
        "evicted": stats.evicted,
        "handshake_failures": {"error": stats.handshake_failed - stats.handshake_timeouts,
                               "timeout": stats.handshake_timeouts},
    }


def _local_root(resolver: Resolver) -> dict[str, Any]:
    """The local root's state and the times of the copy loaded (None without one)."""
    local_root = resolver.local_root
    state = local_root.state()
    installed = local_root.installed
    now = local_root.now()
    return {
        "configured": int(resolver.root_service is not None),
        "state": {state.value: 1},
        "stale": int(installed is not None and now >= installed.stale_at),
        "serial": installed.copy.serial if installed else None,
        "age_seconds": round(now - installed.loaded_at, 3) if installed else None,
        "refresh_age_seconds": round(now - installed.refreshed_at, 3) if installed else None,
        "seconds_to_retirement": (
            round(max(0.0, installed.retirement.at - now), 3) if installed else None
        ),
        "answers": local_root.answered,
        "bogus": local_root.bogus,
        "rejections": dict(local_root.rejections),
    }


# -- merge -----------------------------------------------------------------


def _same(values: Sequence[Any]) -> Any:
    if any(value != values[0] for value in values[1:]):
        raise SnapshotError(f"workers disagree: {values!r}")
    return values[0]


#: The calls to the shared store timed (``shared_tier.TIMED_CALLS``), by label.
_TIER_CALLS = ("get", "put", "delete")

_RULES: dict[str, Callable[[Sequence[Any]], Any]] = {
    "format": _same,
    "build": _same,
    "latency.cached.bounds": _same,
    "latency.resolved.bounds": _same,
    "uptime_seconds": max,
    "local_root.age_seconds": max,
    "local_root.refresh_age_seconds": max,
    "local_root.stale": max,
    "local_root.configured": max,
    "local_root.serial": min,
    "local_root.seconds_to_retirement": min,
    "negative_trust_anchors.current": max,
    **{f"shared_cache.call_latency.{label}.bounds": _same for label in _TIER_CALLS},
}


def merge(snapshots: Sequence[Snapshot]) -> Snapshot:
    """One snapshot for several workers (rules in the module docstring).

    Raises:
        SnapshotError: no snapshot, or snapshots of different layouts.
    """
    if not snapshots:
        raise SnapshotError("no snapshot to merge")
    merged: Snapshot = _merge(list(snapshots), "")
    return merged


def _merge(values: list[Any], path: str) -> Any:
    present = [value for value in values if value is not None]
    if not present:
        return None
    rule = _RULES.get(path)
    if rule is not None:
        return rule(present)
    if all(isinstance(value, dict) for value in present):
        keys = dict.fromkeys(key for value in present for key in value)
        return {
            key: _merge([value.get(key) for value in present], f"{path}.{key}" if path else key)
            for key in keys
        }
    if all(isinstance(value, list) for value in present):
        if len({len(value) for value in present}) != 1:
            raise SnapshotError(f"{path}: lists of different lengths")
        return [_merge(list(column), path) for column in zip(*present, strict=True)]
    if all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
        return sum(present)
    raise SnapshotError(f"{path}: cannot merge {present!r}")


# -- exposition --------------------------------------------------------------


def exposition(snapshot: Snapshot) -> bytes:
    """The snapshot in the Prometheus text format (version 0.0.4)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)


class _SnapshotCollector(Collector):
    """Builds the metric families of one snapshot, when the registry is rendered."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return list(_families(self._snapshot))


def _families(snap: Snapshot) -> Iterator[Metric]:
    yield InfoMetricFamily("holdfast_build", "Version of Holdfast and of Python.", snap["build"])
    yield _gauge("holdfast_uptime_seconds", "Seconds since the resolver started.",
                 snap["uptime_seconds"])
    yield _gauge("holdfast_workers", "Worker processes these metrics add up.", snap["workers"])
    yield from _server_families(snap)
    yield from _cache_families(snap)
    yield from _resolution_families(snap)
    yield from _local_root_families(snap["local_root"])
    dnstap = snap.get("dnstap", {})
    yield _by("holdfast_dnstap_frames_total",
              "dnstap frames: sent to the collector, or dropped (queue full: the collector "
              "is slow or gone).", "result",
              {key: dnstap.get(key, 0) for key in ("sent", "dropped")}, ("sent", "dropped"))
    yield _counter("holdfast_dnstap_capped_total",
                   "Exchanges not sent as dnstap because of [dnstap] max_rate.",
                   dnstap.get("capped", 0))
    if "shared_cache" in snap:
        yield from _shared_cache_families(snap["shared_cache"])
    if "worker_restarts" in snap:
        yield _counter("holdfast_worker_restarts_total",
                       "Worker processes that died and were started again.",
                       snap["worker_restarts"])
    if "worker_hung" in snap:
        yield _counter("holdfast_worker_hung_total",
                       "Worker processes killed (and started again) because they stopped "
                       "answering the supervisor's heartbeat.", snap["worker_hung"])


def _server_families(snap: Snapshot) -> Iterator[Metric]:
    yield _by("holdfast_queries_total", "Client queries received, by transport.",
              "transport", snap["queries"], _TRANSPORTS)
    yield _by("holdfast_responses_total", "Responses sent to clients, by rcode.",
              "rcode", snap["responses"], _RCODES)
    yield _by("holdfast_queries_by_qtype_total",
              "Client queries answered, by QTYPE (types without a mnemonic: other).",
              "qtype", snap["qtypes"])
    ede = CounterMetricFamily("holdfast_extended_errors_total",
                              "Extended DNS Errors (RFC 8914) sent to clients, by INFO-CODE.",
                              labels=["code", "name"])
    for code, count in sorted(snap["extended_errors"].items(), key=lambda item: int(item[0])):
        ede.add_metric([code, _ede_name(int(code))], count)
    yield ede
    yield _by("holdfast_queries_dropped_total",
              "Client packets not answered: unanswerable (not a query, malformed header, "
              "internal error) or overload (cold UDP queries dropped from the full or "
              "too-slow queue while cached ones were answered).",
              "reason", snap["dropped"])
    yield _counter("holdfast_queries_refused_total",
                   "Client queries answered REFUSED because of the access list.",
                   snap["refused_by_acl"])
    tcp = snap["tcp_connections"]
    yield _counter("holdfast_tcp_connections_total", "Client TCP connections accepted.",
                   tcp["accepted"])
    yield _counter("holdfast_tcp_connections_refused_total",
                   "Client TCP connections closed at once: the pool or the client was at its "
                   "cap and none of its connections was idle.", tcp["refused"])
    yield _counter("holdfast_tcp_connections_evicted_total",
                   "Idle client TCP connections closed to make room for a new one.",
                   tcp.get("evicted", 0))
    yield _gauge("holdfast_tcp_connections_open", "Client TCP connections open now.", tcp["open"])
    yield from _tls_families(snap.get("tls_connections"))
    latency = HistogramMetricFamily(
        "holdfast_answer_duration_seconds",
        "Time to answer a client query: path=cached for ready-made answers, "
        "path=resolved for the full path (parse, resolve or read the cache, render).",
        labels=["path"],
    )
    for path in ("cached", "resolved"):
        _add_histogram(latency, path, snap["latency"][path])
    yield latency


def _add_histogram(
    family: HistogramMetricFamily, label: str, histogram: Mapping[str, Any]
) -> None:
    """One labelled histogram (a ``counters.Histogram`` snapshot) into ``family``."""
    cumulative, buckets = 0, []
    for bound, count in zip([*histogram["bounds"], "+Inf"], histogram["counts"], strict=True):
        cumulative += count
        buckets.append((str(bound), cumulative))
    family.add_metric([label], buckets, histogram["sum"])


def _tls_families(tls: Mapping[str, Any] | None) -> Iterator[Metric]:
    """The DNS over TLS and HTTPS connection series (``encrypted.py``)."""
    if tls is None:  # a snapshot from before DoT and DoH
        return
    yield _by("holdfast_tls_connections_total",
              "Client DoT and DoH connections whose TLS handshake succeeded, by transport.",
              "transport", tls["accepted"], ("dot", "doh"))
    yield _gauge("holdfast_tls_connections_open",
                 "Client DoT and DoH connections open now (handshakes in progress included).",
                 tls["open"])
    yield _counter("holdfast_tls_connections_refused_total",
                   "Client DoT and DoH connections closed at once: the pool or the client was "
                   "at its cap and none of its connections was idle.", tls["refused"])
    yield _counter("holdfast_tls_connections_evicted_total",
                   "Idle client DoT and DoH connections closed to make room for a new one.",
                   tls["evicted"])
    yield _by("holdfast_tls_handshake_failures_total",
              "TLS handshakes of DoT and DoH clients that failed (reason=error) or did not "
              "finish within tls_handshake_timeout (reason=timeout).",
              "reason", tls["handshake_failures"], ("error", "timeout"))


def _cache_families(snap: Snapshot) -> Iterator[Metric]:
    caches = snap["cache"]
    for key, doc in (
        ("entries", "Entries held now: RRsets (cache=rrset) or ready-made answers (answer)."),
        ("bytes", "Memory the entries held now are accounted for (cache max_bytes), by cache."),
        ("hits", "Lookups answered with fresh data."),
        ("misses", "Lookups that found nothing usable."),
    ):
        gauge = key in ("entries", "bytes")
        yield _by(f"holdfast_cache_{key}" + ("" if gauge else "_total"), doc, "cache",
                  {cache: values[key] for cache, values in caches.items()}, gauge=gauge)
    yield _counter("holdfast_cache_stale_hits_total",
                   "RRset cache lookups answered with expired data kept for serve-stale.",
                   caches["rrset"]["stale_hits"])
    yield _counter("holdfast_cache_evictions_total",
                   "Live RRsets dropped to stay within cache max_entries.",
                   caches["rrset"]["evictions"])
    yield _by("holdfast_stale_answers_total",
              "Answers served from stale data (RFC 8767): failure (resolution failed or "
              "failed recently) or client_timeout (no fresh answer in time).",
              "reason", snap["stale_answers"])
    failures = snap["failure_cache"]
    yield _by("holdfast_failure_cache_entries",
              "Failures remembered now (RFC 9520): failed questions (cache=question) or NS "
              "names without an address (ns_name), in force or kept for their back-off.",
              "cache", {kind: values["entries"] for kind, values in failures.items()},
              gauge=True)
    yield _by("holdfast_failure_cache_hits_total",
              "Lookups answered from a remembered failure without asking upstream (RFC 9520).",
              "cache", {kind: values["hits"] for kind, values in failures.items()})


def _resolution_families(snap: Snapshot) -> Iterator[Metric]:
    recursor = snap["recursor"]
    for key, name, doc in (
        ("resolutions", "holdfast_resolutions_total", "Resolutions started."),
        ("shared", "holdfast_resolutions_shared_total",
         "Client queries that joined an identical resolution in flight."),
        ("timeouts", "holdfast_resolution_timeouts_total",
         "Resolutions that ran out of their time budget."),
        ("prefetches", "holdfast_prefetches_total",
         "Background refreshes of data near the end of its TTL."),
        ("internal_errors", "holdfast_internal_errors_total",
         "Resolutions that ended in an internal error (a bug; see the log)."),
    ):
        yield _counter(name, doc, recursor[key])
    upstream = snap["upstream"]
    for column, doc in (
        ("queries", "Queries sent to authoritative servers, by server address."),
        ("timeouts", "Upstream queries that got no matching reply in time."),
        ("errors", "Upstream queries that failed otherwise (network error, garbage reply)."),
        ("unparseable", "Replies with our ID that did not parse, dropped while waiting on."),
        ("case_mismatches", "Replies with the query name in another case (0x20), dropped."),
        ("case_fallbacks", "Times a server was found not to preserve case (no 0x20 for an hour)."),
        ("bogus", "Replies or DS/DNSKEY records that failed DNSSEC validation, by server."),
    ):
        yield _by(f"holdfast_upstream_{column}_total",
                  f"{doc} At most 1000 addresses per worker; the rest are server=\"other\".",
                  "server", upstream.get(column, {}))
    yield _by("holdfast_validations_total",
              "DNSSEC verdicts on authoritative replies, by result.",
              "result", snap["validation"], [security.value for security in Security])
    yield _by("holdfast_scrubbed_records_total",
              "Records dropped from upstream replies before any use, by the scrubbing rule "
              "that dropped them (resolver/scrub.py).",
              "reason", snap.get("scrubbed", {}), REASONS)
    yield _counter("holdfast_aggressive_nsec_answers_total",
                   "NXDOMAIN, NODATA and wildcard answers made from cached secure NSEC/NSEC3 "
                   "records without asking upstream (RFC 8198).", snap.get("aggressive_nsec", 0))
    holddowns = snap["holddowns"]
    yield _gauge("holdfast_holddowns_active",
                 "Hold-downs in force now (server and zone, after bogus data), summed over "
                 "workers.", holddowns["current"])
    yield _counter("holdfast_holddowns_total", "Hold-downs started.", holddowns["started"])
    anchors = snap.get("negative_trust_anchors", {})
    yield _gauge("holdfast_negative_trust_anchors",
                 "Negative trust anchors in force (RFC 7646; the most of any worker).",
                 anchors.get("current", 0))
    yield _counter("holdfast_negative_trust_anchor_lookups_total",
                   "Zone key lookups answered insecure because of a negative trust anchor.",
                   anchors.get("applied", 0))


def _shared_cache_families(shared: Mapping[str, Any]) -> Iterator[Metric]:
    """The shared cache tier's series (``resolver.shared_tier``): Redis or the workers' map."""
    yield _by("holdfast_shared_cache_store",
              "Workers whose cache misses go to a shared store, by kind: redis "
              "([shared_cache]) or host (the workers' map).",
              "store", shared["store"], ("redis", "host"), gauge=True)
    yield _gauge("holdfast_shared_cache_breaker_open",
                 "Workers whose circuit breaker to the shared store is open (the store is "
                 "skipped until a probe sees it back).", shared["breaker_open"])
    yield _counter("holdfast_shared_cache_breaker_openings_total",
                   "Times the circuit breaker to the shared store opened.",
                   shared["breaker_openings"])
    yield _by("holdfast_shared_cache_lookups_total",
              "Local cache misses looked up in the shared store, by result: hit (an entry "
              "adopted), miss, skipped (breaker open) or failed (error or deadline).",
              "result", shared["lookups"], ("hit", "miss", "skipped", "failed"))
    for key, name, doc in (
        ("adopted", "holdfast_shared_cache_adopted_total",
         "Entries taken from the shared store into the cache."),
        ("rejected", "holdfast_shared_cache_rejected_total",
         "Records from the shared store refused: malformed, another deployment's or forged."),
        ("published", "holdfast_shared_cache_published_total",
         "Entries written to the shared store."),
        ("deleted", "holdfast_shared_cache_deleted_total",
         "Shared copies deleted after a local BOGUS verdict."),
        ("flushed", "holdfast_shared_cache_flushed_total",
         "Deletions sent to the shared store by holdfast ctl flush."),
        ("dropped", "holdfast_shared_cache_dropped_total",
         "Entries not written to the shared store: queue full, breaker open or call failed."),
    ):
        yield _counter(name, doc, shared[key])
    calls = HistogramMetricFamily(
        "holdfast_shared_cache_call_duration_seconds",
        "Time each call to the shared store took, by call: get (a cache miss looked "
        "up), put (publishing), delete (a BOGUS verdict or a flush); failed and timed-out "
        "calls included.",
        labels=["call"],
    )
    for label in _TIER_CALLS:
        _add_histogram(calls, label, shared["call_latency"].get(label, Histogram().snapshot()))
    yield calls
    yield _by("holdfast_shared_cache_call_failures_total",
              "Calls to the shared store on the query or publishing path that failed, by "
              "reason: timeout (no answer within the deadline) or error.",
              "reason", shared["call_failures"], ("timeout", "error"))


def _local_root_families(local_root: Mapping[str, Any]) -> Iterator[Metric]:
    yield _by("holdfast_localroot_state",
              "1 for the local root's current state (workers in it, with --workers).",
              "state", local_root["state"], [state.value for state in RootState], gauge=True)
    yield _gauge("holdfast_localroot_configured",
                 "1 if [local_root] sources are configured.", local_root["configured"])
    yield _gauge("holdfast_localroot_stale",
                 "1 if the copy loaded was not refreshed for its SOA refresh + retry.",
                 local_root["stale"])
    for key, name, doc in (
        ("serial", "holdfast_localroot_serial", "SOA serial of the copy loaded."),
        ("age_seconds", "holdfast_localroot_age_seconds",
         "Seconds since the copy loaded was loaded."),
        ("refresh_age_seconds", "holdfast_localroot_refresh_age_seconds",
         "Seconds since the last successful refresh of the copy loaded."),
        ("seconds_to_retirement", "holdfast_localroot_seconds_to_retirement",
         "Seconds until the copy loaded is retired."),
    ):
        if local_root[key] is not None:
            yield _gauge(name, doc + " Absent without a copy.", local_root[key])
    yield _counter("holdfast_localroot_answers_total",
                   "Questions to the root answered from the local copy.", local_root["answers"])
    yield _counter("holdfast_localroot_bogus_total",
                   "Data from the local copy that failed validation at query time.",
                   local_root["bogus"])
    yield _by("holdfast_localroot_rejections_total",
              "Candidate copies refused and source failures, by kind.",
              "kind", local_root["rejections"])


def _by(
    name: str,
    doc: str,
    label: str,
    values: Mapping[str, float],
    seed: Iterable[str] = (),
    *,
    gauge: bool = False,
) -> Metric:
    """A counter (or gauge) with one label: a sample per key of ``values``, 0 for each ``seed``."""
    metric = (
        GaugeMetricFamily(name, doc, labels=[label])
        if gauge
        else CounterMetricFamily(name, doc, labels=[label])
    )
    for key in sorted({*seed, *values}):
        metric.add_metric([key], values.get(key, 0))
    return metric


def _counter(name: str, doc: str, value: float) -> Metric:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(name, doc, value=value)


def _ede_name(code: int) -> str:
    try:
        return dns.edns.EDECode(code).name
    except ValueError:
        return "UNKNOWN"
