"""Stub and forward zones (issue 20 item 2), end to end over the in-memory lab.

Two resolvers as ``holdfast serve`` builds them: the one under test, and a
second one that is its forwarder, at ``FORWARDER`` (no lab server is
there). The forwarder has no trust anchor for the lab (only one for a name
the lab does not have), so it validates nothing and passes on whatever the
lab serves: any AD or SERVFAIL the tested resolver gives is its own
validation's, chased through the forwarder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio
import trio.testing

from resolver import daemon
from resolver.classify import ReplyKind, classify
from resolver.clock import FakeClock
from resolver.errors import UpstreamTimeout
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.forwarding import Kind, policy
from resolver.lab import Lab, LabTransport
from resolver.lab.drill import ask, lab_resolver
from resolver.lab.faults import parse_fault
from resolver.routes import route_from_words
from resolver.transport import ReplyFilter, RetryingTransport

FORWARDER = "127.54.0.53"
ROOT = dns.name.root
EXAMPLE = dns.name.from_text("example.com.")


class ForwardingLab(LabTransport):
    """The lab, plus a whole resolver answering at ``FORWARDER`` (unless ``down``)."""

    def __init__(self, lab: Lab, forwarder: daemon.Resolver) -> None:
        super().__init__(lab)
        self.forwarder = forwarder
        self.down = False
        #: Rewrites the forwarder's replies (a forwarder that lies).
        self.tamper: Callable[[dns.message.Message], None] | None = None

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        if query.address != FORWARDER:
            return await super().exchange(query)
        self.sent.append(query)
        return await RetryingTransport.exchange(self, query)

    async def _leg(
        self, query: UpstreamQuery, replies: ReplyFilter, *, tcp: bool
    ) -> dns.message.Message:
        if query.address != FORWARDER:
            return await super()._leg(query, replies, tcp=tcp)
        timed_out = UpstreamTimeout(query.address, "forwarder down")
        if self.down:
            await trio.sleep(query.timeout)
            raise timed_out
        wire = await self.forwarder.server.answer(
            replies.request.wire, "127.0.0.1", tcp=tcp
        )
        if wire is not None and self.tamper is not None:
            forged = dns.message.from_wire(wire)
            self.tamper(forged)
            wire = forged.to_wire()
        message = replies.take(wire) if wire is not None else None
        if message is None:
            raise replies.failure(timed_out)
        return message


class Pair:
    """The resolver under test and its forwarder, over one lab."""

    def __init__(
        self, lab: Lab, clock: FakeClock, directory: Path, anchors: list[str] | None = None
    ) -> None:
        (directory / "fwd").mkdir()
        (directory / "tested").mkdir()
        elsewhere = directory / "elsewhere.ds"
        elsewhere.write_text("elsewhere.invalid. 3600 IN DS 1 13 2 " + "00" * 32 + "\n")
        self.forwarder = lab_resolver(
            lab, clock, directory / "fwd", overrides={"dnssec.trust_anchors": [str(elsewhere)]}
        )
        self.transport = ForwardingLab(lab, self.forwarder)
        overrides = {"dnssec.trust_anchors": anchors} if anchors is not None else None
        self.resolver = lab_resolver(lab, clock, directory / "tested", self.transport, overrides)

    def forward(self, zone: str, *, first: bool = False) -> None:
        entry = policy(dns.name.from_text(zone), Kind.FORWARD, [FORWARDER], first=first)
        self.resolver.iterator.forwarding.add(entry)

    def stub(self, zone: str, *servers: str) -> None:
        entry = policy(dns.name.from_text(zone), Kind.STUB, list(servers))
        self.resolver.iterator.forwarding.add(entry)

    async def ask(self, name: str, rdtype: str = "A") -> dns.message.Message:
        return await ask(self.resolver, name, rdtype)


@pytest.fixture
async def pair(lab: Lab, clock: FakeClock, tmp_path: Path, nursery: trio.Nursery) -> Pair:
    pair = Pair(lab, clock, tmp_path)
    await nursery.start(pair.forwarder.recursor.run)
    await nursery.start(pair.resolver.recursor.run)
    return pair


def edes(reply: dns.message.Message) -> list[int]:
    return [option.code for option in reply.options if isinstance(option, dns.edns.EDEOption)]


def to_lab(pair: Pair, since: int = 0) -> list[UpstreamQuery]:
    """The tested resolver's own queries that went to lab servers, not to the forwarder."""
    return [q for q in pair.transport.sent[since:] if q.address != FORWARDER]


