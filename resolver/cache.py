"""The RRset and negative cache: what the iterator has learned, and for how long.

Place in the query flow: the iterator consults this cache before every
upstream query (for the answer itself, for delegations and for server
addresses) and stores every RRset and negative answer (RFC 2308) it learns.
Nothing here does I/O; time comes from an injected ``Clock``.

What the cache decides:

* **Lifetime.** TTLs are clamped into ``[min_ttl, max_ttl]`` (negative
  answers into ``[min_ttl, max_negative_ttl]``); a TTL of 0 is cached only
  when ``min_ttl`` raises it (Unbound's ``cache-min-ttl`` and Knot's
  ``cache.min_ttl`` raise it too: Deckard iter_minmaxttl);
  BOGUS data lives at most ``bogus_ttl`` seconds and never goes stale. The
  TTL of a negative answer is the least of the SOA TTL and SOA MINIMUM
  (RFC 2308 section 5) and of the proof records' TTLs (RFC 9077).
* **Staleness** (RFC 8767). An entry past its TTL stays for
  ``stale_window`` seconds and is returned, with TTL 0 and ``stale=True``,
  only to a lookup that passes ``allow_stale=True``.
* **Trust** (RFC 2181 section 5.4.1, with the validation status first, as
  Knot Resolver's ``kr_rank`` and Unbound's ``need_to_update_rrset`` in
  ``services/cache/rrset.c`` do). A fresh entry is replaced only by data
  that ranks at least as high by (security, ``Rank``), security ordered
  INDETERMINATE < INSECURE < SECURE: so SECURE data is never replaced by
  unjudged or insecure data while it is fresh, and a validated answer
  replaces unjudged data of any rank. Negative entries follow the same
  rules, ranking as ``Rank.ANSWER``. A fresh BOGUS verdict is replaced by
  anything that is not BOGUS (Unbound: "everything better than bogus
  data"); BOGUS data never displaces data that passed validation (or
  needed none) while that can still be served, fresh or stale: when every
  server of a zone sends bad signatures, the last good answer is what
  serve-stale has left to give. Expired data is always replaceable. A
  positive store for a name drops that name's NXDOMAIN entry (and replaces
  the NODATA entry for its type, which shares its key) only when it may
  replace it by these rules. An NXDOMAIN stored after positive data does
  not remove that data (the records expire on their own); the iterator
  asks ``lookup_rrset`` first.
* **Delegations never outlive the parent** (no ghost domains,
  CVE-2012-1192; draft-ietf-dnsop-ns-revalidation). A store of an NS RRset
  over a fresh NS entry never moves its expiry later: the child's NS set
  (``Rank.ANSWER``) replaces the parent's referral but keeps the time the
  parent gave, and a refresh of equal rank (prefetch included) keeps it
  too, so once the parent's TTL is up the delegation is gone and the
  iterator asks the parent again. Unbound does the same: a same-trust NS
  update keeps the old TTL (``need_to_update_rrset``), and prefetch does
  not renew NS ("ghost domain protection" in ``iterator/iterator.c``);
  BIND keeps an active NS RRset's TTL when the same set comes again with
  no more trust, honouring only a lower TTL (``lib/dns/rbtdb.c``, the fix
  for CVE-2012-1033).

* **Validated NSEC and NSEC3 records** (RFC 8198). A SECURE negative
  answer also leaves its NSEC/NSEC3 RRsets and its SOA as SECURE RRsets of
  their own (a SECURE wildcard answer its proof, ``remember_proof``), and
  every SECURE NSEC or NSEC3 RRset held is indexed by zone and type in
  canonical order (an NSEC3 owner's hash label sorts as its hash), so
  that ``resolver.aggressive`` can find the record covering any name. The
  index follows the entries: an NSEC evicted, expired, flushed or replaced
  by data that is not SECURE leaves it.

Representation, chosen for the budget of at most 500 bytes per cached RRset
at a million entries (measured with tracemalloc at 100k single-address A
RRsets under ``hostNNNNN.example.com.``: about 350 bytes each):

* One ``OrderedDict`` in least-recently-used order maps a key to an entry.
  The key is a single ``bytes``: the lowercase owner name in wire form plus a
  two-byte type (type 0, which no RRset has, keys a name's NXDOMAIN entry).
  A ``(Name, type)`` tuple would cost about 300 bytes by itself.
* The records are stored once, as length-prefixed uncompressed wire RDATA.
  Every lookup decodes them into a new RRset whose TTL is the remaining TTL,
  so callers can never alter the cache through what it returns.
* ``cachetools.TLRUCache`` was measured at about 240 bytes of bookkeeping
  per key (a data dict, an ordered dict and a heap item), half the budget.
  Expiry is therefore lazy: a lookup deletes an entry past its usable life,
  every store drops dead entries from the least-recently-used end, and a
  full cache evicts its least recently used entry.
"""

from __future__ import annotations

import bisect
import collections
import copy
import enum
import functools
import heapq
import io
import sys
from collections.abc import Callable, Iterable, KeysView
from dataclasses import dataclass
from typing import TypeVar

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG
import dns.rdtypes.ANY.SOA
import dns.rrset

from dnssec.signatures import RRSIG_FIXED
from dnssec.status import ExtendedError, Security
from resolver.canonical_names import canonical as _canonical
from resolver.clock import Clock
from resolver.errors import ConfigError

