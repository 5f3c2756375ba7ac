"""Work limits for one client query.

A malicious or broken delegation must not make the resolver loop or amplify:
every client query gets a ``Budget`` that counts upstream queries, referrals,
nested sub-resolutions and validation work, shared by everything done on its
behalf. The time budget is enforced by the Trio driver (the sans-I/O core
has no clock for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.edns

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
    #: Signature checks and NSEC3 hashes allowed (KeyTrap and friends).
    validation: WorkLimits = field(default_factory=WorkLimits)


class WorkLimitExceeded(HoldfastError):
    """A client query used up its budget; it is answered SERVFAIL."""

    ede_code = dns.edns.EDECode.OTHER


class Budget:
    """Counters for one client query, spent by the iterator as it works."""

    __slots__ = ("limits", "queries", "referrals", "validation")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.queries = 0
        self.referrals = 0
        self.validation = ValidationWork(limits.validation)

    def spend_query(self) -> None:
        """Count one upstream query.

        Raises:
            WorkLimitExceeded: the query would exceed ``max_upstream_queries``.
        """
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
