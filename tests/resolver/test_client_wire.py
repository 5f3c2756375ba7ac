"""``read_query`` reads a query as ``dns.message.from_wire`` does, or defers to it;
``render_response`` writes exactly what ``Message.to_wire`` writes.

The fast reader must never accept what dnspython refuses, nor read anything
differently: queries dnspython builds are compared field by field, and
mutated queries (hypothesis) are either refused by the fast path or read as
dnspython reads them. Responses (several types, names in mixed case that
compress against each other, EDNS with DO and Extended DNS Errors, sizes
around the limit) are compared byte for byte with dnspython's rendering of
the same message, with ``random`` seeded alike for the order of records.
"""

from __future__ import annotations

import random

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver import messages
from resolver.client_wire import ReadQuery, read_query
from resolver.messages import Echo, EchoedQuestion
from resolver.question import ExtendedError

_NAMES = st.lists(
    st.text("aAbBzZ09-", min_size=1, max_size=8), min_size=0, max_size=4
).map(lambda labels: dns.name.from_text(".".join(labels) + ".") if labels else dns.name.root)


def _query(name: dns.name.Name, rdtype: int, edns: int, dnssec_ok: bool, payload: int,
           flags: int, ednsflags: int) -> bytes:
    query = dns.message.make_query(name, rdtype, use_edns=edns if edns >= 0 else False,
                                   want_dnssec=edns >= 0 and dnssec_ok, payload=payload,
                                   id=4242, flags=flags)
    if edns >= 0:
        query.ednsflags |= ednsflags
    return query.to_wire()


def _dnspython(wire: bytes) -> ReadQuery:
    message = dns.message.from_wire(wire, keyring=False)
    opt_ttl = message.ednsflags if message.opt is not None else None
    sent = message.question[0]
    return ReadQuery(sent.name, sent.rdtype, sent.rdclass, opt_ttl, message.payload, message.tsig)


def _same(fast: ReadQuery, slow: ReadQuery) -> None:
    assert fast == slow
    assert fast.name.labels == slow.name.labels  # the case too
    assert type(fast.rdtype) is type(slow.rdtype)
    assert type(fast.rdclass) is type(slow.rdclass)


@settings(max_examples=300, deadline=None)
@given(
    name=_NAMES,
    rdtype=st.sampled_from([1, 2, 28, 43, 48, 255, 65280]),
    edns=st.sampled_from([-1, 0, 1]),
    dnssec_ok=st.booleans(),
    payload=st.sampled_from([0, 511, 1232, 4096, 65535]),
    flags=st.sampled_from([0, dns.flags.RD, dns.flags.RD | dns.flags.AD | dns.flags.CD]),
    ednsflags=st.sampled_from([0, 0x0001, 0x7F000000]),
)
def test_plain_queries_are_read_as_dnspython_reads_them(
    name: dns.name.Name, rdtype: int, edns: int, dnssec_ok: bool, payload: int, flags: int,
    ednsflags: int,
) -> None:
    wire = _query(name, rdtype, edns, dnssec_ok, payload, flags, ednsflags)
    fast = read_query(wire)
    assert fast is not None
    _same(fast, _dnspython(wire))


@settings(max_examples=500, deadline=None)
@given(
    name=_NAMES,
    edns=st.sampled_from([-1, 0]),
    cut=st.integers(min_value=0, max_value=3),
    changes=st.lists(st.tuples(st.integers(min_value=2, max_value=80),
                               st.integers(min_value=0, max_value=255)), max_size=3),
    tail=st.binary(max_size=3),
)
def test_mutated_queries_are_refused_by_the_fast_path_or_read_alike(
    name: dns.name.Name, edns: int, cut: int, changes: list[tuple[int, int]], tail: bytes
) -> None:
    wire = bytearray(_query(name, 1, edns, True, 1232, 0, 0))
    for index, value in changes:
        if index < len(wire):
            wire[index] = value
    mutated = bytes(wire[: len(wire) - cut]) + tail
    if len(mutated) < 12 or mutated[2] & 0xF8:
        return  # parse_query's own checks: a header, QR clear, opcode QUERY
    fast = read_query(mutated)
    if fast is None:
        return
    _same(fast, _dnspython(mutated))


