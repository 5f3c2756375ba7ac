"""The one writer of what upstream replies teach the cache.

Every record the iterator learns goes into the cache through here: a
referral's delegation (NS, glue, DS, and the proof of no DS kept for the
validator), records fetched for the validator before it judged them, and
answers and negative answers with their verdicts. One owner of cache
writes, as Unbound's iterator stores only through ``iter_dns_store`` and
Knot Resolver only through its cache layer (``lib/cache/api.c``
``cache_stash``), so the ranks and the RRSIGs a record is stored with are
decided in one place and a new stage reads the cache without writing it.
The validator's own verdicts on keys (``validation.Validator``) are its
business. Pure: no I/O, the cache and proof memories carry the clocks.
"""

from __future__ import annotations

import dns.name
import dns.rdatatype
import dns.rrset

from dnssec.status import ExtendedError, Security
from resolver.assemble import Step, covering, least_ttl, proof_of
from resolver.cache import Cache, Rank
from resolver.classify import Classified
from resolver.parent_glue import ParentSideGlue
from resolver.proofs import ProofMemory
from resolver.validation import Evidence

#: NS names of one delegation that Holdfast uses, those with glue first. Our
#: own bound, not a peer's: a referral may list a thousand names (a 64 KB
#: TCP reply), and every later step that touches the cut (cache, choice of
#: server) would pay for all of them; no real zone has more than a few dozen.
MAX_NS_PER_CUT = 32

#: Seconds a denial that came without an SOA is kept (Deckard iter_nottl).
#: RFC 2308 section 5 says not to cache it at all: with no SOA nothing bounds
#: its TTL. Unbound still keeps a reply without records for NORR_TTL, 5 s
#: (``util/data/msgreply.c``), and Knot Resolver for ``cache.min_ttl`` (5 s by
#: default); without it every client query for such a name goes upstream. It
#: is kept beside the cache (``CacheWrites.denial_without_soa``), so a cached
#: negative entry always has its SOA and this one never outlives 5 s.
NO_SOA_TTL = 5

#: A denial without SOA by the (name, type) asked, as the iterator concluded it.
SoaLessDenials = ProofMemory[tuple[dns.name.Name, dns.rdatatype.RdataType], Step]


class CacheWrites:
    """Stores replies' records in ``cache`` with their rank, RRSIGs and verdict."""

    def __init__(
        self,
        cache: Cache,
        referral_denials: ProofMemory[dns.name.Name, Evidence],
        parent_glue: ParentSideGlue,
        soa_less: SoaLessDenials,
    ) -> None:
        self.cache = cache
        #: Referrals' proofs that a child has no DS, for the validator (``proofs``).
        self.referral_denials = referral_denials
        #: Referrals' glue addresses, asked when the child's own ones fail.
        self.parent_glue = parent_glue
        #: Denials that came without SOA, for ``NO_SOA_TTL``.
        self.soa_less = soa_less

    def referral(self, reply: Classified, address: str, zone: dns.name.Name) -> dns.rrset.RRset:
        """Cache a delegation (NS, glue, DS, or the proof there is no DS); its NS RRset as kept."""
        assert reply.ns is not None
        assert reply.child is not None
        if not any(rrset.rdtype == dns.rdatatype.DS for rrset in reply.authority):
            proof = proof_of(reply)
            if proof:
                evidence = Evidence(zone, proof=proof, source=address)
                self.referral_denials.remember(reply.child, evidence, least_ttl(proof))
        ns = bounded_ns(reply.ns, reply.glue)
        self.rrset(ns, reply.signatures, Rank.REFERRAL, address)
        for glue in reply.glue:
            self.rrset(glue, (), Rank.ADDITIONAL, address)
            self.parent_glue.remember(glue)
        for rrset in reply.authority:
            self.rrset(rrset, reply.signatures, Rank.AUTHORITY, address)
        return ns

    def rrset(
        self,
        rrset: dns.rrset.RRset,
        signatures: tuple[dns.rrset.RRset, ...],
        rank: Rank,
        address: str,
        security: Security = Security.INDETERMINATE,
        error: ExtendedError | None = None,
    ) -> None:
        """Cache ``rrset`` with its RRSIGs and, once it was judged, its verdict."""
        self.cache.store_rrset(
            rrset,
            rank,
            security=security,
            source=address,
            rrsigs=covering(rrset, signatures),
            error=error,
        )

    def wildcard(
        self,
        rrset: dns.rrset.RRset,
        signatures: tuple[dns.rrset.RRset, ...],
        proof: tuple[dns.rrset.RRset, ...],
        address: str,
    ) -> None:
        """Keep a SECURE wildcard expansion's source and proof, for RFC 8198 5.3 synthesis.

        The source is the owner the RRSIG Labels field names (RFC 4035
        5.3.2: ``*.`` and the owner's last Labels labels), holding the
        records and signatures as they were validated, so that
        ``resolver.aggressive`` can expand it to other names; Knot Resolver
        stashes a wildcard expansion under its source name too
        (``lib/cache/api.c``, ``stash_rrset``). The proof's NSEC/NSEC3
        records of the signer's zone are kept as a denial's are.
        """
        rrsigs = covering(rrset, signatures)
        if rrsigs is None:
            return
        labels = {rdata.labels for rdata in rrsigs}
        signers = {rdata.signer for rdata in rrsigs}
        if len(labels) != 1 or len(signers) != 1:
            return
        (count,), (zone,) = labels, signers
        if count >= len(rrset.name) - 1:
            return
        source = dns.name.Name((b"*", *rrset.name.labels[-(count + 1) :]))
        if not source.is_subdomain(zone):
            return
        self.cache.store_rrset(
            dns.rrset.from_rdata_list(source, rrset.ttl, list(rrset)),
            Rank.ANSWER,
            security=Security.SECURE,
            source=address,
            rrsigs=dns.rrset.from_rdata_list(source, rrsigs.ttl, list(rrsigs)),
        )
        self.cache.remember_proof(zone, proof, address)

    def negative(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        *,
        nxdomain: bool,
        soa: dns.rrset.RRset,
        proof: tuple[dns.rrset.RRset, ...],
        address: str,
        security: Security = Security.INDETERMINATE,
        error: ExtendedError | None = None,
    ) -> None:
        """Cache a negative answer (RFC 2308) with its proof and, once judged, its verdict."""
        self.cache.store_negative(
            name,
            rdtype,
            nxdomain=nxdomain,
            soa=soa,
            proof=proof,
            security=security,
            source=address,
            error=error,
        )

    def denial_without_soa(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, step: Step
    ) -> None:
        """Keep ``step``, a denial without SOA for ``name``/``rdtype``, for ``NO_SOA_TTL``.

        Not a bogus one: it is asked again, of another server (``Iterator``).
        """
        if step.security is not Security.BOGUS:
            self.soa_less.remember((name, rdtype), step, NO_SOA_TTL)


def bounded_ns(ns: dns.rrset.RRset, glue: tuple[dns.rrset.RRset, ...]) -> dns.rrset.RRset:
    """``ns`` with at most ``MAX_NS_PER_CUT`` names, those that came with glue first."""
    if len(ns) <= MAX_NS_PER_CUT:
        return ns
    glued = {rrset.name for rrset in glue}
    kept = sorted(ns, key=lambda rdata: rdata.target not in glued)[:MAX_NS_PER_CUT]
    return dns.rrset.from_rdata_list(ns.name, ns.ttl, kept)
