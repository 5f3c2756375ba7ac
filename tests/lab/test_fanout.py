"""The lab's glueless fan-out zone (``resolver/lab/fanout.py``), asked directly."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from resolver.lab import Lab
from resolver.lab.fanout import FANOUT_WIDTH


def ask(lab: Lab, address: str, name: str) -> dns.message.Message:
    wire = dns.message.make_query(name, "A", want_dnssec=True).to_wire()
    reply = lab.handle(address, wire, tcp=False)
    assert reply.wire is not None
    return dns.message.from_wire(reply.wire)


def fanout_server(lab: Lab) -> str:
    return next(server.address for server in lab.servers if "fanout.com." in server.zones)


def test_every_level_refers_to_the_next_without_glue(lab: Lab) -> None:
    server = fanout_server(lab)
    for name, level in (("www.l-0.fanout.com.", 0), ("n3.l-41.fanout.com.", 41)):
        reply = ask(lab, server, name)
        assert not reply.flags & dns.flags.AA
        (ns,) = reply.authority
        assert ns.name == dns.name.from_text(f"l-{level}.fanout.com.")
        assert ns.rdtype == dns.rdatatype.NS
        assert sorted(rdata.target.to_text() for rdata in ns) == sorted(
            f"n{index}.l-{level + 1}.fanout.com." for index in range(FANOUT_WIDTH)
        )
        assert reply.additional == []  # no glue: the names are below the next cut


def test_the_apex_answers_normally_and_other_names_do_not_exist(lab: Lab) -> None:
    server = fanout_server(lab)
    reply = ask(lab, server, "www.fanout.com.")
    assert reply.flags & dns.flags.AA
    assert reply.answer[0][0].to_text() == "192.0.2.40"
    for name in ("x.fanout.com.", "l-01.fanout.com.", "lx.fanout.com."):
        assert ask(lab, server, name).rcode() == dns.rcode.NXDOMAIN


def test_com_delegates_it_insecurely(lab: Lab) -> None:
    reply = ask(lab, "127.53.1.1", "www.l-0.fanout.com.")
    types = {rrset.rdtype for rrset in reply.authority}
    assert dns.rdatatype.NS in types
    assert dns.rdatatype.DS not in types
    assert dns.rdatatype.NSEC in types  # the proof that fanout.com has no DS
