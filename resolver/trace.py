"""What one resolution did, step by step: the per-query trace (issue 19, item 2).

A SERVFAIL used to leave only its EDE text: the iterator, the validator, the
classifier and the cache log nothing. The iterator now calls a ``Tracer`` at
the points where it decides something (the zone cut, the server, the
question sent, the reply's class and what scrubbing dropped, the validator's
verdict with the key tags, what it cached, the final rcode and EDE). One
line per hook, so the iterator keeps its shape.

Two tracers:

* ``NO_TRACE``, the default for every client query: each hook is an empty
  method, so a query that is not traced pays one call per step and builds
  nothing (``bench/quick_qps.py`` measures the cached path with it).
* ``Recorder``: turns each hook into a typed event (the dataclasses below),
  kept for ``holdfast ctl trace`` and the tests, and optionally echoed line
  by line to a log (``TraceSampler``, ``[logging] trace_sample``), so a
  sampled production query can be followed in the debug log.

Peers: Knot Resolver's ``policy.TRACE``/``DEBUG_ALWAYS`` log every step of
one request at debug level, and ``unbound-control lookup`` shows the
delegation and the servers' RTT state; this shows both and the validator's
reasons. Sans-I/O: the events are plain values, the recorder takes lines
to a callback.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import dns.dnssec
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from dnssec.status import ExtendedError, Security
from resolver.classify import Classified, ReplyKind
from resolver.errors import UpstreamError
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.question import Outcome, Question
from resolver.routes import RouteTable
from resolver.selection import RTT_BAND, BrokenMark, ServerSelection
from resolver.validation import Evidence, Validator, Verdict

#: The debug log category of sampled traces.
TRACE_LOGGER = "holdfast.trace"
log = logging.getLogger(TRACE_LOGGER)
#: NS names shown for a cut or a referral; the rest are counted.
SHOWN_NS = 3


class Cut(Protocol):
    """A zone cut as the iterator holds it (``plan.ZoneCut``)."""

    zone: dns.name.Name
    ns: tuple[dns.name.Name, ...]

    def known_addresses(self) -> list[str]: ...


class Plan(Protocol):
    """What the trace needs of a query's plan (``plan.QueryBudget``): its printable state."""

    def describe(self) -> list[str]: ...


class Tracer(Protocol):
    """The hooks the iterator calls; see ``Recorder`` for what each one means."""

    def cut(self, name: dns.name.Name, rdtype: int, cut: Cut) -> None: ...
    def from_cache(
        self, name: dns.name.Name, rdtype: int, rcode: dns.rcode.Rcode, security: Security
    ) -> None: ...
    def chose(
        self,
        cut: Cut,
        address: str,
        tried: Collection[str],
        selection: ServerSelection,
        routes: RouteTable | None,
    ) -> None: ...
    def sent(self, query: UpstreamQuery, result: UpstreamReply | UpstreamError) -> None: ...
    def heard(self, address: str, reply: Classified | None, reason: str) -> None: ...
    def referral(self, address: str, reply: Classified, cut: Cut) -> None: ...
    def evidence(
        self, name: dns.name.Name, rdtype: int, evidence: Evidence, *, cached: bool
    ) -> None: ...
    def judged(
        self,
        zone: dns.name.Name,
        address: str,
        verdict: Verdict,
        signatures: Sequence[dns.rrset.RRset],
        validator: Validator,
    ) -> None: ...
    def cached(self, rrset: dns.rrset.RRset, security: Security) -> None: ...
    def cached_negative(
        self, name: dns.name.Name, rdtype: int, nxdomain: bool, security: Security
    ) -> None: ...
    def planned(self, plan: Plan) -> None: ...
    def finished(self, outcome: Outcome) -> None: ...


