"""No hold-down without proof (issue 16, item 3).

A UDP reply that fails validation may be a spoofer's, who won the port and ID
race: the same question then goes to the same server over TCP, and only a
TCP reply that is bogus too holds the server down.
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.lab import Lab, LabTransport
from tests.resolver.test_iterator import Harness, addresses

WWW = dns.name.from_text("www.example.com.")


class Spoofer(LabTransport):
    """The lab, but every UDP answer for ``www.example.com A`` is forged (TCP is not)."""

    forged = 0
    tcp_too = False

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        reply = await super().exchange(query)
        spared = reply.tcp and not self.tcp_too
        if spared or query.qname != WWW or query.rdtype != dns.rdatatype.A:
            return reply
        message = dns.message.from_wire(reply.message.to_wire())
        for index, rrset in enumerate(message.answer):
            if rrset.rdtype == dns.rdatatype.A:
                message.answer[index] = dns.rrset.from_text(WWW, rrset.ttl, "IN", "A", "6.6.6.6")
        self.forged += 1
        return UpstreamReply(reply.address, message, reply.rtt, tcp=reply.tcp, edns=reply.edns)


async def test_forged_udp_reply_then_genuine_tcp_reply_holds_no_one_down(
    session_lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(session_lab, clock)
    harness.transport = spoofer = Spoofer(session_lab)
    outcome = await harness.ask("www.example.com.")
    assert spoofer.forged >= 1
    assert outcome.rcode == dns.rcode.NOERROR
    assert addresses(outcome) == {"192.0.2.1"}
    assert harness.selection.holddowns() == []
    assert any(query.tcp and query.qname == WWW for query in spoofer.sent)


class BadServers(Spoofer):
    """The servers themselves send the forged record, over UDP and TCP alike."""

    tcp_too = True


async def test_server_bogus_over_tcp_too_is_held_down(lab: Lab, clock: FakeClock) -> None:
    harness = Harness(lab, clock)
    harness.transport = bad = BadServers(lab)
    outcome = await harness.ask("www.example.com.")
    assert outcome.security is Security.BOGUS
    held = harness.selection.holddowns()
    assert held
    assert {h.zone for h in held} == {"example.com."}
    # Each was asked over TCP before it was held down.
    asked_tcp = {query.address for query in bad.sent if query.tcp and query.qname == WWW}
    assert {h.address for h in held} <= asked_tcp