@pytest.mark.parametrize(("wire", "why"), [
    (_query(dns.name.from_text("example.com."), 1, 0, True, 1232, 0, 0)[:-1], "cut short"),
    (_query(dns.name.from_text("example.com."), 1, -1, False, 0, 0, 0) + b"x", "trailing"),
    (b"\x10\x92\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", "pointer"),
    (b"\x10\x92\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00@" + b"a" * 64 + b"\x00\x00\x01\x00\x01",
     "a label of 64 octets"),
    (b"\x10\x92\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + (b"?" + b"a" * 63) * 5
     + b"\x00\x00\x01\x00\x01", "a name longer than 255 octets"),
])
def test_queries_outside_the_plain_case_are_left_to_dnspython(wire: bytes, why: str) -> None:
    assert read_query(wire) is None, why


def test_a_query_with_an_edns_option_is_left_to_dnspython() -> None:
    query = dns.message.make_query("example.com.", "A", use_edns=0,
                                   options=[dns.edns.GenericOption(65001, b"x")])
    assert read_query(query.to_wire()) is None
    assert messages.parse_query(query.to_wire()).edns


def test_a_signed_query_is_left_to_dnspython_and_still_refused() -> None:
    query = dns.message.make_query("example.com.", "A")
    query.use_tsig({dns.name.from_text("key."): b"secret"}, dns.name.from_text("key."))
    wire = query.to_wire()
    assert read_query(wire) is None
    with pytest.raises(messages.QueryRejected) as refused:
        messages.parse_query(wire)
    assert refused.value.rcode == dns.rcode.NOTAUTH


# Responses.

_OWNERS = ("www.Example.com.", "example.COM.", "Www.example.com.", "a.b.example.com.", ".")
_RDATA = {
    "A": ("192.0.2.1", "192.0.2.2", "192.0.2.3"),
    "AAAA": ("2001:db8::1", "2001:db8::2"),
    "TXT": ('"hello"', '"a" "b"'),
    "RRSIG": ("A 13 3 300 20300101000000 20200101000000 12345 Example.com. "
              "dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",),
    "NSEC": ("zz.Example.com. A RRSIG NSEC",),
    "DS": ("12345 13 2 " + "ab" * 32,),
    "CNAME": ("www.example.COM.", "other.example.net."),
    "NS": ("ns1.Example.com.", "ns2.example.com."),
    "SOA": ("ns1.example.com. hostmaster.Example.com. 1 7200 3600 1209600 300",),
    "MX": ("10 mail.example.com.", "20 Www.Example.com."),
    "PTR": ("a.b.example.com.",),
    "DNAME": ("example.net.",),
    "SRV": ("0 5 5060 sip.Example.com.",),
    "NAPTR": ('100 10 "u" "E2U+sip" "" www.example.com.',),
}


@st.composite
def _rrsets(draw: st.DrawFn) -> dns.rrset.RRset:
    rdtype = draw(st.sampled_from(sorted(_RDATA)))
    owner = draw(st.sampled_from(_OWNERS))
    texts = draw(st.lists(st.sampled_from(_RDATA[rdtype]), min_size=1, max_size=3, unique=True))
    return dns.rrset.from_text_list(owner, draw(st.sampled_from([0, 300])), "IN", rdtype, texts)


def _reference(echo: Echo, rcode: int, errors: tuple[ExtendedError, ...], *, max_size: int,
               ad: bool, aa: bool, answer: list[dns.rrset.RRset],
               authority: list[dns.rrset.RRset]) -> bytes:
    """What ``_render`` wrote before the fast path: dnspython's message."""
    message = messages._message(echo, rcode, errors, ad=ad, aa=aa)
    message.answer.extend(answer)
    message.authority.extend(authority)
    try:
        return message.to_wire(max_size=max_size)
    except dns.exception.TooBig:
        return messages._truncated(echo, rcode, ad=ad, max_size=max_size)


