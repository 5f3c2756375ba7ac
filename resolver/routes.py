"""Operator routes: steer the queries sent to one zone's servers by hand.

On 9 July 2023 some .com/.net server instances served expired DNSSEC
signatures, and resolver operators rerouted their traffic by hand until the
instances were fixed. A route is Holdfast's knob for that: it changes which
server addresses the iterator asks for one zone, without replacing the
delegation, so validation, hold-downs and server selection keep working on
whatever is asked. Routes come from ``[[route]]`` tables in the
configuration and from ``holdfast ctl route add|del|list``.

What a route for ZONE matches: the queries sent to the servers of ZONE
itself, that is, when ZONE is the zone cut the iterator is asking. Those
are the queries for names at or below ZONE until a delegation below ZONE
takes over (a route for ``com`` does not touch the queries sent to
``example.com``'s servers). A ``--only`` route also works for a name that
is not a zone cut, or one not known yet (issue 20: ``route add internal
--only ...`` used to be accepted and do nothing): its addresses then stand
in for the delegation, as a stub zone's would (``stub_below``,
``resolver.forwarding``), and are asked for ZONE and the names below it
until a cut below ZONE is known. ``--prefer`` and ``--avoid`` choose among
a delegation's servers, so they need ZONE to be a cut: ``ctl route add``
says so when the cache knows no delegation at ZONE. There is one route
per zone: adding one replaces the previous route for that zone. The
modes:

* ``only``: ask only the route's addresses, which need not be in the
  delegation's NS set (a known-good instance, a local secondary).
* ``prefer``: ask the route's addresses first, then the delegation's other
  servers.
* ``avoid``: never ask the route's addresses for this zone. If that leaves
  no server, the zone's queries fail rather than reach an avoided one.

``RouteTable.plan`` turns a delegation's addresses into *tiers*: the
iterator exhausts one tuple of addresses (choosing within it as usual)
before moving to the next. There is always at least one tier; it is empty
only if the delegation had no addresses or every one of them is avoided.
Delegation addresses are compared with a route's in normalised form, so
``::ffff:1.2.3.4`` and ``::ffff:102:304`` are the same server.

A route may expire (``expires``, POSIX wall time): it then lapses by itself
and is dropped the next time the table looks at it. A duration in the
configuration counts from when the file is loaded, so a reload restarts it;
a TOML date-time with a UTC offset is absolute. Reloading the configuration
replaces the configured routes but keeps the ones added over the control
channel; where both name the same zone, the control route (the operator's
live decision) wins. Deleting a control route does not bring back a
configured route it shadowed until the next reload.

Pure: no I/O, no Trio; time comes from the injected ``Clock``.
"""

from __future__ import annotations

import datetime
import difflib
import enum
import functools
import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name

from dnssec.errors import HoldfastError
from dnssec.signatures import utc_text
from resolver.clock import Clock

#: The most routes a table holds; adding one more is refused.
MAX_ROUTES = 10_000
#: The longest a route may be set to last, seconds.
MAX_DURATION = 30 * 86400.0
#: Where a route came from.
ORIGINS = ("config", "control")
#: The longest piece of operator input quoted back in an error message.
_SHOWN = 64

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_SECONDS = re.compile(_NUMBER)
_PARTS = re.compile(rf"(?:{_NUMBER}[smhd])+")
_PART = re.compile(rf"({_NUMBER})([smhd])")


class RouteError(HoldfastError):
    """A route in the configuration or a control command is unusable; says why."""


class RouteMode(enum.Enum):
    """How a route steers the queries for its zone."""

    ONLY = "only"
    PREFER = "prefer"
    AVOID = "avoid"


