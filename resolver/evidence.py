"""The evidence stage: the DS and DNSKEY records the validator asks for.

The validator never calls back into the iterator: it asks for the records it
needs as an ``EvidenceRequest`` (name, type, servers to avoid), and this
stage answers with ``Evidence`` it has not judged, from the cache or from a
resolution that does not validate (Unbound's validator likewise sends its
DS/DNSKEY sub-queries through the module stack rather than calling the
iterator, ``validator/validator.c`` ``generate_request``). What the stage
needs of the iterator, walking down to a zone's servers, the closest cut's
zone and holding a server down, it is given as narrow callables.

A server whose DS or DNSKEY records the validator found bogus is only
*suspected* (``suspect``): a spoofer may have sent them over UDP. The next
request that avoids it first asks the same server the same question over
TCP (``_confirm_suspects``); only the same records again hold it down.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.name
import dns.rdatatype
from cachetools import LRUCache

from resolver.assemble import ResolutionFailed, covering, proof_of
from resolver.cache import Cache, Rank
from resolver.cache_writes import CacheWrites
from resolver.classify import ReplyKind
from resolver.exchange import Exchange
from resolver.plan import Heard, Purpose, QueryBudget, work_spent
from resolver.proofs import ProofMemory
from resolver.question import Question
from resolver.servers import ZoneServers
from resolver.validation import Evidence, EvidenceRequest, Fetch

#: Servers whose DS/DNSKEY records the validator found bogus, remembered
#: until a TCP re-ask confirms or clears them.
MAX_SUSPECTS = 1024

#: The iterator's walk from the closest cut down to ``name``'s servers:
#: (name, type, budget, stack of questions, servers to avoid) -> the reply heard.
Walk = Callable[
    [dns.name.Name, dns.rdatatype.RdataType, QueryBudget, tuple[Question, ...], frozenset[str]],
    Exchange[Heard],
]
#: The zone of the closest known cut for (name, type).
ZoneOf = Callable[[dns.name.Name, dns.rdatatype.RdataType], dns.name.Name]
#: Stop asking a server for a zone: (address, zone, reason).
HoldDown = Callable[[str, str, str], None]


class EvidenceStage:
    """Answers the validator's ``EvidenceRequest`` for one resolver, across queries."""

    def __init__(
        self,
        *,
        cache: Cache,
        writes: CacheWrites,
        referral_denials: ProofMemory[dns.name.Name, Evidence],
        servers: ZoneServers,
        walk: Walk,
        zone_of: ZoneOf,
        hold_down: HoldDown,
    ) -> None:
        self.cache = cache
        self.writes = writes
        #: Referrals' proofs that a child has no DS (``CacheWrites.referral``).
        self.referral_denials = referral_denials
        self.servers = servers
        self._walk = walk
        self._zone_of = zone_of
        self._hold_down = hold_down
        #: (server, zone) whose DS/DNSKEY the validator found bogus, with why:
        #: held down only once a TCP re-ask proves the records are theirs.
        self._suspects: LRUCache[tuple[str, str], str] = LRUCache(maxsize=MAX_SUSPECTS)

    def suspect(self, address: str, zone: str, reason: str) -> None:
        """Remember ``address`` as having sent bogus DS or DNSKEY records for ``zone``."""
        self._suspects[(address, zone)] = reason

    def for_query(self, budget: QueryBudget, stack: tuple[Question, ...]) -> Fetch:
        """The ``Fetch`` the validator is given while judging for this client query."""
        return lambda request: self.fetch(request, budget, stack)

    def fetch(
        self, request: EvidenceRequest, budget: QueryBudget, stack: tuple[Question, ...]
    ) -> Exchange[Evidence]:
        """Find DNSKEY or DS records for the validator, which judges them itself.

        Cached records are used whatever their status; fresh ones are cached
        as INDETERMINATE until the validator stores its verdict. With servers
        to avoid (they sent bogus records), the cache is bypassed and the
        others are asked; when none is left the ``Evidence`` is empty.
        Servers to avoid that the validator suspects are first asked over
        TCP (``_confirm_suspects``).
        """
        name, rdtype, avoid = request.name, request.rdtype, request.avoid
        if avoid:
            yield from self._confirm_suspects(avoid, budget)
        else:
            cached = self.cached(name, rdtype)
            if cached is not None:
                budget.trace.evidence(name, rdtype, cached, cached=True)
                return cached
        try:
            with budget.asking(name, rdtype, Purpose.EVIDENCE):
                heard = yield from self._walk(name, rdtype, budget, stack, avoid)
        except ResolutionFailed:
            if not avoid:
                raise
            return Evidence(self._zone_of(name, rdtype))
        evidence = self._heard(heard, name, rdtype)
        budget.trace.evidence(name, rdtype, evidence, cached=False)
        if not heard.tcp:
            budget.udp_evidence[heard.address] = (name, rdtype, heard.zone, evidence, heard.policy)
        return evidence

    def ahead(
        self, zone: dns.name.Name, budget: QueryBudget, stack: tuple[Question, ...]
    ) -> Exchange[None]:
        """``fetch`` of ``zone``'s DNSKEY before the validator asks (``Iterator._keys_ahead``).

        A failure is left for the validator's own request to meet.
        """
        try:
            yield from self.fetch(EvidenceRequest(zone, dns.rdatatype.DNSKEY), budget, stack)
        except ResolutionFailed:
            return

    def ds_or_nothing(
        self, budget: QueryBudget, stack: tuple[Question, ...]
    ) -> Callable[[dns.name.Name], Exchange[Evidence]]:
        """``fetch`` of DS records for ``forwarding.unsigned_cut``; empty evidence on failure.

        A DS the forwarder cannot give ends the walk there (the validator
        judges the data in the zone found so far) rather than the resolution.
        """

        def fetch(name: dns.name.Name) -> Exchange[Evidence]:
            try:
                return (
                    yield from self.fetch(EvidenceRequest(name, dns.rdatatype.DS), budget, stack)
                )
            except ResolutionFailed:
                return Evidence(name)

        return fetch

    def cached(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Evidence | None:
        """``fetch``'s answer from the cache, judged or not."""
        hit = self.cache.lookup_rrset(name, rdtype)
        if hit is not None and hit.rank >= Rank.AUTHORITY:
            return Evidence(self._zone_of(name, rdtype), hit.rrset, hit.rrsigs, source=hit.source)
        negative = self.cache.lookup_negative(name, rdtype)
        if negative is not None:
            return Evidence(
                negative.soa.name,
                soa=negative.soa,
                proof=negative.proof,
                nxdomain=negative.nxdomain,
                source=negative.source,
            )
        if rdtype == dns.rdatatype.DS:
            return self.referral_denials.get(name)
        return None

    def _confirm_suspects(self, avoid: frozenset[str], budget: QueryBudget) -> Exchange[None]:
        """Hold down the suspects in ``avoid`` whose bogus records come over TCP too.

        The validator found the DS or DNSKEY records a server sent over UDP
        bogus (``suspect``). A spoofer may have sent them, so the same
        question goes to the same server over TCP: the same records again
        prove they are the server's, and it is held down; different ones
        mean the UDP reply was forged, and the server is not blamed. A
        verdict our own work limits caused blames no one.
        """
        for address in sorted(avoid):
            sent = budget.udp_evidence.pop(address, None)
            if sent is None:
                continue
            name, rdtype, zone, evidence, policy = sent
            reason = self._suspects.pop((address, str(zone)), None)
            if reason is None or work_spent(budget):
                continue
            heard = yield from self.servers.over_tcp(address, zone, name, rdtype, budget, policy)
            if heard is not None and self._heard(heard, name, rdtype) == evidence:
                self._hold_down(address, str(zone), f"{reason} (the same over TCP)")

    def _heard(
        self, heard: Heard, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> Evidence:
        """What ``heard`` says of ``name``/``rdtype``, cached as not yet judged."""
        reply, zone, address = heard.reply, heard.zone, heard.address
        data = next((r for r in reply.answer if (r.name, r.rdtype) == (name, rdtype)), None)
        if data is not None:
            rrsigs = covering(data, reply.signatures)
            self.writes.rrset(data, reply.signatures, Rank.ANSWER, address)
            return Evidence(zone, data, rrsigs, source=address)
        if reply.kind in (ReplyKind.NODATA, ReplyKind.NXDOMAIN):
            # Without its SOA a negative answer is not cached, but its NSEC/NSEC3
            # may still prove it to the validator (a DS NODATA, RFC 4035 5.2).
            nxdomain = reply.kind is ReplyKind.NXDOMAIN
            proof = proof_of(reply)
            if reply.soa is not None:
                self.writes.negative(
                    name, rdtype, nxdomain=nxdomain, soa=reply.soa, proof=proof, address=address
                )
            return Evidence(zone, soa=reply.soa, proof=proof, nxdomain=nxdomain, source=address)
        return Evidence(zone, source=address)