class NoTrace:
    """The tracer of an untraced query: every hook does nothing."""

    __slots__ = ()

    def cut(self, name: dns.name.Name, rdtype: int, cut: Cut) -> None:
        pass

    def from_cache(
        self, name: dns.name.Name, rdtype: int, rcode: dns.rcode.Rcode, security: Security
    ) -> None:
        pass

    def chose(
        self,
        cut: Cut,
        address: str,
        tried: Collection[str],
        selection: ServerSelection,
        routes: RouteTable | None,
    ) -> None:
        pass

    def sent(self, query: UpstreamQuery, result: UpstreamReply | UpstreamError) -> None:
        pass

    def heard(self, address: str, reply: Classified | None, reason: str) -> None:
        pass

    def referral(self, address: str, reply: Classified, cut: Cut) -> None:
        pass

    def evidence(
        self, name: dns.name.Name, rdtype: int, evidence: Evidence, *, cached: bool
    ) -> None:
        pass

    def judged(
        self,
        zone: dns.name.Name,
        address: str,
        verdict: Verdict,
        signatures: Sequence[dns.rrset.RRset],
        validator: Validator,
    ) -> None:
        pass

    def cached(self, rrset: dns.rrset.RRset, security: Security) -> None:
        pass

    def cached_negative(
        self, name: dns.name.Name, rdtype: int, nxdomain: bool, security: Security
    ) -> None:
        pass

    def planned(self, plan: Plan) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        pass


NO_TRACE = NoTrace()


# -- the events -------------------------------------------------------------