@dataclass(frozen=True, slots=True)
class Route:
    """Steer the queries sent to ``zone``'s servers toward or away from ``addresses``.

    Construction normalises: ``zone`` is made lower case, ``addresses`` are
    rewritten as ``ipaddress`` prints them and deduplicated in order.

    Attributes:
        zone: The zone cut whose servers' queries are steered (absolute).
        mode: Only, prefer or avoid ``addresses``.
        addresses: Server addresses, IPv4 or IPv6, at least one.
        expires: POSIX wall time at which the route lapses; ``None``: never.
        origin: ``"config"`` or ``"control"``.

    Raises:
        RouteError: ``zone`` is relative, an address is not an IP address,
            there is none, ``expires`` is not finite, or ``origin`` is unknown.
    """

    zone: dns.name.Name
    mode: RouteMode
    addresses: tuple[str, ...]
    expires: float | None
    origin: str

    def __post_init__(self) -> None:
        if not self.zone.is_absolute():
            raise RouteError(f"route zone {self.zone} is not absolute")
        if self.origin not in ORIGINS:
            raise RouteError(f"route origin {self.origin!r} is not one of {', '.join(ORIGINS)}")
        if self.expires is not None and not math.isfinite(self.expires):
            raise RouteError(f"route for {self.zone} has expiry {self.expires}")
        addresses = tuple(dict.fromkeys(_address(text) for text in self.addresses))
        if not addresses:
            raise RouteError(f"route for {self.zone} names no address")
        # Frozen dataclass: normalise in place once, at construction.
        object.__setattr__(self, "zone", self.zone.canonicalize())
        object.__setattr__(self, "addresses", addresses)

    def expired(self, now: float) -> bool:
        """Whether the route has lapsed at wall time ``now``."""
        return self.expires is not None and self.expires <= now

    def describe(self, now: float) -> dict[str, object]:
        """The route as JSON-able data, for ``ctl route list``.

        Args:
            now: Current wall time, for ``expires_in``.

        Returns:
            ``zone``, ``mode``, ``addresses``, ``origin``, ``expires`` (UTC
            text such as ``2026-11-22T10:00:00Z``, or ``None``) and
            ``expires_in`` (whole seconds left, never negative, or ``None``).
        """
        expires: str | None = None
        expires_in: int | None = None
        if self.expires is not None:
            expires = utc_text(math.floor(self.expires))
            expires_in = max(0, round(self.expires - now))
        return {
            "zone": self.zone.to_text(),
            "mode": self.mode.value,
            "addresses": list(self.addresses),
            "origin": self.origin,
            "expires": expires,
            "expires_in": expires_in,
        }


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90``, ``90s``, ``30m``, ``1h30m`` or ``1.5h``.

    A bare number is seconds; otherwise every number carries a unit: ``s``,
    ``m``, ``h`` or ``d``.

    Raises:
        RouteError: The text is not a duration, or it is not more than zero
            and at most 30 days. The message quotes the text.
    """
    word = text.strip().lower()
    if _SECONDS.fullmatch(word):
        seconds = float(word)
    elif _PARTS.fullmatch(word):
        seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(word))
    else:
        raise RouteError(
            f"{_shown(text)} is not a duration: give seconds, or numbers with units s, m, h, d "
            "(90, 90s, 30m, 1h30m, 1.5h)"
        )
    if seconds <= 0:
        raise RouteError(f"duration {_shown(text)} must be more than zero")
    if seconds > MAX_DURATION:
        raise RouteError(f"duration {_shown(text)} is longer than {MAX_DURATION / 86400:g} days")
    return seconds


_MODE_FLAGS = {f"--{mode.value}": mode for mode in RouteMode}
_FLAGS = [*_MODE_FLAGS, "--expires"]


def route_from_words(words: Sequence[str], *, now: float) -> Route:
    """The route of ``holdfast ctl route add ZONE (--only|--prefer|--avoid) ADDR... [--expires D]``.

    ``words`` are those after ``route add``. The zone comes first, relative
    or absolute (``com`` and ``com.`` are the same, ``.`` is the root); the
    mode flag is followed by at least one address; ``--expires DURATION``
    may come anywhere after the zone.

    Args:
        words: The command words after ``route add``.
        now: Current wall time; an expiry counts from it.

    Returns:
        The route, with origin ``"control"``.

    Raises:
        RouteError: A missing or invalid zone, no mode or two, no address, a
            word that is not an IP address, an unknown flag, or a bad
            duration. The message names the offending word.
    """
    usage = "route add ZONE (--only|--prefer|--avoid) ADDRESS... [--expires DURATION]"
    if not words or words[0].startswith("--"):
        raise RouteError(f"missing zone: {usage}")
    zone = zone_from_text(words[0])
    mode: RouteMode | None = None
    mode_flag = ""
    addresses: list[str] = []
    expires: float | None = None
    rest = iter(words[1:])
    for word in rest:
        if word in _MODE_FLAGS:
            if mode is not None:
                raise RouteError(
                    f"{mode_flag} and {word} both given: a route has one mode, "
                    "--only, --prefer or --avoid"
                )
            mode, mode_flag = _MODE_FLAGS[word], word
        elif word == "--expires":
            if expires is not None:
                raise RouteError("--expires given twice")
            duration = next(rest, None)
            if duration is None:
                raise RouteError("--expires needs a duration such as 30m or 2h")
            expires = now + parse_duration(duration)
        elif word.startswith("--"):
            raise RouteError(f"unknown flag {_shown(word)}{_suggest(word, _FLAGS)}: {usage}")
        elif mode is None:
            raise RouteError(
                f"unexpected {_shown(word)} before --only, --prefer or --avoid: {usage}"
            )
        else:
            addresses.append(_address(word))
    if mode is None:
        raise RouteError(f"route for {zone} needs a mode, --only, --prefer or --avoid: {usage}")
    if not addresses:
        raise RouteError(f"{mode_flag} needs at least one address")
    return Route(
        zone=zone, mode=mode, addresses=tuple(addresses), expires=expires, origin="control"
    )


_TABLE_KEYS = ["zone", *(mode.value for mode in RouteMode), "expires"]


def route_from_table(table: Mapping[str, Any], *, now: float) -> Route:
    """The route of one ``[[route]]`` table of the configuration.

    .. code-block:: toml

        [[route]]
        zone = "com"
        avoid = ["192.0.2.1", "2001:db8::1"]   # or only = [...], or prefer = [...]
        expires = 2026-11-22T10:00:00Z         # or a duration: "30m"; optional

    Args:
        table: The parsed TOML table.
        now: Current wall time; a duration expiry counts from it.

    Returns:
        The route, with origin ``"config"``. An expiry already in the past
        is kept: the route simply never applies.

    Raises:
        RouteError: No zone or an invalid one, an unknown key (with the
            nearest known one), no mode or two, an empty or non-list
            address list, an item that is not an IP address string, a
            date-time without a UTC offset, or a bad duration.
    """
    unknown = [key for key in table if key not in _TABLE_KEYS]
    if unknown:
        key = str(unknown[0])
        raise RouteError(
            f"[[route]]: unknown key {_shown(key)}{_suggest(key, _TABLE_KEYS)}; "
            f"known keys: {', '.join(_TABLE_KEYS)}"
        )
    text = table.get("zone")
    if text is None:
        raise RouteError('[[route]]: missing zone = "..."')
    if not isinstance(text, str):
        raise RouteError(
            f"[[route]]: zone must be a string, not {type(text).__name__} ({_cut(repr(text))})"
        )
    try:
        zone = zone_from_text(text)
    except RouteError as exc:
        raise RouteError(f"[[route]]: zone: {exc}") from None
    where = f"[[route]] for {zone}"
    modes = [mode for mode in RouteMode if mode.value in table]
    if len(modes) != 1:
        given = f"{' and '.join(mode.value for mode in modes)} given together; " if modes else ""
        raise RouteError(f"{where}: {given}give exactly one of only, prefer, avoid")
    mode = modes[0]
    value = table[mode.value]
    if not isinstance(value, list):
        raise RouteError(
            f"{where}: {mode.value} must be a list of addresses, not {type(value).__name__} "
            f"({_cut(repr(value))})"
        )
    if not value:
        raise RouteError(f"{where}: {mode.value} is empty; name at least one address")
    addresses: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise RouteError(
                f"{where}: {mode.value} items must be address strings, not "
                f"{type(item).__name__} ({_cut(repr(item))})"
            )
        try:
            addresses.append(_address(item))
        except RouteError as exc:
            raise RouteError(f"{where}: {mode.value}: {exc}") from None
    expires = _table_expiry(table.get("expires"), where, now)
    return Route(zone=zone, mode=mode, addresses=tuple(addresses), expires=expires, origin="config")


def _table_expiry(value: object, where: str, now: float) -> float | None:
    """A ``[[route]]`` table's ``expires`` as POSIX wall time."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.utcoffset() is None:
            raise RouteError(
                f"{where}: expires = {value.isoformat()} has no UTC offset; "
                f"write it as {value.isoformat()}Z (UTC) or with an offset like +02:00"
            )
        return value.timestamp()
    if isinstance(value, str):
        try:
            return now + parse_duration(value)
        except RouteError as exc:
            raise RouteError(f"{where}: expires: {exc}") from None
    raise RouteError(
        f"{where}: expires must be a date-time with a UTC offset (2026-11-22T10:00:00Z) "
        f'or a duration string ("30m"), not {type(value).__name__} ({_cut(repr(value))})'
    )


