"""``read_reply`` builds exactly the message ``dns.message.from_wire`` builds, or defers to it.

The fast reader must never accept what dnspython refuses, nor read anything
differently: every lab reply (answers, referrals, negative answers with
NSEC/NSEC3, the KeyTrap zone's many signatures) is compared whole, and
mutated replies (hypothesis) are either refused by the fast path itself or
read as dnspython reads them.
"""

from __future__ import annotations

import struct

import dns.message
import dns.name
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver import upstream_wire
from resolver.lab import Lab
from resolver.recent import Recent
from resolver.upstream_wire import FAST_PATH_STOPS, _Reader, read_reply

#: (server address, name, type): answers, referrals, negatives, big signed answers.
QUERIES = (
    ("127.53.0.1", "www.example.com.", "A"),
    ("127.53.0.1", ".", "DNSKEY"),
    ("127.53.0.1", "nonexistent-tld.", "A"),
    ("127.53.1.1", "www.bench.com.", "A"),
    ("127.53.1.1", "example.com.", "DS"),
    ("127.53.3.1", "www.example.com.", "AAAA"),
    ("127.53.3.1", "example.com.", "MX"),
    ("127.53.3.1", "anything.wild.example.com.", "A"),
    ("127.53.3.1", "inzone.example.com.", "A"),
    ("127.53.3.1", "nothere.example.com.", "A"),
    ("127.53.3.1", "www.example.com.", "TXT"),
    ("127.53.3.7", "nothere.nsec3.org.", "A"),
    ("127.53.3.31", "n123.bench.com.", "A"),
    ("127.53.3.31", "bench.com.", "NS"),
    ("127.53.3.45", "www.keytrap.com.", "A"),
)


def _reply(lab: Lab, address: str, name: str, rdtype: str) -> bytes:
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    query.flags = 0
    wire = lab.handle(address, query.to_wire(), tcp=True).wire
    assert wire is not None
    return wire


def _same(fast: dns.message.Message, slow: dns.message.Message) -> None:
    assert type(fast) is type(slow)
    assert fast == slow
    assert fast.to_text() == slow.to_text()
    assert [[rrset.ttl for rrset in section] for section in fast.sections] == [
        [rrset.ttl for rrset in section] for section in slow.sections
    ]
    assert fast.index == slow.index
    assert fast.opt == slow.opt
    assert (fast.rcode(), fast.edns, fast.payload) == (slow.rcode(), slow.edns, slow.payload)


@pytest.mark.parametrize(("address", "name", "rdtype"), QUERIES)
def test_every_lab_reply_reads_as_dnspython_reads_it(
    session_lab: Lab, address: str, name: str, rdtype: str
) -> None:
    wire = _reply(session_lab, address, name, rdtype)
    _same(_Reader(wire).read(), dns.message.from_wire(wire))


def test_an_owner_compressed_to_a_name_read_before_is_that_name(session_lab: Lab) -> None:
    wire = _reply(session_lab, "127.53.3.31", "n123.bench.com.", "A")
    message = _Reader(wire).read()
    assert message.answer[0].name is message.question[0].name


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda wire: wire + b"\x00", dns.message.TrailingJunk),
        (lambda wire: wire[:-3], dns.exception.FormError),
        # The question's name pointing at itself: a pointer must go back.
        (lambda wire: wire[:12] + b"\xc0\x0c" + wire[wire.index(b"\x00", 12) + 1 :],
         dns.name.BadPointer),
    ],
)
def test_malformed_replies_are_refused_as_dnspython_refuses_them(
    session_lab: Lab, mangle: object, error: type[Exception]
) -> None:
    wire = _reply(session_lab, "127.53.3.1", "www.example.com.", "A")
    broken = mangle(wire)  # type: ignore[operator]
    with pytest.raises(FAST_PATH_STOPS):
        _Reader(broken).read()
    with pytest.raises(error):
        read_reply(broken)


