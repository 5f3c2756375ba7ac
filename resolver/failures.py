"""Negative caching of resolution failures (RFC 9520), with exponential back-off.

Why: a zone whose servers all time out, answer SERVFAIL or REFUSED, send
data that fails validation, or cannot be found at all costs every client
query the same fruitless upstream queries (and the same CPU), and a popular
broken name turns an outage into a query storm against servers that are
already in trouble. RFC 9520 section 3.2 makes remembering such failures a
MUST: a failure is cached for at least 1 s, never longer than 5 minutes,
and SHOULD back off (exponentially or linearly) while the failure persists;
it suggests 5 s as the first duration, which is our default.

``FailureCache`` is that memory, keyed by whatever the caller remembers
failures of:

* the recursor keys it by ``Question`` (name, type; class IN): a question
  whose resolution failed is answered during its hold without any upstream
  query, stale when ``stale`` has data for it (RFC 8767 section 4's failure
  recheck timer is the same memory, held at least ``failure_recheck``), or
  SERVFAIL with EDE 13 "Cached Error" and the EDEs of the failure (22 No
  Reachable Authority, 23 Network Error, 9 DNSKEY Missing, ...);
* the iterator keys a second one by NS name: an NS name whose address could
  not be found is not looked up again by every query that meets it (Knot
  Resolver does not retry an NS name within a request either; across
  requests this is RFC 9520 section 3.3's "do not requery" for ancestors).

The third member of RFC 9520's tuple, the server, has its own memory in
``selection.ServerSelection`` (timeouts back off, lame and broken servers
are avoided per zone, bogus ones held down: Unbound's infra cache).

Each failure of a key while its previous hold is recent doubles the hold,
up to ``cap``. Peers: Unbound's ``error_response_cache`` (iterator.c) keeps
a SERVFAIL per (qname, qtype, qclass) in its message cache for NORR_TTL,
a fixed 5 s, which is our first hold; BIND's ``servfail-ttl`` is a fixed
1 s (at most 30 s). The back-off is RFC 9520's SHOULD. The streak is
forgotten ``cap`` seconds after the last hold ended, and at once by a
success. Entries outlive their hold only to remember the streak; the LRU
bound ``max_entries`` caps the memory (an entry is a key, a float pair and
the failure's EDEs: well under 1 KB). Pure: the wall clock is injected.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache

from dnssec.status import ExtendedError
from resolver.clock import Clock
from resolver.errors import ConfigError

#: RFC 9520 section 3.2: failures are cached for at least this long, seconds.
MIN_HOLD = 1.0
#: RFC 9520 section 3.2 (consistent with RFC 2308): never longer than this, seconds.
MAX_HOLD = 300.0

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """How long failures are remembered (``[cache] failure_ttl`` and friends).

    Attributes:
        initial: Seconds the first failure of a key is held (RFC 9520's example: 5).
        cap: Longest hold, seconds, however often the failure repeats.
        max_entries: Keys remembered at most (the least recently failed go first).

    Raises:
        ConfigError: ``cap`` is below ``initial``: the first hold would
            already exceed the longest, so one of them is a mistake (refused
            as ``Lifetimes`` refuses a min_ttl above max_ttl).
    """

    initial: float = 5.0
    cap: float = MAX_HOLD
    max_entries: int = 10_000

    def __post_init__(self) -> None:
        if self.cap < self.initial:
            raise ConfigError(
                f"cache max_failure_ttl ({self.cap:g}) must not be below failure_ttl "
                f"({self.initial:g}), the first hold of a failure"
            )


@dataclass(frozen=True, slots=True)
class _Failure:
    """A remembered failure: why, until when it holds, and that hold's length."""

    reasons: tuple[ExtendedError, ...]
    until: float
    hold: float


class FailureCache(Generic[K]):
    """Keys whose resolution failed recently, each held for a backed-off time.

    Args:
        clock: The wall clock that expires holds.
        policy: The first and the longest hold, and the size bound.
    """

    def __init__(self, clock: Clock, policy: FailurePolicy = FailurePolicy()) -> None:
        self._clock = clock
        self.policy = policy
        self._failures: LRUCache[K, _Failure] = LRUCache(maxsize=policy.max_entries)
        #: Lookups that found a failure in force (for metrics).
        self.hits = 0

    def failed(
        self, key: K, reasons: tuple[ExtendedError, ...] = (), *, at_least: float = 0.0
    ) -> float:
        """Remember that ``key`` failed, for why; return the hold it gets, seconds.

        Args:
            key: What failed.
            reasons: The failure's Extended DNS Errors, repeated while it holds.
            at_least: A longer hold some other rule asks for (RFC 8767's
                failure recheck timer while stale data is served); it does
                not feed the back-off.
        """
        now = self._clock.wall()
        initial, cap = self.policy.initial, self.policy.cap
        previous = self._failures.get(key)
        if previous is None or now - previous.until > cap:
            hold = initial
        else:
            hold = min(previous.hold * 2, cap)
        self._failures[key] = _Failure(reasons, now + max(hold, at_least), hold)
        return hold

    def recent(self, key: K) -> tuple[ExtendedError, ...] | None:
        """The reasons ``key`` failed if its hold is still in force, else None."""
        failure = self._failures.get(key)
        if failure is None or failure.until <= self._clock.wall():
            return None
        self.hits += 1
        return failure.reasons

    def succeeded(self, key: K) -> None:
        """Forget ``key``'s failures: it resolved, so the next failure starts afresh."""
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)