class RouteTable:
    """The live routes, one per zone, expiring on the injected wall clock.

    Args:
        clock: Wall clock that expires routes.
        routes: Routes to start with (later ones replace earlier ones for
            the same zone).

    Raises:
        RouteError: More than ``MAX_ROUTES`` routes.
    """

    def __init__(self, clock: Clock, routes: Iterable[Route] = ()) -> None:
        self._clock = clock
        self._routes: dict[dns.name.Name, Route] = {}
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> Route | None:
        """Add ``route``, replacing any route for its zone.

        Returns:
            The live route it replaced, or ``None``.

        Raises:
            RouteError: The table already holds ``MAX_ROUTES`` live routes.
        """
        now = self._clock.wall()
        if route.zone not in self._routes and len(self._routes) >= MAX_ROUTES:
            self._sweep(now)
            if len(self._routes) >= MAX_ROUTES:
                raise RouteError(f"too many routes (at most {MAX_ROUTES}); delete some first")
        old = self._routes.get(route.zone)
        self._routes[route.zone] = route
        return None if old is None or old.expired(now) else old

    def delete(self, zone: dns.name.Name) -> Route | None:
        """Remove the route for ``zone``.

        Returns:
            The live route removed, or ``None`` if there was none.
        """
        old = self._routes.pop(zone, None)
        return None if old is None or old.expired(self._clock.wall()) else old

    def replace_configured(self, routes: Iterable[Route]) -> None:
        """Swap the configured routes for ``routes``, on a configuration reload.

        Every route of origin ``"config"`` goes; ``routes`` come in, except
        where a live control route holds the zone: the operator's live
        decision wins. Nothing changes if this raises.

        Raises:
            RouteError: A route in ``routes`` is not of origin ``"config"``,
                or the table would hold more than ``MAX_ROUTES`` routes.
        """
        now = self._clock.wall()
        kept = {
            zone: route
            for zone, route in self._routes.items()
            if route.origin != "config" and not route.expired(now)
        }
        configured: dict[dns.name.Name, Route] = {}
        for route in routes:
            if route.origin != "config":
                raise RouteError(f"route for {route.zone} is from {route.origin}, not config")
            if route.zone not in kept:
                configured[route.zone] = route
        if len(kept) + len(configured) > MAX_ROUTES:
            raise RouteError(f"too many routes (at most {MAX_ROUTES})")
        self._routes = kept | configured

    def routes(self) -> list[Route]:
        """The live routes, sorted by zone (expired ones are dropped)."""
        self._sweep(self._clock.wall())
        return sorted(self._routes.values(), key=lambda route: route.zone)

    def plan(self, zone: dns.name.Name, addresses: Sequence[str]) -> tuple[tuple[str, ...], ...]:
        """The tiers of addresses to try, in order, for the servers of ``zone``.

        Called for every upstream query, so a table with no route for
        ``zone`` costs one dictionary lookup.

        Args:
            zone: The zone cut being asked (any case).
            addresses: The delegation's server addresses.

        Returns:
            ``(addresses,)`` without a live route; ``(route,)`` for only;
            ``(route, others)`` for prefer, without ``others`` if empty;
            ``(addresses minus route,)`` for avoid, possibly an empty tier.
        """
        if not self._routes:
            return (tuple(addresses),)
        route = self._deepest(zone, zone)
        if route is None:
            return (tuple(addresses),)
        if route.mode is RouteMode.ONLY:
            return (route.addresses,)
        others = tuple(a for a in addresses if normal_address(a) not in route.addresses)
        if route.mode is RouteMode.AVOID:
            return (others,)
        return (route.addresses, others) if others else (route.addresses,)

    def stub_below(self, cut: dns.name.Name, name: dns.name.Name) -> Route | None:
        """The deepest ``--only`` route for a zone strictly below ``cut`` that encloses ``name``.

        Its zone is not a cut the cache knows, so its addresses stand in for
        the delegation, as a stub zone's would (the iterator asks them with
        RD=0 for the route's zone).
        """
        if not self._routes or name == cut:
            return None
        route = self._deepest(cut, name)
        if route is None or route.zone == cut or route.mode is not RouteMode.ONLY:
            return None
        return route

    def _deepest(self, zone: dns.name.Name, name: dns.name.Name) -> Route | None:
        """The live route of the deepest zone from ``name`` up to ``zone``; expired ones go."""
        if not name.is_subdomain(zone):
            name = zone
        while True:
            route = self._routes.get(name)
            if route is not None and route.expired(self._clock.wall()):
                del self._routes[name]
                route = None
            if route is not None or name == zone:
                return route
            name = name.parent()

    def _sweep(self, now: float) -> None:
        """Drop every expired route."""
        for zone in [zone for zone, route in self._routes.items() if route.expired(now)]:
            del self._routes[zone]


def zone_from_text(text: str) -> dns.name.Name:
    """A zone name from operator text: relative or absolute, ``.`` is the root."""
    if not text.strip() or any(char.isspace() for char in text):
        raise RouteError(f"{_shown(text)} is not a zone name (give a name like com or .)")
    try:
        return dns.name.from_text(text).canonicalize()
    except dns.exception.DNSException as exc:
        raise RouteError(f"{_shown(text)} is not a valid DNS name: {exc}") from None


def _address(text: str) -> str:
    """``text`` as a normalised IP address, or ``RouteError``."""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        raise RouteError(f"{_shown(text)} is not an IP address") from None


@functools.lru_cache(maxsize=4096)
def normal_address(text: str) -> str:
    """An address in one spelling (``2001:DB8:0::1`` is ``2001:db8::1``); other text as is."""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


def _shown(text: str) -> str:
    """Operator input quoted for a message, cut short if long."""
    return repr(_cut(text))


def _cut(text: str) -> str:
    """``text`` cut short for a message if long."""
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