#: The key type under which a name's NXDOMAIN entry is stored.
_NXDOMAIN_TYPE = 0
#: The denial types indexed for RFC 8198, and the last two bytes of their keys.
_DENIAL_TYPES = (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
_DENIAL_KEY_TYPES = {int(rdtype).to_bytes(2, "big"): rdtype for rdtype in _DENIAL_TYPES}
#: Distinct packed RRsets kept unpacked for hits (``_unpack``): the hot NS,
#: glue, DS and DNSKEY sets of the zones in use.
UNPACKED_MEMO = 1024
#: Only RRsets this small (packed bytes) are kept so, which bounds the memo's
#: memory (outside ``max_bytes``) at a few MB whatever a zone serves.
UNPACKED_MAX_BYTES = 2048
#: How many least-recently-used entries each store inspects for expiry.
_SWEEP_PER_STORE = 2
#: How far each validation status is trusted when entries compete (Knot's
#: ``kr_rank``: secure above insecure above unjudged); BOGUS never reaches
#: this comparison (``Cache._replaceable``).
_TRUST = {
    Security.BOGUS: 0,
    Security.INDETERMINATE: 1,
    Security.INSECURE: 2,
    Security.SECURE: 3,
}


class Rank(enum.IntEnum):
    """How much a cached RRset is trusted (RFC 2181 5.4.1), lowest first."""

    #: Glue and other additional-section data.
    ADDITIONAL = 1
    #: Non-authoritative authority data: a parent's NS set at a delegation.
    REFERRAL = 2
    #: The authority section of an authoritative answer.
    AUTHORITY = 3
    #: The answer section of an authoritative answer.
    ANSWER = 4


@dataclass(frozen=True, slots=True)
class CachedRRset:
    """A positive cache hit.

    Attributes:
        rrset: A fresh copy whose TTL is the remaining TTL (0 when stale).
        rank: The trust rank it was stored with.
        security: Its validation status.
        source: The address of the server that sent it, if known.
        rrsigs: The covering RRSIGs, with the same remaining TTL.
        stale: Whether it is past its TTL (only with ``allow_stale=True``).
        error: Why it is BOGUS (or insecure), as the client will be told.
        lifetime: The TTL it was cached with, seconds (for prefetch).
    """

    rrset: dns.rrset.RRset
    rank: Rank
    security: Security
    source: str | None
    rrsigs: dns.rrset.RRset | None
    stale: bool
    error: ExtendedError | None = None
    lifetime: int = 0


@dataclass(frozen=True, slots=True)
class CachedNegative:
    """A negative cache hit (RFC 2308).

    Attributes:
        nxdomain: True if the name does not exist at all; False for NODATA
            (the name exists, the type does not).
        soa: A copy of the zone's SOA with the remaining TTL, for the
            authority section.
        proof: Copies of the denial records (NSEC/NSEC3 and their RRSIGs)
            with the remaining TTL.
        security: The validation status of the denial.
        source: The address of the server that sent it, if known.
        stale: Whether it is past its TTL (only with ``allow_stale=True``).
        error: Why it is BOGUS (or insecure), as the client will be told.
        lifetime: The TTL it was cached with, seconds (for prefetch).
    """

    nxdomain: bool
    soa: dns.rrset.RRset
    proof: tuple[dns.rrset.RRset, ...]
    security: Security
    source: str | None
    stale: bool
    error: ExtendedError | None = None
    lifetime: int = 0


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the cache's counters.

    Attributes:
        entries: Entries held, including expired ones not yet removed.
        hits: Lookups answered with fresh data.
        stale_hits: Lookups answered with stale data.
        misses: Lookups answered with nothing.
        refused_stores: Stores refused because a fresh entry ranked higher.
        evictions: Live entries removed to respect ``max_entries``.
    """

    entries: int
    hits: int
    stale_hits: int
    misses: int
    refused_stores: int
    evictions: int


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long the cache keeps what it learns.

    One object, so that a configuration reload swaps every bound at once
    (``Cache.lifetimes``). New bounds apply to data stored from then on;
    the stale window also to data already held (it is read at every lookup).

    Attributes:
        min_ttl: The shortest lifetime given to cached data.
        max_ttl: The longest lifetime given to positive data.
        max_negative_ttl: The longest lifetime given to negative answers.
        stale_window: How long expired data is kept for serve-stale.
        bogus_ttl: The longest lifetime given to BOGUS data.

    Raises:
        ConfigError: If a bound is out of range.
    """

    min_ttl: int = 0
    max_ttl: int = 86_400
    max_negative_ttl: int = 3_600
    stale_window: float = 0.0
    bogus_ttl: int = 60

    def __post_init__(self) -> None:
        if not 0 <= self.min_ttl <= min(self.max_ttl, self.max_negative_ttl):
            raise ConfigError(
                f"cache min_ttl ({self.min_ttl}) must be between 0 and both maximum TTLs "
                f"(max_ttl {self.max_ttl}, max_negative_ttl {self.max_negative_ttl})"
            )
        if self.stale_window < 0 or self.bogus_ttl < 0:
            raise ConfigError("cache stale_window and bogus_ttl must not be negative")


@dataclass(frozen=True, slots=True)
class _Entry:
    """What every cache entry holds about its lifetime, provenance and verdict."""

    ttl: int
    expires_at: float
    security: Security
    source: str | None
    error: ExtendedError | None


@dataclass(frozen=True, slots=True)
class _Positive(_Entry):
    """An RRset, stored under its owner name and type."""

    rdata: bytes
    rrsigs: bytes | None
    rank: Rank


#: An RRset without its TTL: owner, type and packed RDATA.
_Packed = tuple[dns.name.Name, dns.rdatatype.RdataType, bytes]


@dataclass(frozen=True, slots=True)
class _Negative(_Entry):
    """A negative answer, stored under (name, type) or (name, NXDOMAIN)."""

    nxdomain: bool
    soa: _Packed
    proof: tuple[_Packed, ...]


_E = TypeVar("_E", _Positive, _Negative)

#: Where a SECURE NSEC/NSEC3 RRset is indexed: its zone and its type.
_DenialIndex = tuple[dns.name.Name, dns.rdatatype.RdataType]

#: Renders a cache dump: the lines, and how many entries matched in all.
Dump = Callable[[], tuple[list[str], int]]


class Cache:
    """A bounded, clock-driven cache of RRsets and negative answers."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_entries: int = 1_000_000,
        max_bytes: int = 1 << 62,
        lifetimes: Lifetimes = Lifetimes(),
    ) -> None:
        """Create an empty cache.

        Args:
            clock: The wall clock that TTLs count down against.
            max_entries: The most entries (positive and negative) kept.
            max_bytes: The most memory the entries may take, as estimated
                by ``entry_bytes``; least recently used entries go first.
            lifetimes: TTL bounds, stale window and bogus TTL.

        Raises:
            ConfigError: If ``max_entries`` is below 1.
        """
        if max_entries < 1:
            raise ConfigError(f"cache max_entries must be at least 1, not {max_entries}")
        self._clock = clock
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        #: ``entry_bytes`` summed over every entry held.
        self.accounted_bytes = 0
        #: The lifetime bounds; a configuration reload replaces them.
        self.lifetimes = lifetimes
        self._entries: collections.OrderedDict[bytes, _Positive | _Negative] = (
            collections.OrderedDict()
        )
        self._hits = 0
        self._stale_hits = 0
        self._misses = 0
        self._refused_stores = 0
        self._evictions = 0
        #: Changes at every flush, so that copies made from cached data
        #: elsewhere (``answers.AnswerCache``) know to drop theirs; even at a
        #: flush that found nothing, since such a copy can outlive the entry
        #: it was made from (evicted, or expired while the copy lives on).
        self.generation = 0
        #: RFC 8198: the owners of the SECURE NSEC and NSEC3 RRsets held, per
        #: zone (the signer) and type, in canonical order, so that the record
        #: at or before a name is a bisection away (``secure_nsec_at_or_before``);
        #: and the index of each such entry's key, so that dropping the entry
        #: unindexes it.
        self._nsec_owners: dict[_DenialIndex, list[dns.name.Name]] = {}
        self._nsec_zone_of: dict[bytes, _DenialIndex] = {}
        #: The zones of ``_nsec_owners`` (lowercase wire form) with how many
        #: of its indexes (NSEC, NSEC3) each has: ``secure_nsec_zone`` finds
        #: a name's zone by slicing its wire form, making no ``Name``.
        self._nsec_zones: collections.Counter[bytes] = collections.Counter()
        #: Told of every entry stored from what a server sent (not of those
        #: ``adopt``-ed), so that ``resolver.shared_tier`` shares it; it must
        #: not block (it queues).
        self.on_store: Callable[[bytes, _Positive | _Negative], None] | None = None

    def store_rrset(
        self,
        rrset: dns.rrset.RRset,
        rank: Rank,
        *,
        security: Security = Security.INDETERMINATE,
        source: str | None = None,
        rrsigs: dns.rrset.RRset | None = None,
        error: ExtendedError | None = None,
    ) -> bool:
        """Cache an RRset (and its covering RRSIGs) learned from a server.

        The lifetime is the lesser of the RRset's and the RRSIGs' TTLs,
        clamped; the inputs are not kept, only their RDATA.

        Args:
            rrset: A non-empty class-IN RRset with an absolute owner name.
            rank: How much to trust it.
            security: Its validation status.
            source: The address of the server that sent it.
            rrsigs: The RRSIGs covering it, if any.
            error: Why it is BOGUS or insecure, if the validator said.

        Returns:
            True if it is now cached; False if its TTL is 0, or a fresh
            entry that ranks higher (module docstring, *Trust*) holds its
            place, or it is BOGUS and servable good data does.

        Raises:
            ValueError: If the RRset or the RRSIGs cannot be cached as given.
        """
        _check_rrset(rrset, rrsigs)
        ttl = rrset.ttl if rrsigs is None else min(rrset.ttl, rrsigs.ttl)
        ttl = self._lifetime(ttl, self.lifetimes.max_ttl, security)
        if ttl == 0:
            return False
        now = self._clock.wall()
        key = _key(rrset.name, rrset.rdtype)
        current = self._entries.get(key)
        if current is not None and not self._replaceable(current, rank, security, now):
            self._refused_stores += 1
            return False
        expires_at = now + ttl
        if (
            rrset.rdtype == dns.rdatatype.NS
            and isinstance(current, _Positive)
            and now < current.expires_at
            and current.security is not Security.BOGUS
            and current.expires_at < expires_at
        ):
            # No ghost domains: the delegation ends when it was due to.
            ttl, expires_at = current.ttl, current.expires_at
        nxdomain_key = _key(rrset.name, _NXDOMAIN_TYPE)
        nxdomain = self._entries.get(nxdomain_key)
        if nxdomain is not None and self._replaceable(nxdomain, rank, security, now):
            self._drop(nxdomain_key)
        entry = _Positive(
            ttl=ttl,
            expires_at=expires_at,
            security=security,
            source=_shared(source),
            error=error,
            rdata=_pack(rrset),
            rrsigs=None if rrsigs is None else _pack(rrsigs),
            rank=rank,
        )
        self._put(key, entry, now)
        if rrset.rdtype in _DENIAL_TYPES and security is Security.SECURE:
            self._index_nsec(key, rrset.name, rrset.rdtype, rrsigs, rank)
        if self.on_store is not None:
            self.on_store(key, entry)
        return True

    def adopt(self, key: bytes, entry: _Positive | _Negative) -> bool:
        """Take ``entry`` from the shared tier (``resolver.shared_tier``) under ``key``.

        It keeps its absolute expiry, verdict, rank and source, so it is
        served with the remaining TTL its writer would give and never as
        more trusted than its writer judged it. It is taken only where this
        cache has nothing it may still serve fresh: a fresh local entry, and
        above all a local BOGUS verdict, always wins over the tier (Unbound
        served the tier's copy after its own bogus verdict, Unbound#1504).
        Over a stale local entry it is taken only if it expires later. BOGUS
        entries and entries past even their stale window are refused.

        Returns:
            Whether it is now cached.
        """
        now = self._clock.wall()
        if entry.security is Security.BOGUS or now >= self._dead_at(entry):
            return False
        current = self._entries.get(key)
        if current is not None and (
            now < current.expires_at or current.expires_at >= entry.expires_at
        ):
            return False
        self._put(key, entry, now)
        rdtype = _DENIAL_KEY_TYPES.get(key[-2:])
        if (
            rdtype is not None
            and isinstance(entry, _Positive)
            and entry.security is Security.SECURE
            and entry.rrsigs is not None
        ):
            owner = owner_of(key)
            rrsigs = _unpack((owner, dns.rdatatype.RRSIG, entry.rrsigs), entry.ttl)
            self._index_nsec(key, owner, rdtype, rrsigs, entry.rank)
        return True

    def lookup_rrset(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        *,
        allow_stale: bool = False,
    ) -> CachedRRset | None:
        """Find the cached RRset for ``name`` and ``rdtype``.

        Args:
            name: The absolute owner name (any case).
            rdtype: The type asked for.
            allow_stale: Whether expired data within the stale window may be
                returned.

        Returns:
            The RRset, owned by the lowercase ``name``, or None.
        """
        now = self._clock.wall()
        entry = self._read(_key(name, rdtype), _Positive, now, allow_stale)
        if entry is None:
            self._misses += 1
            return None
        return self._hit(name, rdtype, entry, now)

    def secure_nsec_zone(self, name: dns.name.Name) -> dns.name.Name | None:
        """The deepest zone at or above ``name`` with SECURE NSEC or NSEC3 records held (RFC 8198).

        Not a lookup: no counter moves. With no such record held at all (a
        resolver that has met no secure denial yet, or whose zones sign with
        neither), nothing is walked: Unbound's ``neg_find_zone`` too looks
        the zone up before any synthesis.
        """
        zones = self._nsec_zones
        if not zones:
            return None
        wire = name.to_digestable()
        position = 0
        for depth in range(len(name.labels)):
            if wire[position:] in zones:
                return name if depth == 0 else dns.name.Name(name.labels[depth:])
            position += wire[position] + 1
        return None

    def secure_nsec_at_or_before(
        self,
        zone: dns.name.Name,
        name: dns.name.Name,
        *,
        rdtype: dns.rdatatype.RdataType = dns.rdatatype.NSEC,
        allow_stale: bool = False,
    ) -> CachedRRset | None:
        """The fresh SECURE NSEC (or NSEC3) RRset of ``zone`` owned by ``name`` or before it.

        Canonical order (RFC 4034 section 6.1); before the first owner held
        the last one is returned, as the zone's last NSEC wraps round to its
        apex (and the last NSEC3 to the first hash). For NSEC3, ``name`` is
        the hashed owner name (``<base32hex>.<zone>``). Whether the record
        found matches or covers ``name`` is for the caller
        (``resolver.aggressive``) to judge; None when the zone has no such
        record or the one in that place has expired (unless
        ``allow_stale``: serve-stale, RFC 8767).
        """
        owners = self._nsec_owners.get((zone, rdtype))
        if not owners:
            return None
        owner = owners[bisect.bisect_right(owners, name) - 1]
        now = self._clock.wall()
        entry = self._read(_key(owner, rdtype), _Positive, now, allow_stale)
        if entry is None:
            return None
        return self._hit(owner, rdtype, entry, now)

    def store_negative(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        *,
        nxdomain: bool,
        soa: dns.rrset.RRset,
        proof: Iterable[dns.rrset.RRset] = (),
        security: Security = Security.INDETERMINATE,
        source: str | None = None,
        error: ExtendedError | None = None,
    ) -> None:
        """Cache a negative answer (RFC 2308), unless its TTL is 0.

        An NXDOMAIN is stored once for the name and answers every type; a
        NODATA answers only ``rdtype`` (and shares its key with the RRset of
        that type). Either replaces the entry in its place by the same
        rules as ``store_rrset``, ranking as ``Rank.ANSWER``.

        Args:
            name: The absolute name that was asked for.
            rdtype: The type that was asked for.
            nxdomain: True for NXDOMAIN, False for NODATA.
            soa: The SOA RRset from the authority section.
            proof: The denial records (NSEC/NSEC3 and RRSIGs), if any.
            security: The validation status of the denial.
            source: The address of the server that sent it.
            error: Why it is BOGUS or insecure, if the validator said.

        Raises:
            ValueError: If ``soa`` is not a single SOA record.
        """
        soa_rdata = soa[0] if len(soa) == 1 else None
        if soa.rdtype != dns.rdatatype.SOA or not isinstance(soa_rdata, dns.rdtypes.ANY.SOA.SOA):
            raise ValueError(f"a negative answer needs one SOA record, not {soa}")
        proof = tuple(proof)
        if security is Security.SECURE:
            self._remember_denial(soa, proof, source)
        ttl = min(soa.ttl, soa_rdata.minimum, *(rrset.ttl for rrset in proof))
        ttl = self._lifetime(ttl, self.lifetimes.max_negative_ttl, security)
        if ttl == 0:
            return
        now = self._clock.wall()
        key = _key(name, _NXDOMAIN_TYPE if nxdomain else rdtype)
        current = self._entries.get(key)
        if current is not None and not self._replaceable(current, Rank.ANSWER, security, now):
            self._refused_stores += 1
            return
        entry = _Negative(
            ttl=ttl,
            expires_at=now + ttl,
            security=security,
            source=_shared(source),
            error=error,
            nxdomain=nxdomain,
            soa=(soa.name, soa.rdtype, _pack(soa)),
            proof=tuple((rrset.name, rrset.rdtype, _pack(rrset)) for rrset in proof),
        )
        self._put(key, entry, now)
        if self.on_store is not None:
            self.on_store(key, entry)

    def lookup_negative(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        *,
        allow_stale: bool = False,
    ) -> CachedNegative | None:
        """Find a cached denial of ``name``/``rdtype``: NXDOMAIN or NODATA.

        If both a NXDOMAIN and a NODATA entry apply, the one that expires
        last (the more recently learned) wins.

        Args:
            name: The absolute name (any case).
            rdtype: The type asked for.
            allow_stale: Whether expired data within the stale window may be
                returned.

        Returns:
            The denial, or None.
        """
        now = self._clock.wall()
        found = [
            entry
            for key in (_key(name, _NXDOMAIN_TYPE), _key(name, rdtype))
            if (entry := self._read(key, _Negative, now, allow_stale)) is not None
        ]
        if not found:
            self._misses += 1
            return None
        entry = max(found, key=lambda candidate: candidate.expires_at)
        ttl, stale = self._count_hit(entry, now)
        return CachedNegative(
            nxdomain=entry.nxdomain,
            soa=_unpack(entry.soa, ttl),
            proof=tuple(_unpack(packed, ttl) for packed in entry.proof),
            security=entry.security,
            source=entry.source,
            stale=stale,
            error=entry.error,
            lifetime=entry.ttl,
        )

    def delegated_below(self, zone: dns.name.Name, name: dns.name.Name) -> bool:
        """Whether ``name`` lies at or below a fresh NS RRset cached strictly below ``zone``.

        The scrubbing stage's ``delegated`` rule: a server of ``zone`` does
        not speak for a zone it delegated. Not a lookup: no counter moves,
        no entry becomes more recently used.
        """
        now = self._clock.wall()
        candidate = name
        while candidate != zone and candidate.is_subdomain(zone):
            entry = self._entries.get(_key(candidate, dns.rdatatype.NS))
            if isinstance(entry, _Positive) and now < entry.expires_at:
                return True
            candidate = candidate.parent()
        return False

    def flush_name(self, name: dns.name.Name) -> int:
        """Forget everything cached for exactly ``name``.

        Returns:
            How many entries were removed.
        """
        return self._remove(self.keys_at(name))

    def flush_zone(self, zone: dns.name.Name) -> int:
        """Forget everything cached for ``zone`` and every name below it.

        Returns:
            How many entries were removed.
        """
        return self._remove(self.keys_at(zone, below=True))

    def keys_at(self, name: dns.name.Name, *, below: bool = False) -> list[bytes]:
        """The keys cached for exactly ``name`` (and every name below it with ``below``).

        What a flush removes; ``ctl flush`` also deletes the shared tier's
        copies of them (``SharedTier.forget``).
        """
        owner = name.to_digestable()
        if below:
            return [key for key in self._keys() if _is_at_or_below(key[:-2], owner)]
        return [key for key in self._keys() if key[:-2] == owner]

    def flush_source(self, source: str) -> int:
        """Forget everything that came from ``source`` (e.g. the local root copy, once withdrawn).

        Returns:
            How many entries were removed.
        """
        return self._remove(key for key, entry in self._entries.items() if entry.source == source)

    def flush_all(self) -> int:
        """Forget everything.

        Returns:
            How many entries were removed.
        """
        removed = len(self._entries)
        self._entries.clear()
        self._nsec_owners.clear()
        self._nsec_zone_of.clear()
        self._nsec_zones.clear()
        self.accounted_bytes = 0
        self.generation += 1
        return removed

    def statistics(self) -> CacheStats:
        """Return a snapshot of the counters."""
        return CacheStats(
            entries=len(self._entries),
            hits=self._hits,
            stale_hits=self._stale_hits,
            misses=self._misses,
            refused_stores=self._refused_stores,
            evictions=self._evictions,
        )

    def prepare_dump(self, zone: dns.name.Name = dns.name.root, *, limit: int) -> Dump:
        """The entries for ``zone`` and below as zone-file lines, for ``holdfast ctl cache dump``.

        Only a snapshot is taken now (two lists of references: some
        milliseconds for a million entries); the ``Dump`` returned does the
        rest when called, touching nothing the cache changes afterwards, so
        it may run in a thread while the serving loop goes on. Sorting and
        rendering a million-entry cache takes seconds.

        Entries come in DNS order (RFC 4034 section 6.1: by owner, then
        type), at most ``limit`` of them, so that a big cache gives a
        bounded reply. Each record is one line with its remaining TTL (0
        when stale) and a comment: validation status, seconds past its TTL
        when stale, the server it came from. A negative entry is one line,
        ``NAME TTL IN NXDOMAIN`` or ``NAME TTL IN TYPE NODATA``. RRSIGs are
        left out (the status says what they proved). Dumping is not a
        lookup: no counter moves, no entry becomes more recently used.
        """
        now = self._clock.wall()
        stale_window = self.lifetimes.stale_window
        keys = list(self._keys())
        entries = list(dict.values(self._entries))  # in the order of _keys()
        apex = zone.to_digestable()
        everything = zone == dns.name.root

        def dump() -> tuple[list[str], int]:
            held = {
                key: entry
                for key, entry in zip(keys, entries, strict=True)
                if now < _dead_at(entry, stale_window)
                and (everything or _is_at_or_below(key[:-2], apex))
            }
            lines = [
                line
                for key in heapq.nsmallest(limit, held, key=_dns_order)
                for line in _dump_lines(key, held[key], now)
            ]
            return lines, len(held)

        return dump

    def _keys(self) -> KeysView[bytes]:
        """Every key, in no useful order, for walks that need no recency order.

        The plain dict's view: some twenty times quicker to walk than the
        OrderedDict's linked list (10 ms against 250 ms for a million entries).
        """
        return dict.keys(self._entries)

    def _lifetime(self, ttl: int, ceiling: int, security: Security) -> int:
        """Return how long to keep data with ``ttl``: 0 means not at all."""
        bounds = self.lifetimes
        lifetime = min(max(ttl, bounds.min_ttl), ceiling)
        return min(lifetime, bounds.bogus_ttl) if security is Security.BOGUS else lifetime

    def _replaceable(
        self, current: _Positive | _Negative, rank: Rank, security: Security, now: float
    ) -> bool:
        """Whether data of ``rank`` and ``security`` may take ``current``'s place.

        The rules of the module docstring (*Trust*): Knot's ``kr_rank``
        puts the security status above the authority of the section, and
        Unbound's ``need_to_update_rrset`` lets secure data in first and
        anything better than bogus replace bogus.
        """
        if self._keeps_good(current, security, now):
            return False
        if now >= current.expires_at or current.security is Security.BOGUS:
            return True
        held = current.rank if isinstance(current, _Positive) else Rank.ANSWER
        return (_TRUST[security], rank) >= (_TRUST[current.security], held)

    def _keeps_good(self, current: _Entry, security: Security, now: float) -> bool:
        """Whether BOGUS data must leave ``current`` (good, still servable) in place."""
        return (
            security is Security.BOGUS
            and current.security in (Security.SECURE, Security.INSECURE)
            and now < self._dead_at(current)
        )

    def _dead_at(self, entry: _Entry) -> float:
        """Return when ``entry`` may no longer be returned even as stale."""
        return _dead_at(entry, self.lifetimes.stale_window)

    def _put(self, key: bytes, entry: _Positive | _Negative, now: float) -> None:
        """Store ``entry`` as most recently used, then enforce the bounds."""
        entries = self._entries
        if key in entries:
            self._drop(key)
        entries[key] = entry
        self.accounted_bytes += entry_bytes(key, entry)
        for _ in range(_SWEEP_PER_STORE):
            oldest_key, oldest = next(iter(entries.items()))
            if now < self._dead_at(oldest):
                break
            self._drop(oldest_key)
        while len(entries) > self._max_entries or self.accounted_bytes > self._max_bytes:
            self._drop(next(iter(entries)))
            self._evictions += 1

    def _drop(self, key: bytes) -> None:
        """Delete the entry under ``key``, and its bytes from the account."""
        self.accounted_bytes -= entry_bytes(key, self._entries.pop(key))
        index = self._nsec_zone_of.pop(key, None)
        if index is not None:
            owners = self._nsec_owners[index]
            owner = owner_of(key)
            del owners[bisect.bisect_left(owners, owner)]
            if not owners:
                del self._nsec_owners[index]
                zone = index[0].to_digestable()
                self._nsec_zones[zone] -= 1
                if not self._nsec_zones[zone]:
                    del self._nsec_zones[zone]

    def _remember_denial(
        self, soa: dns.rrset.RRset, proof: tuple[dns.rrset.RRset, ...], source: str | None
    ) -> None:
        """Keep the NSEC/NSEC3 records and the SOA of a SECURE denial as RRsets of their own.

        RFC 8198: a validated NSEC denies every name it covers, not only
        the one asked; ``resolver.aggressive`` answers from these records
        and the zone's SOA. They were validated with the keys of the SOA's
        zone (``validation._validated``), as Unbound keeps the NSECs of
        secure replies in its ``val_neg`` cache with the zone's SOA.
        """
        self.remember_proof(soa.name, (soa, *proof), source)

    def remember_proof(
        self, zone: dns.name.Name, records: Iterable[dns.rrset.RRset], source: str | None
    ) -> None:
        """Keep the SOA and NSEC/NSEC3 RRsets of ``zone`` in a SECURE reply, each with its RRSIGs.

        For a denial (``store_negative``) and for a wildcard answer's proof
        (``resolver.cache_writes``): the validator checked every NSEC/NSEC3
        RRset of the zone in the reply with the zone's keys
        (``validation._validated``); records owned outside ``zone`` were
        not checked and are left out.
        """
        records = tuple(records)
        signatures = {
            (rrset.name, rrset.covers): rrset
            for rrset in records
            if rrset.rdtype == dns.rdatatype.RRSIG
        }
        for rrset in records:
            if rrset.rdtype not in (dns.rdatatype.SOA, *_DENIAL_TYPES):
                continue
            rrsigs = signatures.get((rrset.name, rrset.rdtype))
            if rrsigs is not None and rrset.name.is_subdomain(zone):
                self.store_rrset(
                    rrset, Rank.AUTHORITY, security=Security.SECURE, source=source, rrsigs=rrsigs
                )

    def _index_nsec(
        self,
        key: bytes,
        owner: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        rrsigs: dns.rrset.RRset | None,
        rank: Rank,
    ) -> None:
        """Index the SECURE NSEC/NSEC3 RRset just stored under ``key`` in its zone's owners.

        Only authoritative data signed by one zone at or above ``owner`` is
        indexed: that zone is the one whose names the record may deny.
        """
        signers = {rdata.signer for rdata in rrsigs} if rrsigs is not None else set()
        if rank < Rank.AUTHORITY or len(signers) != 1 or key not in self._entries:
            return
        (zone,) = signers
        if not owner.is_subdomain(zone):
            return
        owner = owner.canonicalize()
        index = (zone.canonicalize(), rdtype)
        owners = self._nsec_owners.get(index)
        if owners is None:
            owners = self._nsec_owners[index] = []
            self._nsec_zones[index[0].to_digestable()] += 1
        bisect.insort(owners, owner)
        self._nsec_zone_of[key] = index

    def _hit(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, entry: _Positive, now: float
    ) -> CachedRRset:
        """Count a hit on the positive ``entry`` for ``name``/``rdtype`` and copy it out."""
        ttl, stale = self._count_hit(entry, now)
        owner = _canonical(name)[1]
        return CachedRRset(
            rrset=_unpack((owner, rdtype, entry.rdata), ttl),
            rank=entry.rank,
            security=entry.security,
            source=entry.source,
            rrsigs=(
                None
                if entry.rrsigs is None
                else _unpack((owner, dns.rdatatype.RRSIG, entry.rrsigs), ttl)
            ),
            stale=stale,
            error=entry.error,
            lifetime=entry.ttl,
        )

    def _read(self, key: bytes, kind: type[_E], now: float, allow_stale: bool) -> _E | None:
        """Return the usable entry of ``kind`` under ``key``, marking it used.

        An entry past its usable life is deleted on the way.
        """
        entry = self._entries.get(key)
        if not isinstance(entry, kind):
            return None
        if now >= self._dead_at(entry):
            self._drop(key)
            return None
        if now >= entry.expires_at and not allow_stale:
            return None
        self._entries.move_to_end(key)
        return entry

    def _count_hit(self, entry: _Entry, now: float) -> tuple[int, bool]:
        """Count a hit on ``entry``; return its remaining TTL and staleness."""
        if now >= entry.expires_at:
            self._stale_hits += 1
            return 0, True
        self._hits += 1
        return int(entry.expires_at - now), False

    def _remove(self, keys: Iterable[bytes]) -> int:
        """Delete ``keys`` (collected before deleting); return how many."""
        doomed = list(keys)
        for key in doomed:
            self._drop(key)
        self.generation += 1
        return len(doomed)


#: Bytes an entry costs beyond its key and wire data: the OrderedDict's slot
#: and link, the entry object, the bytes objects' headers. Measured with
#: tracemalloc over 20,000 stored RRsets (single A and four-string TXT alike:
#: 261 bytes each), rounded up; a packed SOA or proof record of a negative
#: entry adds a tuple and its owner name (``_PACKED_OVERHEAD``, 48 per label).
ENTRY_OVERHEAD = 300
_PACKED_OVERHEAD = 120


def entry_bytes(key: bytes, entry: _Positive | _Negative) -> int:
    """The memory ``entry`` under ``key`` is accounted for (``[cache] max_bytes``).

    An estimate, not a measure (``sys.getsizeof`` of every part would cost
    more than the store itself): the wire bytes held plus a fixed overhead.
    Unbound sizes its rrset-cache-size entries the same way
    (util/data/packed_rrset.c ``packed_rrset_sizefunc``).
    """
    if isinstance(entry, _Positive):
        wire = len(entry.rdata) + (len(entry.rrsigs) if entry.rrsigs is not None else 0)
    else:
        parts = (entry.soa, *entry.proof)
        wire = sum(len(blob) + len(name) * 48 + _PACKED_OVERHEAD for name, _, blob in parts)
    return len(key) + wire + ENTRY_OVERHEAD


def _check_rrset(rrset: dns.rrset.RRset, rrsigs: dns.rrset.RRset | None) -> None:
    """Raise ValueError unless ``rrset`` and ``rrsigs`` can be cached together."""
    if len(rrset) == 0 or rrset.rdclass != dns.rdataclass.IN:
        raise ValueError(f"only non-empty class IN RRsets are cached, not {rrset!r}")
    if rrset.rdtype == dns.rdatatype.RRSIG:
        raise ValueError("RRSIGs are cached with the RRset they cover (rrsigs=)")
    if rrsigs is not None and (
        rrsigs.rdtype != dns.rdatatype.RRSIG or rrsigs.covers != rrset.rdtype
    ):
        raise ValueError(f"{rrsigs!r} does not cover {rrset!r}")


def _key(name: dns.name.Name, rdtype: int) -> bytes:
    """Return the cache key: lowercase wire-format ``name``, then the type."""
    return _canonical(name)[0] + rdtype.to_bytes(2, "big")


def owner_of(key: bytes) -> dns.name.Name:
    """The owner name (lowercase) of the cache key ``key`` (``_key``)."""
    name: dns.name.Name = dns.name.from_wire(key, 0)[0]
    return name


def _shared(source: str | None) -> str | None:
    """Return one shared copy of a server address, so entries don't repeat it."""
    return None if source is None else sys.intern(source)


def _pack(rrset: dns.rrset.RRset) -> bytes:
    """Return the RDATA of ``rrset`` as length-prefixed uncompressed wire."""
    out = io.BytesIO()
    for rdata in rrset:
        wire = _rdata_wire(rdata)
        out.write(len(wire).to_bytes(2, "big"))
        out.write(wire)
    return out.getvalue()


def _rdata_wire(rdata: dns.rdata.Rdata) -> bytes:
    """``rdata`` in uncompressed wire form, case kept.

    An RRSIG (every answer stored has one) is written directly: dnspython
    writes its signer through a new ``Name`` per label.
    """
    if isinstance(rdata, dns.rdtypes.ANY.RRSIG.RRSIG) and rdata.signer.is_absolute():
        fixed = RRSIG_FIXED.pack(
            rdata.type_covered, rdata.algorithm, rdata.labels, rdata.original_ttl,
            rdata.expiration, rdata.inception, rdata.key_tag,
        )
        signer = b"".join(bytes((len(label),)) + label for label in rdata.signer.labels)
        return fixed + signer + rdata.signature
    wire = io.BytesIO()
    rdata.to_wire(wire)
    return wire.getvalue()


def _unpack(packed: _Packed, ttl: int) -> dns.rrset.RRset:
    """Rebuild a new RRset from ``packed``, with ``ttl``.

    A copy of a remembered RRset of the same records: parsing the RDATA
    again and hashing each record into a new set was most of a cache hit's
    cost, and a cold query reads the same NS, glue, DS and DNSKEY RRsets
    over and over (issue 19). Records are immutable; the copy is the caller's.
    """
    name, rdtype, blob = packed
    if len(blob) > UNPACKED_MAX_BYTES:
        return dns.rrset.from_rdata_list(name, ttl, _rdatas(rdtype, blob))
    rrset = copy.copy(_unpacked(rdtype, blob))
    rrset.name = name
    rrset.ttl = ttl
    return rrset


@functools.lru_cache(maxsize=UNPACKED_MEMO)
def _unpacked(rdtype: dns.rdatatype.RdataType, blob: bytes) -> dns.rrset.RRset:
    """The records packed in ``blob``, owned by the root (``_unpack`` renames its copies)."""
    return dns.rrset.from_rdata_list(dns.name.root, 0, _rdatas(rdtype, blob))


def _rdatas(rdtype: dns.rdatatype.RdataType, blob: bytes) -> list[dns.rdata.Rdata]:
    """The records packed by ``_pack``."""
    rdatas = []
    offset = 0
    while offset < len(blob):
        size = int.from_bytes(blob[offset : offset + 2], "big")
        rdatas.append(dns.rdata.from_wire(dns.rdataclass.IN, rdtype, blob, offset + 2, size))
        offset += 2 + size
    return rdatas


def _dead_at(entry: _Entry, stale_window: float) -> float:
    """When ``entry`` may no longer be returned even as stale (BOGUS data never is)."""
    if entry.security is Security.BOGUS:
        return entry.expires_at
    return entry.expires_at + stale_window


def _dns_order(key: bytes) -> tuple[list[bytes], bytes]:
    """A sort key for a cache key: labels from the root down (keys are lowercase), then type."""
    labels = []
    position = 0
    while length := key[position]:
        labels.append(key[position + 1 : position + 1 + length])
        position += length + 1
    labels.reverse()
    return labels, key[-2:]


def _dump_lines(key: bytes, entry: _Positive | _Negative, now: float) -> list[str]:
    """One cache entry as ``Cache.prepare_dump`` shows it."""
    owner = owner_of(key).to_text()
    rdtype = dns.rdatatype.RdataType.make(int.from_bytes(key[-2:], "big"))
    stale = now >= entry.expires_at
    ttl = 0 if stale else int(entry.expires_at - now)
    notes = [entry.security.value]
    if stale:
        notes.append(f"stale {int(now - entry.expires_at)}s")
    if entry.error is not None and entry.error.text:
        notes.append(entry.error.text)
    if entry.source is not None:
        notes.append(f"from {entry.source}")
    note = ", ".join(notes)
    head = f"{owner} {ttl} IN {dns.rdatatype.to_text(rdtype)}"
    if isinstance(entry, _Negative):
        denial = f"{owner} {ttl} IN NXDOMAIN" if entry.nxdomain else f"{head} NODATA"
        return [f"{denial} ; {note}"]
    # Each record's own text, not an RRset's: rendering is most of a dump's cost.
    return [f"{head} {rdata.to_text()} ; {note}" for rdata in _rdatas(rdtype, entry.rdata)]


def _is_at_or_below(owner: bytes, apex: bytes) -> bool:
    """Whether wire-format ``owner`` is ``apex`` or a name below it.

    Both are lowercase wire names; the suffix must start on a label boundary.
    """
    offset = len(owner) - len(apex)
    if offset < 0 or not owner.endswith(apex):
        return False
    position = 0
    while position < offset:
        position += owner[position] + 1
    return position == offset