async def test_a_forward_zone_for_the_root_sends_everything_to_the_forwarder_with_rd(
    pair: Pair, autojump_clock: trio.testing.MockClock
) -> None:
    # Iterated first: com's cut is cached, and a forward zone covers it all the same.
    assert (await pair.ask("www.nonsec.com.")).flags & dns.flags.AD
    pair.forward(".")
    since = len(pair.transport.sent)
    reply = await pair.ask("www.example.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AD  # validated here: the forwarder has no lab anchor
    assert [str(rrset[0]) for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A] == [
        "192.0.2.1"
    ]
    sent = pair.transport.sent[since:]
    assert sent
    assert to_lab(pair, since) == []
    assert all(q.recursion_desired for q in sent)
    asked = {(str(q.qname), q.rdtype) for q in sent}
    # Unminimised, and the chain of trust chased through the forwarder.
    assert ("www.example.com.", dns.rdatatype.A) in asked
    assert ("example.com.", dns.rdatatype.DNSKEY) in asked
    assert ("example.com.", dns.rdatatype.DS) in asked


async def test_forwarded_data_that_fails_validation_is_servfail(
    pair: Pair, lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    pair.forward(".")
    bogus = await pair.ask("www.bogus.com.")
    assert bogus.rcode() == dns.rcode.SERVFAIL
    assert dns.edns.EDECode.DNSSEC_BOGUS in edes(bogus)
    # Signatures stripped by the forwarder's source: unsigned data in a
    # signed zone is not taken for an insecure zone's.
    stripped = await pair.ask("www.nosig.com.")
    assert stripped.rcode() == dns.rcode.SERVFAIL


async def test_forwarded_data_of_an_insecure_zone_is_insecure(
    pair: Pair, autojump_clock: trio.testing.MockClock
) -> None:
    pair.forward(".")
    reply = await pair.ask("www.insecure.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer
    assert not reply.flags & dns.flags.AD
    negative = await pair.ask("nothing.example.com.")
    assert negative.rcode() == dns.rcode.NXDOMAIN
    assert negative.flags & dns.flags.AD


async def test_a_forwarded_alias_chain_across_zones_is_judged_zone_by_zone(
    pair: Pair, autojump_clock: trio.testing.MockClock
) -> None:
    pair.forward(".")
    # example.com's CNAME to example.net: each link signed in its own zone
    # (Deckard fwd_val_cname_sibling).
    reply = await pair.ask("alias.example.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AD
    assert [rrset.rdtype for rrset in reply.answer if rrset.rdtype != dns.rdatatype.RRSIG] == [
        dns.rdatatype.CNAME, dns.rdatatype.A
    ]
    insecure = await pair.ask("toinsecure.example.com.")
    assert insecure.rcode() == dns.rcode.NOERROR
    assert not insecure.flags & dns.flags.AD
    assert len(insecure.answer) >= 2


async def test_a_forwarded_dname_vouches_for_its_synthesised_cname(
    pair: Pair, autojump_clock: trio.testing.MockClock
) -> None:
    """The unsigned CNAME is the signed DNAME's (RFC 6672 5.3.1), not a link of its own:
    cut there, the same name was asked again, an alias loop (SERVFAIL)."""
    pair.forward(".")
    reply = await pair.ask("www.sub.example.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AD
    assert [rrset.rdtype for rrset in reply.answer if rrset.rdtype != dns.rdatatype.RRSIG] == [
        dns.rdatatype.DNAME, dns.rdatatype.CNAME, dns.rdatatype.A
    ]


async def test_forward_first_falls_back_to_iteration_when_the_forwarder_fails(
    pair: Pair, autojump_clock: trio.testing.MockClock
) -> None:
    pair.transport.down = True
    pair.forward("com.")
    assert (await pair.ask("www.example.com.")).rcode() == dns.rcode.SERVFAIL
    pair.forward("com.", first=True)
    since = len(pair.transport.sent)
    reply = await pair.ask("www.example.net.")  # net is not forwarded: iterated as ever
    assert reply.flags & dns.flags.AD
    reply = await pair.ask("mail.example.com.")  # www failed just now: not asked again yet
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AD
    # The forwarder timed out three times: marked down, it is not waited for again.
    assert all(q.address != FORWARDER for q in pair.transport.sent[since:])
    assert to_lab(pair, since)
    assert all(not q.recursion_desired for q in to_lab(pair, since))


async def test_forward_first_asks_the_forwarder_first(
    pair: Pair, autojump_clock: trio.testing.MockClock
) -> None:
    pair.forward(".", first=True)
    reply = await pair.ask("www.example.com.")
    assert reply.flags & dns.flags.AD
    assert to_lab(pair) == []


async def test_a_stub_zone_is_asked_instead_of_the_delegation(
    pair: Pair, lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    first, second = [s.address for s in lab.servers if "example.com." in s.zones]
    pair.stub("example.com.", f"{second}@53")
    reply = await pair.ask("www.example.com.")
    assert reply.flags & dns.flags.AD  # validation goes on (DS from com)
    to_example = [q for q in pair.transport.sent if q.qname.is_subdomain(EXAMPLE)
                  and q.rdtype != dns.rdatatype.DS]
    assert {q.address for q in to_example} == {second}
    assert all(not q.recursion_desired and q.port == 53 for q in to_example)
    # com was never asked for example.com's delegation, only for its DS.
    gtld = {s.address for s in lab.servers if "com." in s.zones}
    assert all(q.rdtype == dns.rdatatype.DS for q in pair.transport.sent
               if q.address in gtld and q.qname.is_subdomain(EXAMPLE))
    assert first not in {q.address for q in pair.transport.sent}


async def test_a_stub_server_that_sends_bogus_data_is_held_down(
    pair: Pair, lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    servers = [s.address for s in lab.servers if "example.com." in s.zones]
    pair.stub("example.com.", *servers)
    lab.set_fault(servers[0], parse_fault("bogus-sigs"), zone="example.com.")
    for _ in range(20):  # until selection has picked the bad one once
        pair.resolver.cache.flush_all()
        reply = await pair.ask("www.example.com.")
        assert reply.flags & dns.flags.AD  # the other stub server was asked
        if any(q.address == servers[0] for q in pair.transport.sent):
            break
    held = pair.resolver.selection.holddowns()
    assert [(h.address, h.zone) for h in held] == [(servers[0], "example.com.")]


async def test_an_only_route_for_a_name_that_is_not_a_cut_steers_its_queries(
    pair: Pair, lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    # www.example.com is no zone cut: before issue 20 the route was accepted
    # and never matched anything.
    _, second = [s.address for s in lab.servers if "example.com." in s.zones]
    words = ["www.example.com", "--only", second]
    pair.resolver.routes.add(route_from_words(words, now=0))
    assert (await pair.ask("mail.example.com.")).flags & dns.flags.AD
    since = len(pair.transport.sent)
    reply = await pair.ask("www.example.com.")
    assert reply.flags & dns.flags.AD
    asked = pair.transport.sent[since:]
    assert [(q.address, str(q.qname)) for q in asked] == [(second, "www.example.com.")]


def forwarder_reply(name: str, rdtype: str, *, rcode: dns.rcode.Rcode) -> dns.message.Message:
    """A recursive server's reply (RA, no AA), as a forwarder sends it."""
    reply = dns.message.make_response(dns.message.make_query(name, rdtype))
    reply.flags = dns.flags.QR | dns.flags.RD | dns.flags.RA
    reply.set_rcode(rcode)
    return reply


def test_a_forwarders_answer_with_the_childs_ns_is_an_answer_not_a_referral() -> None:
    reply = forwarder_reply("www.example.com.", "A", rcode=dns.rcode.NOERROR)
    reply.answer.append(dns.rrset.from_text("www.example.com.", 300, "IN", "A", "192.0.2.1"))
    reply.authority.append(dns.rrset.from_text("example.com.", 300, "IN", "NS", "ns.evil."))
    question = {"zone": ROOT, "qname": dns.name.from_text("www.example.com."),
                "rdtype": dns.rdatatype.A}
    assert classify(reply, **question).kind is ReplyKind.REFERRAL  # from an authority
    forwarded = classify(reply, **question, recursive=True)
    assert forwarded.kind is ReplyKind.ANSWER
    assert forwarded.authority == ()  # no NS set believed
    assert forwarded.ns is None


def test_a_forwarders_negative_answer_keeps_the_soa_of_the_zone_enclosing_the_name() -> None:
    reply = forwarder_reply("nothing.example.com.", "A", rcode=dns.rcode.NXDOMAIN)
    soa = dns.rrset.from_text("example.com.", 300, "IN", "SOA", "ns. h. 1 2 3 4 5")
    other = dns.rrset.from_text("example.net.", 300, "IN", "SOA", "ns. h. 1 2 3 4 5")
    reply.authority += [soa, other]
    question = {"zone": ROOT, "qname": dns.name.from_text("nothing.example.com."),
                "rdtype": dns.rdatatype.A}
    assert classify(reply, **question).kind is ReplyKind.LAME  # RA, no AA: no authority's word
    forwarded = classify(reply, **question, recursive=True)
    assert forwarded.kind is ReplyKind.NXDOMAIN
    assert forwarded.soa == soa


async def test_a_forwarder_cannot_judge_an_islands_data_above_its_anchor(
    lab: Lab, clock: FakeClock, tmp_path: Path, nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Trusted: example.com's keys only, so com is an insecure zone here.
    island = tmp_path / "example.com.ds"
    ds = lab.zone(dns.name.from_text("com.")).rrset(EXAMPLE, dns.rdatatype.DS)
    assert ds is not None
    island.write_text(ds.to_text() + "\n")
    pair = Pair(lab, clock, tmp_path, anchors=[str(island)])
    await nursery.start(pair.forwarder.recursor.run)
    await nursery.start(pair.resolver.recursor.run)
    pair.forward(".")
    assert (await pair.ask("mail.example.com.")).flags & dns.flags.AD

    def forge(message: dns.message.Message) -> None:
        """www.example.com's A changed, its RRSIG claimed by insecure com."""
        www = dns.name.from_text("www.example.com.")
        for index, rrset in enumerate(message.answer):
            if rrset.name == www and rrset.rdtype == dns.rdatatype.A:
                message.answer[index] = dns.rrset.from_text(www, rrset.ttl, "IN", "A",
                                                            "203.0.113.66")
            elif rrset.name == www and rrset.rdtype == dns.rdatatype.RRSIG:
                forged = [r.replace(signer=dns.name.from_text("com.")) for r in rrset]
                message.answer[index] = dns.rrset.from_rdata_list(www, rrset.ttl, forged)

    pair.transport.tamper = forge
    reply = await pair.ask("www.example.com.")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert "203.0.113.66" not in reply.to_text()
