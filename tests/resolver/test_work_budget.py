"""One client query's work is bounded however its work is spent (issue 16, item 1).

The glueless fan-out is a reply kind of the scripted hostile authority: a
referral to N NS names without glue, each of whose zones refers the same way
one level deeper. Before the work budget, N=5 held the event loop for 7 s
from the cache while sending six packets; the tests assert CPU, wall time
and the longest stretch the loop was held, not only the packets.
"""

from __future__ import annotations

import time

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio

from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import UpstreamQuery
from resolver.iterator import Iterator
from resolver.limits import Limits
from resolver.question import Outcome, Question
from resolver.selection import ServerSelection
from tests.resolver.test_iterator_limits import HINTS, ScriptedTransport, _reply, unanchored

FAN = dns.name.from_text("fan.")


def fan_out(width: int) -> ScriptedTransport:
    """The hostile authority: ``fan.`` refers ``l{k}.fan.`` to ``n{i}.l{k+1}.fan.``, no glue."""
    levels: dict[int, dns.rrset.RRset] = {}

    def script(query: UpstreamQuery) -> dns.message.Message:
        message = _reply(query, aa=False)
        if query.address.startswith("127.53.0."):
            message.authority.append(dns.rrset.from_text(FAN, 300, "IN", "NS", "ns.fan."))
            message.additional.append(dns.rrset.from_text("ns.fan.", 300, "IN", "A", "127.53.1.1"))
            return message
        relative = query.qname.relativize(FAN).labels
        level = next(int(label[1:]) for label in reversed(relative) if label.startswith(b"l"))
        if level not in levels:
            names = [f"n{i}.l{level + 1}.fan." for i in range(width)]
            levels[level] = dns.rrset.from_text(f"l{level}.fan.", 300, "IN", "NS", *names)
        message.authority.append(levels[level])
        return message

    return ScriptedTransport(script)


def iterator(clock: FakeClock, limits: Limits | None = None, **kwargs: object) -> Iterator:
    cache = Cache(clock)
    return Iterator(
        cache=cache,
        selection=ServerSelection(clock),
        hints=HINTS,
        limits=limits or Limits(),
        validator=unanchored(cache, clock),
        qname_minimisation=False,
        **kwargs,  # type: ignore[arg-type]
    )


class LongestStep(trio.abc.Instrument):
    """The longest time one task ran without giving the event loop back."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started: float | None = None  # added mid-step: the first step is not timed

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._started is not None:
            self.longest = max(self.longest, time.perf_counter() - self._started)


async def ask(resolver: Iterator, transport: ScriptedTransport, name: str) -> Outcome:
    question = Question(dns.name.from_text(name), dns.rdatatype.A)
    return await run_exchange(resolver.resolve(question), transport)


@pytest.mark.parametrize("width", [5, 7, 50, 1000])
async def test_glueless_fan_out_costs_bounded_cpu_wall_time_and_loop_time(width: int) -> None:
    steps = LongestStep()
    trio.lowlevel.add_instrument(steps)
    transport = fan_out(width)
    wall, cpu = time.monotonic(), time.process_time()
    try:
        outcome = await ask(iterator(FakeClock()), transport, "www.l0.fan.")
    finally:
        trio.lowlevel.remove_instrument(steps)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert len(transport.sent) <= Limits().max_upstream_queries
    # Generous for a shared CI machine; the unbounded iterator took 7 s (N=5).
    assert cpu < 1.0
    assert wall < 3.0
    assert steps.longest < 0.25


async def test_ns_lookups_are_counted_even_when_answered_from_memory() -> None:
    outcome = await ask(
        iterator(FakeClock(), Limits(max_ns_lookups=3)), fan_out(5), "www.l0.fan."
    )
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert "3 NS address lookups" in outcome.errors[0].text


async def test_time_budget_is_enforced_with_no_packet_in_flight() -> None:
    ticks = iter(range(1_000_000))
    resolver = iterator(
        FakeClock(),
        Limits(max_ns_lookups=100_000, max_ns_lookups_per_zone=100, time_budget=50.0),
        timer=lambda: float(next(ticks)),  # one "second" per look at the clock
    )
    outcome = await ask(resolver, fan_out(5), "www.l0.fan.")
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert "time budget" in outcome.errors[0].text


def dead_ns_authority() -> ScriptedTransport:
    """``dead.`` is served by ``ns.gone.``, a name that does not exist."""

    def script(query: UpstreamQuery) -> dns.message.Message:
        if query.qname.is_subdomain(dns.name.from_text("gone.")):
            return _reply(query, aa=True, rcode=dns.rcode.NXDOMAIN)
        message = _reply(query, aa=False)
        message.authority.append(dns.rrset.from_text("dead.", 300, "IN", "NS", "ns.gone."))
        return message

    return ScriptedTransport(script)


async def test_a_failed_ns_lookup_is_remembered_briefly_across_queries() -> None:
    clock = FakeClock()
    resolver = iterator(clock)
    transport = dead_ns_authority()

    def lookups() -> int:
        return sum(query.qname == dns.name.from_text("ns.gone.") for query in transport.sent)

    assert (await ask(resolver, transport, "a.dead.")).rcode == dns.rcode.SERVFAIL
    first = lookups()
    assert first > 0
    assert (await ask(resolver, transport, "b.dead.")).rcode == dns.rcode.SERVFAIL
    assert lookups() == first  # remembered: not asked again
    clock.advance(6)  # past FAILED_TARGET_TTL (and the NXDOMAIN is not cached: no SOA)
    assert (await ask(resolver, transport, "c.dead.")).rcode == dns.rcode.SERVFAIL
    assert lookups() > first
