"""The parent's glue addresses of NS names, kept apart from the child's own.

A referral's glue is cached at the lowest rank, and the child zone's
authoritative A/AAAA for the same name replaces it (RFC 2181 5.4.1). When
parent and child disagree and the child's address does not answer, the
parent's address is the only way left into the zone. Unbound keeps such
"parent-side" addresses apart for that reason (iterator.c
``processLastResort``, iter_utils.c ``iter_lookup_parent_glue_from_cache``,
the PACKED_RRSET_PARENT_SIDE flag) and Knot Resolver keeps the parent's
addresses in its zone cut; here this memory plays that role. It is only
ever a fallback address to ask, never data to answer with. Bounded, and
each entry lives no longer than the glue's TTL (capped). Pure: the expiry
reads the injected wall clock.
"""

from __future__ import annotations

import dns.name
import dns.rdatatype
import dns.rrset
from cachetools import LRUCache

from resolver.clock import Clock

#: (NS name, type) pairs remembered at most (the least recently used go first).
MAX_PARENT_GLUE = 10_000
#: Longest life of an entry, seconds, whatever the glue's TTL says (a day,
#: as the cache's default ``max_ttl``).
MAX_PARENT_GLUE_TTL = 86_400

_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


class ParentSideGlue:
    """Addresses of NS names as their parent zone's referrals gave them.

    Args:
        clock: The wall clock that expires entries.
        max_entries: (name, type) pairs remembered at most.
    """

    def __init__(self, clock: Clock, *, max_entries: int = MAX_PARENT_GLUE) -> None:
        self._clock = clock
        self._entries: LRUCache[
            tuple[dns.name.Name, dns.rdatatype.RdataType], tuple[float, tuple[str, ...]]
        ] = LRUCache(maxsize=max_entries)

    def remember(self, glue: dns.rrset.RRset) -> None:
        """Keep the addresses of an A or AAAA glue RRset from a referral."""
        if glue.rdtype not in _ADDRESS_TYPES or glue.ttl <= 0:
            return
        until = self._clock.wall() + min(glue.ttl, MAX_PARENT_GLUE_TTL)
        self._entries[(glue.name, glue.rdtype)] = (until, tuple(r.address for r in glue))

    def addresses(self, name: dns.name.Name) -> tuple[str, ...]:
        """The parent-side A, then AAAA, addresses of ``name`` still alive."""
        found: list[str] = []
        now = self._clock.wall()
        for rdtype in _ADDRESS_TYPES:
            key = (name, rdtype)
            entry = self._entries.get(key)
            if entry is None:
                continue
            until, addresses = entry
            if until <= now:
                del self._entries[key]
                continue
            found.extend(addresses)
        return tuple(found)

    def __len__(self) -> int:
        return len(self._entries)
