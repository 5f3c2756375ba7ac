"""Answers from the local root copy are the answers a root server gives.

The lab root server is the reference: each question is asked of it and of
``RootAnswers`` over the parsed lab root text, and the sections must hold the
same RRsets (owner, type, TTL and rdata set; order may differ). A variant of
the lab root adds what the lab lacks -- a delegation without DS, an empty
non-terminal and a record of an unknown type -- and is compared with the
lab's answering algorithm directly. The resolver's ``classify`` must then
read each answer as the iterator expects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.NSEC
import dns.rrset
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resolver.classify import ReplyKind, classify
from resolver.lab import Lab
from resolver.lab.authority import ZoneAnswer
from resolver.lab.authority import answer as lab_answer
from resolver.lab.catalogue import plan
from resolver.lab.signing import Window
from resolver.lab.zones import StaticZone
from rootzone.lookup import PAYLOAD, RootAnswers
from rootzone.verify import Zone
from rootzone.zonefile import Record, parse_zone
from tests.strategies import dns_names

ROOT = dns.name.root
#: Inside the validity window of every RRSIG in root-2017082100.zone.
AUGUST_25_2017 = 1503619200
UNKNOWN_TYPE = dns.rdatatype.RdataType.make(65280)

#: An RRset as compared: owner, type, covered type, TTL and its rdatas.
Compared = tuple[dns.name.Name, int, int, int, frozenset[dns.rdata.Rdata]]


@dataclasses.dataclass(frozen=True)
class Reply:
    """What a reply says, order aside."""

    rcode: int
    authoritative: bool
    answer: frozenset[Compared]
    authority: frozenset[Compared]
    additional: frozenset[Compared]

    @classmethod
    def of_message(cls, message: dns.message.Message) -> Reply:
        return cls(
            message.rcode(),
            bool(message.flags & dns.flags.AA),
            _compared(message.answer),
            _compared(message.authority),
            _compared(message.additional),
        )

    @classmethod
    def of_zone_answer(cls, result: ZoneAnswer) -> Reply:
        return cls(
            result.rcode,
            result.authoritative,
            _compared(result.answer),
            _compared(result.authority),
            _compared(result.additional),
        )


def _compared(rrsets: Iterable[dns.rrset.RRset]) -> frozenset[Compared]:
    return frozenset((r.name, r.rdtype, r.covers, r.ttl, frozenset(r)) for r in rrsets)


def _types(rrsets: Iterable[dns.rrset.RRset]) -> list[tuple[str, int]]:
    """(owner, type) of each RRset, RRSIGs as the type they cover with a minus sign."""
    return [
        (r.name.to_text(), -r.covers if r.rdtype == dns.rdatatype.RRSIG else r.rdtype)
        for r in rrsets
    ]


def _rrset_from_line(line: str) -> dns.rrset.RRset:
    """One RRset from a one-record zone file line with absolute owner, TTL and class."""
    owner, ttl, rdclass, rdtype, rdata = line.split(maxsplit=4)
    return dns.rrset.from_text(owner, int(ttl), rdclass, rdtype, rdata)


def _kind(message: dns.message.Message, qname: dns.name.Name, rdtype: int) -> ReplyKind:
    return classify(
        message, zone=ROOT, qname=qname, rdtype=dns.rdatatype.RdataType.make(rdtype)
    ).kind


def _answers_of(records: list[Record]) -> RootAnswers:
    return RootAnswers(Zone(records))


@pytest.fixture(scope="module")
def lab_answers(lab_records: list[Record]) -> RootAnswers:
    return _answers_of(lab_records)


@pytest.fixture(scope="module")
def ask_lab_root(session_lab: Lab) -> Callable[[dns.name.Name, int], dns.message.Message]:
    """Ask a lab root server with DO=1 as the iterator does: UDP, then TCP if truncated."""
    address = next(server.address for server in session_lab.servers if "." in server.zones)

    def ask(qname: dns.name.Name, rdtype: int) -> dns.message.Message:
        query = dns.message.make_query(
            qname, dns.rdatatype.RdataType.make(rdtype), want_dnssec=True, payload=PAYLOAD
        )
        reply = session_lab.handle(address, query.to_wire(), tcp=False)
        assert reply.wire is not None
        message = dns.message.from_wire(reply.wire)
        if message.flags & dns.flags.TC:
            reply = session_lab.handle(address, query.to_wire(), tcp=True)
            assert reply.wire is not None
            message = dns.message.from_wire(reply.wire)
        assert not message.flags & dns.flags.TC
        return message

    return ask


LAB_CASES = [
    ("com.", "NS", ReplyKind.REFERRAL),
    ("example.com.", "A", ReplyKind.REFERRAL),
    ("www.example.COM.", "AAAA", ReplyKind.REFERRAL),
    ("org.", "TXT", ReplyKind.REFERRAL),
    ("a.gtld-servers.net.", "A", ReplyKind.REFERRAL),  # glue only: below the net. cut
    ("sub.example.com.", "DS", ReplyKind.REFERRAL),
    ("com.", "DS", ReplyKind.ANSWER),
    ("net.", "DS", ReplyKind.ANSWER),
    (".", "DNSKEY", ReplyKind.ANSWER),
    (".", "SOA", ReplyKind.ANSWER),
    (".", "ZONEMD", ReplyKind.ANSWER),
    (".", "NSEC", ReplyKind.ANSWER),
    ("nosuchtld.", "A", ReplyKind.NXDOMAIN),
    ("a.b.nosuchtld.", "MX", ReplyKind.NXDOMAIN),
    ("zzz.", "A", ReplyKind.NXDOMAIN),  # after the last TLD: the NSEC chain wraps
    ("aaa.", "DS", ReplyKind.NXDOMAIN),
    (".", "A", ReplyKind.NODATA),
    (".", "DS", ReplyKind.NODATA),
    (".", "RRSIG", ReplyKind.ANSWER),  # every RRSIG set at the apex
]


@pytest.mark.parametrize(("name", "type_text", "kind"), LAB_CASES)
def test_answers_as_the_lab_root_server(
    lab_answers: RootAnswers,
    ask_lab_root: Callable[[dns.name.Name, int], dns.message.Message],
    name: str,
    type_text: str,
    kind: ReplyKind,
) -> None:
    qname, rdtype = dns.name.from_text(name), dns.rdatatype.from_text(type_text)
    message = lab_answers.answer(qname, rdtype)
    assert Reply.of_message(message) == Reply.of_message(ask_lab_root(qname, rdtype))
    assert _kind(message, qname, rdtype) is kind


def test_reply_is_a_dnssec_response_to_the_question(lab_answers: RootAnswers) -> None:
    qname = dns.name.from_text("Example.COM.")
    message = lab_answers.answer(qname, dns.rdatatype.A)
    assert message.flags & dns.flags.QR
    assert message.ednsflags & dns.flags.DO
    assert message.edns == 0
    assert message.payload == PAYLOAD
    [question] = message.question
    assert (question.name, question.rdtype, question.rdclass) == (qname, 1, 1)


def test_referral_is_signed_delegation_with_glue(lab_answers: RootAnswers) -> None:
    qname = dns.name.from_text("www.example.com.")
    message = lab_answers.answer(qname, dns.rdatatype.A)
    assert not message.flags & dns.flags.AA
    assert _types(message.authority) == [
        ("com.", dns.rdatatype.NS),
        ("com.", dns.rdatatype.DS),
        ("com.", -dns.rdatatype.DS),
    ]
    classified = classify(message, zone=ROOT, qname=qname, rdtype=dns.rdatatype.A)
    assert classified.child == dns.name.from_text("com.")
    assert {r.name.to_text() for r in classified.glue} == {
        f"{letter}.gtld-servers.net." for letter in "abcd"
    }


def test_apex_ns_answer_carries_root_server_glue(
    session_lab: Lab,
    lab_answers: RootAnswers,
    ask_lab_root: Callable[[dns.name.Name, int], dns.message.Message],
) -> None:
    """Like a root server (the lab's answer has no additional section)."""
    message = lab_answers.answer(ROOT, dns.rdatatype.NS)
    lab = ask_lab_root(ROOT, dns.rdatatype.NS)
    assert _compared(message.answer) == _compared(lab.answer)
    assert message.flags & dns.flags.AA
    glue = [
        _rrset_from_line(line)
        for line in session_lab.root_hints_text().splitlines()
        if line.split()[3] == "A"
    ]
    assert _compared(message.additional) == _compared(glue)
    assert _kind(message, ROOT, dns.rdatatype.NS) is ReplyKind.ANSWER


def test_nxdomain_proves_name_and_wildcard_absent(lab_answers: RootAnswers) -> None:
    message = lab_answers.answer(dns.name.from_text("nosuchtld."), dns.rdatatype.A)
    assert message.rcode() == dns.rcode.NXDOMAIN
    # "nosuchtld." sorts between "net." and "org."; "*." right after ".".
    assert _types(message.authority) == [
        (".", dns.rdatatype.SOA),
        (".", -dns.rdatatype.SOA),
        ("net.", dns.rdatatype.NSEC),
        ("net.", -dns.rdatatype.NSEC),
        (".", dns.rdatatype.NSEC),
        (".", -dns.rdatatype.NSEC),
    ]


def test_meta_types_are_not_implemented(
    lab_answers: RootAnswers,
    ask_lab_root: Callable[[dns.name.Name, int], dns.message.Message],
) -> None:
    """As from the lab root over UDP (which says FORMERR to AXFR, as UDP cannot carry it)."""
    for rdtype in (dns.rdatatype.ANY, dns.rdatatype.OPT, dns.rdatatype.MAILB):
        message = lab_answers.answer(ROOT, rdtype)
        assert Reply.of_message(message) == Reply.of_message(ask_lab_root(ROOT, rdtype))
        assert message.rcode() == dns.rcode.NOTIMP
    assert lab_answers.answer(ROOT, dns.rdatatype.AXFR).rcode() == dns.rcode.NOTIMP


def test_messages_do_not_share_rrsets(lab_answers: RootAnswers) -> None:
    """Whatever a caller does to one answer, the next is intact."""
    first = lab_answers.answer(ROOT, dns.rdatatype.SOA)
    first.answer[0].ttl = 1
    first.answer[0].items.clear()
    second = lab_answers.answer(ROOT, dns.rdatatype.SOA)
    assert second.answer[0].ttl == 3600
    assert len(second.answer[0]) == 1


# -- a lab root with what the lab root lacks ------------------------------------

VARIANT_RECORDS = (
    "insecure. 3600 IN NS ns.insecure.",
    "ns.insecure. 3600 IN A 127.53.9.9",
    "txt.ent. 3600 IN TXT hello",
    ". 3600 IN TYPE65280 \\# 2 abcd",
)


@pytest.fixture(scope="module")
def variant_root(lab_now: int) -> StaticZone:
    """The lab root plus an unsigned delegation, an empty non-terminal and an unknown type."""
    source = next(source for source in plan().sources if source.origin == ROOT)
    extra = tuple(_rrset_from_line(line) for line in VARIANT_RECORDS)
    return StaticZone.build(
        dataclasses.replace(source, rrsets=(*source.rrsets, *extra)), Window.valid(lab_now)
    )


@pytest.fixture(scope="module")
def variant_answers(variant_root: StaticZone) -> RootAnswers:
    text = variant_root.to_zone().to_text(sorted=True, relativize=False)
    return _answers_of(parse_zone(text, source="variant root"))


VARIANT_CASES = [
    ("insecure.", "NS", ReplyKind.REFERRAL),
    ("www.insecure.", "A", ReplyKind.REFERRAL),
    ("ns.insecure.", "A", ReplyKind.REFERRAL),
    ("insecure.", "DS", ReplyKind.NODATA),
    ("ent.", "A", ReplyKind.NODATA),
    ("ent.", "DS", ReplyKind.NODATA),
    ("txt.ent.", "TXT", ReplyKind.ANSWER),
    ("txt.ent.", "A", ReplyKind.NODATA),
    ("nope.ent.", "A", ReplyKind.NXDOMAIN),
    (".", "TYPE65280", ReplyKind.ANSWER),
    ("com.", "TYPE65280", ReplyKind.REFERRAL),
    ("aaa.", "A", ReplyKind.NXDOMAIN),
]


@pytest.mark.parametrize(("name", "type_text", "kind"), VARIANT_CASES)
def test_answers_as_the_lab_algorithm(
    variant_root: StaticZone,
    variant_answers: RootAnswers,
    name: str,
    type_text: str,
    kind: ReplyKind,
) -> None:
    qname, rdtype = dns.name.from_text(name), dns.rdatatype.from_text(type_text)
    message = variant_answers.answer(qname, rdtype)
    expected = lab_answer(variant_root, qname, rdtype, dnssec_ok=True)
    assert Reply.of_message(message) == Reply.of_zone_answer(expected)
    assert _kind(message, qname, rdtype) is kind


def test_delegation_without_ds_is_proved_insecure(variant_answers: RootAnswers) -> None:
    message = variant_answers.answer(dns.name.from_text("www.insecure."), dns.rdatatype.A)
    assert _types(message.authority) == [
        ("insecure.", dns.rdatatype.NS),
        ("insecure.", dns.rdatatype.NSEC),
        ("insecure.", -dns.rdatatype.NSEC),
    ]
    nsec = message.authority[1][0]
    assert dns.rdatatype.DS not in _bitmap(nsec)
    assert _types(message.additional) == [("ns.insecure.", dns.rdatatype.A)]


def test_unknown_type_is_served_opaque(variant_answers: RootAnswers) -> None:
    message = variant_answers.answer(ROOT, UNKNOWN_TYPE)
    rdata = message.answer[0][0]
    assert isinstance(rdata, dns.rdata.GenericRdata)
    assert rdata.data == b"\xab\xcd"


def _bitmap(nsec: dns.rdata.Rdata) -> set[int]:
    assert isinstance(nsec, dns.rdtypes.ANY.NSEC.NSEC)
    return {
        window * 256 + index * 8 + bit
        for window, octets in nsec.windows
        for index, octet in enumerate(octets)
        for bit in range(8)
        if octet & (0x80 >> bit)
    }


def test_unsigned_zone_answers_without_proofs() -> None:
    """A zone with no NSEC chain and no RRSIGs still answers, just without proofs."""
    text = "\n".join(
        (
            ". 86400 IN SOA a.root-servers.net. hostmaster. 1 1800 900 604800 300",
            ". 86400 IN NS a.root-servers.net.",
            "a.root-servers.net. 86400 IN A 127.53.0.1",
            "example. 86400 IN NS ns.example.",
            "ns.example. 86400 IN A 127.53.9.1",
        )
    )
    answers = _answers_of(parse_zone(text, source="unsigned"))
    nxdomain = answers.answer(dns.name.from_text("nosuchtld."), dns.rdatatype.A)
    assert nxdomain.rcode() == dns.rcode.NXDOMAIN
    assert _types(nxdomain.authority) == [(".", dns.rdatatype.SOA)]
    assert nxdomain.authority[0].ttl == 300
    referral = answers.answer(dns.name.from_text("www.example."), dns.rdatatype.A)
    assert _types(referral.authority) == [("example.", dns.rdatatype.NS)]
    assert _types(referral.additional) == [("ns.example.", dns.rdatatype.A)]


@given(
    qname=dns_names(binary=True),
    rdtype=st.integers(min_value=0, max_value=65535).map(dns.rdatatype.RdataType.make),
)
def test_never_raises_and_never_lame(
    lab_answers: RootAnswers, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> None:
    message = lab_answers.answer(qname, rdtype)
    if message.rcode() != dns.rcode.NOTIMP:
        assert _kind(message, qname, rdtype) is not ReplyKind.LAME


# -- the real root of 2017-08-21 --------------------------------------------------


@pytest.fixture
def root_2017(snapshot: Callable[[str], list[Record]]) -> RootAnswers:
    return _answers_of(snapshot("2017082100"))


def test_real_referral_has_signed_ds_and_glue(root_2017: RootAnswers) -> None:
    qname = dns.name.from_text("example.com.")
    message = root_2017.answer(qname, dns.rdatatype.A)
    classified = classify(message, zone=ROOT, qname=qname, rdtype=dns.rdatatype.A)
    assert classified.kind is ReplyKind.REFERRAL
    assert len(classified.ns or ()) == 13
    assert {r.rdtype for r in classified.glue} == {dns.rdatatype.A, dns.rdatatype.AAAA}
    assert len(classified.glue) == 26
    ds = next(r for r in classified.authority if r.rdtype == dns.rdatatype.DS)
    [signature] = classified.signatures
    keys = root_2017.answer(ROOT, dns.rdatatype.DNSKEY).answer[0]
    dns.dnssec.validate(ds, signature, {ROOT: keys}, now=AUGUST_25_2017)


def test_real_tld_without_ds(root_2017: RootAnswers) -> None:
    message = root_2017.answer(dns.name.from_text("example.ae."), dns.rdatatype.A)
    assert _types(message.authority) == [
        ("ae.", dns.rdatatype.NS),
        ("ae.", dns.rdatatype.NSEC),
        ("ae.", -dns.rdatatype.NSEC),
    ]
    assert dns.rdatatype.DS not in _bitmap(message.authority[1][0])


def test_real_nxdomain_has_two_signed_nsecs(root_2017: RootAnswers) -> None:
    qname = dns.name.from_text("nosuchtld.")
    message = root_2017.answer(qname, dns.rdatatype.A)
    assert message.rcode() == dns.rcode.NXDOMAIN
    assert _kind(message, qname, dns.rdatatype.A) is ReplyKind.NXDOMAIN
    nsecs = [r for r in message.authority if r.rdtype == dns.rdatatype.NSEC]
    # "norton." < "nosuchtld." < "now."; "*." sorts right after ".".
    assert [(r.name.to_text(), r[0].next.to_text()) for r in nsecs] == [
        ("norton.", "now."),
        (".", "aaa."),
    ]
    keys = root_2017.answer(ROOT, dns.rdatatype.DNSKEY).answer[0]
    for nsec in nsecs:
        signature = next(
            r
            for r in message.authority
            if (r.name, r.rdtype, r.covers) == (nsec.name, dns.rdatatype.RRSIG, dns.rdatatype.NSEC)
        )
        dns.dnssec.validate(nsec, signature, {ROOT: keys}, now=AUGUST_25_2017)
