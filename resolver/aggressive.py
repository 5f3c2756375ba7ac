"""Aggressive use of the validated cache (RFC 8198): answers without asking.

A validated NSEC record says that no name sorts between its owner and its
next name, and which types its owner has; an NSEC3 record says the same of
hashes. Once one is cached from a SECURE reply it answers every question it
covers for as long as it lives, not only the one that brought it: a flood
of random names under a signed zone (the "random subdomain" attack) stops
at the resolver once the zone's chain is cached, instead of reaching the
zone's servers.

``synthesise`` finds, in the cache's index of SECURE NSEC and NSEC3
records (``Cache.secure_nsec_zone`` and ``secure_nsec_at_or_before``), the
records a proof needs, and runs the very proofs the validator runs on a
server's reply (``dnssec.nsec``, ``dnssec.nsec3``) over them:

* **NXDOMAIN** (RFC 8198 section 5.1): the name and the wildcard at its
  closest encloser do not exist; with NSEC3 the closest encloser proof
  (RFC 5155 8.4, 7.2.1) from cached records, hashed with the zone's
  parameters.
* **NODATA** (section 5.2): the record at the name lacks the type, or the
  empty non-terminal and wildcard proofs (RFC 4035 3.1.3, RFC 5155 8.5-8.7).
* **A wildcard answer** (section 5.3): the name does not exist and the
  wildcard at its closest encloser is cached, SECURE, with the type (or a
  CNAME): its records are expanded to the name asked, their RRSIGs keep
  the Labels field, so a validating client sees the expansion and checks
  the proof that goes with it (RFC 4035 5.3.4, RFC 5155 8.8). The
  wildcard's records are kept by ``resolver.cache_writes`` when a wildcard
  answer validates.

Whatever those proofs refuse is asked upstream as usual. Knot Resolver
does all three, for NSEC and NSEC3 (``lib/cache/nsec1.c``, ``nsec3.c``,
``peek.c``); Unbound (``validator/val_neg.c``) only denials from NSEC.

Rules, as in Unbound's ``val_neg_getmsg`` and Knot's ``peek_nosync``:

* only records from SECURE replies, and the zone's SECURE SOA, which a
  denial needs (RFC 8198 section 5.4); the wildcard's RRSIGs and the
  proof's must name the same signer, the zone;
* never across a zone cut: the zone searched is the deepest one with
  records held at or above the name (the parent's, for DS, RFC 4035
  3.1.4.1), and a delegation cached below it on the way to the name stops
  the search; a delegation's own NSEC/NSEC3 (NS without SOA) denies nothing
  below it (RFC 6840 section 4.1, checked by the proofs);
* an NSEC3 opt-out span proves nothing (RFC 8198 section 4): a proof
  resting on one is INSECURE, and only SECURE proofs answer;
* NSEC3 parameters over ``WorkLimits.max_nsec3_iterations`` are not used
  (RFC 9276 section 3.2), and the hashes one synthesis may compute are
  those of one upstream response (``max_nsec3_hashes_per_response``,
  CVE-2023-50868), as Knot bounds them (``kr_nsec3_max_depth``);
* never for a zone the caller does not trust now (``trusted``: a trust
  anchor above it, and no negative trust anchor, ``resolver.nta``);
* the TTL is the least of the records used: for a denial the NSEC/NSEC3
  TTLs, the SOA TTL and the SOA MINIMUM (RFC 8198 section 5.4 as updated by
  RFC 9077), at most the negative TTL ceiling; for a wildcard answer the
  wildcard's TTL and the proof's (Knot takes the least too).

Nothing here does I/O; the cache's clock says what is fresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.SOA
import dns.rrset

from dnssec import nsec, nsec3
from dnssec.errors import Bogus
from dnssec.status import Security
from dnssec.work import ValidationWork, WorkLimits
from resolver.cache import Cache, CachedRRset, Rank
from resolver.cached_nsec3 import CachedNsec3Chain
from resolver.validation import with_ttl

#: Types never answered from a wildcard here (nor meta types such as ANY):
#: DS lives at a delegation in the parent, and the DNSSEC types describe
#: the wildcard owner itself.
_NOT_EXPANDED = frozenset(
    {dns.rdatatype.DS, dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3}
)


@dataclass(frozen=True, slots=True)
class Synthesised:
    """An answer made from cached NSEC/NSEC3 records (and a cached wildcard).

    Attributes:
        nxdomain: True for NXDOMAIN, False for NODATA or a wildcard answer.
        soa: The zone's SOA, with the answer's TTL; None for a wildcard answer.
        proof: The NSEC/NSEC3 records used and the RRSIGs of those and of
            the SOA, with the answer's TTL (what a DO client gets).
        stale: Whether a record used is past its TTL (then the TTL is 0).
        answer: The wildcard's RRset expanded to the name asked, if any.
        signatures: Its RRSIGs, owned by the name asked, Labels field kept.
        next_name: The CNAME target the answer leads to, if it is a CNAME.
    """

    nxdomain: bool
    soa: dns.rrset.RRset | None
    proof: tuple[dns.rrset.RRset, ...]
    stale: bool = False
    answer: tuple[dns.rrset.RRset, ...] = ()
    signatures: tuple[dns.rrset.RRset, ...] = ()
    next_name: dns.name.Name | None = None


def synthesise(
    cache: Cache,
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    *,
    trusted: Callable[[dns.name.Name], bool],
    limits: WorkLimits,
    allow_stale: bool = False,
) -> Synthesised | None:
    """The answer for ``name``/``rdtype`` that cached SECURE records prove, or None.

    Args:
        cache: Holds the SECURE NSEC/NSEC3 records, SOAs and wildcards.
        name: The absolute name asked.
        rdtype: The type asked.
        trusted: Whether a zone's records may be used now.
        limits: The NSEC3 iteration cap and hash budget.
        allow_stale: Use records past their TTL too: the serve-stale path
            (RFC 8767), for a name that was answered by synthesis before and
            so has no entry of its own to be served stale.
    """
    # A DS record lives in the parent zone (RFC 4035 3.1.4.1); the root has none.
    searched = name.parent() if rdtype == dns.rdatatype.DS and name != dns.name.root else name
    zone = cache.secure_nsec_zone(searched)
    if zone is None or not trusted(zone) or cache.delegated_below(zone, searched):
        return None
    reader = _Reader(cache, zone, name, rdtype, allow_stale)
    found = reader.with_nsec()
    if found is None:
        found = reader.with_nsec3(limits)
    return found


class _Reader:
    """One synthesis: the cached records of ``zone`` for ``name``/``rdtype``."""

    def __init__(
        self,
        cache: Cache,
        zone: dns.name.Name,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        allow_stale: bool,
    ) -> None:
        self.cache = cache
        self.zone = zone
        self.name = name
        self.rdtype = rdtype
        self.allow_stale = allow_stale

    def with_nsec(self) -> Synthesised | None:
        """From the zone's NSEC records: the one at or before the name, and the wildcard's."""
        cache, zone, name = self.cache, self.zone, self.name
        found = cache.secure_nsec_at_or_before(zone, name, allow_stale=self.allow_stale)
        if found is None:
            return None
        held = [found]
        record = _nsec(found)
        if record.owner != name and record.covers(name) and not record.next.is_subdomain(name):
            wildcard = nsec.wildcard_at(nsec.closest_encloser(name, record))
            source = self._wildcard(wildcard)
            if source is not None:
                chain = nsec.NsecChain(zone, [record])
                if not _proves(lambda: nsec.prove_wildcard_answer(chain, name, wildcard)):
                    return None
                return self._expanded(source, held)
            at_wildcard = cache.secure_nsec_at_or_before(
                zone, wildcard, allow_stale=self.allow_stale
            )
            if at_wildcard is not None:
                held.append(at_wildcard)
        chain = nsec.NsecChain(zone, [_nsec(hit) for hit in held])
        nxdomain = _proves(lambda: nsec.prove_nxdomain(chain, name))
        if not nxdomain and not _proves(lambda: nsec.prove_nodata(chain, name, self.rdtype)):
            return None
        return self._denial(nxdomain, held)

    def with_nsec3(self, limits: WorkLimits) -> Synthesised | None:
        """From the zone's NSEC3 records, found by hash (``resolver.cached_nsec3``)."""
        chain = CachedNsec3Chain.held(
            self.cache, self.zone, ValidationWork(limits), allow_stale=self.allow_stale
        )
        if chain is None or chain.parameters.iterations > limits.max_nsec3_iterations:
            return None
        name = self.name
        wildcard = _nsec3_wildcard(chain, name)
        source = self._wildcard(wildcard) if wildcard is not None else None
        if wildcard is not None and source is not None:
            if not _secure(chain, lambda: nsec3.prove_wildcard_answer(chain, name, wildcard)):
                return None
            return self._expanded(source, chain.used.values())
        if _secure(chain, lambda: nsec3.prove_nxdomain(chain, name)):
            return self._denial(True, chain.used.values())
        if _secure(chain, lambda: nsec3.prove_nodata(chain, name, self.rdtype)):
            return self._denial(False, chain.used.values())
        return None

    def _wildcard(self, wildcard: dns.name.Name) -> CachedRRset | None:
        """The zone's SECURE RRset of the type asked (or a CNAME) at ``wildcard``, if cached."""
        if self.rdtype in _NOT_EXPANDED or dns.rdatatype.is_metatype(self.rdtype):
            return None
        for wanted in (self.rdtype, dns.rdatatype.CNAME):
            hit = self.cache.lookup_rrset(wildcard, wanted, allow_stale=self.allow_stale)
            if (
                hit is not None
                and hit.security is Security.SECURE
                and hit.rank >= Rank.ANSWER
                and hit.rrsigs is not None
                and {rdata.signer for rdata in hit.rrsigs} == {self.zone}
            ):
                return hit
        return None

    def _expanded(self, source: CachedRRset, used: Iterable[CachedRRset]) -> Synthesised:
        """The wildcard ``source`` expanded to the name asked, with the proof ``used``."""
        used = _distinct(used)
        ttl = min((source.rrset.ttl, *(hit.rrset.ttl for hit in used)))
        assert source.rrsigs is not None
        answer = dns.rrset.from_rdata_list(self.name, ttl, list(source.rrset))
        signatures = dns.rrset.from_rdata_list(self.name, ttl, list(source.rrsigs))
        target = source.rrset[0].target if source.rrset.rdtype != self.rdtype else None
        return Synthesised(
            nxdomain=False,
            soa=None,
            proof=_proof(used, (), ttl),
            stale=source.stale or any(hit.stale for hit in used),
            answer=(answer,),
            signatures=(signatures,),
            next_name=target,
        )

    def _denial(self, nxdomain: bool, used: Iterable[CachedRRset]) -> Synthesised | None:
        """The NXDOMAIN or NODATA the records ``used`` prove, with the zone's SOA."""
        used = _distinct(used)
        soa = self.cache.lookup_rrset(self.zone, dns.rdatatype.SOA, allow_stale=self.allow_stale)
        if soa is None or soa.security is not Security.SECURE or soa.rrsigs is None:
            return None
        soa_rdata = soa.rrset[0]
        assert isinstance(soa_rdata, dns.rdtypes.ANY.SOA.SOA)
        ttl = min(
            soa.rrset.ttl,
            soa_rdata.minimum,
            self.cache.lifetimes.max_negative_ttl,
            *(hit.rrset.ttl for hit in used),
        )
        return Synthesised(
            nxdomain=nxdomain,
            soa=with_ttl(soa.rrset, ttl),
            proof=_proof(used, (soa.rrsigs,), ttl),
            stale=soa.stale or any(hit.stale for hit in used),
        )


