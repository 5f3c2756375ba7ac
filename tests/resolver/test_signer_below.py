"""A child's data, signed by the child, from a server of the parent that does not
answer ``child NS``: the child's keys, proven through the parent's DS, judge it
(``Validator._signer_keys``; Unbound ``processFindKey``; Deckard
iter_validate_child_zone_noaddr)."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.lab import Lab
from tests.resolver.test_iterator import Harness, addresses
from tests.resolver.test_shared_servers import COM_SERVERS, Impostor, resolve

A = dns.rdatatype.A
EXAMPLE_NS = (dns.name.from_text("example.com."), dns.rdatatype.NS)


class Mute(Impostor):
    """com's servers copy example.com.'s answer for www.example.com. A and answer
    ``example.com. NS`` with SERVFAIL, as a Deckard scenario server does."""

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        if query.address in COM_SERVERS and (query.qname, query.rdtype) == EXAMPLE_NS:
            failed = dns.message.make_response(dns.message.make_query(query.qname, query.rdtype))
            failed.set_rcode(dns.rcode.SERVFAIL)
            return UpstreamReply(query.address, failed, rtt=0.01, tcp=query.tcp)
        return await super().exchange(query)


async def test_a_childs_signed_answer_is_secure_through_the_parents_ds(
    lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(lab, clock, minimise=False)
    outcome = await resolve(harness, Mute(harness, ("www.example.com.", A)), "www.example.com.")
    assert addresses(outcome) == {"192.0.2.1"}
    assert outcome.security is Security.SECURE
