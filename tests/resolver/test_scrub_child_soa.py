"""The SOA heading a negative answer: Z's own, or that of a child of Z on the same
server that encloses qname (Deckard iter_validate_nsec_nxdomain); no other."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from resolver.scrub import scrub

MX = dns.rdatatype.MX


@pytest.mark.parametrize(
    ("owner", "kept"),
    [("cz.", True), ("nic.cz.", True), ("other.cz.", False), ("missing.nic.cz.x.", False)],
)
def test_a_negative_answers_soa_is_the_zones_or_an_enclosing_childs(owner: str, kept: bool) -> None:
    qname = dns.name.from_text("missing.nic.cz.")
    message = dns.message.make_response(dns.message.make_query(qname, MX))
    message.flags |= dns.flags.AA
    message.set_rcode(dns.rcode.NXDOMAIN)
    soa = dns.rrset.from_text(owner, 300, "IN", "SOA", "a.ns.nic.cz. h. 1 2 3 4 5")
    message.authority.append(soa)
    result = scrub(message, zone=dns.name.from_text("cz."), qname=qname, rdtype=MX)
    assert (soa in result.authority) is kept
