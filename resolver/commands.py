"""What ``holdfast ctl`` can ask of a running resolver, command by command.

``control.serve_control`` hands every request to a ``Commands`` object; the
request's ``command`` is the list of words the operator typed after
``holdfast ctl``. Each command returns a JSON-able result or raises
``ControlError`` with a message meant for the operator. Kept apart from the
socket so the commands are tested as plain calls.

* ``status``: version, uptime, configuration, counters.
* ``route add ZONE (--only|--prefer|--avoid) ADDR... [--expires DURATION]``,
  ``route del ZONE``, ``route list``: operator routes (``routes.py``); they
  apply to the next upstream query, retries included.
* ``holddown list``: servers held down after sending bogus data, with the
  reason, the time left and the strikes.
* ``holddown clear [ADDRESS|ZONE]...``: lift hold-downs (all of them, or
  those of the given addresses and/or zones) and forget their strikes.
* ``local-root status | refresh | disable | enable``: the local root copy
  (RFC 8806): its state, serial, ZONEMD verdict, retirement time and last
  refusal; try the sources now; stop or resume using it on every path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name

from dnssec.signatures import utc_text
from resolver.clock import Clock
from resolver.control import ControlError
from resolver.routes import RouteError, RouteTable, route_from_words
from resolver.selection import ServerSelection
from rootzone.lifecycle import LocalRoot
from rootzone.service import RootService

_USAGE = {
    "status": "status",
    "route": "route add ZONE (--only|--prefer|--avoid) ADDR... [--expires DURATION] | "
    "route del ZONE | route list",
    "holddown": "holddown list | holddown clear [ADDRESS|ZONE]...",
    "local-root": "local-root status | refresh | disable | enable",
}


@dataclass(slots=True)
class Commands:
    """The control commands of one resolver instance.

    Attributes:
        status: Builds the ``status`` result.
        routes: The operator routes the iterator follows.
        selection: Server selection, which keeps the hold-downs.
        clock: Wall clock, for expiry times.
        local_root: The local root copy's holder.
        root_service: Its refresh task (None without ``[local_root]`` sources).
    """

    status: Callable[[], dict[str, Any]]
    routes: RouteTable
    selection: ServerSelection
    clock: Clock
    local_root: LocalRoot
    root_service: RootService | None = None

    def __call__(self, request: dict[str, Any]) -> Any:
        """Run the command in ``request`` (``{"command": [words]}``)."""
        words = request.get("command")
        if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
            raise ControlError("no command given: send {\"command\": [\"status\"]}")
        head, *rest = words
        if head == "status" and not rest:
            return self.status()
        if head == "route":
            return self._route(rest)
        if head == "holddown":
            return self._holddown(rest)
        if head == "local-root":
            return self._local_root(rest)
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
        raise ControlError(f"usage: {_USAGE['holddown']}")


    def _local_root(self, words: Sequence[str]) -> Any:
        action = words[0] if len(words) == 1 else ""
        if action == "status":
            status = self.local_root.status()
            status["sources"] = (
                [source.name for source in self.root_service.sources]
                if self.root_service is not None
                else []
            )
            return status
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


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _zone(text: str) -> dns.name.Name:
    try:
        return dns.name.from_text(text).canonicalize()
    except dns.exception.DNSException as exc:
        raise ControlError(f"{text[:64]!r} is not a zone name: {exc}") from exc
