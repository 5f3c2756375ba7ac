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
  answer, for every client sharing it, and starts the failure recheck timer;
* during that timer the question is answered stale without a resolution;
* a client that has waited ``client_timeout`` gets the stale answer while
  the resolution goes on and refreshes the cache;
* an answer from data in the last 10% of its TTL starts a background
  refresh (prefetch), one per question at a time.

The root key sentinel (RFC 8509, ``sentinel``) is applied here too, last,
to each client's answer: it depends on the client's CD bit, which a shared
resolution does not know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import dns.edns
import dns.rcode
import trio

from resolver.driver import run_exchange
from resolver.exchange import Transport
from resolver.iterator import Iterator
from resolver.messages import ClientQuery
from resolver.question import ExtendedError, Outcome, Question
from resolver.sentinel import judge
from resolver.shared_tier import SharedTier
from resolver.stale import StaleAnswers

log = logging.getLogger("holdfast.recursor")


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
        stale: The serve-stale policy and failure memory; None serves none.
        root_key_sentinel: Whether RFC 8509 sentinel names are judged.
        tier: The shared cache tier asked before resolving what the cache
            cannot answer fresh (``shared_tier``); None for none.
    """

    def __init__(
        self,
        iterator: Iterator,
        transport: Transport,
        stale: StaleAnswers | None = None,
        *,
        root_key_sentinel: bool = True,
        tier: SharedTier | None = None,
    ) -> None:
        self.iterator = iterator
        self.transport = transport
        self.stale = stale
        self.stats = RecursorStats()
        self._inflight: dict[Question, _Flight] = {}
        self._refreshing: set[Question] = set()
        self._nursery: trio.Nursery | None = None
        #: RFC 8509: sentinel names that are false of the root anchors get
        #: SERVFAIL (``sentinel``); per client, as a CD=1 client opts out.
        self.root_key_sentinel = root_key_sentinel
        self.tier = tier

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
        outcome = await self._handle(query)
        if not self.root_key_sentinel:
            return outcome
        anchors = self.iterator.validator.anchors
        return judge(query.question, outcome, cd=query.cd, anchors=anchors)

    async def _handle(self, query: ClientQuery) -> Outcome:
        if self._nursery is None:
            raise RuntimeError("Recursor.handle() called before Recursor.run() started")
        question = query.question
        if self.stale is not None:
            reasons = self.stale.recent_failure(question)
            if reasons is not None:
                stale = self._stale_answer(question, "refresh failed recently", reasons)
                if stale is not None:
                    return stale
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

    async def _resolve(self, question: Question, flight: _Flight) -> None:
        self.stats.resolutions += 1
        outcome = Outcome.servfail(dns.edns.EDECode.OTHER, "resolver shutting down")
        try:
            outcome = await self._run(question, refresh=False)
        finally:
            del self._inflight[question]
            flight.outcome = self._settle(question, outcome)
            flight.done.set()
        if outcome.expiring:
            self._prefetch(question)

    async def _run(self, question: Question, *, refresh: bool) -> Outcome:
        """One resolution within the time budget; every failure becomes an ``Outcome``."""
        budget = self.iterator.limits.time_budget
        try:
            with trio.move_on_after(budget):
                if self.tier is not None and not refresh:
                    cached = self.iterator.cached(question)
                    if cached is None or cached.stale:
                        await self.tier.fill(question.name, question.rdtype)
                resolution = self.iterator.resolve(question, refresh=refresh)
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
            return Outcome.servfail(dns.edns.EDECode.OTHER, "internal error")

    def _settle(self, question: Question, outcome: Outcome) -> Outcome:
        """The outcome to give: a failure becomes the stale answer, if there is one."""
        if not outcome.failed:
            if self.stale is not None:
                self.stale.refreshed(question)
            return outcome
        stale = self._stale_answer(question, "resolution failed", outcome.errors)
        if stale is not None:
            if stale.stale:
                assert self.stale is not None
                self.stale.failed(question, outcome.errors)
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
        if not outcome.failed and self.stale is not None:
            self.stale.refreshed(question)
