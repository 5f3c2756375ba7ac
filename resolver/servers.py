"""The server loop of one zone: choose a server, ask it, read what it says.

One stage of resolution (Unbound's iterator ``processQueryTargets`` and
Knot Resolver's ``kr_nsrep`` server choice): given a zone cut, its servers
are chosen within the operator's routes (``resolver.routes``) by
``resolver.selection``, asked in staggered attempts (``resolver.hedging``),
with the parent's glue as a last resort, and each reply is scrubbed and
classified for the zone that was asked (``resolver.scrub``,
``resolver.classify``). Every outcome is fed back into server selection.
The NS names of the cut without known addresses are resolved by the
caller's ``lookup`` (a nested resolution of the iterator), so this stage
knows nothing of walking down the tree. A sans-I/O generator: it yields
``UpstreamQuery`` as the iterator does.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from dnssec.errors import HoldfastError
from resolver import parallel
from resolver.assemble import ResolutionFailed
from resolver.cache import Cache
from resolver.classify import Classified, ReplyKind, classify
from resolver.errors import EgressRefused, NetworkError, UpstreamError, UpstreamTimeout
from resolver.exchange import Exchange, UpstreamQuery, UpstreamReply, ask
from resolver.forwarding import ZonePolicy
from resolver.hedging import Race
from resolver.parent_glue import ParentSideGlue
from resolver.plan import Heard, QueryBudget, ZoneCut
from resolver.routes import RouteTable
from resolver.selection import ServerSelection
from rootzone.lifecycle import LocalRoot

#: The source that root replies from the local root copy (RFC 8806) are
#: attributed to, in the cache and in the validator's verdicts.
LOCAL_ROOT = "local-root"


class MinimisationRefused(HoldfastError):
    """A server mishandled a minimised query name; ask the full name instead."""


class ZoneServers:
    """Asks the servers of one zone cut at a time, for the iterator."""

    def __init__(
        self,
        *,
        cache: Cache,
        selection: ServerSelection,
        routes: RouteTable | None,
        local_root: LocalRoot | None,
        parent_glue: ParentSideGlue,
        harden_glue: bool,
    ) -> None:
        self.cache = cache
        self.selection = selection
        self.routes = routes
        self.local_root = local_root
        #: Referrals' glue addresses, asked when the child's own ones fail.
        self.parent_glue = parent_glue
        #: Unbound harden-glue: off, out-of-bailiwick glue is asked (never cached).
        self.harden_glue = harden_glue
        #: Records the scrubbing stage dropped from replies, by reason (for metrics).
        self.scrubbed: collections.Counter[str] = collections.Counter()

    def send(
        self,
        address: str,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        *,
        tcp: bool = False,
        policy: ZonePolicy | None = None,
    ) -> Exchange[UpstreamReply | UpstreamError]:
        """One upstream query (``query``), counted in ``budget``."""
        budget.spend_query()
        query = self.query(address, name, rdtype, tcp=tcp, policy=policy)
        result = yield from ask(query)
        budget.trace.sent(query, result)
        return result

    def query(
        self,
        address: str,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        *,
        tcp: bool = False,
        policy: ZonePolicy | None = None,
        listen: float | None = None,
    ) -> UpstreamQuery:
        """The query for ``address`` as selection knows it, shaped by a stub or
        forward zone's ``policy``: the server's port, RD=1 for a forwarder,
        and DNS over TLS (a stream: TCP's exchange)."""
        tls_name = policy.tls_name if policy is not None else None
        return UpstreamQuery(
            address=address,
            qname=name,
            rdtype=rdtype,
            edns=self.selection.uses_edns(address),
            timeout=self.selection.timeout_for(address),
            tcp=tcp or tls_name is not None,
            port=policy.port_of(address) if policy is not None else None,
            recursion_desired=policy is not None and policy.recursive,
            tls_name=tls_name,
            tls_ca_file=policy.tls_ca_file if policy is not None else None,
            listen=listen,
        )

    def over_tcp(
        self,
        address: str,
        zone: dns.name.Name,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        policy: ZonePolicy | None,
    ) -> Exchange[Heard | None]:
        """Ask ``address`` (a server of ``zone``) over TCP; None without a usable reply."""
        result = yield from self.send(address, name, rdtype, budget, tcp=True, policy=policy)
        if isinstance(result, UpstreamError):
            self.report_failure(result, zone)
            return None
        if result.message.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return None
        reply = self.classify(result.message, zone, name, rdtype, policy)
        if reply.kind in (ReplyKind.LAME, ReplyKind.REFERRAL):
            return None
        return Heard(reply, zone, address, tcp=True, policy=policy)

    def ask(
        self,
        cut: ZoneCut,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        lookup: Callable[[dns.name.Name, dns.name.Name], Exchange[tuple[str, ...]]],
        *,
        minimised: bool,
        avoid: frozenset[str] = frozenset(),
        lookups: int = 1,
    ) -> Exchange[Heard]:
        """Ask the zone's servers, staggered, until one answers usefully.

        The next server is asked once those in flight are past their
        stagger delay, without giving up on them; the first usable reply
        wins and a late one from an earlier attempt counts
        (``resolver.hedging``, which also says when a server is reported
        as timed out). NS lookups, parent-side glue and new rounds wait
        until every attempt in flight has reached its RTO, as when one
        query at a time was in flight.

        Servers that timed out are asked again in up to
        ``Limits.timeout_rounds`` rounds, each with the RTO that selection
        doubled after the timeout: a loaded server is slow, not gone, and
        one round of short adaptive timeouts would turn a burst of load into
        SERVFAILs (Unbound likewise retries a server several times with
        back-off). The work budget and
        the time budget still bound the whole resolution.

        Every outcome is fed back into server selection. Servers whose NS
        names have no known address are resolved only when the known ones
        are used up, at most ``Limits.max_ns_lookups_per_zone`` of them
        (Unbound's MAX_DP_TARGET_COUNT: a referral listing a thousand NS
        names without glue must not cost a thousand lookups), ``lookups`` of
        them at once (``resolver.parallel``): the first that gives an
        address is asked, the others are cut short. An operator
        route for the zone decides which addresses are asked, and in which
        order (``choose``).

        Raises:
            ResolutionFailed: no server gave a usable reply.
            MinimisationRefused: a server choked on a minimised name.
        """
        if cut.zone == dns.name.root and LOCAL_ROOT not in avoid:
            local = self.ask_local_root(name, rdtype)
            if local is not None:
                budget.trace.heard(LOCAL_ROOT, local, local.reason)
                return Heard(local, cut.zone, LOCAL_ROOT)
        tried: set[str] = set(avoid)
        timed_out: set[str] = set()
        rounds_left = budget.limits.timeout_rounds - 1
        # A stub or forward zone with a fallback (``first``) gets one round,
        # and no server marked down or held down: iteration needs the time.
        fallback = cut.policy is not None and cut.policy.first
        if fallback:
            rounds_left = 0
        failures: list[UpstreamError] = []
        unresolved = cut.unresolved()[: budget.limits.max_ns_lookups_per_zone]
        parent_side_tried = False
        race = Race()
        #: The query sent to each address in this race (for the trace).
        sent: dict[str, UpstreamQuery] = {}
        while True:
            budget.check_time()
            if race.may_hedge():
                # A server held down or marked down is asked only when no NS name
                # is left to resolve: another of the zone's servers may be healthy.
                address = self.choose(cut, tried, usable_only=bool(unresolved) or fallback)
                if address is not None:
                    budget.trace.chose(cut, address, tried, self.selection, self.routes)
                    tried.add(address)
                    sent[address] = yield from self.launch(
                        race, address, name, rdtype, budget, cut.policy
                    )
                    continue
            if race.all_expired():
                if unresolved:
                    batch, unresolved = unresolved[:lookups], unresolved[lookups:]
                    found = yield from parallel.first_usable(
                        {target: lookup(target, cut.zone) for target in batch},
                        usable=bool,
                        late=self.late_reply,
                    )
                    cut.addresses.update((target, got) for target, got in found.items() if got)
                    # Those cut short when another gave an address: asked again if needed.
                    unresolved[:0] = [target for target in batch if target not in found]
                    continue
                if not parent_side_tried:
                    parent_side_tried = True
                    if self.add_parent_side(cut):
                        continue
                if timed_out and rounds_left:
                    rounds_left -= 1
                    tried -= timed_out
                    timed_out.clear()
                    continue
            if not race.in_flight or (race.all_expired() and race.waited_out()):
                yield from race.abandon(self.late_reply)
                if not failures and self.routes is not None and cut.known_addresses():
                    raise ResolutionFailed(
                        dns.edns.EDECode.NO_REACHABLE_AUTHORITY,
                        f"no usable server for {cut.zone}: the operator route leaves none to ask",
                    )
                raise _no_server_left(cut.zone, failures)
            ended = yield from race.wait(hedging=not race.may_hedge())
            for address in race.expire():
                self.selection.report_timeout(address)
                timed_out.add(address)
                failures.append(UpstreamTimeout(address, "no reply within its RTO"))
            if ended is None:
                continue
            attempt, result = ended
            address = attempt.address
            budget.trace.sent(sent[address], result)
            if isinstance(result, UpstreamError):
                # A timeout already reported when its RTO passed is not reported
                # twice. Another error ending the leg at its RTO (garbage with our
                # ID: transport._UpstreamFailures) is the server's failure, which
                # later rounds do not ask again (Deckard's iter_req_qname).
                if not (attempt.timed_out and isinstance(result, UpstreamTimeout)):
                    timed_out.discard(address)
                    self.report_failure(result, cut.zone)
                    failures.append(result)
                    if isinstance(result, UpstreamTimeout):
                        timed_out.add(address)
                continue
            self.selection.report_rtt(address, result.rtt)
            if not result.edns:
                self.selection.report_no_edns(address)
            rcode = result.message.rcode()
            reply = None
            # YXDOMAIN: a DNAME substitution too long (RFC 6672 2.2), an answer.
            if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):
                reply = self.classify(result.message, cut.zone, name, rdtype, cut.policy)
                reason = reply.reason
            else:
                reason = f"answered {dns.rcode.to_text(rcode)}"
            budget.trace.heard(address, reply, reason)
            if reply is not None and reply.kind is not ReplyKind.LAME:
                yield from race.abandon(self.late_reply)
                return Heard(reply, cut.zone, address, tcp=result.tcp, policy=cut.policy)
            if minimised:
                yield from race.abandon(self.late_reply)
                raise MinimisationRefused(f"{address} {reason} for minimised {name}")
            self.selection.report_broken(address, str(cut.zone), reason)
            failures.append(UpstreamError(address, reason))

    def launch(
        self,
        race: Race,
        address: str,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        budget: QueryBudget,
        policy: ZonePolicy | None,
    ) -> Exchange[UpstreamQuery]:
        """Start one attempt of ``race`` (``query``), counted in ``budget``; the query sent.

        It listens for as long as the time budget lasts, not just its RTO:
        a late reply still wins if nothing better came (``resolver.hedging``).
        """
        budget.spend_query()
        query = self.query(
            address, name, rdtype, policy=policy, listen=budget.deadline - budget.timer()
        )
        yield from race.launch(query, stagger=self.selection.stagger_for(address))
        return query

    def late_reply(self, reply: UpstreamReply) -> None:
        """A reply to an abandoned attempt: its RTT is news, its content is not used."""
        self.selection.report_rtt(reply.address, reply.rtt)

    def add_parent_side(self, cut: ZoneCut) -> bool:
        """Add the parent's glue addresses of ``cut``'s NS names that it lacks.

        Asked once every known address of the zone failed: the child's own
        A/AAAA replaced the parent's glue in the cache, and it may be the
        one that is wrong (Unbound iterator.c ``processLastResort`` asks the
        parent-side addresses then; Knot Resolver keeps both in its cut).
        Each one asked is a query paid from the budget as any other.
        Returns whether any address was added.
        """
        known = set(cut.known_addresses())
        added = False
        for target in cut.ns:
            fresh = tuple(a for a in self.parent_glue.addresses(target) if a not in known)
            if fresh:
                cut.addresses[target] = (*cut.addresses.get(target, ()), *fresh)
                known.update(fresh)
                added = True
        return added

    def ask_local_root(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> Classified | None:
        """The local root copy's reply, as a root server's would be, if a copy is in use.

        RFC 8806: the copy answers exactly as the root servers would and is
        validated the same way. None (ask the root servers) while there is
        no copy, or it is retired or disabled: ``LocalRoot.answer`` decides
        that at every question, for every path that reaches the root.
        """
        if self.local_root is None:
            return None
        message = self.local_root.answer(name, rdtype)
        if message is None:
            return None
        reply = self.classify(message, dns.name.root, name, rdtype)
        return None if reply.kind is ReplyKind.LAME else reply

    def classify(
        self,
        message: dns.message.Message,
        zone: dns.name.Name,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        policy: ZonePolicy | None = None,
    ) -> Classified:
        """Scrub and classify a reply from a server of ``zone``; count what was dropped.

        Names below a zone cut cached under ``zone`` are not that server's
        to speak for (``resolver.scrub``, rule ``delegated``), unless it is
        a forward zone's recursive server, which speaks for all of them.
        """
        recursive = policy is not None and policy.recursive
        reply = classify(
            message,
            zone=zone,
            qname=name,
            rdtype=rdtype,
            delegated=lambda owner: not recursive and self.cache.delegated_below(zone, owner),
            harden_glue=self.harden_glue,
            recursive=recursive,
        )
        self.scrubbed.update(reply.dropped)
        return reply

    def choose(self, cut: ZoneCut, tried: set[str], *, usable_only: bool) -> str | None:
        """The next server of ``cut`` to ask, following the operator's route if any.

        A route's tiers are asked in order: a preferred server is chosen
        while one is usable (not down, not held down); after that, the
        choice is among every routed address, held-down ones as a last
        resort (unless ``usable_only``), as without a route.
        """
        zone = str(cut.zone)
        if self.routes is None:
            return self.selection.choose(
                cut.known_addresses(), exclude=tried, zone=zone, usable_only=usable_only
            )
        tiers = self.routes.plan(cut.zone, cut.known_addresses())
        for tier in tiers[:-1]:
            address = self.selection.choose(tier, exclude=tried, zone=zone, usable_only=True)
            if address is not None:
                return address
        return self.selection.choose(
            [address for tier in tiers for address in tier],
            exclude=tried,
            zone=zone,
            usable_only=usable_only,
        )

    def report_failure(self, error: UpstreamError, zone: dns.name.Name) -> None:
        if isinstance(error, UpstreamTimeout):
            self.selection.report_timeout(error.address)
        elif not isinstance(error, EgressRefused):
            self.selection.report_broken(error.address, str(zone), error.reason)


def _no_server_left(zone: dns.name.Name, failures: list[UpstreamError]) -> ResolutionFailed:
    """The SERVFAIL reason once every server of ``zone`` has failed."""
    if any(isinstance(f, NetworkError) for f in failures):
        code = dns.edns.EDECode.NETWORK_ERROR
    else:
        code = dns.edns.EDECode.NO_REACHABLE_AUTHORITY
    detail = "; ".join(str(f) for f in failures[-4:]) or "no server address known"
    return ResolutionFailed(code, f"no usable server for {zone}: {detail}")