def _nsec3_wildcard(chain: CachedNsec3Chain, name: dns.name.Name) -> dns.name.Name | None:
    """The wildcard that could answer ``name``: at the parent of its next closer name.

    The next closer name is the shortest ancestor of ``name`` (or itself)
    whose hash is covered. A wildcard answer carries no NSEC3 matching the
    closest encloser (RFC 5155 7.2.6), so it cannot be found by match: the
    guess is Knot's (``nsec3_encloser``, "the only chance left is a positive
    wildcard"), and ``prove_wildcard_answer`` then checks it.
    """
    try:
        if chain.matching(name) is not None:
            return None
        for depth in range(len(chain.zone) + 1, len(name) + 1):
            next_closer = name.split(depth)[1]
            if chain.covering(next_closer) is not None:
                return nsec.wildcard_at(next_closer.parent())
    except Bogus:  # the hash budget is spent
        return None
    return None


def _nsec(hit: CachedRRset) -> nsec.Nsec:
    """The cached NSEC RRset as the proofs read it."""
    rdata = hit.rrset[0]
    assert isinstance(rdata, dns.rdtypes.ANY.NSEC.NSEC)
    return nsec.Nsec(hit.rrset.name, rdata.next, nsec.bitmap_types(rdata.windows))


def _distinct(used: Iterable[CachedRRset]) -> list[CachedRRset]:
    """The records used, each once: the same record may serve twice in one proof."""
    return list({hit.rrset.name: hit for hit in used}.values())


def _proof(
    used: list[CachedRRset], signatures: tuple[dns.rrset.RRset, ...], ttl: int
) -> tuple[dns.rrset.RRset, ...]:
    """The records ``used``, their RRSIGs and ``signatures``, all with ``ttl``."""
    records = [hit.rrset for hit in used]
    rrsigs = [hit.rrsigs for hit in used if hit.rrsigs is not None]
    return tuple(with_ttl(r, ttl) for r in (*records, *rrsigs, *signatures))


def _proves(proof: Callable[[], None]) -> bool:
    """Whether ``proof`` holds: the proofs raise ``Bogus`` for what they cannot show."""
    try:
        proof()
    except Bogus:
        return False
    return True


def _secure(chain: CachedNsec3Chain, proof: Callable[[], Security]) -> bool:
    """Whether the NSEC3 ``proof`` holds and is SECURE, not resting on opt-out (RFC 8198 4).

    ``chain.used`` is emptied first, so that it holds this proof's records only.
    """
    chain.used.clear()
    try:
        return proof() is Security.SECURE
    except Bogus:
        return False
