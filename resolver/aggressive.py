"""Aggressive use of validated NSEC records (RFC 8198): denials without asking.

A validated NSEC record says that no name sorts between its owner and its
next name, and which types its owner has. Once one is cached from a SECURE
denial it answers every question it covers for as long as it lives, not
only the one that brought it: a flood of random names under a signed zone
(the "random subdomain" attack) stops at the resolver once the zone's NSEC
chain is cached, instead of reaching the zone's servers.

``synthesise`` looks at the cache's SECURE NSEC index (``Cache.
secure_nsec_zone`` and ``secure_nsec_at_or_before``) and runs the very proofs
the validator runs on a server's reply (``dnssec.nsec.prove_nxdomain`` and
``prove_nodata``) over the records it finds: an NXDOMAIN needs the NSEC
covering the name and the one covering the wildcard at its closest encloser
(RFC 8198 section 5.1); a NODATA the NSEC at the name (or the empty
non-terminal or wildcard proofs of RFC 4035 3.1.3, section 5.2). Whatever
those proofs refuse is asked upstream as usual. A wildcard that exists is
not expanded from the cache (RFC 8198 section 5.3 allows it; Unbound does
not either): the question goes upstream.

Rules, as in Unbound's ``validator/val_neg.c`` (``val_neg_getmsg``):

* only NSEC records from SECURE denials, and the zone's SECURE SOA, which
  the answer needs (RFC 8198 section 5.4); NSEC3 is not used (Unbound does
  NSEC only: an NSEC3 chain of hashed names needs a hash per question and
  opt-out spans prove nothing, so the gain is smaller and the risk larger);
* never across a zone cut: the zone searched is the deepest one with
  records held at or above the name (the parent's, for DS, RFC 4035
  3.1.4.1), and a delegation cached below it on the way to the name stops
  the search; a delegation's own NSEC (NS without SOA) denies nothing
  below it (RFC 6840 section 4.1, checked by the proofs);
* never for a zone the caller does not trust now (``trusted``: a trust
  anchor above it, and no negative trust anchor, ``resolver.nta``);
* the TTL is the least of the NSEC TTLs, the SOA TTL and the SOA MINIMUM
  (RFC 8198 section 5.4 as updated by RFC 9077), and at most the negative
  TTL ceiling, as for any cached negative answer.

Nothing here does I/O; the cache's clock says what is fresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.SOA
import dns.rrset

from dnssec import nsec
from dnssec.errors import Bogus
from dnssec.status import Security
from resolver.cache import Cache, CachedRRset
from resolver.validation import with_ttl


@dataclass(frozen=True, slots=True)
class Synthesised:
    """A denial made from cached NSEC records.

    Attributes:
        nxdomain: True for NXDOMAIN, False for NODATA.
        soa: The zone's SOA, with the answer's TTL.
        proof: The NSEC records used and the RRSIGs of those and of the SOA,
            with the answer's TTL (what a DO client gets).
        stale: Whether a record used is past its TTL (then the TTL is 0).
    """

    nxdomain: bool
    soa: dns.rrset.RRset
    proof: tuple[dns.rrset.RRset, ...]
    stale: bool = False


def synthesise(
    cache: Cache,
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    *,
    trusted: Callable[[dns.name.Name], bool],
    allow_stale: bool = False,
) -> Synthesised | None:
    """The NXDOMAIN or NODATA for ``name``/``rdtype`` that cached SECURE NSECs prove, or None.

    Args:
        cache: Holds the SECURE NSEC records and SOAs.
        name: The absolute name asked.
        rdtype: The type asked.
        trusted: Whether a zone's records may be used now.
        allow_stale: Use records past their TTL too: the serve-stale path
            (RFC 8767), for a name that was answered by synthesis before and
            so has no negative entry of its own to be served stale.
    """
    # A DS record lives in the parent zone (RFC 4035 3.1.4.1); the root has none.
    searched = name.parent() if rdtype == dns.rdatatype.DS and name != dns.name.root else name
    zone = cache.secure_nsec_zone(searched)
    if zone is None or not trusted(zone) or cache.delegated_below(zone, searched):
        return None
    found = cache.secure_nsec_at_or_before(zone, name, allow_stale=allow_stale)
    if found is None:
        return None
    held = [found]
    record = _record(found)
    if record.owner != name and record.covers(name) and not record.next.is_subdomain(name):
        wildcard = nsec.wildcard_at(nsec.closest_encloser(name, record))
        at_wildcard = cache.secure_nsec_at_or_before(zone, wildcard, allow_stale=allow_stale)
        if at_wildcard is not None:
            held.append(at_wildcard)
    chain = nsec.NsecChain(zone, [_record(hit) for hit in held])
    nxdomain = _proves(lambda: nsec.prove_nxdomain(chain, name))
    if not nxdomain and not _proves(lambda: nsec.prove_nodata(chain, name, rdtype)):
        return None
    soa = cache.lookup_rrset(zone, dns.rdatatype.SOA, allow_stale=allow_stale)
    if soa is None or soa.security is not Security.SECURE or soa.rrsigs is None:
        return None
    soa_rdata = soa.rrset[0]
    assert isinstance(soa_rdata, dns.rdtypes.ANY.SOA.SOA)
    ttl = min(
        soa.rrset.ttl,
        soa_rdata.minimum,
        cache.lifetimes.max_negative_ttl,
        *(hit.rrset.ttl for hit in held),
    )
    used = {hit.rrset.name: hit for hit in held}.values()  # the same NSEC may serve twice
    records = [hit.rrset for hit in used]
    signatures = [hit.rrsigs for hit in used if hit.rrsigs is not None]
    return Synthesised(
        nxdomain=nxdomain,
        soa=with_ttl(soa.rrset, ttl),
        proof=tuple(with_ttl(r, ttl) for r in (*records, *signatures, soa.rrsigs)),
        stale=soa.stale or any(hit.stale for hit in used),
    )


def _record(hit: CachedRRset) -> nsec.Nsec:
    """The cached NSEC RRset as the proofs read it."""
    rdata = hit.rrset[0]
    assert isinstance(rdata, dns.rdtypes.ANY.NSEC.NSEC)
    return nsec.Nsec(hit.rrset.name, rdata.next, nsec.bitmap_types(rdata.windows))


def _proves(proof: Callable[[], None]) -> bool:
    """Whether ``proof`` holds: the proofs raise ``Bogus`` for what they cannot show."""
    try:
        proof()
    except Bogus:
        return False
    return True