#: A header (QR AA, one question, one answer) and the root's question of class 2.
_HEAD = bytes.fromhex("0001 8400 0001 0001 0000 0000" "00 0001 0002")
_RR_A = bytes.fromhex("0001 0001 00000e10 0004")


@pytest.mark.parametrize(
    ("owner", "rdata", "error"),
    [
        # The owner points forward, to the root name its own RDATA starts with.
        (b"\xc0\x1d", b"\x00\x00\x02\x01", dns.name.BadPointer),
        # ... or to itself.
        (b"\xc0\x11", b"\x00\x00\x02\x01", dns.name.BadPointer),
        # The owner points back to the question's class, whose low byte read as
        # a label length would run over the pointer itself: dnspython stops a
        # name at the segment it jumped from.
        (b"\xc0\x10", b"\xc0\x00\x02\x01", dns.exception.FormError),
    ],
)
def test_compression_pointers_follow_dnspythons_rules(
    owner: bytes, rdata: bytes, error: type[Exception]
) -> None:
    wire = _HEAD + owner + _RR_A + rdata
    with pytest.raises(FAST_PATH_STOPS):
        _Reader(wire).read()
    with pytest.raises(error):
        read_reply(wire)


def test_an_opt_record_outside_the_additional_section_is_left_to_dnspython() -> None:
    message = dns.message.make_response(dns.message.make_query("example.com.", "A"))
    message.answer.append(dns.rrset.from_text(".", 0, 1232, "OPT"))
    wire = message.to_wire()
    with pytest.raises(FAST_PATH_STOPS):
        _Reader(wire).read()
    with pytest.raises(dns.message.BadEDNS):
        read_reply(wire)


@st.composite
def _mutations(draw: st.DrawFn, session_lab: Lab) -> bytes:
    address, name, rdtype = draw(st.sampled_from(QUERIES))
    wire = bytearray(_reply(session_lab, address, name, rdtype))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(wire) - 1))
        choices = [0, 1, 0x3F, 0x40, 0xC0, 0xFF, wire[position] ^ 0x20]
        wire[position] = draw(st.sampled_from(choices))
    cut = draw(st.integers(0, 3))
    return bytes(wire[: len(wire) - cut])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_fast_path_never_accepts_what_dnspython_refuses(
    session_lab: Lab, data: st.DataObject
) -> None:
    wire = data.draw(_mutations(session_lab))
    try:
        fast = _Reader(wire).read()
    except FAST_PATH_STOPS:
        return
    slow = dns.message.from_wire(wire)  # raises if the fast path was wrong to accept
    _same(fast, slow)


def test_types_are_read_into_rrsets_of_the_right_kind(session_lab: Lab) -> None:
    wire = _reply(session_lab, "127.53.3.1", "www.example.com.", "A")
    message = read_reply(wire)
    assert [rrset.rdtype for rrset in message.answer] == [
        dns.rdatatype.A, dns.rdatatype.RRSIG]
    assert message.answer[1].covers == dns.rdatatype.A


def test_duplicates_singletons_and_ttls_are_kept_as_dnspython_keeps_them() -> None:
    """A repeated record counts once at the lowest TTL; of two CNAMEs the last stays."""
    response = dns.message.make_response(dns.message.make_query("www.example.com.", "A"))
    response.answer = [
        dns.rrset.from_text("www.example.com.", 300, "IN", "A", "192.0.2.1"),
        dns.rrset.from_text("www.example.com.", 60, "IN", "A", "192.0.2.1", "192.0.2.2"),
        dns.rrset.from_text("www.example.com.", 90, "IN", "CNAME", "one.example."),
        dns.rrset.from_text("www.example.com.", 30, "IN", "CNAME", "two.example."),
    ]
    wire = response.to_wire()
    fast = _Reader(wire).read()
    _same(fast, dns.message.from_wire(wire))
    assert [(len(rrset), rrset.ttl) for rrset in fast.answer] == [(2, 60), (1, 30)]
    assert fast.answer[1][0].target == dns.name.from_text("two.example.")


