"""A DNAME's CNAME in the answer: the server's when it is the synthesis, else ours.

RFC 6672 2.2: the answer carries the CNAME a DNAME makes, for clients that
know no DNAME; Unbound (iter_scrub.c synth_cname_rrset) and BIND (query.c
query_addcname) make it themselves when the server's is missing or another.
"""

from __future__ import annotations

import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from resolver.assemble import follow_aliases
from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.exchange import UpstreamQuery
from tests.resolver.test_iterator_limits import ScriptedTransport
from tests.resolver.test_scrub import ROOT_SERVERS, ask, make_iterator, refer, reply, rrset

DNAME = rrset("d.example.", "DNAME", "t.example.")
TARGET = dns.name.from_text("www.t.example.")


def _walk(*answer: dns.rrset.RRset) -> list[tuple[str, str, str]]:
    walk = follow_aliases(answer, dns.name.from_text("www.d.example."), dns.rdatatype.A)
    return [(str(r.name), dns.rdatatype.to_text(r.rdtype), r[0].to_text()) for r in walk.records]


@pytest.mark.parametrize(
    "sent",
    [
        (),  # left out
        (rrset("www.d.example.", "CNAME", "victim.other."),),  # forged: not the synthesis
    ],
)
def test_the_chain_carries_the_dnames_own_cname(sent: tuple[dns.rrset.RRset, ...]) -> None:
    assert _walk(DNAME, *sent, rrset("www.t.example.", "A", "192.0.2.7")) == [
        ("d.example.", "DNAME", "t.example."),
        ("www.d.example.", "CNAME", "www.t.example."),
        ("www.t.example.", "A", "192.0.2.7"),
    ]


def test_the_servers_cname_is_kept_when_it_is_the_synthesis() -> None:
    cname = rrset("www.d.example.", "CNAME", "www.t.example.")
    walk = follow_aliases((DNAME, cname), dns.name.from_text("www.d.example."), dns.rdatatype.A)
    assert walk.records[1] is cname  # the object the iterator leaves out of validation


async def test_a_dname_without_its_cname_is_answered_with_one() -> None:
    """example.'s server sends the DNAME alone; the client gets DNAME, CNAME, A."""
    clock = FakeClock()
    iterator = make_iterator(Cache(clock), clock)

    def script(query: UpstreamQuery) -> dns.message.Message:
        if query.address in ROOT_SERVERS:
            return refer(query, "example.", "127.53.9.1")
        message = reply(query, aa=True)
        if query.qname == TARGET:
            message.answer.append(rrset("www.t.example.", "A", "192.0.2.7"))
        else:
            message.answer.append(DNAME)
        return message

    outcome = await ask(iterator, ScriptedTransport(script), "www.d.example.")

    assert [(str(r.name), dns.rdatatype.to_text(r.rdtype)) for r in outcome.answer] == [
        ("d.example.", "DNAME"),
        ("www.d.example.", "CNAME"),
        ("www.t.example.", "A"),
    ]
    assert outcome.answer[1][0].target == TARGET
