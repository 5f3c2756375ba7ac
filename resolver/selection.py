"""Which authoritative server to ask next, and how long to wait for it.

When the iterator has a delegation with several server addresses it asks
``ServerSelection.choose`` for one, uses ``timeout_for`` as the transport's
timeout, and reports what happened (an RTT, a timeout, a lame or broken
reply, a server that rejects EDNS). This is Holdfast's counterpart of
Unbound's infrastructure cache:

* RTT is smoothed per address with Jacobson/Karels (RFC 6298): the first
  sample sets ``srtt = R`` and ``rttvar = R/2``; later ones move ``srtt`` by
  1/8 and ``rttvar`` by 1/4 of the error. RTO is ``srtt + 4 * rttvar``,
  clamped to [50 ms, ``max_rto``] (``[upstream] max_timeout``, 2 s).
  Servers we know nothing about get Unbound's 376 ms, so they fall in the
  selection band and get tried.
* Each consecutive timeout doubles the RTO, still capped at ``max_rto``
  (2 s by default, lower than Unbound's 3 s so that, within a 5 s resolution budget, at least two
  servers get a full try). After three in a row the server is *down* for
  60 s; after that it is on probation with at least the unknown-server RTO,
  so it is probed again: one more timeout puts it down again, while any
  reply brings it back at once.
* A server that answered a zone badly (lame, SERVFAIL, REFUSED, garbage)
  is avoided *for that zone only* for ``broken_ttl`` seconds.
* A server that sent data failing DNSSEC validation for a zone is *held
  down* for that zone: ``holddown`` seconds (15 minutes), doubling each time
  it happens again, up to ``max_holddown`` (4 hours). This is what operators
  did by hand on 9 July 2023, when some .com/.net instances served expired
  signatures. A held-down server is still asked when no other is left, and
  once its hold-down is over it is asked again like any other (probed): a
  healed instance is back in use within one hold-down. Its strikes are
  forgotten once ``max_holddown`` has passed since its last hold-down
  ended, so an instance that failed once long ago starts again at 15
  minutes.
* A server that rejected EDNS is queried without it for 15 minutes, then
  EDNS is tried again.

While a query waits, the next server is asked as well once the first has
not answered within ``stagger_for`` (``resolver.hedging``): its RTO from
the RTT estimate alone, without the timeout back-off (a server that was
slow once must not make every later query wait longer before the hedge),
at most ``STAGGER_CEILING``; a server never measured gets ``STAGGER_UNKNOWN``.

``choose`` picks at random among usable servers whose RTO is within 400 ms
of the best (Unbound's RTT band), so load spreads and the RTT estimates of
near-equal servers stay fresh. All memory expires on the injected wall
clock and is bounded by an LRU of ``max_entries`` addresses. Pure: no I/O,
no Trio.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from cachetools import LRUCache

from resolver.clock import Clock
from resolver.routes import normal_address

log = logging.getLogger("holdfast.selection")

#: RTO of a server we have no measurement for (Unbound's UNKNOWN_SERVER_NICENESS).
UNKNOWN_RTO = 0.376
#: Lower bound of any RTO, seconds.
MIN_RTO = 0.05
#: Upper bound of any RTO, backed off or not, seconds (see the module docstring).
MAX_RTO = 2.0
#: Servers whose RTO is within this of the best one are chosen among at random.
RTT_BAND = 0.4
#: Stagger delay before also asking the next server, when the first was
#: never measured: RFC 8305's Connection Attempt Delay, Trio's happy eyeballs
#: default (shorter than ``UNKNOWN_RTO``, which still decides its timeout).
STAGGER_UNKNOWN = 0.25
#: Longest stagger delay, however slow a server was measured, seconds.
STAGGER_CEILING = 1.0
#: Consecutive timeouts after which a server is considered down.
DOWN_AFTER_TIMEOUTS = 3
#: How long a down server is left alone before it is probed again, seconds.
DOWN_TIME = 60.0
#: How long a server that rejected EDNS is queried without it, seconds.
NO_EDNS_TIME = 900.0
#: Default time a server broken for a zone is avoided for that zone, seconds.
BROKEN_TTL = 120.0
#: Zones remembered as broken per address; the soonest to expire go first.
MAX_BROKEN_ZONES = 64
#: Default first hold-down of a server that sent bogus data for a zone, seconds.
HOLDDOWN = 900.0
#: Default longest hold-down, however often a server repeats, seconds.
MAX_HOLDDOWN = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class BrokenMark:
    """A server avoided for ``zone`` until wall time ``until``, and why.

    ``holddown`` tells a hold-down after bogus data (``report_bogus``) from
    a short mark after a lame or failed reply (``report_broken``).
    """

    zone: str
    reason: str
    until: float
    holddown: bool = False


@dataclass(frozen=True, slots=True)
class HoldDown:
    """One server held down for one zone, for ``holdfast ctl holddown list``.

    ``strikes`` counts the bogus replies that doubled it.
    """

    address: str
    zone: str
    reason: str
    until: float
    strikes: int


@dataclass(frozen=True, slots=True)
class ServerStats:
    """What selection currently knows about one address.

    ``srtt`` is ``None`` until a reply was measured; ``rto`` includes any
    timeout back-off; ``broken`` lists the zones the server is avoided for
    right now.
    """

    address: str
    srtt: float | None
    rto: float
    timeouts: int
    down: bool
    edns: bool
    broken: tuple[BrokenMark, ...]


@dataclass(frozen=True, slots=True)
class SelectionStats:
    """A snapshot of server selection, for ``ctl status``."""

    entries: int
    servers: tuple[ServerStats, ...]


@dataclass(slots=True)
class _Host:
    """Mutable per-address state (Unbound's infra-cache entry)."""

    srtt: float | None = None
    rttvar: float = 0.0
    timeouts: int = 0
    down_until: float = 0.0
    no_edns_until: float = 0.0
    broken: dict[str, BrokenMark] = field(default_factory=dict)
    #: Per zone, bogus answers seen and when the last hold-down ended (or
    #: ends): each doubles the next hold-down.
    bogus: dict[str, tuple[int, float]] = field(default_factory=dict)

    def base_rto(self, ceiling: float) -> float:
        """RTO from the RTT estimate alone, before timeout back-off."""
        if self.srtt is None:
            return min(UNKNOWN_RTO, ceiling)
        return min(max(self.srtt + 4 * self.rttvar, MIN_RTO), ceiling)

    def rto(self, now: float, ceiling: float) -> float:
        """RTO including the doubling for each consecutive timeout.

        A server whose down time is over is on probation: it gets at least
        the RTO of an unknown server, so that it falls in the band and is
        probed again.
        """
        if self.timeouts >= DOWN_AFTER_TIMEOUTS and self.down_until <= now:
            return min(max(self.base_rto(ceiling), UNKNOWN_RTO), ceiling)
        # The exponent is bounded only to keep the float finite: 2**10 * MIN_RTO > any ceiling.
        return min(self.base_rto(ceiling) * 2.0 ** min(self.timeouts, 10), ceiling)

    def avoided_until(self, zone: str | None) -> float:
        """Wall time until which this host should not be chosen for ``zone``."""
        mark = None if zone is None else self.broken.get(zone)
        return self.down_until if mark is None else max(self.down_until, mark.until)

    def broken_marks(self, now: float) -> list[BrokenMark]:
        """The broken marks that have not expired at ``now``."""
        return [mark for mark in self.broken.values() if mark.until > now]


class ServerSelection:
    """Per-address RTT, timeout, lameness and EDNS memory; picks servers.

    Args:
        clock: Wall clock that expires down, broken and no-EDNS marks.
        rng: Source of randomness for choosing within the RTT band.
        max_entries: Addresses remembered (least recently used go first).
        broken_ttl: Seconds a server broken for a zone is avoided for it.
        holddown: Seconds of the first hold-down after bogus data.
        max_holddown: Seconds of the longest hold-down.
        max_rto: Longest wait for one reply, backed off or not, seconds.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        max_entries: int = 10_000,
        broken_ttl: float = BROKEN_TTL,
        holddown: float = HOLDDOWN,
        max_holddown: float = MAX_HOLDDOWN,
        max_rto: float = MAX_RTO,
    ) -> None:
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._hosts: LRUCache[str, _Host] = LRUCache(maxsize=max_entries)
        self._broken_ttl = broken_ttl
        self._max_rto = max_rto
        self.set_holddowns(holddown, max_holddown)

    def set_holddowns(self, holddown: float, max_holddown: float) -> None:
        """Seconds of the first and of the longest hold-down (a reload changes them).

        Servers held down already keep the time they were given; the new
        lengths apply from their next strike.
        """
        self._holddown = holddown
        self._max_holddown = max(max_holddown, holddown)
        #: Hold-downs ever started (a repeat while one is in force is not one).
        self.holddowns_started = 0

    def choose(
        self,
        candidates: Sequence[str],
        exclude: Collection[str] = (),
        *,
        zone: str | None = None,
        usable_only: bool = False,
    ) -> str | None:
        """Pick the address to query next.

        Servers that are down, or broken for ``zone`` when one is given, are
        skipped unless nothing else is left; then the one that becomes
        usable soonest (ties: lowest RTO) is returned, so it keeps being
        probed. Otherwise the pick is random among those whose RTO is within
        ``RTT_BAND`` of the best.

        Args:
            candidates: Addresses of the zone's servers.
            exclude: Addresses already tried for this query.
            zone: The zone being queried, for per-zone broken marks.
            usable_only: Return ``None`` rather than a down or broken server
                (for a preferred tier of servers, before the rest).

        Returns:
            One of ``candidates`` not in ``exclude``, or ``None`` if there is
            none.
        """
        pool = [address for address in dict.fromkeys(candidates) if address not in exclude]
        if not pool:
            return None
        zone_key = None if zone is None else _zone_key(zone)
        now = self._clock.wall()
        known = {address: self._hosts.get(address) for address in pool}
        avoided = {
            address: host
            for address, host in known.items()
            if host is not None and host.avoided_until(zone_key) > now
        }
        usable = [address for address in pool if address not in avoided]
        if not usable:
            if usable_only:
                return None
            return min(
                avoided,
                key=lambda address: (
                    avoided[address].avoided_until(zone_key),
                    avoided[address].rto(now, self._max_rto),
                ),
            )
        rtos = {address: self._rto(known[address], now) for address in usable}
        best = min(rtos.values())
        return self._rng.choice([a for a in usable if rtos[a] <= best + RTT_BAND])

    def timeout_for(self, address: str) -> float:
        """The retransmission timeout to use for ``address``, seconds."""
        return self._rto(self._hosts.get(address), self._clock.wall())

    def stagger_for(self, address: str) -> float:
        """Seconds to wait for ``address`` before also asking the next server.

        Its RTO without the timeout back-off, within [``MIN_RTO``,
        ``STAGGER_CEILING``]; ``STAGGER_UNKNOWN`` if it was never measured.
        """
        host = self._hosts.get(address)
        if host is None or host.srtt is None:
            return STAGGER_UNKNOWN
        return min(host.base_rto(self._max_rto), STAGGER_CEILING)

    def report_rtt(self, address: str, rtt: float) -> None:
        """Record a reply from ``address`` that took ``rtt`` seconds.

        Any reply clears the timeout back-off and the down mark.
        """
        host = self._host(address)
        if host.srtt is None:
            host.srtt = rtt
            host.rttvar = rtt / 2
        else:
            host.rttvar += (abs(host.srtt - rtt) - host.rttvar) / 4
            host.srtt += (rtt - host.srtt) / 8
        host.timeouts = 0
        host.down_until = 0.0

    def report_timeout(self, address: str) -> None:
        """Record that ``address`` did not answer in time.

        Doubles its RTO; the third timeout in a row (and each one after,
        while no reply comes) marks it down for ``DOWN_TIME``.
        """
        host = self._host(address)
        host.timeouts += 1
        if host.timeouts >= DOWN_AFTER_TIMEOUTS:
            host.down_until = self._clock.wall() + DOWN_TIME

    def report_broken(self, address: str, zone: str, reason: str) -> None:
        """Avoid ``address`` for ``zone`` for ``broken_ttl`` seconds.

        Args:
            address: The server that misbehaved.
            zone: The zone it was asked about (any case, dot optional).
            reason: Why (lame, SERVFAIL, REFUSED, garbage), for statistics.
        """
        self._mark(self._host(address), _zone_key(zone), reason, self._broken_ttl)

    def report_bogus(self, address: str, zone: str, reason: str) -> float:
        """Hold ``address`` down for ``zone``: it sent data that failed validation.

        The first hold-down lasts ``holddown`` seconds; each repeat after it
        ended doubles it, up to ``max_holddown``. Strikes are forgotten once
        ``max_holddown`` has passed since the last hold-down ended.

        Returns:
            The hold-down's length, seconds.
        """
        host = self._host(address)
        key = _zone_key(zone)
        now = self._clock.wall()
        current = host.broken.get(key)
        if current is not None and current.holddown and current.until > now:
            # Asked as a last resort while held down: no new strike, or an
            # outage where every instance is bad would escalate them all to
            # the longest hold-down and slow the recovery.
            return current.until - now
        strikes, ended = host.bogus.pop(key, (0, now))
        strikes = 1 if now - ended > self._max_holddown else strikes + 1
        duration = min(self._holddown * 2.0 ** min(strikes - 1, 16), self._max_holddown)
        host.bogus[key] = (strikes, now + duration)
        while len(host.bogus) > MAX_BROKEN_ZONES:
            del host.bogus[next(iter(host.bogus))]
        self._mark(host, key, f"bogus: {reason}", duration, holddown=True)
        self.holddowns_started += 1
        log.warning(
            "holding down %s for %s for %d s (strike %d): %s", address, key, duration, strikes,
            reason,
            extra={"event": "server_held_down", "address": address, "zone": key,
                   "seconds": duration, "strikes": strikes, "reason": reason},
        )
        return duration

    def impose_holddown(
        self, address: str, zone: str, reason: str, seconds: float, strikes: int = 1
    ) -> bool:
        """Hold ``address`` down for ``zone`` for ``seconds``, as decided elsewhere.

        Another worker learned it (``resolver.holddown_sharing``) or the
        operator said so: no strike is added and no hold-down is counted as
        started here, but the strikes given are kept, so the next bogus
        reply doubles the hold-down as it would in the worker that learned
        it. A longer hold-down in force is kept.

        Returns:
            Whether the hold-down was imposed.
        """
        host = self._host(address)
        key = _zone_key(zone)
        now = self._clock.wall()
        current = host.broken.get(key)
        if seconds <= 0 or (current is not None and current.holddown
                            and current.until >= now + seconds):
            return False
        known = host.bogus.pop(key, (0, now))[0]
        host.bogus[key] = (max(known, strikes), now + seconds)
        while len(host.bogus) > MAX_BROKEN_ZONES:
            del host.bogus[next(iter(host.bogus))]
        self._mark(host, key, reason, seconds, holddown=True)
        return True

    def holddowns(self) -> list[HoldDown]:
        """Every hold-down in force, by address then zone."""
        now = self._clock.wall()
        return [
            HoldDown(
                address, mark.zone, mark.reason, mark.until, host.bogus.get(mark.zone, (1, 0))[0]
            )
            for address, host in sorted(self._hosts.items())
            for mark in sorted(host.broken_marks(now), key=lambda mark: mark.zone)
            if mark.holddown
        ]

    def clear_holddowns(self, address: str | None = None, zone: str | None = None) -> int:
        """Lift hold-downs and forget their strikes (``holdfast ctl holddown clear``).

        Args:
            address: Only this server's; every server's when None.
            zone: Only for this zone; every zone's when None.

        Returns:
            How many hold-downs in force were lifted.
        """
        key = None if zone is None else _zone_key(zone)
        now = self._clock.wall()
        lifted = 0
        for host_address, host in self._hosts.items():
            if address is not None and normal_address(host_address) != normal_address(address):
                continue
            for mark_zone in [z for z, m in host.broken.items() if m.holddown]:
                if key is None or mark_zone == key:
                    lifted += host.broken.pop(mark_zone).until > now
            for strike_zone in [z for z in host.bogus if key is None or z == key]:
                del host.bogus[strike_zone]
        return lifted

    def _mark(
        self, host: _Host, zone: str, reason: str, duration: float, *, holddown: bool = False
    ) -> None:
        """Avoid ``host`` for ``zone`` for ``duration`` seconds (one mark per zone).

        A short broken mark never cuts a longer hold-down short.
        """
        now = self._clock.wall()
        current = host.broken.get(zone)
        if current is not None and current.holddown and current.until > now + duration:
            return
        live = sorted(host.broken_marks(now), key=lambda mark: mark.until)
        kept = [mark for mark in live if mark.zone != zone][-(MAX_BROKEN_ZONES - 1) :]
        host.broken = {mark.zone: mark for mark in kept}
        host.broken[zone] = BrokenMark(zone, reason, now + duration, holddown)

    def uses_edns(self, address: str) -> bool:
        """Whether to send EDNS to ``address`` (false for a while after it rejected it)."""
        host = self._hosts.get(address)
        return host is None or host.no_edns_until <= self._clock.wall()

    def report_no_edns(self, address: str) -> None:
        """Record that ``address`` rejected EDNS; skip it for ``NO_EDNS_TIME``."""
        self._host(address).no_edns_until = self._clock.wall() + NO_EDNS_TIME

    def statistics(self) -> SelectionStats:
        """A frozen snapshot of everything selection remembers."""
        now = self._clock.wall()
        servers = tuple(
            self._stats(address, host, now) for address, host in sorted(self._hosts.items())
        )
        return SelectionStats(entries=len(servers), servers=servers)

    def describe(self, address: str) -> ServerStats:
        """What selection knows of ``address`` now (a server never heard of included).

        For the per-query trace (``resolver.trace``): why one server was chosen.
        """
        return self._stats(address, self._hosts.get(address) or _Host(), self._clock.wall())

    def _stats(self, address: str, host: _Host, now: float) -> ServerStats:
        return ServerStats(
            address=address,
            srtt=host.srtt,
            rto=host.rto(now, self._max_rto),
            timeouts=host.timeouts,
            down=host.down_until > now,
            edns=host.no_edns_until <= now,
            broken=tuple(sorted(host.broken_marks(now), key=lambda mark: mark.zone)),
        )

    def _rto(self, host: _Host | None, now: float) -> float:
        """RTO of a possibly unknown host."""
        return min(UNKNOWN_RTO, self._max_rto) if host is None else host.rto(now, self._max_rto)

    def _host(self, address: str) -> _Host:
        """The entry for ``address``, created on first report."""
        host = self._hosts.get(address)
        if host is None:
            host = self._hosts[address] = _Host()
        return host



def _zone_key(zone: str) -> str:
    """Normalise a zone name: lower case, exactly one trailing dot."""
    return zone.lower().rstrip(".") + "."
