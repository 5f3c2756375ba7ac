"""The iterator against hostile authorities: it always ends, within its budget.

A scripted transport answers every query from a plain function, so a test can
build referral chains, alias loops and random replies that no sane zone has.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from dnssec.anchors import TrustAnchors
from dnssec.status import Security
from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.errors import UpstreamTimeout
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.iterator import Iterator
from resolver.limits import Limits
from resolver.question import Outcome, Question
from resolver.selection import ServerSelection
from resolver.validation import Validator
from rootzone.hints import RootHints
from tests.strategies import FUZZ

Script = Callable[[UpstreamQuery], dns.message.Message | None]
HINTS = RootHints.from_text(
    ". NS a.root.\na.root. A 127.53.0.1\n. NS b.root.\nb.root. A 127.53.0.2\n", source="test"
)


class ScriptedTransport:
    """Answers each query with ``script(query)``; None means a timeout.

    A query marked ``tcp`` is answered as if over TCP (the script sees the
    flag, so it can play an off-path spoofer who wins only UDP races).
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sent: list[UpstreamQuery] = []

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        await trio.lowlevel.checkpoint()  # as a socket would: the loop runs meanwhile
        self.sent.append(query)
        reply = self.script(query)
        if reply is None:
            raise UpstreamTimeout(query.address, "timed out")
        return UpstreamReply(query.address, reply, rtt=0.01, tcp=query.tcp)


def _reply(
    query: UpstreamQuery, *, aa: bool, rcode: int = dns.rcode.NOERROR
) -> dns.message.Message:
    request = dns.message.make_query(query.qname, query.rdtype)
    message = dns.message.make_response(request)
    message.flags |= dns.flags.AA if aa else 0
    message.set_rcode(dns.rcode.Rcode(rcode))
    return message


def _referral(query: UpstreamQuery, child: dns.name.Name, address: str) -> dns.message.Message:
    message = _reply(query, aa=False)
    ns_name = dns.name.from_text("ns", child)
    message.authority.append(dns.rrset.from_text(child, 300, "IN", "NS", str(ns_name)))
    message.additional.append(dns.rrset.from_text(ns_name, 300, "IN", "A", address))
    return message


def _alias(query: UpstreamQuery, target: str) -> dns.message.Message:
    message = _reply(query, aa=True)
    message.answer.append(dns.rrset.from_text(query.qname, 300, "IN", "CNAME", target))
    return message


def unanchored(cache: Cache, clock: FakeClock) -> Validator:
    """A validator with no trust anchor: these scripted zones are unsigned (insecure)."""
    return Validator(anchors=TrustAnchors(()), cache=cache, clock=clock)


async def resolve(script: Script, name: str, limits: Limits | None = None) -> tuple[Outcome, int]:
    clock = FakeClock()
    transport = ScriptedTransport(script)
    cache = Cache(clock)
    iterator = Iterator(
        cache=cache,
        selection=ServerSelection(clock),
        hints=HINTS,
        limits=limits or Limits(),
        validator=unanchored(cache, clock),
        qname_minimisation=False,
    )
    question = Question(dns.name.from_text(name), dns.rdatatype.A)
    outcome = await run_exchange(iterator.resolve(question), transport)
    return outcome, len(transport.sent)


async def test_endless_referrals_stop_at_the_referral_limit() -> None:
    deep = ".".join(f"l{i}" for i in range(60)) + "."

    def script(query: UpstreamQuery) -> dns.message.Message:
        # Each server refers one label further down, forever.
        depth = int(query.address.rsplit(".", 1)[1]) % 60
        child = query.qname.split(depth + 2)[1]
        return _referral(query, child, f"127.53.9.{depth + 1}")

    outcome, sent = await resolve(script, deep, Limits(max_referrals=10))
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert "referrals" in outcome.errors[0].text
    assert sent <= 11


async def test_alias_loop_is_servfail() -> None:
    def script(query: UpstreamQuery) -> dns.message.Message:
        other = "b.loop." if query.qname == dns.name.from_text("a.loop.") else "a.loop."
        return _alias(query, other)

    outcome, _ = await resolve(script, "a.loop.")
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert "loop" in outcome.errors[0].text
    # The looping records go with the SERVFAIL, as Knot Resolver answers
    # (Deckard iter_dname_insec); without AD: the SERVFAIL vouches for nothing.
    assert [(str(r.name), str(r[0].target)) for r in outcome.answer] == [
        ("a.loop.", "b.loop."),
        ("b.loop.", "a.loop."),
    ]
    assert outcome.security is not Security.SECURE


async def test_long_alias_chain_stops_at_the_chain_limit() -> None:
    def script(query: UpstreamQuery) -> dns.message.Message:
        step = int(query.qname.labels[0][1:])
        return _alias(query, f"c{step + 1}.chain.")

    outcome, _ = await resolve(script, "c0.chain.", Limits(max_cname_chain=5))
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert "longer than 5" in outcome.errors[0].text


