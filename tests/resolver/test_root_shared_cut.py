"""A root server that also serves a child zone names itself, by its root-hint
name, in the child's NS: the cut is believed (Deckard val_ta_sentinel_insecure,
where the root server serves ``unsigned.`` too)."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import UpstreamQuery
from resolver.iterator import Iterator
from resolver.limits import Limits
from resolver.question import Question
from resolver.selection import ServerSelection
from tests.resolver.test_iterator_limits import HINTS, ScriptedTransport, _reply, unanchored

EXAMPLE = dns.name.from_text("example.")
WWW = dns.name.from_text("www.example.")


def root_serving_example(query: UpstreamQuery) -> dns.message.Message:
    """The root servers answer for example. themselves, signed by example., and
    name a.root. and b.root. (known only from the hints) as example.'s servers."""
    message = _reply(query, aa=True)
    if query.qname == EXAMPLE and query.rdtype == dns.rdatatype.NS:
        message.answer.append(
            dns.rrset.from_text_list(EXAMPLE, 300, "IN", "NS", ["a.root.", "b.root."])
        )
    elif query.qname == WWW and query.rdtype == dns.rdatatype.A:
        message.answer.append(dns.rrset.from_text(WWW, 300, "IN", "A", "192.0.2.1"))
        message.answer.append(
            dns.rrset.from_text(
                WWW, 300, "IN", "RRSIG",
                "A 8 2 300 20300101000000 20200101000000 1 example. AAAA",
            )
        )
    return message


async def test_a_root_server_named_in_a_childs_ns_by_its_hint_name_moves_the_cut() -> None:
    clock = FakeClock()
    cache = Cache(clock)
    iterator = Iterator(cache=cache, selection=ServerSelection(clock), hints=HINTS,
                        limits=Limits(), validator=unanchored(cache, clock),
                        qname_minimisation=False)
    question = Question(WWW, dns.rdatatype.A)
    outcome = await run_exchange(
        iterator.resolve(question), ScriptedTransport(root_serving_example)
    )
    assert [rdata.address for rdata in outcome.answer[0]] == ["192.0.2.1"]
    cut = cache.lookup_rrset(EXAMPLE, dns.rdatatype.NS)
    assert cut is not None
    assert sorted(str(rdata.target) for rdata in cut.rrset) == ["a.root.", "b.root."]
