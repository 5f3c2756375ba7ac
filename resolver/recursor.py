"""The resolver as the server sees it: one ``handle`` call per client query.

``Recursor.handle`` is the ``QueryHandler`` given to ``server.DnsServer``.
Identical questions asked while one resolution is in flight share it (the
upstream sees one query, not one per client). Resolutions run in the
recursor's own service nursery, not in the client's task, so a client that
goes away does not cancel work another client waits for; each resolution has
the time budget of ``Limits.time_budget`` and ends in SERVFAIL with an
Extended DNS Error when it runs out.
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
from resolver.question import Outcome, Question

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


class Recursor:
    """Resolves client questions through the iterator, sharing identical ones."""

    def __init__(self, iterator: Iterator, transport: Transport) -> None:
        self.iterator = iterator
        self.transport = transport
        self.stats = RecursorStats()
        self._inflight: dict[Question, _Flight] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host resolutions until cancelled; ``handle`` works once this started."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    async def handle(self, query: ClientQuery) -> Outcome:
        """Resolve the client's question, joining an identical one in flight."""
        if self._nursery is None:
            raise RuntimeError("Recursor.handle() called before Recursor.run() started")
        question = query.question
        flight = self._inflight.get(question)
        if flight is None:
            flight = self._inflight[question] = _Flight()
            self._nursery.start_soon(self._resolve, question, flight)
        else:
            self.stats.shared += 1
        await flight.done.wait()
        assert flight.outcome is not None
        return flight.outcome

    async def _resolve(self, question: Question, flight: _Flight) -> None:
        budget = self.iterator.limits.time_budget
        self.stats.resolutions += 1
        outcome = Outcome.servfail(dns.edns.EDECode.OTHER, "resolver shutting down")
        try:
            with trio.move_on_after(budget) as scope:
                outcome = await run_exchange(self.iterator.resolve(question), self.transport)
            if scope.cancelled_caught:
                self.stats.timeouts += 1
                outcome = Outcome.servfail(
                    dns.edns.EDECode.NO_REACHABLE_AUTHORITY,
                    f"no answer for {question} within the {budget:g} s time budget",
                )
        except Exception:
            # A bug, not a DNS failure: keep serving, say so loudly.
            self.stats.bugs += 1
            log.exception("internal error while resolving %s", question)
            outcome = Outcome.servfail(dns.edns.EDECode.OTHER, "internal error")
        finally:
            if outcome.rcode == dns.rcode.SERVFAIL:
                self.stats.servfails += 1
                log.debug("SERVFAIL for %s: %s", question,
                          "; ".join(error.text for error in outcome.errors) or "no reason given")
            del self._inflight[question]
            flight.outcome = outcome
            flight.done.set()
