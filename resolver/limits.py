"""Work limits for one client query.

A malicious or broken delegation must not make the resolver loop, amplify,
or hold the event loop: every client query gets a ``Budget`` that counts
upstream queries, referrals, address lookups of NS names (those answered
from memory included), nested sub-resolutions, validation work and elapsed
time, shared by everything done on its behalf. Counting packets alone is not
enough: a referral fan-out of NS names without glue, each of whose zones
refers the same way one level deeper, costs exponential CPU from the cache
while sending ten packets (issue 16). The peers bound the same work:

* Unbound (iterator/iterator.h): ``MAX_TARGET_COUNT`` 64 target lookups for
  a query and its subqueries, ``MAX_DP_TARGET_COUNT`` 16 per delegation
  point, ``MAX_SENT_COUNT`` 32 queries sent, ``target-fetch-policy``
  "3 2 1 0 0" (a dependency depth of 4);
* BIND: ``max-recursion-queries`` and ``max-recursion-depth`` (7);
* Knot Resolver: ``KR_ITER_LIMIT`` iterations per request, and an NS name
  whose address lookup failed is not tried again for the request
  (lib/selection_iter.c).

The elapsed-time check reads an injected monotonic clock, so the core
enforces the time budget itself between packets, not only the Trio cancel
scope around a packet in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dns.edns
import dns.name

from dnssec.errors import HoldfastError
from dnssec.work import ValidationWork, WorkLimits


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-client-query limits (defaults close to Unbound's and Knot's)."""

    #: Upstream queries sent for one client query, sub-queries included.
    max_upstream_queries: int = 48
    #: Referrals followed for one client query.
    max_referrals: int = 32
    #: Nesting of sub-resolutions (an NS name's address needing resolution).
    max_depth: int = 4
    #: CNAME/DNAME steps followed for one question.
    max_cname_chain: int = 16
    #: Seconds a client query may take before it is answered SERVFAIL.
    time_budget: float = 5.0
    #: Rounds over a zone's servers while the only failures are timeouts
    #: (Unbound tries a server five times, with back-off).
    timeout_rounds: int = 5
    #: Address lookups of NS names for one client query, each A or AAAA
    #: sub-resolution and each name answered "failed" from memory counting
    #: one (Unbound's MAX_TARGET_COUNT).
    max_ns_lookups: int = 64
    #: NS names looked up for one zone cut before giving up on it (Unbound's
    #: MAX_DP_TARGET_COUNT).
    max_ns_lookups_per_zone: int = 16
    #: Signature checks and NSEC3 hashes allowed (KeyTrap and friends).
    validation: WorkLimits = field(default_factory=WorkLimits)


class WorkLimitExceeded(HoldfastError):
    """A client query used up its budget; it is answered SERVFAIL."""

    ede_code = dns.edns.EDECode.OTHER


class Budget:
    """Counters for one client query, spent by the iterator as it works.

    Args:
        limits: What may be spent.
        timer: Monotonic seconds (``time.monotonic``, or a test's clock);
            the query may run for ``limits.time_budget`` from creation.
    """

    __slots__ = (
        "cutoffs",
        "deadline",
        "failed_targets",
        "limits",
        "ns_lookups",
        "queries",
        "referrals",
        "timer",
        "validation",
    )

    def __init__(self, limits: Limits, timer: Callable[[], float]) -> None:
        self.limits = limits
        self.timer = timer
        self.deadline = timer() + limits.time_budget
        self.queries = 0
        self.referrals = 0
        self.ns_lookups = 0
        #: Lookups cut short by a limit (depth): their failure proves nothing
        #: about the name, so it must not be remembered beyond this query.
        self.cutoffs = 0
        #: NS names whose address lookup failed for this query: not tried again.
        self.failed_targets: set[dns.name.Name] = set()
        self.validation = ValidationWork(limits.validation)

    def check_time(self) -> None:
        """Raise if the query's time budget is spent, packet in flight or not.

        Raises:
            WorkLimitExceeded: ``time_budget`` seconds have passed.
        """
        if self.timer() >= self.deadline:
            raise WorkLimitExceeded(
                f"work limit: the {self.limits.time_budget:g} s time budget is spent"
            )

    def spend_query(self) -> None:
        """Count one upstream query.

        Raises:
            WorkLimitExceeded: the query would exceed ``max_upstream_queries``,
                or the time budget is spent.
        """
        self.check_time()
        if self.queries >= self.limits.max_upstream_queries:
            raise WorkLimitExceeded(
                f"work limit: {self.limits.max_upstream_queries} upstream queries used"
            )
        self.queries += 1

    def spend_referral(self) -> None:
        """Count one referral followed.

        Raises:
            WorkLimitExceeded: more than ``max_referrals`` referrals.
        """
        if self.referrals >= self.limits.max_referrals:
            raise WorkLimitExceeded(f"work limit: {self.limits.max_referrals} referrals followed")
        self.referrals += 1

    def spend_ns_lookup(self) -> None:
        """Count one address lookup of an NS name, answered from memory or not.

        Raises:
            WorkLimitExceeded: more than ``max_ns_lookups``, or the time
                budget is spent.
        """
        self.check_time()
        if self.ns_lookups >= self.limits.max_ns_lookups:
            raise WorkLimitExceeded(
                f"work limit: {self.limits.max_ns_lookups} NS address lookups used"
            )
        self.ns_lookups += 1
