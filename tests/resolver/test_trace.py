"""The per-query trace (``resolver.trace``) of the catalogue's cases, over the in-memory lab.

Each test resolves one catalogue name (testdata/lab/README.md) with an
empty cache and asserts on the typed events: the cut, the referrals, the
servers considered, the replies' class and scrub, the verdicts with their
key tags, what was cached and the result.
"""

from __future__ import annotations

import logging
import random
import re
from typing import TypeVar

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from dnssec.status import Security
from resolver import trace_command
from resolver.classify import ReplyKind
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.errors import UpstreamError
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.lab import Lab, LabTransport
from resolver.limits import Limits
from resolver.plan import MAX_PLANNED, Purpose, QueryBudget
from resolver.question import Outcome, Question
from resolver.trace import (
    NO_TRACE,
    TRACE_LOGGER,
    Cached,
    CutChosen,
    Event,
    Finished,
    Judged,
    KeysFetched,
    QuerySent,
    Recorder,
    ReferralFollowed,
    ReplyHeard,
    ServerChosen,
    TraceSampler,
)
from tests.resolver.test_iterator import Harness

A = dns.rdatatype.A
E = TypeVar("E")


@pytest.fixture
def harness(session_lab: Lab, clock: FakeClock) -> Harness:
    """A fresh iterator (empty cache) over the session lab."""
    return Harness(session_lab, clock)


