"""A signed referral's proof that the child has no DS, kept for the validator.

Why: a signed parent refers to an unsigned child with the NSEC/NSEC3 records
that deny the child's DS in the authority section (RFC 4035 3.1.4.1, RFC
5155 7.2.7). Unbound's validator uses that proof when it walks the chain of
trust instead of asking ``child DS`` again (``validator.c``: the DS is
"looked up" in the referral message first), and Knot Resolver caches it.
Asking again costs a query per insecure delegation, and a server that does
not answer DS questions would otherwise leave the child bogus (Deckard
val_nsec3_b3_optout_negcache, val_unsecds_negcache).

Nothing here is trusted: the proof is handed to the validator as unjudged
``Evidence``, which checks it exactly as a DS NODATA without SOA, with the
parent's keys (``resolver.validation``). Entries live for the proof's TTL
and the memory is bounded. Pure: expiry reads the injected wall clock.
"""

from __future__ import annotations

import dns.name
from cachetools import LRUCache

from resolver.clock import Clock
from resolver.validation import Evidence

#: Children remembered at most (the least recently referred go first).
MAX_DENIALS = 10_000


class ReferralDenials:
    """DS denials seen in referrals, by child zone, until their TTL runs out."""

    def __init__(self, clock: Clock, *, max_entries: int = MAX_DENIALS) -> None:
        self._clock = clock
        self._held: LRUCache[dns.name.Name, tuple[float, Evidence]] = LRUCache(
            maxsize=max_entries
        )

    def remember(self, child: dns.name.Name, evidence: Evidence) -> None:
        """Keep ``evidence`` (a referral's NSEC/NSEC3 and RRSIGs) for ``child DS``."""
        if not evidence.proof:
            return
        ttl = min(rrset.ttl for rrset in evidence.proof)
        if ttl > 0:
            self._held[child] = (self._clock.wall() + ttl, evidence)

    def get(self, child: dns.name.Name) -> Evidence | None:
        """The denial kept for ``child``, if its TTL has not run out."""
        held = self._held.get(child)
        if held is None:
            return None
        until, evidence = held
        if until <= self._clock.wall():
            del self._held[child]
            return None
        return evidence

    def __len__(self) -> int:
        return len(self._held)
