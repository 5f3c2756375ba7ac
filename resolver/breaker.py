"""A circuit breaker: after a failure, stop calling a service until a probe sees it back.

The shared cache tier (``resolver.shared_tier``) is an optimisation; a slow
or dead store must never slow the resolver down more than once. Every call
has a short deadline, and the first call that fails (error or deadline)
opens the breaker: from then on calls are skipped at once, costing nothing,
and only a probe, at most one every ``retry_after`` seconds and never on a
client's path, may close it again. Unbound's cachedb makes each query wait
for Redis, and its manual warns that a Redis that times out often makes
Unbound "effectively unusable"; this is the fix for that.

Sans-I/O: the caller passes the time (Trio's clock in the shell, a plain
number in tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class CircuitBreaker:
    """Closed (calls go through) or open (calls are skipped until a probe succeeds).

    Attributes:
        retry_after: Seconds between probes while open.
        opened_at: When it opened; None while closed.
        trips: How many times it opened.
        skipped: Calls skipped while open.
    """

    retry_after: float
    opened_at: float | None = None
    trips: int = 0
    skipped: int = 0
    _last_probe: float = float("-inf")

    @property
    def closed(self) -> bool:
        return self.opened_at is None

    def allows(self) -> bool:
        """Whether a call may go out now; a skipped call is counted."""
        if self.opened_at is None:
            return True
        self.skipped += 1
        return False

    def failed(self, now: float) -> None:
        """A call (or a probe) failed at ``now``: open, or stay open until the next probe."""
        if self.opened_at is None:
            self.opened_at = now
            self.trips += 1
        self._last_probe = now

    def succeeded(self) -> None:
        """A call or a probe succeeded: close."""
        self.opened_at = None

    def probe_due(self, now: float) -> bool:
        """Whether the breaker is open and the next probe may go out at ``now``."""
        return self.opened_at is not None and now >= self._last_probe + self.retry_after