async def traced(harness: Harness, name: str, rdtype: str = "A") -> tuple[Outcome, Recorder]:
    recorder = Recorder()
    question = Question(dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
    resolution = harness.iterator.resolve(question, trace=recorder)
    return await run_exchange(resolution, harness.transport), recorder


def of(recorder: Recorder, kind: type[E]) -> list[E]:
    return [event for event in recorder.events if isinstance(event, kind)]


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


async def test_a_referral_chain_from_the_root_is_traced_step_by_step(harness: Harness) -> None:
    outcome, recorder = await traced(harness, "www.example.com.")
    assert outcome.security is Security.SECURE
    first = recorder.events[0]
    assert isinstance(first, CutChosen)
    assert first.zone == dns.name.root
    referrals = of(recorder, ReferralFollowed)
    assert [(r.zone, r.ds) for r in referrals] == [
        (name("com."), True),
        (name("example.com."), True),
    ]
    chosen = of(recorder, ServerChosen)
    assert chosen[0].zone == dns.name.root
    assert {c.address for c in chosen[0].candidates} == {"127.53.0.1", "127.53.0.2", "127.53.0.3"}
    assert "random pick among 3 in the band" in chosen[0].why
    # The root's and com.'s keys are answers too (fetched alongside the
    # referrals), so the last answer heard is example.com.'s.
    answers = [r for r in of(recorder, ReplyHeard) if r.kind is ReplyKind.ANSWER]
    assert {r.address for r in answers[-2:]} <= {"127.53.3.1", "127.53.3.2"}
    fetched = {(k.name, k.rdtype) for k in of(recorder, KeysFetched)}
    assert (name("example.com."), dns.rdatatype.DNSKEY) in fetched
    [verdict] = of(recorder, Judged)
    assert verdict.security is Security.SECURE
    assert verdict.zone == name("example.com.")
    chain = {keys.zone: keys for keys in verdict.chain}
    assert set(chain) == {name("example.com."), name("com."), dns.name.root}
    assert set(verdict.signed_with) <= set(chain[name("example.com.")].tags)
    assert [(c.name, c.rdtype, c.security) for c in of(recorder, Cached)] == [
        (name("www.example.com."), A, Security.SECURE)
    ]
    assert recorder.events[-1] == Finished(dns.rcode.NOERROR, Security.SECURE, (), 1)
    lines = recorder.lines()
    assert lines[0].startswith("cut for www.example.com. A: . (NS a.root-servers.net.")
    assert lines[-1] == "result: NOERROR secure, 1 answer RRsets"


async def test_a_cname_into_another_zone_shows_both_zones(harness: Harness) -> None:
    outcome, recorder = await traced(harness, "alias.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    cuts = [(c.name, c.zone) for c in of(recorder, CutChosen) if c.rdtype == A]
    assert cuts[0] == (name("alias.example.com."), dns.name.root)
    assert (name("www.example.net."), dns.name.root) in cuts
    assert [(j.zone, j.security) for j in of(recorder, Judged)] == [
        (name("example.com."), Security.SECURE),
        (name("example.net."), Security.SECURE),
    ]
    assert [(c.name, c.rdtype) for c in of(recorder, Cached)] == [
        (name("alias.example.com."), dns.rdatatype.CNAME),
        (name("www.example.net."), A),
    ]
    assert recorder.events[-1] == Finished(dns.rcode.NOERROR, Security.SECURE, (), 2)


async def test_the_plan_of_a_cname_into_another_zone_lists_its_alias_and_key_fetches(
    harness: Harness,
) -> None:
    _, recorder = await traced(harness, "alias.example.com.")
    plan = recorder.plan
    assert plan[0].endswith("questions, 0 pending")
    assert plan[1] == "  1. client question: alias.example.com. A"
    asked = [line.split(". ", 1)[1] for line in plan[1:-1]]
    assert asked.index("alias target: www.example.net. A") > asked.index(
        "key material for the validator: example.com. DNSKEY"
    )
    assert "key material for the validator: example.net. DNSKEY" in asked
    assert not any(a.startswith("NS address") for a in asked)
    assert plan[-1].startswith("budget: ")
    queries = sum(1 for event in recorder.events if isinstance(event, QuerySent))
    assert f"budget: {queries}/" in plan[-1]


async def test_the_plan_of_a_glueless_delegation_lists_the_ns_address_lookups(
    harness: Harness,
) -> None:
    outcome, recorder = await traced(harness, "www.noglue.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    asked = [line.split(". ", 1)[1] for line in recorder.plan[1:-1]]
    assert asked[0] == "client question: www.noglue.com. A"
    lookups = [a for a in asked if a.startswith("NS address")]
    assert lookups[0] in (
        "NS address: ns1-noglue.example.net. A",
        "NS address: ns2-noglue.example.net. A",
    )
    assert "(pending)" not in "".join(asked)
    spent = re.search(r"(\d+)/\d+ NS lookups", recorder.plan[-1])
    assert spent is not None
    assert int(spent.group(1)) >= 1


def test_a_plan_marks_what_is_still_pending_and_bounds_its_list() -> None:
    budget = QueryBudget(Limits(), lambda: 0.0)
    with budget.asking(name("a.example."), A, Purpose.CLIENT):
        with budget.asking(name("ns.example."), A, Purpose.NS_ADDRESS):
            pass
        inside = budget.describe()
    assert inside[:3] == [
        "plan: 2 questions, 1 pending",
        "  1. client question: a.example. A (pending)",
        "  2. NS address: ns.example. A",
    ]
    for _ in range(MAX_PLANNED):
        with budget.asking(name("x.example."), A, Purpose.EVIDENCE):
            pass
    described = budget.describe()
    assert described[0] == f"plan: {MAX_PLANNED + 2} questions, 0 pending"
    assert described[-2] == "  ... and 2 more"
    assert budget.pending == []


async def test_a_bogus_answer_shows_the_verdict_the_blame_and_the_hold_down(
    harness: Harness,
) -> None:
    outcome, recorder = await traced(harness, "www.bogus.com.")
    assert outcome.security is Security.BOGUS
    verdicts = of(recorder, Judged)
    assert verdicts
    assert all(v.security is Security.BOGUS and v.blamed for v in verdicts)
    assert verdicts[0].errors[0].code == 6
    assert "signature does not verify with key" in verdicts[0].errors[0].text
    assert name("bogus.com.") in {keys.zone for keys in verdicts[0].chain}
    # The server that sent it twice (UDP, then TCP) is held down for the retry.
    held = [
        c
        for chosen in of(recorder, ServerChosen)
        if chosen.zone == name("bogus.com.")
        for c in chosen.candidates
        if c.avoided.startswith("held down")
    ]
    assert held
    assert held[0].address == verdicts[0].address
    assert any(c.security is Security.BOGUS for c in of(recorder, Cached))
    final = recorder.events[-1]
    assert isinstance(final, Finished)
    assert final.security is Security.BOGUS
    assert final.errors[0].code == 6


async def test_an_insecure_delegation_shows_the_proven_absence_of_ds(harness: Harness) -> None:
    outcome, recorder = await traced(harness, "www.insecure.com.")
    assert outcome.security is Security.INSECURE
    referral = [r for r in of(recorder, ReferralFollowed) if r.zone == name("insecure.com.")]
    assert referral
    assert not referral[0].ds
    # The referral's own NSEC proved the DS absent (``resolver.proofs``):
    # the validator reads that proof back instead of asking DS again.
    ds = [k for k in of(recorder, KeysFetched) if k.name == name("insecure.com.")]
    assert [(k.rdtype, k.negative, k.cached) for k in ds] == [(dns.rdatatype.DS, True, True)]
    asked = [(q.qname, q.rdtype) for q in of(recorder, QuerySent)]
    assert (name("insecure.com."), dns.rdatatype.DS) not in asked
    [verdict] = of(recorder, Judged)
    chain = {keys.zone: keys.security for keys in verdict.chain}
    assert chain[name("insecure.com.")] is Security.INSECURE
    assert chain[name("com.")] is Security.SECURE
    assert verdict.signed_with == ()
    assert recorder.events[-1] == Finished(dns.rcode.NOERROR, Security.INSECURE, (), 1)


async def test_an_nxdomain_with_nsec3_is_proven_and_cached_negative(harness: Harness) -> None:
    outcome, recorder = await traced(harness, "nx.nsec3.org.")
    assert outcome.rcode == dns.rcode.NXDOMAIN
    nxdomain = [r for r in of(recorder, ReplyHeard) if r.kind is ReplyKind.NXDOMAIN]
    assert [r.address for r in nxdomain] in (["127.53.3.7"], ["127.53.3.8"])
    [verdict] = of(recorder, Judged)
    assert verdict.security is Security.SECURE
    assert verdict.zone == name("nsec3.org.")
    assert [(c.name, c.what, c.security) for c in of(recorder, Cached)] == [
        (name("nx.nsec3.org."), "NXDOMAIN", Security.SECURE)
    ]
    assert recorder.events[-1] == Finished(dns.rcode.NXDOMAIN, Security.SECURE, (), 0)


class Poisoning(LabTransport):
    """The lab, with an out-of-zone A RRset added to the answer of every reply."""

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        reply = await super().exchange(query)
        reply.message.answer.append(
            dns.rrset.from_text("evil.example.org.", 60, "IN", "A", "192.0.2.66")
        )
        return reply


async def test_what_scrubbing_dropped_is_shown_by_rule(session_lab: Lab, clock: FakeClock) -> None:
    harness = Harness(session_lab, clock)
    harness.transport = Poisoning(session_lab)
    outcome, recorder = await traced(harness, "www.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    heard = of(recorder, ReplyHeard)
    assert all(sum(count for _, count in h.dropped) == 1 for h in heard)
    # Out of example.com.'s zone (for a root server the name is in its zone).
    example = [h for h in heard if h.address in ("127.53.3.1", "127.53.3.2")]
    assert next(dict(h.dropped) for h in example if h.kind is ReplyKind.ANSWER) == {
        "out-of-zone": 1
    }
    assert any(line.endswith("answer; scrubbed: 1 out-of-zone") for line in recorder.lines())


async def test_failed_upstream_queries_are_traced(session_lab: Lab, clock: FakeClock) -> None:
    harness = Harness(session_lab, clock)

    class FailingFirst(LabTransport):
        """Fails the first ``com. A`` (the root's keys are asked at the same time)."""

        failed = False

        async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
            if not self.failed and query.qname == name("com."):
                self.failed = True
                self.sent.append(query)
                raise UpstreamError(query.address, "refused by test")
            return await super().exchange(query)

    harness.transport = FailingFirst(session_lab)
    outcome, recorder = await traced(harness, "www.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    lines = recorder.lines()
    failed = next(
        number
        for number, line in enumerate(lines)
        if line.endswith(" com. A (udp, edns, timeout 376 ms): failed: refused by test")
    )
    retried = [line for line in lines[failed:] if line.startswith("server for .: ")]
    assert "tried" in retried[0]


async def test_the_private_iterator_neither_reads_nor_writes_the_shared_cache(
    harness: Harness,
) -> None:
    await harness.ask("www.example.com.")
    private = trace_command.private_iterator(harness.iterator)
    assert private.selection is harness.selection
    recorder = Recorder()
    question = Question(name("www.example.net."), A)
    outcome = await run_exchange(private.resolve(question, trace=recorder), harness.transport)
    assert outcome.security is Security.SECURE
    # Read: com.'s cut and keys were in the shared cache, yet it starts at the root.
    first = recorder.events[0]
    assert isinstance(first, CutChosen)
    assert first.zone == dns.name.root
    # Written: nothing of www.example.net reached the shared cache.
    assert harness.cache.lookup_rrset(name("www.example.net."), A) is None
    assert private.cache.lookup_rrset(name("www.example.net."), A) is not None


def test_the_trace_command_words() -> None:
    assert trace_command.parse(["example.com", "MX", "--dnssec"]) == (
        Question(name("example.com."), dns.rdatatype.MX),
        True,
    )
    assert trace_command.parse(["example.com"]) == (Question(name("example.com."), A), False)
    for words in ([], ["a", "b", "c"], ["example.com", "NOPE"], ["example.com", "ANY"]):
        with pytest.raises(trace_command.TraceUsageError):
            trace_command.parse(words)


def test_the_sampler_traces_only_the_sampled_share_at_debug_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    question = Question(name("www.example.com."), A)
    caplog.set_level(logging.DEBUG, logger=TRACE_LOGGER)
    assert TraceSampler(0.0).tracer_for(question) is NO_TRACE
    sampler = TraceSampler(0.5, random.Random(7))
    picked = [sampler.tracer_for(question) is not NO_TRACE for _ in range(400)]
    assert 150 < sum(picked) < 250
    tracer = TraceSampler(1.0).tracer_for(question)
    assert isinstance(tracer, Recorder)
    event: Event = Finished(dns.rcode.NOERROR, Security.SECURE, (), 1)
    tracer.finished(
        Outcome(
            dns.rcode.NOERROR,
            security=Security.SECURE,
            answer=(dns.rrset.from_text("www.example.com.", 60, "IN", "A", "192.0.2.1"),),
        )
    )
    assert tracer.events == []  # echoed, not kept
    [record] = caplog.records
    assert record.getMessage() == f"trace 1 www.example.com. A: {event.text()}"
    assert record.__dict__["event"] == "trace_step"
    assert record.__dict__["step"] == "Finished"
    caplog.set_level(logging.INFO, logger=TRACE_LOGGER)
    assert TraceSampler(1.0).tracer_for(question) is NO_TRACE
