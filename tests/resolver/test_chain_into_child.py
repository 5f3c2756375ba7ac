"""A CNAME chain that runs on into a child zone on the same server: the child's
part is asked again by name, so that the child's cut is found and its own keys
judge it (Deckard val_cname_new_signer; Knot Resolver ``check_signer``)."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

from resolver.exchange import UpstreamQuery
from tests.resolver.test_iterator_limits import _referral, _reply, resolve

EXAMPLE = dns.name.from_text("example.")
SUB = dns.name.from_text("sub.example.")
WWW = dns.name.from_text("www.example.")
FOO = dns.name.from_text("foo.sub.example.")
ASKED: list[tuple[dns.name.Name, dns.rdatatype.RdataType]] = []


def _signed(owner: dns.name.Name, rdtype: str, rdata: str, signer: str) -> list[dns.rrset.RRset]:
    labels = len(owner) - 1
    return [
        dns.rrset.from_text(owner, 300, "IN", rdtype, rdata),
        dns.rrset.from_text(
            owner, 300, "IN", "RRSIG",
            f"{rdtype} 8 {labels} 300 20300101000000 20200101000000 1 {signer} AAAA",
        ),
    ]


def shared_server(query: UpstreamQuery) -> dns.message.Message:
    """example. and sub.example. on one server (127.53.9.1, ns.example.)."""
    if query.address.startswith("127.53.0."):
        message = _referral(query, EXAMPLE, "127.53.9.1")
        return message
    ASKED.append((query.qname, query.rdtype))
    message = _reply(query, aa=True)
    if query.qname == WWW:
        message.answer += _signed(WWW, "CNAME", str(FOO), "example.")
    if query.qname in (WWW, FOO) and query.rdtype == dns.rdatatype.A:
        message.answer += _signed(FOO, "A", "192.0.2.7", "sub.example.")
    if query.qname == SUB and query.rdtype == dns.rdatatype.NS:
        message.answer.append(dns.rrset.from_text(SUB, 300, "IN", "NS", "ns.example."))
    return message


async def test_the_childs_part_of_a_chain_is_asked_again() -> None:
    ASKED.clear()
    outcome, _ = await resolve(shared_server, "www.example.")
    assert [str(r.name) for r in outcome.answer] == ["www.example.", "foo.sub.example."]
    assert (FOO, dns.rdatatype.A) in ASKED
