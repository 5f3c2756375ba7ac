"""A zone's NSEC3 chain as the cache holds it, for RFC 8198 aggressive use.

The NSEC3 proofs (``dnssec.nsec3``) ask a chain for the record matching a
name's hash and the record covering it. For one upstream response those
are the few records it carried; for aggressive use they are whatever
SECURE NSEC3 records of the zone the cache holds, found by bisection in the
cache's index (``Cache.secure_nsec_at_or_before``): the record owned by
the hash or the one before it. So the same proofs, with the same rules
(opt-out, delegations, DNAME, the hash budget), judge cached records as
they judge a server's reply, as Knot Resolver's ``lib/cache/nsec3.c``
(``find_leq_NSEC3``, ``nsec3_encloser``) runs its checks over a range
search of its cache.

One chain per parameter set (RFC 5155 section 7.3: a zone has one in
use): the parameters are those of the zone's last NSEC3 held, and records
with others are ignored, like Knot's ``nsec_p`` check (``same_chain``). A
zone just re-salted is then answered from upstream until its old records
leave. Every record returned is kept in ``used``, with its cache entry,
for the proof and the TTL of the answer.

Pure: the cache's clock says what is fresh.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import dns.name
import dns.rdatatype

from dnssec import nsec3
from dnssec.work import ValidationWork
from resolver.cache import Cache, CachedRRset


class CachedNsec3Chain(nsec3.Nsec3Chain):
    """The SECURE NSEC3 records of one zone held in the cache, read on demand."""

    def __init__(
        self,
        cache: Cache,
        zone: dns.name.Name,
        parameters: nsec3.Parameters,
        work: ValidationWork,
        *,
        allow_stale: bool = False,
    ) -> None:
        super().__init__(zone, parameters, (), work)
        self._cache = cache
        self._allow_stale = allow_stale
        #: The cache entries of the records returned so far, by owner name.
        self.used: dict[dns.name.Name, CachedRRset] = {}

    @classmethod
    def held(
        cls, cache: Cache, zone: dns.name.Name, work: ValidationWork, *, allow_stale: bool = False
    ) -> CachedNsec3Chain | None:
        """The chain of ``zone`` in the parameters of its last NSEC3 held; None if it has none.

        The last record is read even if stale, for its parameters only: a
        record is still checked for freshness when a proof uses it.
        """
        last = cache.secure_nsec_at_or_before(
            zone, zone, rdtype=dns.rdatatype.NSEC3, allow_stale=True
        )
        records = nsec3.read_records(zone, last.rrset) if last is not None else []
        if not records:
            return None
        parameters, _ = records[0]
        return cls(cache, zone, parameters, work, allow_stale=allow_stale)

    def record_at(self, digest: bytes) -> nsec3.Nsec3 | None:
        """The cached record owned by ``digest``."""
        return self._use(digest, lambda record: record.owner == digest)

    def record_covering(self, digest: bytes) -> nsec3.Nsec3 | None:
        """The cached record just before ``digest``, if its interval holds it.

        Spans of a consistent chain do not overlap, so no other record can.
        """
        return self._use(digest, lambda record: record.covers(digest))

    def _use(self, digest: bytes, fits: Callable[[nsec3.Nsec3], bool]) -> nsec3.Nsec3 | None:
        """The record of this chain at or before ``digest``, if it ``fits``; kept in ``used``."""
        label = base64.b32hexencode(digest).lower()
        owner = dns.name.Name((label, *self.zone.labels))
        hit = self._cache.secure_nsec_at_or_before(
            self.zone, owner, rdtype=dns.rdatatype.NSEC3, allow_stale=self._allow_stale
        )
        if hit is None:
            return None
        for parameters, record in nsec3.read_records(self.zone, hit.rrset):
            if parameters == self.parameters and fits(record):
                self.used[hit.rrset.name] = hit
                return record
        return None
