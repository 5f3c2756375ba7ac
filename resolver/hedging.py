"""Staggered attempts at one question to a zone's servers: happy eyeballs for DNS.

Asking one server and waiting out its whole timeout before the next makes
a server that drops queries cost its RTO on every query that picks it, and
a reply later than the RTO is thrown away even when it is the only one
coming. Knot Resolver (daemon/worker.c, ``on_retransmit``) and Trio's
``open_tcp_stream`` (happy eyeballs, RFC 8305) do better: when the first
attempt has not succeeded within a short delay, start the next one, keep
the first listening, and take whichever succeeds first.

A ``Race`` holds the attempts in flight for one question to one zone and
the rules about them; the iterator decides with it and the driver only
runs the sends and the timers (``resolver.exchange``). Each attempt has
two moments, both on the driver's clock sent back with every event:

* its *stagger point*, ``stagger`` seconds after it started (selection's
  RTT estimate without the timeout back-off, ``ServerSelection.stagger_for``):
  from then on the next server may be asked as well. The attempt is not
  penalised for that: a server that has not answered before another one
  won is not a timeout (see below);
* its *RTO*, the retransmission timeout selection gave it: from then on it
  has *really* timed out, and selection is told so once (``expire``), as
  when only one query was in flight, so the back-off and down marks mean
  what they meant. The attempt goes on listening: a reply that arrives
  later still wins if nothing better came, and clears the back-off as any
  reply does.

Late replies are not waited for forever: once every round is spent and
every attempt has reached its RTO, the race gives up ``LATE_REPLY_WINDOW``
after its first attempt started (or at once, if that is past). A zone
whose servers all answer 3 s late still answers; a silent one still ends
in SERVFAIL before clients that wait 5 s (dig, Deckard) give up, as it did
when each attempt stopped listening at its RTO.

When a reply wins, the attempts still in flight are abandoned: if their
reply still comes while the resolution runs, it only updates that server's
RTT (``late``), it is never used a second time. An abandoned attempt that
had not reached its RTO is not reported as a timeout at all; one that never
replies costs nothing more than the socket until the resolution ends.
Pure: no I/O, no Trio.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from resolver.errors import UpstreamError
from resolver.exchange import (
    Abandon,
    Await,
    DriverMisuse,
    Exchange,
    Landed,
    Launch,
    Launched,
    Tick,
    UpstreamQuery,
    UpstreamReply,
)

#: Seconds past an attempt's RTO before the race counts it as timed out.
RTO_GRACE = 0.01
#: Seconds after a race's first attempt during which, with nothing left to
#: ask, a late reply is still waited for (module docstring).
LATE_REPLY_WINDOW = 3.5


@dataclass(slots=True)
class Attempt:
    """One query in flight: to whom, when it started, and its two moments."""

    address: str
    started: float
    stagger: float
    rto: float
    #: Already reported to selection as a timeout (its RTO passed).
    timed_out: bool = False

    @property
    def hedge_at(self) -> float:
        """Driver time from which the next server may be asked as well."""
        return self.started + self.stagger

    @property
    def expires_at(self) -> float:
        """Driver time at which the attempt has really timed out.

        ``RTO_GRACE`` after its RTO: the transport's own timer started a
        little after the launch, and a leg that ends at its timeout with
        an error (garbage with our ID) must land as that error, not be
        taken for a timeout and asked again in the next round.
        """
        return self.started + self.rto + RTO_GRACE


class Race:
    """The attempts in flight for one question to one zone's servers.

    ``now`` is the driver's clock as of the last event it sent back.
    """

    def __init__(self) -> None:
        self.in_flight: dict[int, Attempt] = {}
        self.now = -math.inf
        #: Driver time until which late replies are waited for, set at the first launch.
        self.late_until = math.inf

    def launch(self, query: UpstreamQuery, *, stagger: float) -> Exchange[None]:
        """Start ``query``: its RTO is ``query.timeout``, its stagger delay ``stagger``.

        It listens for ``query.listen_for``, which should be longer.
        """
        launched = yield Launch(query)
        if not isinstance(launched, Launched):
            raise DriverMisuse(f"the driver did not start the query to {query.address}")
        self.now = launched.now
        self.late_until = min(self.late_until, launched.now + LATE_REPLY_WINDOW)
        self.in_flight[launched.attempt] = Attempt(
            query.address, launched.now, stagger, query.timeout
        )

    def may_hedge(self) -> bool:
        """Whether another server may be asked: none in flight, or all past their stagger point."""
        return all(attempt.hedge_at <= self.now for attempt in self.in_flight.values())

    def all_expired(self) -> bool:
        """Whether every attempt in flight (if any) has reached its RTO."""
        return all(attempt.expires_at <= self.now for attempt in self.in_flight.values())

    def waited_out(self) -> bool:
        """Whether late replies are no longer worth waiting for (``LATE_REPLY_WINDOW``)."""
        return self.now >= self.late_until

    def expire(self) -> list[str]:
        """The addresses of attempts whose RTO has just passed (each reported once)."""
        expired = []
        for attempt in self.in_flight.values():
            if not attempt.timed_out and attempt.expires_at <= self.now:
                attempt.timed_out = True
                expired.append(attempt.address)
        return expired

    def wait(
        self, *, hedging: bool
    ) -> Exchange[tuple[Attempt, UpstreamReply | UpstreamError] | None]:
        """Wait for the next attempt to end, or for the next moment that matters.

        With ``hedging`` (another server could still be asked) the next
        stagger point counts; otherwise only RTOs and the end of
        ``LATE_REPLY_WINDOW`` do. Returns the attempt that ended with its
        result, or None when a moment came first.
        """
        moments = [
            moment
            for attempt in self.in_flight.values()
            for moment in (
                attempt.hedge_at if hedging else math.inf,
                math.inf if attempt.timed_out else attempt.expires_at,
            )
            if moment > self.now
        ]
        if self.late_until > self.now:
            moments.append(self.late_until)
        event = yield Await(frozenset(self.in_flight), min(moments, default=math.inf))
        if isinstance(event, Tick):
            self.now = event.now
            return None
        if not isinstance(event, Landed) or event.attempt not in self.in_flight:
            raise DriverMisuse("the driver sent back no attempt of this race")
        self.now = event.now
        return self.in_flight.pop(event.attempt), event.result

    def abandon(self, late: Callable[[UpstreamReply], None]) -> Exchange[None]:
        """Stop waiting for the attempts in flight; a reply still coming goes to ``late``."""
        if self.in_flight:
            yield Abandon(frozenset(self.in_flight), late)
            self.in_flight.clear()
