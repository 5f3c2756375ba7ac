"""An NS name its zone answered as a CNAME: the alias target's address serves
(Unbound's testbound iter_cname_cache; RFC 2181 10.3 forbids such NS names,
servers have them anyway)."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from dnssec.status import Security
from resolver.cache import Cache, Rank
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import UpstreamQuery
from resolver.iterator import Iterator
from resolver.limits import Limits
from resolver.question import Question
from resolver.selection import ServerSelection
from tests.resolver.test_iterator_limits import HINTS, ScriptedTransport, _reply, unanchored

EXAMPLE = dns.name.from_text("example.")


def script(query: UpstreamQuery) -> dns.message.Message:
    """The root refers example. to ns.example. without glue; only 127.53.9.6
    (ns.other.) answers for example."""
    if query.address.startswith("127.53.0."):
        message = _reply(query, aa=False)
        message.authority.append(dns.rrset.from_text(EXAMPLE, 300, "IN", "NS", "ns.example."))
        return message
    message = _reply(query, aa=True)
    if query.address == "127.53.9.6" and query.qname == dns.name.from_text("www.example."):
        message.answer.append(dns.rrset.from_text(query.qname, 300, "IN", "A", "192.0.2.80"))
    else:
        message.set_rcode(dns.rcode.SERVFAIL)
    return message


async def test_a_cached_cname_of_an_in_zone_ns_name_leads_to_its_server() -> None:
    clock = FakeClock()
    cache = Cache(clock)
    for rrset in (
        dns.rrset.from_text("ns.example.", 300, "IN", "CNAME", "ns.other."),
        dns.rrset.from_text("ns.other.", 300, "IN", "A", "127.53.9.6"),
    ):
        cache.store_rrset(rrset, Rank.ANSWER, security=Security.INSECURE)
    iterator = Iterator(cache=cache, selection=ServerSelection(clock), hints=HINTS,
                        limits=Limits(), validator=unanchored(cache, clock),
                        qname_minimisation=False)
    question = Question(dns.name.from_text("www.example."), dns.rdatatype.A)
    outcome = await run_exchange(iterator.resolve(question), ScriptedTransport(script))
    assert outcome.rcode == dns.rcode.NOERROR
    assert [rdata.address for rdata in outcome.answer[0]] == ["192.0.2.80"]
