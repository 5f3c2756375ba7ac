"""Which cold UDP queries start now, wait, or are dropped: cached answers first under overload.

The server answers a repeated question from a ready-made response as soon
as it reads the datagram (``server.DnsServer.answer_ready``): that costs
microseconds. Every other query (a *cold* one) needs a resolution, which
costs a millisecond or more of the event loop. Under a flood of cold
queries, what starves the cached clients is not a cap being reached but the
loop being too busy to read the socket: the receive buffer fills, and the
kernel drops cached and cold queries alike before Holdfast sees them.

So admission is decided on how late the server reads, not only on a count:

* Every cold query goes into a bounded FIFO. When it is full, the *oldest*
  waiting query is dropped (its client has probably retried already), as
  Unbound's ``jostle-timeout`` replaces old queries with new ones when
  ``num-queries-per-thread`` is reached; a query that waited longer than
  ``max_wait`` is dropped when its turn comes.
* Queries leave the FIFO while fewer resolutions run than the *window*,
  which is at most ``max_in_flight`` (Unbound's ``num-queries-per-thread``).
* The window adapts to how late the server reads, like TCP's congestion
  window (additive increase, multiplicative decrease). Lateness is CoDel's
  signal (RFC 8289), the *sojourn time*: how long a packet that arrives
  now may wait before the loop reads it, which is how long one scheduler
  batch runs (``loopwatch``). Above ``target_delay`` the server is late
  for everyone (TCP, DoT and DoH clients, and the cached UDP clients
  between two reads), because too many resolutions take their turn on the
  loop in one batch: the window is halved (from what is in flight, at
  most once per ``interval``, never below ``min_in_flight`` so cold
  queries always progress). Each on-time batch that finds the window full
  raises it by one. It so settles near
  what the machine resolves while staying on time; the resolutions beyond
  it that already run finish, and no new one starts until they have.
  Each batch reports its length once, so the window grows at most by one
  per batch.

Pure: no I/O and no clock; the caller passes the times.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """The knobs of ``Admission`` (see the module docstring)."""

    #: Resolutions of UDP queries running at once (Unbound num-queries-per-thread).
    max_in_flight: int = 1024
    #: The adaptive window never goes below this.
    min_in_flight: int = 16
    #: Cold queries waiting to start; beyond it the oldest is dropped.
    max_waiting: int = 1024
    #: Seconds a cold query may wait to start (Unbound jostle-timeout is 0.2).
    max_wait: float = 0.5
    #: Sojourn time in the socket buffer above which the window shrinks (CoDel target).
    target_delay: float = 0.005
    #: Seconds after a halving of the window before the next one (CoDel interval).
    interval: float = 0.1


@dataclass(slots=True)
class AdmissionStats:
    """Cold queries dropped, by why: the queue was full, or they waited too long."""

    dropped_full: int = 0
    dropped_stale: int = 0


class Admission(Generic[T]):
    """The bounded FIFO of cold queries and the rule for starting them."""

    def __init__(self, limits: AdmissionLimits = AdmissionLimits()) -> None:
        self.limits = limits
        self.stats = AdmissionStats()
        self.in_flight = 0
        #: Resolutions allowed at once now (the adaptive window).
        self.window = float(limits.max_in_flight)
        self._waiting: deque[tuple[float, T]] = deque()
        self._next_decrease = float("-inf")

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def busy(self) -> bool:
        """Whether resolutions run: each will ``take`` the queued queries when it ends."""
        return self.in_flight > 0

    def sojourn(self, delay: float, now: float) -> None:
        """How late the loop was at ``now``: the seconds the scheduler batch ending then ran."""
        if delay > self.limits.target_delay:
            if now >= self._next_decrease:
                halved = min(self.window, self.in_flight) / 2
                self.window = max(float(self.limits.min_in_flight), halved)
                self._next_decrease = now + self.limits.interval
        elif self.in_flight >= self.window:
            self.window = min(self.window + 1, float(self.limits.max_in_flight))

    def arrive(self, item: T, now: float) -> None:
        """A cold query read at ``now``: it waits its turn (``take``); the oldest may be dropped."""
        if len(self._waiting) >= self.limits.max_waiting:
            self._waiting.popleft()
            self.stats.dropped_full += 1
        self._waiting.append((now, item))

    def take(self, now: float) -> list[T]:
        """The waiting queries to start now; each counts as in flight until ``finished``."""
        started: list[T] = []
        oldest = now - self.limits.max_wait
        while self._waiting and self.in_flight < self.window:
            arrived, item = self._waiting.popleft()
            if arrived < oldest:
                self.stats.dropped_stale += 1
                continue
            self.in_flight += 1
            started.append(item)
        return started

    def finished(self) -> None:
        """A resolution that ``take`` started is over."""
        self.in_flight -= 1