async def test_upward_referral_is_lame_and_other_servers_are_tried() -> None:
    def script(query: UpstreamQuery) -> dns.message.Message:
        if query.address == "127.53.0.1":
            return _referral(query, dns.name.root, "127.53.0.1")
        message = _reply(query, aa=True)
        message.answer.append(dns.rrset.from_text(query.qname, 300, "IN", "A", "192.0.2.7"))
        return message

    for _ in range(5):
        outcome, _ = await resolve(script, "www.up.")
        assert outcome.rcode == dns.rcode.NOERROR


async def test_servers_that_time_out_are_asked_again_with_longer_timeouts() -> None:
    asked: list[UpstreamQuery] = []

    def script(query: UpstreamQuery) -> dns.message.Message | None:
        asked.append(query)
        if len(asked) <= len(HINTS.addresses):  # a burst of load: every server is slow once
            return None
        message = _reply(query, aa=True)
        message.answer.append(dns.rrset.from_text(query.qname, 300, "IN", "A", "192.0.2.7"))
        return message

    outcome, sent = await resolve(script, "www.busy.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert sent == len(HINTS.addresses) + 1
    first = {query.address: query.timeout for query in asked[: len(HINTS.addresses)]}
    assert asked[-1].timeout > first[asked[-1].address]


async def test_servers_that_never_answer_get_a_bounded_number_of_rounds() -> None:
    outcome, sent = await resolve(lambda query: None, "www.gone.")
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert sent == Limits().timeout_rounds * len(HINTS.addresses)


async def test_out_of_bailiwick_records_are_not_cached() -> None:
    clock = FakeClock()
    cache = Cache(clock)
    up = dns.name.from_text("up.")
    victim = dns.name.from_text("victim.example.")

    def script(query: UpstreamQuery) -> dns.message.Message:
        if query.address.startswith("127.53.0."):
            return _referral(query, up, "127.53.9.1")
        # A server of up. answers, and slips in a record for another zone.
        message = _reply(query, aa=True)
        message.answer.append(dns.rrset.from_text(query.qname, 300, "IN", "A", "192.0.2.7"))
        message.answer.append(dns.rrset.from_text(victim, 300, "IN", "A", "6.6.6.6"))
        message.additional.append(dns.rrset.from_text(victim, 300, "IN", "A", "6.6.6.6"))
        return message

    iterator = Iterator(cache=cache, selection=ServerSelection(clock), hints=HINTS,
                        limits=Limits(), validator=unanchored(cache, clock),
                        qname_minimisation=False)
    question = Question(dns.name.from_text("www.up."), dns.rdatatype.A)
    outcome = await run_exchange(iterator.resolve(question), ScriptedTransport(script))
    assert [rrset.name for rrset in outcome.answer] == [question.name]
    assert cache.lookup_rrset(question.name, dns.rdatatype.A) is not None
    assert cache.lookup_rrset(victim, dns.rdatatype.A) is None


# -- property: random replies never make the iterator run away -----------------

replies = st.sampled_from(["timeout", "servfail", "refused", "nxdomain", "nodata", "referral",
                           "upward", "alias", "answer", "lame", "formerr"])


@settings(FUZZ)
@given(st.lists(replies, min_size=1, max_size=40), st.integers(0, 2**16))
async def test_any_reply_sequence_terminates_within_budget(kinds: list[str], seed: int) -> None:
    limits = Limits(max_upstream_queries=20, max_referrals=8, max_cname_chain=4)
    counter = iter(range(10_000))

    def script(query: UpstreamQuery) -> dns.message.Message | None:
        n = next(counter)
        kind = kinds[n % len(kinds)]
        suffix = (seed + n) % 250 + 1
        if kind == "timeout":
            return None
        if kind in ("servfail", "refused", "formerr"):
            code = {"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED,
                    "formerr": dns.rcode.FORMERR}[kind]
            return _reply(query, aa=False, rcode=code)
        if kind == "nxdomain":
            return _reply(query, aa=True, rcode=dns.rcode.NXDOMAIN)
        if kind == "nodata":
            return _reply(query, aa=True)
        if kind == "lame":
            return _reply(query, aa=False)
        if kind == "upward":
            return _referral(query, dns.name.root, f"127.53.8.{suffix}")
        if kind == "alias":
            return _alias(query, f"t{suffix}.target.")
        if kind == "referral":
            labels = len(query.qname)
            child = query.qname.split(min(labels, 2 + n % 3))[1]
            return _referral(query, child, f"127.53.8.{suffix}")
        message = _reply(query, aa=True)
        message.answer.append(dns.rrset.from_text(query.qname, 300, "IN", "A", "192.0.2.9"))
        return message

    outcome, sent = await resolve(script, "a.b.c.d.e.f.example.", limits)
    assert sent <= limits.max_upstream_queries
    assert outcome.rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL)
    if outcome.rcode == dns.rcode.SERVFAIL:
        assert outcome.errors