@settings(max_examples=400, deadline=None)
@given(
    qname=st.sampled_from(_OWNERS),
    answer=st.lists(_rrsets(), max_size=4),
    authority=st.lists(_rrsets(), max_size=3),
    edns=st.booleans(),
    dnssec_ok=st.booleans(),
    rcode=st.sampled_from([0, 2, 3, 5, 16]),
    errors=st.lists(st.tuples(st.sampled_from([0, 6, 22]), st.sampled_from(["", "why"])),
                    max_size=2),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    max_size=st.sampled_from([0, 100, 512, 1232, 65535, 70000]),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_responses_are_rendered_byte_for_byte_as_to_wire(
    qname: str, answer: list[dns.rrset.RRset], authority: list[dns.rrset.RRset], edns: bool,
    dnssec_ok: bool, rcode: int, errors: list[tuple[int, str]],
    flags: tuple[bool, bool, bool, bool], max_size: int, seed: int,
) -> None:
    rd, cd, ad, aa = flags
    question = EchoedQuestion(dns.name.from_text(qname), dns.rdatatype.A, dns.rdataclass.IN)
    echo = Echo(id=4242, opcode=dns.opcode.QUERY, rd=rd, cd=cd, question=question, edns=edns,
                dnssec_ok=dnssec_ok)
    extended = tuple(ExtendedError(code, text) for code, text in errors)
    random.seed(seed)
    fast = messages._render(echo, rcode, extended, max_size=max_size, ad=ad, aa=aa,
                            answer=answer, authority=authority)
    random.seed(seed)
    slow = _reference(echo, rcode, extended, max_size=max_size, ad=ad, aa=aa, answer=answer,
                      authority=authority)
    assert fast == slow


def test_relative_names_are_left_to_dnspython() -> None:
    question = EchoedQuestion(dns.name.from_text("www.example."), dns.rdatatype.CNAME,
                              dns.rdataclass.IN)
    echo = Echo(id=1, opcode=dns.opcode.QUERY, rd=True, cd=False, question=question)
    target = dns.rdtypes.ANY.CNAME.CNAME(dns.rdataclass.IN, dns.rdatatype.CNAME,
                                         dns.name.Name([b"target"]))
    relative = dns.rrset.from_rdata("www.example.", 300, target)
    with pytest.raises(dns.name.NeedAbsoluteNameOrOrigin):
        messages._render(echo, 0, (), max_size=512, answer=(relative,))


@pytest.mark.parametrize(("answer", "authority"), [
    ((("n1.bench.com.", "A", "192.0.2.1"),), ()),
    ((("n1.bench.com.", "CNAME", "x.bench.com."), ("x.bench.com.", "A", "192.0.2.1")), ()),
    ((), (("bench.com.", "SOA", "ns1.bench.com. h.bench.com. 1 2 3 4 5"),)),
    ((("n1.bench.com.", "MX", "10 mx.bench.com."),), (("bench.com.", "NS", "ns1.bench.com."),)),
])
def test_common_answers_render_without_dnspython_s_message(
    monkeypatch: pytest.MonkeyPatch, answer: tuple[tuple[str, str, str], ...],
    authority: tuple[tuple[str, str, str], ...],
) -> None:
    """The common answers take the fast path: no ``Message`` is built for them."""
    monkeypatch.setattr(messages, "_message", None)
    question = EchoedQuestion(dns.name.from_text("n1.bench.com."), dns.rdatatype.A,
                              dns.rdataclass.IN)
    echo = Echo(id=1, opcode=dns.opcode.QUERY, rd=True, cd=False, question=question, edns=True)
    records = [[dns.rrset.from_text(name, 300, "IN", rdtype, text) for name, rdtype, text in part]
               for part in (answer, authority)]
    wire = messages._render(echo, 0, (), max_size=1232, answer=records[0],
                            authority=records[1])
    parsed = dns.message.from_wire(wire)
    assert (parsed.answer, parsed.authority) == (records[0], records[1])
