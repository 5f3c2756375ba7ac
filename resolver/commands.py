"""What ``holdfast ctl`` can ask of a running resolver, command by command.

``control.serve_control`` hands every request to a ``Commands`` object; the
request's ``command`` is the list of words the operator typed after
``holdfast ctl``. Each command returns a JSON-able result or raises
``ControlError`` with a message meant for the operator; ``cache dump``
returns an awaitable of one, as it renders in a thread. Kept apart from the
socket so the commands are tested as plain calls.

* ``status``: version, uptime, configuration, counters.
* ``stats``: everything the Prometheus metrics show, as one JSON object
  (``metrics.collect``; a ``--workers`` supervisor merges the workers').
* ``route add ZONE (--only|--prefer|--avoid) ADDR... [--expires DURATION]``,
  ``route del ZONE``, ``route list``: operator routes (``routes.py``); they
  apply to the next upstream query, retries included.
* ``holddown list``: servers held down after sending bogus data, with the
  reason, the time left and the strikes.
* ``holddown clear [ADDRESS|ZONE]...``: lift hold-downs (all of them, or
  those of the given addresses and/or zones) and forget their strikes.
* ``holddown add ADDRESS ZONE --expires DURATION [--strikes N] [--reason
  TEXT]``: hold a server down for a zone without a strike of its own; a
  ``--workers`` supervisor gives it to the workers that lack a hold-down
  another one learned (``holddown_sharing``).
* ``local-root status | refresh | disable | enable``: the local root copy
  (RFC 8806): its state, serial, ZONEMD verdict, retirement time and last
  refusal; try the sources now; stop or resume using it on every path.
* ``flush NAME``, ``flush zone ZONE``, ``flush all``: forget what the cache
  holds for that name (every type, negative answers too), for the zone and
  every name below it, or everything; ready-made responses go with it, and
  so do the records of the workers' shared map (``shared_cache_removed``);
  a Redis tier's are not (its keys hide the names), and the reply says so.
  Unbound's ``flush`` and ``flush_zone``; for ``flush_infra``, ``holddown
  clear`` lifts what we keep against servers.
* ``cache dump [ZONE] [--limit N]``: the cache as zone-file text, sorted,
  at most N entries (a bounded reply from a million-entry cache).
* ``local-data add 'NAME [TTL] [IN] TYPE RDATA'``, ``local-data remove NAME
  [TYPE]``, ``local-data list``; ``local-zone add ZONE TYPE``, ``local-zone
  remove ZONE``, ``local-zone list``: the local zones and data
  (``localzones.py``), Unbound's ``local_data``, ``local_data_remove``,
  ``local_zone``, ``local_zone_remove``, ``list_local_data`` and
  ``list_local_zones``. Each change clears the ready-made responses (one of
  them may answer a name the change concerns); a reload that changes the
  local zone options rebuilds them from the file, without what ctl added.
* ``forward add ZONE ADDR[@PORT]... [--first] [--tls NAME]``, ``forward remove ZONE``,
  ``forward list``, and the same for ``stub``: the stub and forward zones
  (``forwarding.py``), Unbound's ``forward_add``, ``forward_remove``,
  ``list_forwards``, ``stub_add``, ``stub_remove`` and ``list_stubs``
  (``--first`` is ``forward-first``/``stub-first``; ``--tls NAME`` is DNS
  over TLS verified for NAME against the system's store, Unbound's ``+t``).
  They apply from the next upstream query; cached data stays until its TTL.
* ``nta add ZONE [--expires DURATION]``, ``nta del ZONE``, ``nta list``:
  negative trust anchors (RFC 7646, ``nta.py``): the zone and everything
  below it are answered without validation until the anchor expires (a day
  unless told, at most a week) or is deleted; Unbound's ``insecure_add``,
  ``insecure_remove`` and ``insecure_list``. Adding or deleting one flushes
  the zone's cached answers, which were judged the other way.
* ``log-reopen``: reopen the query log file (``[logging] query_log_target``),
  Unbound's ``log_reopen``; SIGHUP does it too, for logrotate.
* ``reload``: read the configuration file again and apply it (``reload.py``).
* ``trace NAME [TYPE] [--dnssec]``: resolve the question afresh, the cache
  bypassed, and show every step (``trace_command.py``); Knot's
  ``policy.TRACE``, ``unbound-control lookup``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdatatype
import trio

from dnssec.signatures import utc_text
from resolver import logs, nta, trace_command
from resolver.answers import AnswerCache
from resolver.cache import Cache
from resolver.clock import Clock
from resolver.control import ControlError
from resolver.forwarding import ForwardingError, ForwardingTable, Kind, policy_from_words
from resolver.holddown_sharing import HoldDownOrderError, parse_order
from resolver.localzones import LocalDataError, LocalZones, parse_record, parse_zone
from resolver.question import Question
from resolver.routes import (
    Route,
    RouteError,
    RouteMode,
    RouteTable,
    parse_duration,
    route_from_words,
)
from resolver.selection import ServerSelection
from resolver.shared_tier import SharedTier
from rootzone.lifecycle import LocalRoot
from rootzone.service import RootService

_USAGE = {
    "status": "status",
    "stats": "stats",
    "route": "route add ZONE (--only|--prefer|--avoid) ADDR... [--expires DURATION] | "
    "route del ZONE | route list",
    "holddown": "holddown list | holddown clear [ADDRESS|ZONE]... | "
                "holddown add ADDRESS ZONE --expires DURATION [--strikes N] [--reason TEXT]",
    "local-root": "local-root status | refresh | disable | enable",
    "flush": "flush NAME | flush zone ZONE | flush all "
    "(Unbound: flush, flush_zone; for flush_infra see holddown clear)",
    "cache": "cache dump [ZONE] [--limit N]",
    "local-data": "local-data add 'NAME [TTL] [IN] TYPE RDATA' | local-data remove NAME [TYPE] | "
    "local-data list",
    "local-zone": "local-zone add ZONE TYPE | local-zone remove ZONE | local-zone list",
    "forward": "forward add ZONE ADDR[@PORT]... [--first] [--tls NAME] | forward remove ZONE | "
    "forward list",
    "stub": "stub add ZONE ADDR[@PORT]... [--first] | stub remove ZONE | stub list",
    "nta": "nta add ZONE [--expires DURATION] | nta del ZONE | nta list",
    "log-reopen": "log-reopen",
    "reload": "reload",
    "trace": trace_command.USAGE,
}

#: Entries ``cache dump`` shows unless told otherwise, and at most. Finding
#: them in a million-entry cache takes about a second, rendering some 40 us
#: an entry, in a thread that shares the interpreter with the serving loop:
#: the largest dump must stay well within ctl's 5 s timeout.
DUMP_LIMIT = 10_000
MAX_DUMP_LIMIT = 20_000


@dataclass(slots=True)
class Commands:
    """The control commands of one resolver instance.

    Attributes:
        status: Builds the ``status`` result.
        routes: The operator routes the iterator follows.
        selection: Server selection, which keeps the hold-downs.
        clock: Wall clock, for expiry times.
        local_root: The local root copy's holder.
        cache: The RRset cache, for ``flush`` and ``cache dump``.
        root_service: Its refresh task (None without ``[local_root]`` sources).
        stats: Builds the ``stats`` result (None: this instance keeps none).
        reload: Reloads the configuration (files read off the event loop),
            returning the report (None: cannot).
        local_zones: The local zones the server answers from now (a reload
            replaces the table, so it is looked up at each command).
        answers: The ready-made responses, cleared when local data changes.
        trace: Resolves a question afresh and renders its trace, with the
            DNSSEC records or not (None: this instance cannot).
        forwarding: The stub and forward zones the iterator follows.
        negative_anchors: The negative trust anchors (None: not kept here).
        shared_tier: The shared cache tier now, which flushes reach too.
        forget: Drops what answers beside the cache for a name (below it
            too with True; every name for None) and says how many
            (``Iterator.forget``); flushes reach it too.
    """

    status: Callable[[], dict[str, Any]]
    routes: RouteTable
    selection: ServerSelection
    clock: Clock
    local_root: LocalRoot
    cache: Cache
    root_service: RootService | None = None
    stats: Callable[[], dict[str, Any]] | None = None
    reload: Callable[[], Awaitable[dict[str, Any]]] | None = None
    local_zones: Callable[[], LocalZones | None] | None = None
    answers: AnswerCache | None = None
    trace: Callable[[Question, bool], Awaitable[str]] | None = None
    forwarding: ForwardingTable | None = None
    negative_anchors: nta.NegativeTrustAnchors | None = None
    shared_tier: Callable[[], SharedTier | None] | None = None
    forget: Callable[[dns.name.Name | None, bool], int] | None = None

    def __call__(self, request: dict[str, Any]) -> Any:
        """Run the command in ``request`` (``{"command": [words]}``)."""
        words = command_words(request)
        head, *rest = words
        if head == "status" and not rest:
            return self.status()
        if head == "stats" and not rest:
            if self.stats is None:
                raise ControlError("no statistics are kept here")
            return self.stats()
        if head == "route":
            return self._route(rest)
        if head == "holddown":
            return self._holddown(rest)
        if head == "local-root":
            return self._local_root(rest)
        if head == "flush":
            return self._flush(rest)
        if head == "cache":
            return self._cache_dump(rest)
        if head == "local-data":
            return self._local_data(rest)
        if head == "local-zone":
            return self._local_zone(rest)
        if head in ("forward", "stub"):
            return self._forwarding(Kind(head), rest)
        if head == "nta":
            return self._nta(rest)
        if head == "log-reopen" and not rest:
            target = logs.reopen_query_log()
            return {"query_log": f"reopened {target}" if target else "not written to a file"}
        if head == "reload" and not rest:
            if self.reload is None:
                raise ControlError("this instance has no configuration to reload")
            return self.reload()
        if head == "trace":
            if self.trace is None:
                raise ControlError("this instance cannot trace a resolution")
            return self.trace(*trace_command.parse(rest))
        raise ControlError(
            f"unknown command {' '.join(words)!r}; known: " + "; ".join(_USAGE.values())
        )

    def _route(self, words: Sequence[str]) -> Any:
        now = self.clock.wall()
        action, *rest = words or [""]
        try:
            if action == "add":
                route = route_from_words(rest, now=now)
                replaced = self.routes.add(route)
                return {
                    "added": route.describe(now),
                    "replaced": replaced.describe(now) if replaced is not None else None,
                    **self._route_note(route),
                }
            if action == "del" and len(rest) == 1:
                removed = self.routes.delete(_zone(rest[0]))
                if removed is None:
                    raise ControlError(f"no route for {rest[0]!r}; see: holdfast ctl route list")
                return {"deleted": removed.describe(now)}
            if action == "list" and not rest:
                return [route.describe(now) for route in self.routes.routes()]
        except RouteError as exc:
            raise ControlError(str(exc)) from exc
        raise ControlError(f"usage: {_USAGE['route']}")

    def _forwarding(self, kind: Kind, words: Sequence[str]) -> Any:
        if self.forwarding is None:
            raise ControlError("no stub or forward zones here")
        action, *rest = words or [""]
        try:
            if action == "add":
                entry = policy_from_words(kind, rest)
                replaced = self.forwarding.add(entry)
                return {
                    "added": entry.describe(),
                    "replaced": replaced.describe() if replaced is not None else None,
                }
            if action == "remove" and len(rest) == 1:
                removed = self.forwarding.remove(_zone(rest[0]), kind)
                if removed is None:
                    raise ControlError(
                        f"no {kind.value} zone {rest[0]!r}; see: holdfast ctl {kind.value} list"
                    )
                return {"removed": removed.describe()}
            if action == "list" and not rest:
                return [entry.describe() for entry in self.forwarding.entries(kind)]
        except ForwardingError as exc:
            raise ControlError(str(exc)) from exc
        raise ControlError(f"usage: {_USAGE[kind.value]}")

    def _route_note(self, route: Route) -> dict[str, str]:
        """A word for the operator when ``--prefer``/``--avoid`` may not apply (issue 20).

        They choose among a delegation's servers, and the cache knows no
        delegation at the route's zone (yet, or ever: it may be no cut).
        """
        zone = route.zone
        if route.mode is RouteMode.ONLY or zone == dns.name.root:
            return {}
        if self.cache.lookup_rrset(zone, dns.rdatatype.NS, allow_stale=True) is not None:
            return {}
        return {
            "note": f"no delegation is known at {zone} yet: --{route.mode.value} applies once "
            f"{zone} is a zone cut; for a name that is not one, use --only or a stub zone"
        }

    def _holddown(self, words: Sequence[str]) -> Any:
        now = self.clock.wall()
        action, *rest = words or [""]
        if action == "list" and not rest:
            return [
                {
                    "address": held.address,
                    "zone": held.zone,
                    "reason": held.reason,
                    "until": utc_text(int(held.until)),
                    "remaining_seconds": round(held.until - now),
                    "strikes": held.strikes,
                }
                for held in self.selection.holddowns()
            ]
        if action == "clear":
            addresses: list[str | None] = [w for w in rest if _is_address(w)]
            zones: list[str | None] = [str(_zone(w)) for w in rest if not _is_address(w)]
            lifted = sum(
                self.selection.clear_holddowns(address, zone)
                for address in addresses or [None]
                for zone in zones or [None]
            )
            return {"cleared": lifted}
        if action == "add":
            try:
                order = parse_order(rest)
                _zone(order.zone)
            except HoldDownOrderError as error:
                raise ControlError(str(error)) from None
            if not _is_address(order.address):
                raise ControlError(f"{order.address!r} is not an IP address")
            imposed = self.selection.impose_holddown(
                order.address, order.zone, order.reason, order.seconds, order.strikes)
            return {"added": int(imposed)}
        raise ControlError(f"usage: {_USAGE['holddown']}")

    def _local_root(self, words: Sequence[str]) -> Any:
        action = words[0] if len(words) == 1 else ""
        if action == "status":
            if self.root_service is not None:
                return self.root_service.status()
            return {**self.local_root.status(), "sources": []}
        if action == "refresh":
            if self.root_service is None:
                raise ControlError("no local root sources are configured ([local_root] sources)")
            self.root_service.request_refresh()
            return {"refresh": "requested; see: holdfast ctl local-root status"}
        if action == "disable":
            self.local_root.disable()
            return {"local_root": "disabled on every path; the root servers are asked"}
        if action == "enable":
            self.local_root.enable()
            return {"local_root": self.local_root.state().value}
        raise ControlError(f"usage: {_USAGE['local-root']}")

    def _nta(self, words: Sequence[str]) -> Any:
        anchors = self.negative_anchors
        if anchors is None:
            raise ControlError("this instance keeps no negative trust anchors")
        now = self.clock.wall()
        action, *rest = words or [""]
        if action == "add" and len(rest) in (1, 3) and (len(rest) == 1 or rest[1] == "--expires"):
            try:
                lifetime = parse_duration(rest[2]) if len(rest) == 3 else nta.DEFAULT_LIFETIME
                anchor = anchors.add(_zone(rest[0]), lifetime)
            except (RouteError, nta.NtaError) as exc:
                raise ControlError(str(exc)) from exc
            flushed = self.cache.flush_zone(anchor.zone)
            return {"added": anchor.describe(now), "flushed": flushed,
                    **self._flush_shared(anchor.zone, below=True)}
        if action == "del" and len(rest) == 1:
            removed = anchors.delete(_zone(rest[0]))
            if removed is None:
                raise ControlError(
                    f"no negative trust anchor for {rest[0]!r}; see: holdfast ctl nta list"
                )
            flushed = self.cache.flush_zone(removed.zone)
            return {"deleted": removed.describe(now), "flushed": flushed,
                    **self._flush_shared(removed.zone, below=True)}
        if action == "list" and not rest:
            return [anchor.describe(now) for anchor in anchors.anchors()]
        raise ControlError(f"usage: {_USAGE['nta']}")

    def _flush(self, words: Sequence[str]) -> Any:
        cache = self.cache
        if words == ["all"]:
            removed = cache.flush_all() + self._forget(None)
            return {"flushed": "all", "removed": removed, **self._flush_shared(None)}
        if len(words) == 2 and words[0] == "zone":
            zone = _zone(words[1])
            held = cache.keys_at(zone, below=True)
            removed = cache.flush_zone(zone) + self._forget(zone, below=True)
            return {"flushed_zone": zone.to_text(), "removed": removed,
                    **self._flush_shared(zone, below=True, held=held)}
        if len(words) == 1 and words[0] != "zone":
            name = _zone(words[0], "domain name")
            held = cache.keys_at(name)
            removed = cache.flush_name(name) + self._forget(name)
            return {"flushed": name.to_text(), "removed": removed,
                    **self._flush_shared(name, held=held)}
        raise ControlError(f"usage: {_USAGE['flush']}")

    def _forget(self, name: dns.name.Name | None, *, below: bool = False) -> int:
        """``forget`` for a flush, if this instance has it."""
        return 0 if self.forget is None else self.forget(name, below)

    def _flush_shared(
        self, name: dns.name.Name | None, *, below: bool = False, held: Sequence[bytes] = ()
    ) -> dict[str, Any]:
        """The same flush in the shared cache tier, if any (``SharedTier.forget``).

        ``held``: the keys the local cache held there, before the flush.
        """
        tier = self.shared_tier() if self.shared_tier is not None else None
        if tier is None:
            return {}
        return {"shared_cache_removed": tier.forget(name, below=below, held=held)}

    def _local_data(self, words: Sequence[str]) -> Any:
        action, *rest = words or [""]
        table = self._local_table()
        try:
            if action == "add" and rest:
                rrset = parse_record(" ".join(rest))  # quoted as one word, or not
                table.add_data(rrset)
                self._local_changed()
                return {"added": rrset.to_text().splitlines()}
            if action == "remove" and len(rest) in (1, 2):
                name = _zone(rest[0], "domain name")
                rdtype = _rdtype(rest[1]) if len(rest) == 2 else None
                removed = table.remove_data(name, rdtype)
                if not removed:
                    what = name.to_text() + (f" {rest[1].upper()}" if rdtype else "")
                    raise ControlError(f"no local data for {what}; see: holdfast ctl "
                                       "local-data list")
                self._local_changed()
                return {"removed": removed}
            if action == "list" and not rest:
                return table.data()
        except LocalDataError as exc:
            raise ControlError(str(exc)) from exc
        raise ControlError(f"usage: {_USAGE['local-data']}")

    def _local_zone(self, words: Sequence[str]) -> Any:
        action, *rest = words or [""]
        table = self._local_table()
        try:
            if action == "add" and len(rest) == 2:
                zone = parse_zone(rest[0], rest[1])
                replaced = table.add_zone(zone)
                self._local_changed()
                return {"added": zone.describe(),
                        "replaced": replaced.describe() if replaced is not None else None}
            if action == "remove" and len(rest) == 1:
                removed = table.remove_zone(_zone(rest[0]))
                if removed is None:
                    raise ControlError(f"no local zone {rest[0]!r}; see: holdfast ctl "
                                       "local-zone list")
                self._local_changed()
                return {"removed": removed.describe()}
            if action == "list" and not rest:
                return table.zones()
        except LocalDataError as exc:
            raise ControlError(str(exc)) from exc
        raise ControlError(f"usage: {_USAGE['local-zone']}")

    def _local_table(self) -> LocalZones:
        table = self.local_zones() if self.local_zones is not None else None
        if table is None:
            raise ControlError("this instance answers from no local zones")
        return table

    def _local_changed(self) -> None:
        """A ready-made response may answer a name the change concerns: start afresh."""
        if self.answers is not None:
            self.answers.clear()

    async def _cache_dump(self, words: Sequence[str]) -> str:
        action, *rest = words or [""]
        if action != "dump":
            raise ControlError(f"usage: {_USAGE['cache']}")
        limit = DUMP_LIMIT
        if "--limit" in rest:
            at = rest.index("--limit")
            limit = _dump_limit(rest[at + 1 : at + 2])
            del rest[at : at + 2]
        if len(rest) > 1:
            raise ControlError(f"usage: {_USAGE['cache']}")
        zone = _zone(rest[0]) if rest else dns.name.root
        # Sorting and rendering a big cache takes seconds: not in the serving loop.
        lines, held = await trio.to_thread.run_sync(self.cache.prepare_dump(zone, limit=limit))
        shown = min(held, limit)
        text = [
            f"; holdfast cache dump of {zone}: {held} entries, {shown} shown, "
            f"at {utc_text(int(self.clock.wall()))}",
            *lines,
        ]
        if held > shown:
            text.append(
                f"; ... {held - shown} more entries not shown: narrow it (cache dump ZONE) "
                f"or raise --limit (at most {MAX_DUMP_LIMIT})"
            )
        return "\n".join(text)


def command_words(request: dict[str, Any]) -> list[str]:
    """The words of a ctl request (``{"command": [words]}``), checked.

    Raises:
        ControlError: there are none, or they are not strings.
    """
    words = request.get("command")
    if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
        raise ControlError("no command given: send {\"command\": [\"status\"]}")
    return words


def _dump_limit(words: Sequence[str]) -> int:
    if len(words) == 1 and words[0].isdigit() and 1 <= int(words[0]) <= MAX_DUMP_LIMIT:
        return int(words[0])
    raise ControlError(f"--limit takes a number of entries from 1 to {MAX_DUMP_LIMIT}")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _rdtype(text: str) -> dns.rdatatype.RdataType:
    try:
        return dns.rdatatype.from_text(text)
    except dns.exception.DNSException as exc:
        raise ControlError(f"{text[:32]!r} is not a record type: {exc}") from exc


def _zone(text: str, what: str = "zone name") -> dns.name.Name:
    try:
        return dns.name.from_text(text).canonicalize()
    except dns.exception.DNSException as exc:
        raise ControlError(f"{text[:64]!r} is not a {what}: {exc}") from exc
