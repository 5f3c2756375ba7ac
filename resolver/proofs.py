"""Denial proofs kept beside the cache, for as long as their records live.

Two kinds of proof arrive with data but are not data the RRset cache keeps:

* **A referral's proof that the child has no DS.** A signed parent refers to
  an unsigned child with the NSEC/NSEC3 records that deny the child's DS
  (RFC 4035 3.1.4.1, RFC 5155 7.2.7). Unbound's validator uses that proof
  when it walks the chain of trust (``validator.c``: the DS is "looked up"
  in the referral message first), and Knot Resolver caches it; asking
  ``child DS`` again costs a query per insecure delegation, and a server
  that does not answer DS questions would leave the child bogus (Deckard
  val_nsec3_b3_optout_negcache, val_unsecds_negcache). The proof is handed
  to the validator as unjudged ``Evidence``, checked as a DS NODATA
  without SOA with the parent's keys.
* **A wildcard answer's proof that the name asked for does not exist.** A
  DNSSEC-aware client gets it with the answer (RFC 4035 3.1.3.3), also when
  the answer comes from the cache (Unbound's message cache and Knot's
  packet cache keep it; Deckard val_wild_pos_multi,
  nsec_wildcard_answer_response). The iterator answers a wildcard
  expansion from the cache only while its proof is kept (or, with RFC 8198
  on, expands the cached wildcard again with the cached NSEC/NSEC3 records
  that prove it: ``resolver.aggressive``).

Entries live for the least TTL of their records (a proof with TTL 0 is not
kept) and the memory is bounded, least recently used first out. Pure:
expiry reads the injected wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import LRUCache

from resolver.clock import Clock

#: Proofs remembered at most, per memory.
MAX_PROOFS = 10_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ProofMemory(Generic[K, V]):
    """Proofs by key, each until its TTL runs out."""

    def __init__(self, clock: Clock, *, max_entries: int = MAX_PROOFS) -> None:
        self._clock = clock
        self._held: LRUCache[K, tuple[float, V]] = LRUCache(maxsize=max_entries)

    def remember(self, key: K, proof: V, ttl: int) -> None:
        """Keep ``proof`` under ``key`` for ``ttl`` seconds (not at all for 0)."""
        if ttl > 0:
            self._held[key] = (self._clock.wall() + ttl, proof)

    def get(self, key: K) -> V | None:
        """The proof kept under ``key``, if its TTL has not run out."""
        held = self._held.get(key)
        if held is None:
            return None
        until, proof = held
        if until <= self._clock.wall():
            del self._held[key]
            return None
        return proof

    def forget(self, match: Callable[[K], bool]) -> int:
        """Drop the entries whose key ``match`` accepts (``ctl flush``); how many."""
        keys = [key for key in self._held if match(key)]
        for key in keys:
            del self._held[key]
        return len(keys)

    def __len__(self) -> int:
        return len(self._held)
