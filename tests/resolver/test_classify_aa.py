"""What a reply means whatever its AA bit says, as the peers read it (issue 18).

Unbound (iterator/iter_resptype.c ``response_type_from_server``) and Knot
Resolver (lib/layer/iterate.c) accept an answer without AA from a server of
the zone asked; a referral is a referral even with AA; a negative reply
without AA counts only with the zone's SOA and from a server that does not
recurse; an NS set above the zone is lameness. Each case names the Deckard
scenario it comes from.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from resolver.classify import ReplyKind, classify
from resolver.exchange import UpstreamQuery
from tests.resolver.test_iterator_limits import resolve

A = dns.rdatatype.A
ZONE = dns.name.from_text("example.com.")
QNAME = dns.name.from_text("www.example.com.")


def rrset(owner: str, rdtype: str, *rdatas: str) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(owner, 300, "IN", rdtype, list(rdatas))


def message(
    *,
    flags: int = 0,
    rcode: int = dns.rcode.NOERROR,
    qname: dns.name.Name = QNAME,
    rdtype: dns.rdatatype.RdataType = A,
    answer: tuple[dns.rrset.RRset, ...] = (),
    authority: tuple[dns.rrset.RRset, ...] = (),
    additional: tuple[dns.rrset.RRset, ...] = (),
) -> dns.message.Message:
    reply = dns.message.make_response(dns.message.make_query(qname, rdtype))
    reply.flags |= flags
    reply.set_rcode(dns.rcode.Rcode(rcode))
    reply.answer.extend(answer)
    reply.authority.extend(authority)
    reply.additional.extend(additional)
    return reply


def kind(reply: dns.message.Message, zone: dns.name.Name = ZONE,
         rdtype: dns.rdatatype.RdataType = A) -> ReplyKind:
    qname = reply.question[0].name
    return classify(reply, zone=zone, qname=qname, rdtype=rdtype).kind


SOA = rrset("example.com.", "SOA", "ns.example.com. h. 1 2 3 4 5")
SELF_NS = rrset("example.com.", "NS", "ns.example.com.")


def test_an_answer_without_aa_is_an_answer() -> None:
    """iter_lame_nosoa step 20 and some 60 scenarios: servers often answer without AA."""
    reply = message(answer=(rrset("www.example.com.", "A", "192.0.2.1"),),
                    authority=(SELF_NS,))
    assert kind(reply) is ReplyKind.ANSWER
    reply.flags |= dns.flags.RA  # a recursive server's data for its zone: still data
    assert kind(reply) is ReplyKind.ANSWER


def test_a_referral_with_aa_is_a_referral() -> None:
    """iter_ns_badaa: AA on a referral is the server's mistake, not an empty answer."""
    reply = message(flags=dns.flags.AA, qname=dns.name.from_text("a.morecowbell."),
                    authority=(rrset("morecowbell.", "NS", "a.gtld-servers.net."),),
                    additional=(rrset("a.gtld-servers.net.", "A", "192.5.6.30"),))
    classified = classify(reply, zone=dns.name.root, qname=reply.question[0].name, rdtype=A)
    assert classified.kind is ReplyKind.REFERRAL
    assert classified.child == dns.name.from_text("morecowbell.")


def test_a_non_aa_answer_beside_a_referral_is_the_referral_and_the_data_is_dropped() -> None:
    """The parent's copy of the child's data is not an answer (both peers refer)."""
    reply = message(answer=(rrset("www.example.com.", "A", "203.0.113.66"),),
                    authority=(rrset("example.com.", "NS", "ns.example.com."),),
                    additional=(rrset("ns.example.com.", "A", "192.0.2.53"),))
    classified = classify(reply, zone=dns.name.from_text("com."), qname=QNAME, rdtype=A)
    assert classified.kind is ReplyKind.REFERRAL
    assert classified.answer == ()


def test_a_recursive_servers_empty_reply_is_lame() -> None:
    """iter_lame_nosoa step 40: RA and no AA, "nothing" is an empty cache."""
    assert kind(message(flags=dns.flags.RA, authority=(SELF_NS,))) is ReplyKind.LAME
    assert kind(message(flags=dns.flags.RA, authority=(SOA,))) is ReplyKind.LAME


def test_a_non_aa_negative_needs_the_zones_soa() -> None:
    assert kind(message(authority=(SOA,))) is ReplyKind.NODATA
    assert kind(message(rcode=dns.rcode.NXDOMAIN, authority=(SOA,))) is ReplyKind.NXDOMAIN
    assert kind(message()) is ReplyKind.LAME
    assert kind(message(rcode=dns.rcode.NXDOMAIN)) is ReplyKind.LAME
    assert kind(message(authority=(SELF_NS,))) is ReplyKind.LAME  # referral to itself


def test_an_upward_referral_is_lame_even_with_aa() -> None:
    """iter_lame_aaaa: AA, no SOA, the root's NS set: lame, not NODATA."""
    reply = message(flags=dns.flags.AA, authority=(rrset(".", "NS", "a.root-servers.net."),))
    assert kind(reply) is ReplyKind.LAME
    reply.authority.append(SOA)
    assert kind(reply) is ReplyKind.NODATA


def test_an_answer_of_another_type_without_aa_is_nodata() -> None:
    """iter_unexpectedrrtype: the server answered; scrubbing left nothing."""
    reply = message(rdtype=dns.rdatatype.AAAA,
                    answer=(rrset("www.example.com.", "A", "192.0.2.1"),))
    assert kind(reply, rdtype=dns.rdatatype.AAAA) is ReplyKind.NODATA


def test_rrsigs_asked_for_without_aa_are_an_answer() -> None:
    """val_rrsig: for QTYPE RRSIG the signatures are the data."""
    sig = rrset("www.example.com.", "RRSIG",
                "A 13 3 300 20300101000000 20200101000000 1 example.com. AAAA")
    reply = message(rdtype=dns.rdatatype.RRSIG, answer=(sig,), authority=(SELF_NS,))
    assert kind(reply, rdtype=dns.rdatatype.RRSIG) is ReplyKind.ANSWER


async def test_resolution_follows_an_aa_referral_to_a_non_aa_answer() -> None:
    """End to end: the root refers with AA set, the child answers without AA."""

    def script(query: UpstreamQuery) -> dns.message.Message:
        qname = query.qname
        if query.address.startswith("127.53.0."):  # a root server
            return message(flags=dns.flags.AA, qname=qname, rdtype=query.rdtype,
                           authority=(rrset("example.", "NS", "ns.example."),),
                           additional=(rrset("ns.example.", "A", "127.53.1.1"),))
        return message(qname=qname, rdtype=query.rdtype,
                       answer=(rrset(str(qname), "A", "192.0.2.7"),))

    outcome, _ = await resolve(script, "www.example.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert [rdata.to_text() for rrset_ in outcome.answer for rdata in rrset_] == ["192.0.2.7"]
