"""Glue the iterator falls back on: the parent's addresses, and (switched) foreign glue.

Scripted zones, after Deckard's iter_pcdiff / iter_pcnamerec (parent and
child disagree on an NS name's address and the child's is dead) and
iter_cycle_noh (harden-glue off: out-of-bailiwick glue is the only way in).
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import UpstreamQuery
from resolver.iterator import Iterator
from resolver.limits import Limits
from resolver.parent_glue import ParentSideGlue
from resolver.question import Outcome, Question
from resolver.scrub import scrub
from resolver.selection import ServerSelection
from tests.resolver.test_iterator_limits import (
    HINTS,
    Script,
    ScriptedTransport,
    _reply,
    unanchored,
)

A = dns.rdatatype.A
NS_NET = dns.name.from_text("ns.example.net.")
PARENT_SIDE, CHILD_SIDE = "127.53.1.44", "127.53.1.55"


def _rrset(name: str | dns.name.Name, rdtype: str, *values: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(name, 300, "IN", rdtype, *values)


def _delegation(
    query: UpstreamQuery, zone: str, ns: str, glue: str | None = None
) -> dns.message.Message:
    message = _reply(query, aa=False)
    message.authority.append(_rrset(zone, "NS", ns))
    if glue is not None:
        message.additional.append(_rrset(ns, "A", glue))
    return message


def _answer(query: UpstreamQuery, address: str) -> dns.message.Message:
    message = _reply(query, aa=True)
    message.answer.append(_rrset(query.qname, "A", address))
    return message


class Resolver:
    """One iterator over one script, kept across questions (its cache and memories)."""

    def __init__(self, script: Script, *, harden_glue: bool = True) -> None:
        self.clock = FakeClock()
        self.cache = Cache(self.clock)
        self.transport = ScriptedTransport(script)
        self.iterator = Iterator(
            cache=self.cache,
            selection=ServerSelection(self.clock),
            hints=HINTS,
            limits=Limits(),
            validator=unanchored(self.cache, self.clock),
            qname_minimisation=False,
            harden_glue=harden_glue,
        )

    async def ask(self, name: str) -> Outcome:
        question = Question(dns.name.from_text(name), A)
        return await run_exchange(self.iterator.resolve(question), self.transport)


def _answered(outcome: Outcome) -> set[str]:
    return {rdata.address for rrset in outcome.answer for rdata in rrset}


def parent_child_differ(query: UpstreamQuery) -> dns.message.Message | None:
    """example.com. is served by ns.example.net., whose child-side address is dead."""
    if query.address.startswith("127.53.0."):  # the root
        if query.qname.is_subdomain(dns.name.from_text("example.com.")):
            return _delegation(query, "example.com.", "ns.example.net.")
        return _delegation(query, "example.net.", "ns.example.net.", PARENT_SIDE)
    if query.address == PARENT_SIDE:
        if query.qname == NS_NET:
            return _answer(query, CHILD_SIDE)  # the child's own, different, address
        if query.qname.is_subdomain(dns.name.from_text("example.com.")):
            return _answer(query, "10.20.30.40")
        return _reply(query, aa=True)
    return _reply(query, aa=False, rcode=dns.rcode.SERVFAIL)  # CHILD_SIDE is broken


async def test_the_parents_glue_is_asked_when_the_childs_address_fails() -> None:
    resolver = Resolver(parent_child_differ)
    outcome = await resolver.ask("www.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert _answered(outcome) == {"10.20.30.40"}
    # The child's address stays the cached one: the parent's is only a fallback.
    cached = resolver.cache.lookup_rrset(NS_NET, A)
    assert cached is not None
    assert {r.address for r in cached.rrset} == {CHILD_SIDE}
    asked = [q.address for q in resolver.transport.sent]
    assert CHILD_SIDE in asked
    assert asked[-1] == PARENT_SIDE


async def test_the_parents_glue_is_remembered_across_questions() -> None:
    resolver = Resolver(parent_child_differ)
    await resolver.ask("www.example.com.")
    # Now only the child's (dead) address is in the cache for ns.example.net.
    outcome = await resolver.ask("mail.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert _answered(outcome) == {"10.20.30.40"}


def test_parent_side_glue_expires_with_its_ttl() -> None:
    clock = FakeClock()
    memory = ParentSideGlue(clock, max_entries=2)
    memory.remember(_rrset(NS_NET, "A", PARENT_SIDE))
    memory.remember(_rrset(NS_NET, "TXT", '"not an address"'))
    assert memory.addresses(NS_NET) == (PARENT_SIDE,)
    clock.advance(301)
    assert memory.addresses(NS_NET) == ()
    assert len(memory) == 0


COM_SERVER, FOREIGN_GLUE = "127.53.0.10", "127.53.2.1"


def foreign_glue_only(query: UpstreamQuery) -> dns.message.Message | None:
    """com.'s referral for example.com. carries glue for ns.example.net.; net. is dead."""
    if query.address.startswith("127.53.0.") and query.address != COM_SERVER:  # the root
        if query.qname.is_subdomain(dns.name.from_text("com.")):
            return _delegation(query, "com.", "ns.com.", COM_SERVER)
        return _delegation(query, "net.", "ns.net.", "127.53.0.20")
    if query.address == COM_SERVER:
        return _delegation(query, "example.com.", "ns.example.net.", FOREIGN_GLUE)
    if query.address == FOREIGN_GLUE and query.qname.is_subdomain(dns.name.from_text("com.")):
        return _answer(query, "10.20.30.40")
    return None  # net.'s server and anything else: silence


@pytest.mark.parametrize("harden_glue", [True, False])
async def test_out_of_bailiwick_glue_is_asked_only_without_harden_glue(
    harden_glue: bool,
) -> None:
    resolver = Resolver(foreign_glue_only, harden_glue=harden_glue)
    outcome = await resolver.ask("www.example.com.")
    if harden_glue:
        assert outcome.rcode == dns.rcode.SERVFAIL
        assert FOREIGN_GLUE not in {q.address for q in resolver.transport.sent}
    else:
        assert outcome.rcode == dns.rcode.NOERROR
        assert _answered(outcome) == {"10.20.30.40"}
    # Either way, com.'s word on a net. name is never cached.
    assert resolver.cache.lookup_rrset(NS_NET, A) is None


def test_scrub_returns_foreign_glue_apart_and_counts_it_dropped() -> None:
    query = dns.message.make_query("www.example.com.", A)
    reply = dns.message.make_response(query)
    reply.authority.append(_rrset("example.com.", "NS", "ns.example.net."))
    reply.additional.append(_rrset(NS_NET, "A", FOREIGN_GLUE))
    reply.additional.append(_rrset("other.example.net.", "A", "192.0.2.9"))  # no NS names it
    com, www = dns.name.from_text("com."), dns.name.from_text("www.example.com.")
    hardened = scrub(reply, zone=com, qname=www, rdtype=A)
    relaxed = scrub(reply, zone=com, qname=www, rdtype=A, harden_glue=False)
    assert hardened.hints == ()
    assert hardened.additional == ()
    assert [r.name for r in relaxed.hints] == [NS_NET]
    assert relaxed.additional == ()
    assert relaxed.dropped == hardened.dropped == {"out-of-zone": 2}