def _type(rdtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


def _names(names: Sequence[dns.name.Name]) -> str:
    shown = " ".join(str(name) for name in names[:SHOWN_NS])
    more = len(names) - SHOWN_NS
    return f"{shown} +{more} more" if more > 0 else shown


def _errors(errors: Sequence[ExtendedError]) -> str:
    return "".join(f"; EDE {error.code}: {error.text}" for error in errors)


@dataclass(frozen=True, slots=True)
class CutChosen:
    """The closest known zone cut for a name, where asking starts."""

    name: dns.name.Name
    rdtype: int
    zone: dns.name.Name
    ns: tuple[dns.name.Name, ...]
    addresses: int

    def text(self) -> str:
        return (
            f"cut for {self.name} {_type(self.rdtype)}: {self.zone} "
            f"(NS {_names(self.ns)}; {self.addresses} addresses known)"
        )


@dataclass(frozen=True, slots=True)
class CacheAnswered:
    """A name answered from validated cached data (or cached NSEC, RFC 8198)."""

    name: dns.name.Name
    rdtype: int
    rcode: dns.rcode.Rcode
    security: Security

    def text(self) -> str:
        return (
            f"from cache: {self.name} {_type(self.rdtype)} "
            f"{dns.rcode.to_text(self.rcode)} {self.security.value}"
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One server address of a cut as selection saw it when one was chosen."""

    address: str
    rto: float
    srtt: float | None
    #: Why it is avoided for the zone ("" when usable): down, broken, held down.
    avoided: str
    tried: bool
    #: Left out by an operator route.
    unrouted: bool = False

    def text(self) -> str:
        srtt = "unmeasured" if self.srtt is None else f"srtt {self.srtt * 1000:.0f} ms"
        notes = [
            f"rto {self.rto * 1000:.0f} ms",
            srtt,
            *([self.avoided] if self.avoided else []),
            *(["tried"] if self.tried else []),
            *(["not in the route"] if self.unrouted else []),
        ]
        return f"{self.address} ({', '.join(notes)})"


@dataclass(frozen=True, slots=True)
class ServerChosen:
    """The server asked next among a cut's addresses, and why that one."""

    zone: dns.name.Name
    address: str
    why: str
    candidates: tuple[Candidate, ...]

    def text(self) -> str:
        considered = "; ".join(candidate.text() for candidate in self.candidates)
        return f"server for {self.zone}: {self.address}, {self.why} [considered {considered}]"


@dataclass(frozen=True, slots=True)
class QuerySent:
    """One upstream query and what came of it (a reply and its RTT, or the error)."""

    address: str
    qname: dns.name.Name
    rdtype: int
    tcp: bool
    edns: bool
    timeout: float
    result: str

    def text(self) -> str:
        how = ("tcp" if self.tcp else "udp") + (", edns" if self.edns else ", no edns")
        return (
            f"ask {self.address} {self.qname} {_type(self.rdtype)} ({how}, timeout "
            f"{self.timeout * 1000:.0f} ms): {self.result}"
        )


@dataclass(frozen=True, slots=True)
class ReplyHeard:
    """A reply's class (``classify``) and what scrubbing dropped from it, by rule."""

    address: str
    kind: ReplyKind | None
    reason: str
    dropped: tuple[tuple[str, int], ...]

    def text(self) -> str:
        kind = self.kind.value if self.kind is not None else "unusable"
        reason = f" ({self.reason})" if self.reason else ""
        scrubbed = ", ".join(f"{count} {rule}" for rule, count in self.dropped)
        return f"reply from {self.address}: {kind}{reason}; scrubbed: {scrubbed or 'nothing'}"


@dataclass(frozen=True, slots=True)
class ReferralFollowed:
    """A delegation followed; its NS, glue and DS were cached (unjudged)."""

    address: str
    zone: dns.name.Name
    ns: tuple[dns.name.Name, ...]
    glue: int
    ds: bool

    def text(self) -> str:
        ds = "DS" if self.ds else "no DS"
        return (
            f"referral from {self.address} to {self.zone}: NS {_names(self.ns)}, "
            f"{self.glue} glue RRsets, {ds}; cached as referral data"
        )


@dataclass(frozen=True, slots=True)
class KeysFetched:
    """DS or DNSKEY records fetched for the validator, with their key tags."""

    name: dns.name.Name
    rdtype: int
    source: str
    tags: tuple[int, ...]
    negative: bool
    cached: bool

    def text(self) -> str:
        found = "none (denied)" if self.negative else f"key tags {_tags(self.tags)}"
        where = "from cache" if self.cached else f"from {self.source}, cached unjudged"
        return f"keys: {self.name} {_type(self.rdtype)}: {found}, {where}"


@dataclass(frozen=True, slots=True)
class KeyVerdict:
    """The chain of trust's verdict on one zone's keys."""

    zone: dns.name.Name
    security: Security
    tags: tuple[int, ...]
    entry_tags: tuple[int, ...]
    reason: str

    def text(self) -> str:
        tags = f" keys {_tags(self.tags)}" if self.tags else ""
        entry = f" (entry {_tags(self.entry_tags)})" if self.entry_tags else ""
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.zone} {self.security.value}{tags}{entry}{reason}"


@dataclass(frozen=True, slots=True)
class Judged:
    """The validator's verdict on one authoritative reply, with the keys it used."""

    zone: dns.name.Name
    address: str
    security: Security
    errors: tuple[ExtendedError, ...]
    blamed: bool
    #: The key tags the reply's RRSIGs name.
    signed_with: tuple[int, ...]
    #: The zone's keys and its ancestors', as the validator holds them now.
    chain: tuple[KeyVerdict, ...]

    def text(self) -> str:
        signed = f"RRSIG key tags {_tags(self.signed_with)}" if self.signed_with else "unsigned"
        chain = "; ".join(keys.text() for keys in self.chain) or "none"
        blame = ", the server is blamed" if self.blamed else ""
        return (
            f"verdict on the reply from {self.address} ({self.zone}): {self.security.value}"
            f"{blame}; {signed}; keys: {chain}{_errors(self.errors)}"
        )


@dataclass(frozen=True, slots=True)
class Cached:
    """An answer or a negative answer cached with its verdict."""

    name: dns.name.Name
    rdtype: int
    security: Security
    #: "records", "NXDOMAIN" or "NODATA".
    what: str
    ttl: int | None = None

    def text(self) -> str:
        ttl = f", TTL {self.ttl}" if self.ttl is not None else ""
        return (
            f"cached {self.what} {self.name} {_type(self.rdtype)} {self.security.value}{ttl}"
        )


@dataclass(frozen=True, slots=True)
class Finished:
    """How the resolution ended: the rcode, the security and the EDEs the client gets."""

    rcode: dns.rcode.Rcode
    security: Security
    errors: tuple[ExtendedError, ...]
    records: int

    def text(self) -> str:
        return (
            f"result: {dns.rcode.to_text(self.rcode)} {self.security.value}, "
            f"{self.records} answer RRsets{_errors(self.errors)}"
        )


Event = (
    CutChosen
    | CacheAnswered
    | ServerChosen
    | QuerySent
    | ReplyHeard
    | ReferralFollowed
    | KeysFetched
    | Judged
    | Cached
    | Finished
)


def _tags(tags: Sequence[int]) -> str:
    return " ".join(str(tag) for tag in tags)


# -- recording ----------------------------------------------------------------


class Recorder:
    """A tracer that records each step as an ``Event``.

    Args:
        echo: Called with each event's line as it happens (the debug log of
            a sampled query); the events are then not kept, so a long
            resolution costs no memory.
    """

    def __init__(self, echo: Callable[[Event], None] | None = None) -> None:
        self.events: list[Event] = []
        #: The plan's final state (``plan.QueryBudget.describe``): questions and budget.
        self.plan: list[str] = []
        self._echo = echo

    def lines(self) -> list[str]:
        """The recorded events, one line each, in order."""
        return [event.text() for event in self.events]

    def _emit(self, event: Event) -> None:
        if self._echo is None:
            self.events.append(event)
        else:
            self._echo(event)

    def cut(self, name: dns.name.Name, rdtype: int, cut: Cut) -> None:
        self._emit(CutChosen(name, rdtype, cut.zone, cut.ns, len(cut.known_addresses())))

    def from_cache(
        self, name: dns.name.Name, rdtype: int, rcode: dns.rcode.Rcode, security: Security
    ) -> None:
        self._emit(CacheAnswered(name, rdtype, rcode, security))

    def chose(
        self,
        cut: Cut,
        address: str,
        tried: Collection[str],
        selection: ServerSelection,
        routes: RouteTable | None,
    ) -> None:
        addresses = cut.known_addresses()
        tiers = routes.plan(cut.zone, addresses) if routes is not None else (tuple(addresses),)
        routed = {a for tier in tiers for a in tier}
        zone = str(cut.zone).lower()
        candidates = tuple(
            Candidate(
                a,
                stats.rto,
                stats.srtt,
                _avoided(stats.down, [m for m in stats.broken if m.zone == zone]),
                a in tried,
                unrouted=a not in routed,
            )
            for a in dict.fromkeys([*addresses, *routed])
            for stats in (selection.describe(a),)
        )
        self._emit(ServerChosen(cut.zone, address, _why(address, candidates, tiers), candidates))

    def sent(self, query: UpstreamQuery, result: UpstreamReply | UpstreamError) -> None:
        if isinstance(result, UpstreamError):
            outcome = f"failed: {result.reason}"
        else:
            transport = " over tcp" if result.tcp and not query.tcp else ""
            outcome = (
                f"{dns.rcode.to_text(result.message.rcode())} in "
                f"{result.rtt * 1000:.0f} ms{transport}"
            )
        self._emit(
            QuerySent(
                query.address, query.qname, query.rdtype, query.tcp, query.edns, query.timeout,
                outcome,
            )
        )

    def heard(self, address: str, reply: Classified | None, reason: str) -> None:
        kind = reply.kind if reply is not None else None
        dropped = tuple(sorted(reply.dropped.items())) if reply is not None else ()
        self._emit(ReplyHeard(address, kind, reason, dropped))

    def referral(self, address: str, reply: Classified, cut: Cut) -> None:
        ds = any(rrset.rdtype == dns.rdatatype.DS for rrset in reply.authority)
        self._emit(ReferralFollowed(address, cut.zone, cut.ns, len(reply.glue), ds))

    def evidence(
        self, name: dns.name.Name, rdtype: int, evidence: Evidence, *, cached: bool
    ) -> None:
        rrset = evidence.rrset
        tags: tuple[int, ...] = ()
        if rrset is not None and rrset.rdtype == dns.rdatatype.DS:
            tags = tuple(rdata.key_tag for rdata in rrset)
        elif rrset is not None:
            tags = tuple(dns.dnssec.key_id(rdata) for rdata in rrset)
        self._emit(
            KeysFetched(name, rdtype, evidence.source or "?", tags, rrset is None, cached)
        )

    def judged(
        self,
        zone: dns.name.Name,
        address: str,
        verdict: Verdict,
        signatures: Sequence[dns.rrset.RRset],
        validator: Validator,
    ) -> None:
        signed_with = tuple(sorted({rdata.key_tag for rrsig in signatures for rdata in rrsig}))
        chain = []
        for ancestor in _ancestors(zone):
            keys = validator.keys.get(ancestor)
            if keys is not None:
                chain.append(
                    KeyVerdict(
                        ancestor,
                        keys.security,
                        tuple(key.tag for key in keys.keys),
                        tuple(key.tag for key in keys.entry_keys),
                        keys.error.text if keys.error is not None else "",
                    )
                )
        self._emit(
            Judged(
                zone, address, verdict.security, verdict.errors, verdict.blame is not None,
                signed_with, tuple(chain),
            )
        )

    def cached(self, rrset: dns.rrset.RRset, security: Security) -> None:
        self._emit(Cached(rrset.name, rrset.rdtype, security, "records", rrset.ttl))

    def cached_negative(
        self, name: dns.name.Name, rdtype: int, nxdomain: bool, security: Security
    ) -> None:
        self._emit(Cached(name, rdtype, security, "NXDOMAIN" if nxdomain else "NODATA"))

    def planned(self, plan: Plan) -> None:
        self.plan = plan.describe()

    def finished(self, outcome: Outcome) -> None:
        self._emit(Finished(outcome.rcode, outcome.security, outcome.errors, len(outcome.answer)))


def _avoided(down: bool, marks: Sequence[BrokenMark]) -> str:
    """Why selection avoids a server for the zone: down, held down or broken ("" if not)."""
    reasons = ["down after timeouts"] if down else []
    reasons += [f"{'held down' if m.holddown else 'broken'}: {m.reason}" for m in marks]
    return "; ".join(reasons)


def _why(
    address: str, candidates: Sequence[Candidate], tiers: Sequence[Sequence[str]]
) -> str:
    """Why selection picked ``address`` among ``candidates`` (``ServerSelection.choose``)."""
    chosen = next(c for c in candidates if c.address == address)
    if chosen.avoided:
        return "every untried server is avoided: the one usable soonest"
    if len(tiers) > 1 and address in tiers[0]:
        return "preferred by the operator route"
    usable = [c for c in candidates if not c.avoided and not c.tried and not c.unrouted]
    if len(usable) <= 1:
        return "the only usable server not tried yet"
    best = min(c.rto for c in usable)
    return (
        f"rto within {RTT_BAND * 1000:.0f} ms of the best ({best * 1000:.0f} ms): "
        f"random pick among {sum(c.rto <= best + RTT_BAND for c in usable)} in the band"
    )


def _ancestors(zone: dns.name.Name) -> list[dns.name.Name]:
    """``zone`` and every zone above it, up to the root."""
    found = [zone]
    while found[-1] != dns.name.root:
        found.append(found[-1].parent())
    return found


# -- sampling into the debug log ----------------------------------------------


class TraceSampler:
    """Picks the client resolutions whose steps go to the debug log (``holdfast.trace``).

    Args:
        rate: The share of resolutions traced, 0 to 1 (``[logging] trace_sample``).
        rng: Randomness for the draw (tests pass a seeded one).
    """

    def __init__(self, rate: float = 0.0, rng: random.Random | None = None) -> None:
        self.rate = rate
        self._rng = rng if rng is not None else random.Random()
        self._ids = itertools.count(1)

    def tracer_for(self, question: Question) -> Tracer:
        """A logging tracer for a sampled resolution, ``NO_TRACE`` for the others.

        Nothing is drawn when the rate is 0 or the debug level is off: the
        lines would go nowhere.
        """
        if not self.rate or not log.isEnabledFor(logging.DEBUG):
            return NO_TRACE
        if self._rng.random() >= self.rate:
            return NO_TRACE
        trace = next(self._ids)
        return Recorder(echo=lambda event: _log_step(trace, question, event))


def _log_step(trace: int, question: Question, event: Event) -> None:
    log.debug(
        "trace %d %s: %s", trace, question, event.text(),
        extra={"event": "trace_step", "trace": trace, "step": type(event).__name__},
    )
