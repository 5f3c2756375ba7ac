"""The resolver as the server sees it: one ``handle`` call per client query.

``Recursor.handle`` is the ``QueryHandler`` given to ``server.DnsServer``.
Identical questions asked while one resolution is in flight share it (the
upstream sees one query, not one per client). Resolutions run in the
recursor's own service nursery, not in the client's task, so a client that
goes away does not cancel work another client waits for; each resolution has
the time budget of ``Limits.time_budget`` and ends in SERVFAIL with an
Extended DNS Error when it runs out.

Serve-stale (``stale.StaleAnswers``, RFC 8767) happens here, because it is
about time and about clients, not about iteration:

* a failed resolution whose question has stale data ends in the stale
  answer, for every client sharing it;
* every failed resolution is remembered (``failures.FailureCache``, RFC
  9520: 5 s, doubling while it keeps failing, at most 5 minutes; at least
  the failure recheck timer when stale data was served); meanwhile the
  question is answered without a resolution: stale if there is stale data,
  else SERVFAIL with EDE 13 "Cached Error" and the failure's own EDEs;
* a client that has waited ``client_timeout`` gets the stale answer while
  the resolution goes on and refreshes the cache;
* an answer from data in the last 10% of its TTL starts a background
  refresh (prefetch), one per question at a time.

The root key sentinel (RFC 8509, ``sentinel``) is applied here too, last,
to each client's answer: it depends on the client's CD bit, which a shared
resolution does not know. So is DNS64 (RFC 6147, ``dns64``), which asks the
A (or IPv4 PTR) question of a client's AAAA (ip6.arpa PTR) question as a
client would, and the renumbering of answers (``renumber``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import dns.edns
import dns.rcode
import dns.rdatatype
import trio

from resolver.dns64 import Dns64
from resolver.driver import run_exchange
from resolver.exchange import Transport
from resolver.failures import FailureCache
from resolver.iterator import Iterator
from resolver.messages import ClientQuery
from resolver.question import ExtendedError, Outcome, Question
from resolver.renumber import Renumbering
from resolver.sentinel import judge
from resolver.shared_tier import SharedTier
from resolver.stale import StaleAnswers
from resolver.trace import Tracer, TraceSampler

log = logging.getLogger("holdfast.recursor")

#: Outcomes of our own making, not failures of the question: never remembered.
_SHUTDOWN = Outcome.servfail(dns.edns.EDECode.OTHER, "resolver shutting down")
_INTERNAL_ERROR = Outcome.servfail(dns.edns.EDECode.OTHER, "internal error")


@dataclass(slots=True)
class _Flight:
    """One resolution in progress and the clients waiting for it."""

    done: trio.Event = field(default_factory=trio.Event)
    outcome: Outcome | None = None


@dataclass(slots=True)
class RecursorStats:
    """Counters for ``holdfast ctl status``."""

    resolutions: int = 0
    shared: int = 0
    timeouts: int = 0
    servfails: int = 0
    bugs: int = 0
    #: Answers from stale data, for any of the three reasons.
    stale_answers: int = 0
    #: Of those, given because the client response timer ran out.
    stale_on_timer: int = 0
    #: Background refreshes of data near the end of its TTL.
    prefetches: int = 0


class Recursor:
    """Resolves client questions through the iterator, sharing identical ones.

    Args:
        iterator: Resolves questions (and reads the cache for stale data).
        transport: Sends the iterator's upstream queries.
        stale: The serve-stale policy; None serves none.
        failures: Questions whose resolution failed lately (RFC 9520); by
            default one with the default policy on the validator's clock.
        root_key_sentinel: Whether RFC 8509 sentinel names are judged.
        tier: The shared cache tier asked before resolving what the cache
            cannot answer fresh (``shared_tier``); None for none.
        dns64: The DNS64 policy (``[dns64]``); None for no DNS64.
        renumber: Address rewriting for answers (``[renumber]``); None for none.
    """

    def __init__(
        self,
        iterator: Iterator,
        transport: Transport,
        stale: StaleAnswers | None = None,
        *,
        failures: FailureCache[Question] | None = None,
        root_key_sentinel: bool = True,
        tier: SharedTier | None = None,
        dns64: Dns64 | None = None,
        renumber: Renumbering | None = None,
    ) -> None:
        self.iterator = iterator
        self.transport = transport
        self.stale = stale
        self.failures = (
            failures if failures is not None else FailureCache(iterator.validator.clock)
        )
        self.stats = RecursorStats()
        self._inflight: dict[Question, _Flight] = {}
        self._refreshing: set[Question] = set()
        self._nursery: trio.Nursery | None = None
        #: RFC 8509: sentinel names that are false of the root anchors get
        #: SERVFAIL (``sentinel``); per client, as a CD=1 client opts out.
        self.root_key_sentinel = root_key_sentinel
        #: Picks the resolutions traced to the debug log (``[logging] trace_sample``).
        self.trace_sample = TraceSampler()
        self.tier = tier
        self.dns64 = dns64
        self.renumber = renumber

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host resolutions until cancelled; ``handle`` works once this started."""
        async with trio.open_nursery() as nursery:
            if self.tier is not None:
                await nursery.start(self.tier.run)
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    async def handle(self, query: ClientQuery) -> Outcome:
        """Resolve the client's question, joining an identical one in flight."""
        if self.dns64 is None:
            outcome = await self._handle(query)
        else:
            outcome = await self._with_dns64(query, self.dns64)
        if self.renumber is not None:
            outcome = self.renumber.apply(outcome)
        if not self.root_key_sentinel:
            return outcome
        anchors = self.iterator.validator.anchors
        return judge(query.question, outcome, cd=query.cd, anchors=anchors)

    async def _with_dns64(self, query: ClientQuery, dns64: Dns64) -> Outcome:
        """The answer with DNS64: the questions ``dns64`` calls for, then its synthesis."""
        question = query.question
        target = dns64.ptr_target(question)
        if target is not None:
            ptr = await self._handle(replace(query, question=Question(target, question.rdtype)))
            return dns64.ptr_answer(question, target, ptr)
        if not dns64.synthesises(question, cd=query.cd):
            return await self._handle(query)
        aaaa = await self._handle(query) if dns64.asks_aaaa(question) else None
        if aaaa is not None and not dns64.needs_a(aaaa):
            return aaaa
        a_question = Question(question.name, dns.rdatatype.A)
        a = await self._handle(replace(query, question=a_question))
        synthesised = dns64.synthesise(aaaa, a)
        if synthesised is not None:
            return synthesised
        return aaaa if aaaa is not None else await self._handle(query)

    async def _handle(self, query: ClientQuery) -> Outcome:
        if self._nursery is None:
            raise RuntimeError("Recursor.handle() called before Recursor.run() started")
        question = query.question
        reasons = self.failures.recent(question)
        if reasons is not None:
            stale = self._stale_answer(question, "refresh failed recently", reasons)
            return stale if stale is not None else _cached_failure(reasons)
        flight = self._inflight.get(question)
        if flight is None:
            flight = self._inflight[question] = _Flight()
            self._nursery.start_soon(self._resolve, question, flight)
        else:
            self.stats.shared += 1
        if self.stale is not None and self.stale.policy.enabled:
            with trio.move_on_after(self.stale.policy.client_timeout):
                await flight.done.wait()
            if flight.outcome is None:
                timeout = self.stale.policy.client_timeout
                stale = self._stale_answer(question, f"no fresh answer within {timeout:g} s")
                if stale is not None:
                    self.stats.stale_on_timer += stale.stale
                    return stale
        await flight.done.wait()
        assert flight.outcome is not None
        return flight.outcome

    async def ask_upstream(self, question: Question) -> Outcome:
        """Resolve ``question`` past the cache, for the resolver's own signals (RFC 8145)."""
        return await self._run(question, refresh=True)

    async def _resolve(self, question: Question, flight: _Flight) -> None:
        self.stats.resolutions += 1
        outcome = _SHUTDOWN
        try:
            outcome = await self._run(question, refresh=False)
        finally:
            del self._inflight[question]
            flight.outcome = self._settle(question, outcome)
            flight.done.set()
        if outcome.expiring:
            self._prefetch(question)

    async def resolve_traced(
        self, question: Question, iterator: Iterator, trace: Tracer
    ) -> Outcome:
        """Resolve ``question`` through ``iterator``, telling ``trace`` each step.

        For ``holdfast ctl trace`` (``trace_command``): not shared with the
        clients' resolutions of the same question, no stale answer.
        """
        return await self._run(question, refresh=False, iterator=iterator, trace=trace)

    async def _run(
        self,
        question: Question,
        *,
        refresh: bool,
        iterator: Iterator | None = None,
        trace: Tracer | None = None,
    ) -> Outcome:
        """One resolution within the time budget; every failure becomes an ``Outcome``."""
        iterator = iterator or self.iterator
        if trace is None:
            trace = self.trace_sample.tracer_for(question)
        budget = iterator.limits.time_budget
        try:
            with trio.move_on_after(budget):
                if self.tier is not None and not refresh and iterator is self.iterator:
                    cached = iterator.cached(question)
                    if cached is None or cached.stale:
                        await self.tier.fill(question.name, question.rdtype)
                resolution = iterator.resolve(question, refresh=refresh, trace=trace)
                return await run_exchange(resolution, self.transport)
            self.stats.timeouts += 1
            return Outcome.servfail(
                dns.edns.EDECode.NO_REACHABLE_AUTHORITY,
                f"no answer for {question} within the {budget:g} s time budget",
            )
        except Exception:
            # A bug, not a DNS failure: keep serving, say so loudly.
            self.stats.bugs += 1
            log.exception("internal error while resolving %s", question)
            return _INTERNAL_ERROR

    def _settle(self, question: Question, outcome: Outcome) -> Outcome:
        """The outcome to give: a failure becomes the stale answer, if there is one."""
        if not outcome.failed:
            self.failures.succeeded(question)
            return outcome
        stale = self._stale_answer(question, "resolution failed", outcome.errors)
        # BOGUS data is remembered by the cache itself (bogus_ttl); a stale
        # answer holds at least the RFC 8767 failure recheck time.
        if outcome.rcode == dns.rcode.SERVFAIL and not _of_our_making(outcome):
            recheck = 0.0
            if stale is not None and stale.stale and self.stale is not None:
                recheck = self.stale.policy.failure_recheck
            self.failures.failed(question, outcome.errors, at_least=recheck)
        if stale is not None:
            return stale
        if outcome.rcode == dns.rcode.SERVFAIL:
            self.stats.servfails += 1
            log.debug("SERVFAIL for %s: %s", question,
                      "; ".join(error.text for error in outcome.errors) or "no reason given")
        return outcome

    def _stale_answer(
        self, question: Question, why: str, reasons: tuple[ExtendedError, ...] = ()
    ) -> Outcome | None:
        """The stale answer for ``question``, if serve-stale is on and the cache has one.

        Data that became fresh meanwhile (another resolution stored it) is
        given as it is.
        """
        if self.stale is None or not self.stale.policy.enabled:
            return None
        cached = self.iterator.cached(question)
        if cached is None or not cached.stale:
            return cached
        self.stats.stale_answers += 1
        return self.stale.answer(cached, why, reasons)

    def _prefetch(self, question: Question) -> None:
        """Refresh ``question`` in the background (one refresh per question at a time)."""
        if (
            self.stale is None
            or not self.stale.policy.prefetch
            or question in self._refreshing
            or self._nursery is None
        ):
            return
        self._refreshing.add(question)
        self.stats.prefetches += 1
        self._nursery.start_soon(self._refresh, question)

    async def _refresh(self, question: Question) -> None:
        try:
            outcome = await self._run(question, refresh=True)
        finally:
            self._refreshing.discard(question)
        if not outcome.failed:
            self.failures.succeeded(question)


def _cached_failure(reasons: tuple[ExtendedError, ...]) -> Outcome:
    """SERVFAIL from the failure memory: EDE 13 "Cached Error", then why it failed."""
    cached = ExtendedError(dns.edns.EDECode.CACHED_ERROR, "resolution failed recently (RFC 9520)")
    return Outcome(rcode=dns.rcode.SERVFAIL, errors=(cached, *reasons))


def _of_our_making(outcome: Outcome) -> bool:
    """Whether ``outcome`` is a shutdown or a bug of ours, not a failure of the question."""
    return outcome is _SHUTDOWN or outcome is _INTERNAL_ERROR
