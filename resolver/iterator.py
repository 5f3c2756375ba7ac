"""Iterative resolution (RFC 1034 5.3.3), as a sans-I/O generator.

The iterator never touches a socket or a clock. ``Iterator.resolve(question)``
returns a generator that *yields* each ``UpstreamQuery`` it wants sent and is
*sent back* the ``UpstreamReply`` (or the ``UpstreamError``) for it; its return
value is the ``Outcome``. ``driver.run_exchange`` performs the I/O; tests drive
the same generator over the in-memory lab. A generator rather than an explicit
state enum: each step of the algorithm reads top to bottom as the RFC
describes it, and sub-resolutions (an NS name's address) are a plain
``yield from``, sharing the client query's ``Budget``.

A worked example, ``www.example.com A`` with an empty cache:

1. ``_resolve_chain`` asks ``_resolve_name``; the cache has nothing, so the
   closest zone cut is the root, from the root hints.
2. ``_iterate`` minimises the query name (RFC 9156): it asks a root server
   ``com. A`` and gets a REFERRAL to ``com.`` (NS, glue and DS are cached);
   then asks a ``com.`` server ``example.com. A`` and is referred to
   ``example.com.``; then asks an ``example.com.`` server the full question.
3. The reply is an ANSWER. ``validation.Validator`` judges it: it needs the
   keys of ``example.com.``, vouched for by the DS that came with the
   referral, signed by ``com.``, whose keys the root's DS vouches for, whose
   keys the trust anchor vouches for; the three DNSKEY RRsets were fetched
   through the evidence stage (``resolver.evidence``) while each zone's
   servers were asked the question (``_keys_ahead``). The answer is cached
   with its verdict and returned as the ``Outcome`` (BOGUS outcomes keep
   their data for CD=1 clients).

A CNAME in the answer makes ``_resolve_chain`` go round again with the
target (at most ``Limits.max_cname_chain`` aliases); an NS name without glue
is resolved by a nested ``_resolve_chain`` before its server can be asked,
several such names at once (``resolver.parallel``).

The iterator walks and decides; the jobs with one purpose each are stages
of their own (issue 19, in the spirit of Knot Resolver's layers): a zone
cut's servers are asked by ``servers.ZoneServers``, answers are assembled
by ``assemble``, the cache is written only through ``cache_writes``, the
validator's DS/DNSKEY requests are answered by ``evidence``, and the
per-query data they share is in ``plan``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from dnssec.status import Security
from resolver import aggressive, assemble, forwarding, parallel, zonecuts
from resolver.assemble import (
    ALIAS_TYPES,
    AliasLoop,
    Chain,
    Step,
    below_dname,
    covering,
    follow_aliases,
    least_ttl,
    proof_of,
)
from resolver.assemble import ResolutionFailed as ResolutionFailed
from resolver.cache import Cache, Rank
from resolver.cache_writes import CacheWrites, SoaLessDenials, bounded_ns
from resolver.classify import Classified, ReplyKind
from resolver.errors import UpstreamError
from resolver.evidence import EvidenceStage
from resolver.exchange import Exchange, pause
from resolver.failures import FailureCache
from resolver.forwarding import ForwardingTable, ZonePolicy
from resolver.limits import Limits, WorkLimitExceeded
from resolver.parent_glue import ParentSideGlue
from resolver.plan import Heard, Purpose, QueryBudget, ZoneCut, work_spent
from resolver.proofs import ProofMemory
from resolver.question import Outcome, Question
from resolver.routes import RouteTable
from resolver.selection import ServerSelection
from resolver.servers import LOCAL_ROOT as LOCAL_ROOT
from resolver.servers import MinimisationRefused, ZoneServers
from resolver.trace import NO_TRACE, Tracer
from resolver.validation import Denied, Evidence, Reply, Validator
from rootzone.hints import RootHints
from rootzone.lifecycle import LocalRoot

#: Cached data with less than this share of its TTL left is refreshed in
#: the background when asked for (Unbound's prefetch: the last 10%).
PREFETCH_SHARE = 0.1


class Iterator:
    """Resolves questions iteratively from the root, using and filling the cache."""

    def __init__(
        self,
        *,
        cache: Cache,
        selection: ServerSelection,
        hints: RootHints,
        limits: Limits,
        validator: Validator,
        qname_minimisation: bool = True,
        routes: RouteTable | None = None,
        local_root: LocalRoot | None = None,
        timer: Callable[[], float] = time.monotonic,
        failed_targets: FailureCache[dns.name.Name] | None = None,
        aggressive_nsec: bool = True,
        harden_glue: bool = True,
        forwarding: ForwardingTable | None = None,
    ) -> None:
        self.cache = cache
        self.hints = hints
        self.limits = limits
        self.validator = validator
        self.qname_minimisation = qname_minimisation
        self.routes = routes
        self.local_root = local_root
        #: Monotonic seconds for each query's time budget.
        self.timer = timer
        #: NS names whose address lookup failed lately (RFC 9520), across queries.
        self.failed_targets = (
            failed_targets if failed_targets is not None else FailureCache(validator.clock)
        )
        #: Referrals' proofs that a child has no DS, for the validator (``proofs``).
        self.referral_denials: ProofMemory[dns.name.Name, Evidence] = ProofMemory(
            validator.clock
        )
        #: Referrals' glue addresses, asked when the child's own ones fail.
        self.parent_glue = ParentSideGlue(validator.clock)
        #: Denials that came without SOA, a few seconds (``cache_writes.NO_SOA_TTL``).
        self.soa_less: SoaLessDenials = ProofMemory(validator.clock)
        #: Every cache write of what replies teach (``resolver.cache_writes``).
        self.writes = CacheWrites(cache, self.referral_denials, self.parent_glue, self.soa_less)
        #: Wildcard answers' proofs, by the (owner, type) expanded (``proofs``).
        self.wildcard_proofs: ProofMemory[
            tuple[dns.name.Name, dns.rdatatype.RdataType], tuple[dns.rrset.RRset, ...]
        ] = ProofMemory(validator.clock)
        #: RFC 8198: answer denials from cached SECURE NSEC records (``aggressive``).
        self.aggressive_nsec = aggressive_nsec
        #: Denials so answered without asking upstream (for metrics).
        self.synthesised = 0
        #: Unbound harden-glue: off, out-of-bailiwick glue is asked (never cached).
        self.harden_glue = harden_glue
        #: Stub and forward zones (``resolver.forwarding``), changed in place by ctl.
        self.forwarding = forwarding if forwarding is not None else ForwardingTable()
        #: The server loop of one zone cut (``resolver.servers``).
        self.servers = ZoneServers(
            cache=cache,
            selection=selection,
            routes=routes,
            local_root=local_root,
            parent_glue=self.parent_glue,
            harden_glue=harden_glue,
        )
        #: Records the scrubbing stage dropped from replies, by reason (for metrics).
        self.scrubbed = self.servers.scrubbed
        #: The DS/DNSKEY records the validator asks for (``resolver.evidence``).
        self.evidence = EvidenceStage(
            cache=cache,
            writes=self.writes,
            referral_denials=self.referral_denials,
            servers=self.servers,
            walk=self._walk,
            zone_of=lambda name, rdtype: self._closest_cut(name, rdtype).zone,
            hold_down=self._hold_down,
        )

    def with_cache(self, cache: Cache) -> Iterator:
        """An iterator like this one over ``cache``, with a key cache, failure
        memory and proofs of its own; selection, routes, root hints, the local
        root copy, limits, trust anchors and stub/forward zones are shared.

        For ``holdfast ctl trace`` (``trace_command``). Kept beside
        ``__init__`` so that a new parameter is passed on here too.
        """
        forked = Iterator(
            cache=cache,
            selection=self.selection,
            hints=self.hints,
            limits=self.limits,
            validator=self.validator.with_cache(
                cache, lambda address, zone, reason: forked.hold_down(address, zone, reason)
            ),
            qname_minimisation=self.qname_minimisation,
            routes=self.routes,
            local_root=self.local_root,
            timer=self.timer,
            failed_targets=FailureCache(self.validator.clock, self.failed_targets.policy),
            aggressive_nsec=self.aggressive_nsec,
            harden_glue=self.harden_glue,
            forwarding=self.forwarding,
        )
        return forked

    @property
    def selection(self) -> ServerSelection:
        """The servers' RTTs and states, as the server loop (``resolver.servers``) uses them."""
        return self.servers.selection

    @selection.setter
    def selection(self, selection: ServerSelection) -> None:
        self.servers.selection = selection

    def resolve(
        self, question: Question, *, refresh: bool = False, trace: Tracer = NO_TRACE
    ) -> Exchange[Outcome]:
        """Resolve ``question`` for a client; failures become SERVFAIL outcomes.

        With ``refresh`` (prefetch) the names of the question's alias chain
        are asked upstream even when the cache still holds them. ``trace``
        is told every step (``resolver.trace``).
        """
        budget = QueryBudget(self.limits, self.timer, trace)
        try:
            with budget.asking(question.name, question.rdtype, Purpose.CLIENT):
                outcome = yield from self._resolve_chain(question, budget, (question,), refresh)
        except AliasLoop as exc:  # nested chains (NS addresses) catch their own
            outcome = exc.outcome()
        except ResolutionFailed as exc:
            outcome = Outcome.servfail(exc.code, exc.text)
        except WorkLimitExceeded as exc:
            outcome = Outcome.servfail(WorkLimitExceeded.ede_code, str(exc))
        trace.planned(budget)
        trace.finished(outcome)
        return outcome

    def cached(self, question: Question) -> Outcome | None:
        """What the cache can answer for ``question``, stale data included (RFC 8767).

        Only data that passed validation or needed none: never BOGUS, never
        unjudged. The outcome says ``stale`` if any link of the chain is
        past its TTL (its records then have TTL 0). None when the cache
        cannot answer the whole chain.
        """
        chain = Chain(question, self.limits.max_cname_chain)
        name = question.name
        try:
            while True:
                step = self._from_cache(name, question.rdtype, allow_stale=True)
                if step is None or step.security is Security.BOGUS:
                    # Bogus data in its place (the refresh that failed) hides
                    # nothing that cached NSEC records still prove.
                    step = self._synthesised(name, question.rdtype, allow_stale=True) or step
                if step is None:
                    return None
                next_name = chain.follow(step)
                if next_name is None:
                    break
                name = next_name
        except ResolutionFailed:
            return None
        outcome = chain.outcome(step)
        return None if outcome.security is Security.BOGUS else outcome

    def _resolve_chain(
        self,
        question: Question,
        budget: QueryBudget,
        stack: tuple[Question, ...],
        refresh: bool = False,
    ) -> Exchange[Outcome]:
        """Resolve ``question``, following CNAME and DNAME aliases across zones."""
        chain = Chain(question, self.limits.max_cname_chain)
        step = yield from self._resolve_name(question.name, question.rdtype, budget, stack, refresh)
        while (name := chain.follow(step)) is not None:
            with budget.asking(name, question.rdtype, Purpose.ALIAS):
                step = yield from self._resolve_name(name, question.rdtype, budget, stack, refresh)
        return chain.outcome(step)

    def _resolve_name(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        stack: tuple[Question, ...],
        refresh: bool = False,
    ) -> Exchange[Step]:
        cached = None if refresh else self._from_cache(name, rdtype)
        if cached is None and not refresh:
            cached = self._synthesised(name, rdtype)
        if cached is not None:
            budget.trace.from_cache(name, rdtype, cached.rcode, cached.security)
            return cached
        bogus: Step | None = None
        held: set[str] = set()
        while True:
            try:
                heard = yield from self._walk(name, rdtype, budget, stack, frozenset(held))
            except ResolutionFailed:
                if bogus is None:
                    raise
                return bogus  # every server of the zone sent bogus data
            if (yield from self._found_lower_cut(heard, name, budget, stack)):
                continue  # the child's cut is cached now: its servers are asked
            step = yield from self._conclude(heard, name, rdtype, budget, stack)
            if step.blame is not None and work_spent(budget):
                return step  # our limit made it bogus, not the server: blame no one
            if step.blame is not None and step.blame != LOCAL_ROOT and not heard.tcp:
                # A bogus UDP reply proves nothing about its server: an
                # off-path spoofer may have won the port and ID race. Ask
                # the same server the same question over TCP, which cannot
                # be raced; only a TCP reply that is bogus too holds it down.
                confirmed = yield from self.servers.over_tcp(
                    heard.address, heard.zone, name, rdtype, budget, heard.policy
                )
                if confirmed is None:
                    held.add(step.blame)  # no proof either way: not asked again here
                    bogus = bogus or step
                    continue
                heard = confirmed
                step = yield from self._conclude(heard, name, rdtype, budget, stack)
                if step.blame is not None and work_spent(budget):
                    return step
            if step.blame is None:
                return step
            # R11: this server's data failed validation; hold it down and ask
            # the zone's other servers, each at most once.
            bogus = step
            reason = step.errors[0].text if step.errors else "bogus"
            self._hold_down(step.blame, str(heard.zone), reason)
            held.add(step.blame)

    def hold_down(self, address: str, zone: str, reason: str) -> None:
        """The validator's report of a server whose DS or DNSKEY records were bogus.

        Bogus data from the local root copy is reported to it (the root
        servers are asked instead for this question). A server is only
        suspected here: the evidence stage holds it down once the same records
        came over TCP as well (``EvidenceStage.suspect``).
        """
        if address == LOCAL_ROOT:
            self._hold_down(address, zone, reason)
        else:
            self.evidence.suspect(address, zone, reason)

    def _hold_down(self, address: str, zone: str, reason: str) -> None:
        """Stop asking ``address`` for ``zone``: it proved to send bogus data."""
        if address == LOCAL_ROOT:
            if self.local_root is not None:
                self.local_root.report_bogus(reason)
        else:
            self.selection.report_bogus(address, zone, reason)

    # -- the cache ---------------------------------------------------------

    def _from_cache(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, *, allow_stale: bool = False
    ) -> Step | None:
        """Answer from validated, authoritative cached data only.

        Never from glue (RFC 2181 5.4.1), and never from records fetched for
        the validator that it has not judged yet (INDETERMINATE).
        """
        for wanted in (rdtype, dns.rdatatype.CNAME):
            hit = self.cache.lookup_rrset(name, wanted, allow_stale=allow_stale)
            if hit is None or hit.rank < Rank.AUTHORITY or not _judged(hit.security):
                continue
            signatures = (hit.rrsigs,) if hit.rrsigs is not None else ()
            proof: tuple[dns.rrset.RRset, ...] | None = ()
            if hit.security is Security.SECURE and assemble.expanded([hit.rrset], signatures):
                # A secure wildcard expansion goes out with its proof (RFC 4035
                # 3.1.3.3); without it kept, it is resolved anew (fresh data only).
                proof = self.wildcard_proofs.get((name, wanted))
                if proof is None and not allow_stale:
                    continue
            return Step(
                dns.rcode.NOERROR,
                (hit.rrset,),
                next_name=hit.rrset[0].target if wanted != rdtype else None,
                security=hit.security,
                errors=(hit.error,) if hit.error is not None else (),
                signatures=signatures,
                proof=proof or (),
                stale=hit.stale,
                expiring=_expiring(hit.rrset.ttl, hit.lifetime),
            )
        negative = self.cache.lookup_negative(name, rdtype, allow_stale=allow_stale)
        if negative is not None and _judged(negative.security):
            return Step(
                dns.rcode.NXDOMAIN if negative.nxdomain else dns.rcode.NOERROR,
                soa=negative.soa,
                security=negative.security,
                errors=(negative.error,) if negative.error is not None else (),
                proof=negative.proof,
                stale=negative.stale,
                expiring=_expiring(negative.soa.ttl, negative.lifetime),
            )
        return self.soa_less.get((name, rdtype))

    def _synthesised(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, *, allow_stale: bool = False
    ) -> Step | None:
        """The denial or wildcard answer cached SECURE records prove (RFC 8198), if on and any.

        Only for zones below a trust anchor now and under no negative trust
        anchor (RFC 7646: such a zone is not validated, so its denials are
        not synthesised either): data validated under an anchor since
        removed is not used to answer for it. ``allow_stale``
        for serve-stale (``cached``): a name answered by synthesis has no
        negative entry of its own, so its stale answer is synthesised too.
        """
        if not self.aggressive_nsec:
            return None
        found = aggressive.synthesise(
            self.cache,
            name,
            rdtype,
            trusted=self._trusted,
            limits=self.limits.validation,
            allow_stale=allow_stale,
        )
        if found is None:
            return None
        self.synthesised += 1
        return Step(
            dns.rcode.NXDOMAIN if found.nxdomain else dns.rcode.NOERROR,
            found.answer,
            soa=found.soa,
            next_name=found.next_name,
            security=Security.SECURE,
            signatures=found.signatures,
            proof=found.proof,
            stale=found.stale,
        )

    def forget(self, name: dns.name.Name | None, below: bool = False) -> int:
        """Drop the SOA-less denials kept for ``name`` (and below it; all for None).

        ``ctl flush`` calls it: they answer clients as the cache does
        (``cache_writes.NO_SOA_TTL``), so what the operator flushes must
        not come back from them for those few seconds.
        """

        def match(key: tuple[dns.name.Name, dns.rdatatype.RdataType]) -> bool:
            owner = key[0]
            return name is None or owner == name or (below and owner.is_subdomain(name))

        return self.soa_less.forget(match)

    def _trusted(self, zone: dns.name.Name) -> bool:
        """Whether ``zone`` is validated: below a trust anchor and under no negative one."""
        negative = self.validator.negative_anchors
        return any(zone.is_subdomain(anchor) for anchor in self.validator.anchors.zones()) and (
            negative is None or negative.covering(zone) is None
        )

    def _closest_cut(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, *, policy: bool = True
    ) -> ZoneCut:
        """The deepest cached delegation whose servers we can reach, or a stub or forward zone.

        A DS record lives in the parent zone (RFC 4035 3.1.4.1), so for DS the
        search starts above the name (Unbound looks stub and forward zones up
        for the same name). A forward zone covers its whole subtree; a stub
        zone, or an operator route with ``--only`` for a zone that is not a
        cut, stands in for the delegation unless the cache knows a cut below
        it (``resolver.forwarding``). Without ``policy`` (a ``first`` zone's
        fallback) only the cache and the root hints count.
        """
        candidate = name.parent() if rdtype == dns.rdatatype.DS and name != dns.name.root else name
        cut = self._cached_cut(candidate)
        if not policy:
            return cut
        entry = self.forwarding.lookup(candidate)
        if entry is not None and (entry.recursive or entry.zone.is_subdomain(cut.zone)):
            return _policy_cut(entry)
        route = self.routes.stub_below(cut.zone, candidate) if self.routes is not None else None
        if route is not None:
            stub = forwarding.policy(route.zone, forwarding.Kind.STUB, route.addresses)
            return _policy_cut(stub)
        return cut

    def _walk(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        stack: tuple[Question, ...],
        avoid: frozenset[str],
    ) -> Exchange[Heard]:
        """``_iterate`` from the closest cut; a ``first`` stub or forward zone falls back.

        Unbound's ``forward-first``/``stub-first``: when every server of the
        zone failed, the name is resolved as if the zone were not configured.
        """
        cut = self._closest_cut(name, rdtype)
        budget.trace.cut(name, rdtype, cut)
        try:
            return (yield from self._iterate(cut, name, rdtype, budget, stack, avoid))
        except ResolutionFailed:
            if cut.policy is None or not cut.policy.first:
                raise
        fallback = self._closest_cut(name, rdtype, policy=False)
        budget.trace.cut(name, rdtype, fallback)
        return (yield from self._iterate(fallback, name, rdtype, budget, stack, avoid))

    def _cached_cut(self, candidate: dns.name.Name) -> ZoneCut:
        """The deepest cached delegation at or above ``candidate`` whose servers we can reach."""
        while candidate != dns.name.root:
            ns = self.cache.lookup_rrset(candidate, dns.rdatatype.NS)
            if ns is not None:
                cut = self._cut_from_ns(ns.rrset)
                # Without any address, a cut whose NS names all lie inside it
                # could only be reached through its own glue: go further up.
                reachable = any(not target.is_subdomain(candidate) for target in cut.ns)
                if cut.addresses or reachable:
                    return cut
            candidate = candidate.parent()
        return self._root_cut()

    def _root_cut(self) -> ZoneCut:
        return ZoneCut(dns.name.root, self.hints.ns, dict(self.hints.addresses))

    def _cut_from_ns(self, ns: dns.rrset.RRset) -> ZoneCut:
        cut = ZoneCut(ns.name, tuple(rdata.target for rdata in ns))
        for target in cut.ns:
            addresses = self._known_addresses(target)
            if addresses:
                cut.addresses[target] = addresses
        return cut

    def _cached_addresses(self, name: dns.name.Name) -> tuple[str, ...]:
        """A and AAAA addresses of ``name`` from the cache, glue included."""
        found: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            hit = self.cache.lookup_rrset(name, rdtype)
            if hit is not None:
                found.extend(rdata.address for rdata in hit.rrset)
        return tuple(found)

    def _known_addresses(self, name: dns.name.Name) -> tuple[str, ...]:
        """``_cached_addresses``, or the root hints' for a root server's name: the
        operator's hints vouch for it as glue does (a root server that also serves
        a child zone names itself in the child's NS, Deckard val_ta_sentinel_insecure)."""
        return self._cached_addresses(name) or self.hints.addresses.get(name, ())

    # -- walking down ------------------------------------------------------

    def _iterate(
        self,
        cut: ZoneCut,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        stack: tuple[Question, ...],
        avoid: frozenset[str] = frozenset(),
    ) -> Exchange[Heard]:
        """Ask the servers of ``cut``, following referrals down to an answer.

        Returns the final reply (an answer or a negative answer for the full
        name) with the zone whose server sent it, that server's address,
        and whether it came over TCP. Servers in ``avoid`` are not asked.

        QNAME minimisation (RFC 9156) asks each zone for one more label than
        it has, with QTYPE A, until the full name is reached. It is relaxed:
        a server that mishandles a minimised name makes us ask the full name.
        """
        # A forwarder resolves the full name anyway (Unbound minimises only
        # towards authoritative servers).
        recursive = cut.policy is not None and cut.policy.recursive
        minimise = self.qname_minimisation and rdtype != dns.rdatatype.DS and not recursive

        def lookup(target: dns.name.Name, zone: dns.name.Name) -> Exchange[tuple[str, ...]]:
            """An NS name's addresses for ``ZoneServers.ask``, under this query's budget."""
            return self._addresses_of(target, zone, budget, stack)

        labels = len(cut.zone) + 1
        while True:
            minimised = minimise and labels < len(qname)
            if minimised:
                ask_name, ask_type = qname.split(labels)[1], dns.rdatatype.A
            else:
                ask_name, ask_type = qname, rdtype
            asking = self.servers.ask(
                cut,
                ask_name,
                ask_type,
                budget,
                lookup,
                minimised=minimised,
                avoid=avoid,
                lookups=parallel.lookups_at_once(len(stack) - 1),
            )
            keys = self._keys_ahead(cut, ask_name, ask_type, budget, stack)
            try:
                if keys is None:
                    heard = yield from asking
                else:
                    heard = yield from parallel.alongside(asking, keys, self.servers.late_reply)
            except MinimisationRefused:
                minimise = False
                continue
            reply = heard.reply
            if reply.kind is ReplyKind.REFERRAL:
                budget.spend_referral()
                cut = self._follow_referral(reply, heard.address, heard.zone)
                budget.trace.referral(heard.address, reply, cut)
                labels = len(cut.zone) + 1
                continue
            if minimised:
                plain = not any(r.rdtype in ALIAS_TYPES for r in reply.answer)
                if reply.kind in (ReplyKind.ANSWER, ReplyKind.NODATA) and plain:
                    labels += 1
                else:
                    # NXDOMAIN or an alias for an ancestor: let the full name decide.
                    minimise = False
                continue
            return heard

    def _keys_ahead(
        self,
        cut: ZoneCut,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        stack: tuple[Question, ...],
    ) -> Exchange[None] | None:
        """The fetch of ``cut``'s DNSKEY to run while its servers are asked, if due.

        Whatever a signed zone's server replies, answer, denial or referral
        (whose DS or proof of none the zone signs), the validator needs the
        zone's keys to judge it, and fetched them only after the reply: one
        round trip more per signed zone on the way down. So they are asked
        at the same time as the question (``parallel.alongside``), when the
        zone is signed (under a trust anchor with no negative one, and an
        anchor itself or delegated with a DS) and its keys are not cached.
        Not for a stub or forward zone, whose keys the validator finds its
        own way (``forwarding``), nor for the DNSKEY question itself.
        """
        zone = cut.zone
        if cut.policy is not None or (name, rdtype) == (zone, dns.rdatatype.DNSKEY):
            return None
        if self.cache.lookup_rrset(zone, dns.rdatatype.DNSKEY) is not None:
            return None  # the common case, checked first: it is on every query's path
        if not self._trusted(zone):
            return None
        anchored = zone in self.validator.anchors.zones()
        if not anchored and self.cache.lookup_rrset(zone, dns.rdatatype.DS) is None:
            return None
        return self.evidence.ahead(zone, budget, stack)

    def _addresses_of(
        self,
        target: dns.name.Name,
        zone: dns.name.Name,
        budget: QueryBudget,
        stack: tuple[Question, ...],
    ) -> Exchange[tuple[str, ...]]:
        """Resolve the address of an NS name that came without glue.

        A name inside the zone it serves can only be found through that zone
        (it needed glue), and a question already being resolved further up
        the stack would loop: both give no address.

        Every lookup is paid for from the budget, one answered "failed" from
        memory included, and gives the event loop a turn first: these
        lookups are the work that needs no packet, so without that a fan-out
        of NS names (each of whose zones refers to more of them) would run
        from the cache for minutes holding the loop. A failed lookup is
        remembered for the rest of the query (Knot Resolver does not retry
        an NS name for a request either) and, unless a limit of ours cut it
        short, across queries for 5 s, doubling while it keeps failing (RFC
        9520, ``failures.FailureCache``).
        """
        cached = self._cached_addresses(target)
        alias = None if cached else self.cache.lookup_rrset(target, dns.rdatatype.CNAME)
        if alias is not None and alias.rank >= Rank.ANSWER:
            # An NS name its own zone answered as an alias (RFC 2181 10.3
            # forbids it; servers do it): its target's address serves, as in
            # Unbound (testbound iter_cname_cache), even once the glue expired.
            target = alias.rrset[0].target
            cached = self._cached_addresses(target)
        if cached or target.is_subdomain(zone):
            return cached
        yield from pause()
        budget.spend_ns_lookup()
        if target in budget.failed_targets or self.failed_targets.recent(target) is not None:
            return ()
        if len(stack) > self.limits.max_depth:
            budget.cutoffs += 1
            return ()
        cutoffs = budget.cutoffs
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            question = Question(target, rdtype)
            if question in stack:
                continue
            try:
                with budget.asking(target, rdtype, Purpose.NS_ADDRESS):
                    outcome = yield from self._resolve_chain(question, budget, (*stack, question))
            except ResolutionFailed:
                continue
            found = tuple(
                rdata.address
                for rrset in outcome.answer
                if rrset.rdtype == rdtype
                for rdata in rrset
            )
            if found:
                self.failed_targets.succeeded(target)
                return found
        budget.failed_targets.add(target)
        if budget.cutoffs == cutoffs:
            self.failed_targets.failed(target)
        return ()

    # -- what a reply teaches us -------------------------------------------

    def _follow_referral(self, reply: Classified, address: str, zone: dns.name.Name) -> ZoneCut:
        """Cache a delegation (``CacheWrites.referral``) and make it the new zone cut."""
        ns = self.writes.referral(reply, address, zone)
        assert reply.child is not None
        cut = ZoneCut(reply.child, tuple(rdata.target for rdata in ns))
        for target in cut.ns:
            addresses = (
                _addresses_in(reply.glue, target)
                or self._cached_addresses(target)
                or _addresses_in(reply.hints, target)
            )
            if addresses:
                cut.addresses[target] = addresses
        return cut

    def _found_lower_cut(
        self, heard: Heard, qname: dns.name.Name, budget: QueryBudget, stack: tuple[Question, ...]
    ) -> Exchange[bool]:
        """Whether ``heard`` came from a child zone below ``heard.zone``, now a cached cut.

        Issue 23 (``resolver.zonecuts``): a server serving a parent and its
        child answers for the child directly. Each candidate cut is put to
        the same server as ``C NS``; a referral is followed, an authoritative
        NS answer naming that server is cached as the cut. Either way the
        reply is not judged: the question goes to the cut's servers again.
        A cut already cached is not probed (nothing to learn, and no loop).
        """
        reply, zone, address = heard.reply, heard.zone, heard.address
        if address == LOCAL_ROOT or reply.kind is ReplyKind.REFERRAL or heard.policy is not None:
            return False
        secure = False
        if zonecuts.needs_keys(reply, zone, qname):
            keys = yield from self.validator.zone_keys(
                zone, budget.validation, self.evidence.for_query(budget, stack)
            )
            secure = keys.security is Security.SECURE
        for cut in zonecuts.candidates(reply, zone, qname, zone_secure=secure):
            if self.cache.delegated_below(zone, cut):
                return False
            if (yield from self._signer_secure(reply, cut, budget, stack)):
                return False
            result = yield from self.servers.send(address, cut, dns.rdatatype.NS, budget)
            if isinstance(result, UpstreamError):
                self.servers.report_failure(result, zone)
                return False
            if result.message.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return False
            probe = self.servers.classify(result.message, zone, cut, dns.rdatatype.NS)
            found = zonecuts.judge(probe, cut, address, self._known_addresses)
            if found.verdict is zonecuts.Verdict.REFERRED:
                budget.spend_referral()
                self._follow_referral(probe, address, zone)
                return True
            if found.verdict is zonecuts.Verdict.SERVED:
                assert found.ns is not None
                self.writes.rrset(bounded_ns(found.ns, ()), probe.signatures, Rank.ANSWER, address)
                return True
            if found.verdict is zonecuts.Verdict.STOP:
                return False
        return False

    def _signer_secure(
        self,
        reply: Classified,
        cut: dns.name.Name,
        budget: QueryBudget,
        stack: tuple[Question, ...],
    ) -> Exchange[bool]:
        """Whether ``cut`` signed ``reply`` with secure keys: no probe (``resolver.zonecuts``)."""
        if not zonecuts.signed_by(reply, cut):
            return False
        keys = yield from self.validator.zone_keys(
            cut, budget.validation, self.evidence.for_query(budget, stack)
        )
        return keys.security is Security.SECURE

    def _conclude(
        self,
        heard: Heard,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        stack: tuple[Question, ...],
    ) -> Exchange[Step]:
        """Judge an authoritative reply for the full name, cache it with its verdict."""
        reply, zone, address = heard.reply, heard.zone, heard.address
        records, name, complete, yxdomain = follow_aliases(
            reply.answer, qname, rdtype, reply.signatures
        )
        recursive = heard.policy is not None and heard.policy.recursive
        tail: list[dns.rrset.RRset] = []
        if recursive:
            # A forwarder's chain may cross zones: judged in the first one's,
            # the rest is asked for again (each link is then in its own zone).
            first = records[0].name if records else reply.soa.name if reply.soa else qname
            zone = yield from self._forwarded_zone(heard, first, budget, stack)
            kept = forwarding.chain_in_zone(records, reply.signatures, zone, heard.zone)
            if kept < len(records):
                name, complete = records[kept].name, False
                records = records[:kept]
        else:
            tail = zonecuts.signed_below(records, reply.signatures, zone)
            if tail:
                # The chain runs on into a child zone this server also serves:
                # that part is asked again by name, so the child's cut is found
                # and its keys judge it (Knot Resolver ``check_signer``).
                name, complete = tail[0].name, False
                records = records[: len(records) - len(tail)]
        synthesised = tuple(
            r for r in records if r.rdtype == dns.rdatatype.CNAME and below_dname(r, records)
        )
        next_name = denied = None
        if not complete:
            if reply.kind is ReplyKind.ANSWER or (
                name != qname and not self._speaks_for(zone, name)
            ):
                # An alias out of this server's zone (or into a zone it
                # delegated): its rcode and SOA speak for the first name
                # only (RFC 6604 2.1); chase the target.
                next_name = name
            else:
                denied = Denied(name, rdtype, nxdomain=reply.kind is ReplyKind.NXDOMAIN)
        soa = reply.soa if denied is not None else None
        answer = tuple(
            r for r in reply.answer if all(r is not c for c in (*synthesised, *tail))
        )
        if recursive:
            answer = tuple(r for r in answer if any(r is k for k in records))
        verdict = yield from self.validator.check(
            Reply(
                zone,
                address,
                answer=answer,
                soa=soa,
                authority=reply.authority,
                signatures=reply.signatures,
                denied=denied,
                unvalidatable=tuple(r for r in records if r.rdtype == dns.rdatatype.RRSIG),
            ),
            budget.validation,
            self.evidence.for_query(budget, stack),
        )
        budget.trace.judged(zone, address, verdict, reply.signatures, self.validator)
        error = verdict.errors[0] if verdict.errors else None
        capped = {id(rrset): assemble.capped(rrset, verdict) for rrset in answer}
        records = [capped.get(id(rrset), rrset) for rrset in records]
        for rrset in capped.values():
            self.writes.rrset(
                rrset, reply.signatures, Rank.ANSWER, address, verdict.security, error
            )
            budget.trace.cached(rrset, verdict.security)
        # A positive answer carries a proof only for a wildcard expansion (RFC
        # 4035 3.1.3.3); NSECs a server adds to any other answer go no further,
        # as in Unbound's and Knot's answers (Deckard val_dname).
        expanded = assemble.expanded(records, reply.signatures)
        proof = proof_of(reply) if denied is not None or expanded else ()
        if expanded and proof and verdict.security is Security.SECURE:
            for rrset in expanded:  # for the same answer from the cache (``proofs``)
                self.wildcard_proofs.remember((rrset.name, rrset.rdtype), proof, least_ttl(proof))
                self.writes.wildcard(rrset, reply.signatures, proof, address)  # RFC 8198 5.3
        if denied is not None and soa is not None:
            self.writes.negative(
                name,
                rdtype,
                nxdomain=denied.nxdomain,
                soa=soa,
                proof=proof,
                address=address,
                security=verdict.security,
                error=error,
            )
            budget.trace.cached_negative(name, rdtype, denied.nxdomain, verdict.security)
        signatures = tuple(
            sig for record in records if (sig := covering(record, reply.signatures)) is not None
        )
        if yxdomain:
            rcode = dns.rcode.YXDOMAIN
        elif denied is not None and denied.nxdomain:
            rcode = dns.rcode.NXDOMAIN
        else:
            rcode = dns.rcode.NOERROR
        step = Step(
            rcode,
            tuple(records),
            soa=soa,
            next_name=next_name,
            security=verdict.security,
            errors=verdict.errors,
            signatures=signatures,
            proof=proof,
            blame=verdict.blame,
        )
        if denied is not None and soa is None:
            self.writes.denial_without_soa(qname, rdtype, step)
        return step

    def _forwarded_zone(
        self,
        heard: Heard,
        owner: dns.name.Name,
        budget: QueryBudget,
        stack: tuple[Question, ...],
    ) -> Exchange[dns.name.Name]:
        """The zone whose keys judge a forwarder's records at ``owner`` (``resolver.forwarding``).

        The deepest signer of them, else the cut unsigned data lies under,
        found by DS queries through the forwarder (Unbound's validator
        does the same). Neither is looked for above the deepest trust
        anchor over ``owner``: a signer claimed above it, or an insecure
        delegation proven above it, would judge an island of trust's data
        without its anchor (``Validator._signer_keys`` keeps the same rule).
        """
        anchors = [a for a in self.validator.anchors.zones() if owner.is_subdomain(a)]
        if not anchors:
            return heard.zone  # no trust anchor above: insecure without asking
        deepest = max(anchors, key=len)
        top = deepest if deepest.is_subdomain(heard.zone) else heard.zone
        signer = forwarding.signer_zone(owner, heard.reply.signatures, top)
        if signer is not None:
            return signer
        fetch = self.evidence.ds_or_nothing(budget, stack)
        return (yield from forwarding.unsigned_cut(owner, top, fetch))

    def _speaks_for(self, zone: dns.name.Name, name: dns.name.Name) -> bool:
        """Whether a server of ``zone`` is the one to say that ``name`` does not exist."""
        return name.is_subdomain(zone) and not self.cache.delegated_below(zone, name)


def _policy_cut(entry: ZonePolicy) -> ZoneCut:
    """A stub or forward zone as a cut: its servers, listed under the zone's own name."""
    return ZoneCut(entry.zone, (), {entry.zone: entry.addresses}, policy=entry)


def _addresses_in(rrsets: tuple[dns.rrset.RRset, ...], name: dns.name.Name) -> tuple[str, ...]:
    """The addresses of ``name`` among the A/AAAA RRsets ``rrsets``."""
    return tuple(rdata.address for rrset in rrsets if rrset.name == name for rdata in rrset)


def _expiring(remaining: int, lifetime: int) -> bool:
    """Whether cached data is in the last ``PREFETCH_SHARE`` of its lifetime."""
    return remaining < lifetime * PREFETCH_SHARE


def _judged(security: Security) -> bool:
    """Whether the validator has given cached data its verdict."""
    return security is not Security.INDETERMINATE
