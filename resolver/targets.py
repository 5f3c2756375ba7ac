"""A short memory of NS names whose address could not be found.

RFC 9520 (negative caching of DNS resolution failures) asks resolvers to
remember a failed resolution for a short while instead of repeating it for
every client query: a delegation whose NS names lead nowhere would otherwise
cost the same fruitless lookups (and, for names that fan out, the same CPU)
again and again. The memory is deliberately brief (``FAILED_TARGET_TTL``, at
the low end of the RFC's 1 s to 5 min) and bounded, and it only ever holds
failures that were not caused by our own limits, so a name is never
remembered as broken because one deep query ran out of budget. Pure: the
expiry reads the injected wall clock.
"""

from __future__ import annotations

import dns.name
from cachetools import LRUCache

from resolver.clock import Clock

#: Seconds a failed NS-name address lookup is remembered across queries.
FAILED_TARGET_TTL = 5.0
#: NS names remembered at most (the least recently failed go first).
MAX_FAILED_TARGETS = 10_000


class FailedTargets:
    """NS names whose address lookup failed recently, until a short expiry.

    Args:
        clock: The wall clock that expires entries.
        ttl: Seconds an entry lives.
        max_entries: Names remembered at most.
    """

    def __init__(
        self, clock: Clock, *, ttl: float = FAILED_TARGET_TTL, max_entries: int = MAX_FAILED_TARGETS
    ) -> None:
        self._clock = clock
        self._ttl = ttl
        self._until: LRUCache[dns.name.Name, float] = LRUCache(maxsize=max_entries)

    def failed(self, name: dns.name.Name) -> None:
        """Remember that no address of ``name`` could be found."""
        self._until[name] = self._clock.wall() + self._ttl

    def recently_failed(self, name: dns.name.Name) -> bool:
        """Whether a lookup of ``name`` failed less than ``ttl`` seconds ago."""
        until = self._until.get(name)
        if until is None:
            return False
        if until <= self._clock.wall():
            del self._until[name]
            return False
        return True

    def __len__(self) -> int:
        return len(self._until)