def _referral_with_ns_targets(targets: tuple[str, str], padding: int) -> bytes:
    """A referral whose NS RDATA is compressed; ``padding`` shifts every offset."""
    query = dns.message.make_query("www.example.com.", "A")
    response = dns.message.make_response(query)
    if padding:
        response.answer.append(dns.rrset.from_text(
            "www.example.com.", 60, "IN", "TXT", '"' + "x" * padding + '"'))
    response.authority.append(dns.rrset.from_text(
        "example.com.", 3600, "IN", "NS", *targets))
    return response.to_wire()


def test_records_and_sets_reused_across_replies_read_as_dnspython_reads_them(
    session_lab: Lab,
) -> None:
    """The second read of each reply takes records and item dicts made by the first."""
    wires = [_reply(session_lab, *query) for query in QUERIES]
    for wire in wires + wires:
        _same(_Reader(wire).read(), dns.message.from_wire(wire))
    again = _Reader(wires[0]).read()
    first = _Reader(wires[0]).read()
    assert next(iter(again.authority[0])) is next(iter(first.authority[0]))


def test_a_compressed_name_in_rdata_is_known_by_the_name_not_the_bytes() -> None:
    """The same NS RDATA bytes (a label and a pointer) name other hosts in another reply.

    Keyed by its bytes, the second reply would read the first reply's targets.
    """
    first = _referral_with_ns_targets(("ns1.example.com.", "ns2.example.com."), 0)
    second = _referral_with_ns_targets(("ns1.example.net.", "ns2.example.net."), 0)
    for wire in (first, second):
        read = _Reader(wire).read()
        _same(read, dns.message.from_wire(wire))
    assert sorted(rdata.target.to_text() for rdata in read.authority[0]) == [
        "ns1.example.net.", "ns2.example.net."]
    shifted = _referral_with_ns_targets(("ns1.example.com.", "ns2.example.com."), 40)
    _same(_Reader(shifted).read(), dns.message.from_wire(shifted))


def test_the_tables_of_known_records_stay_bounded(session_lab: Lab) -> None:
    for query in QUERIES:
        read_reply(_reply(session_lab, *query))
    for table in (upstream_wire._RECORDS, upstream_wire._SETS, upstream_wire._NAMES):
        assert 0 < len(table.entries) <= table.size
    table = Recent[int, int](2)
    for key in range(5):
        table.put(key, key)
    assert table.entries == {4: 4}


def test_an_opt_record_is_known_by_its_payload_size_too() -> None:
    """The same (empty) options with another payload size: the size is the OPT's class."""
    for payload in (1232, 4096, 1232):
        response = dns.message.make_response(dns.message.make_query("example.com.", "A"))
        response.use_edns(0, payload=payload)
        wire = response.to_wire()
        read = _Reader(wire).read()
        _same(read, dns.message.from_wire(wire))
        assert read.payload == payload


def test_owners_differing_only_in_case_make_one_rrset_as_with_dnspython() -> None:
    """The reader groups records by the owner's lowercase labels (issue 19): the
    same RRsets as dnspython's, whose ``Name`` equality ignores case."""
    def record(owner: bytes, ttl: int, address: bytes) -> bytes:
        return owner + struct.pack("!HHIH", 1, 1, ttl, 4) + address

    owner = b"\x03www\x07example\x03com\x00"
    wire = (
        struct.pack("!HHHHHH", 1, 0x8400, 1, 2, 0, 0)
        + owner + struct.pack("!HH", 1, 1)
        + record(owner, 300, bytes([192, 0, 2, 1]))
        + record(b"\x03WWW\x07EXAMPLE\x03com\x00", 60, bytes([192, 0, 2, 2]))
    )
    fast = _Reader(wire).read()
    _same(fast, dns.message.from_wire(wire))
    assert [(str(rrset.name), len(rrset), rrset.ttl) for rrset in fast.answer] == [
        ("www.example.com.", 2, 60)]
