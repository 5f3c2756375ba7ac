"""Upstream queries are written byte for byte as dnspython's ``make_query(...).to_wire()``;
0x20 flips only letters; a reply's question is recognised as ours in any case, and
anything the transport must read with dnspython (another opcode, a compressed or
second question, another type) is not."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdatatype
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.upstream_request import UpstreamRequest, name_wire, randomise_case

_NAMES = st.lists(
    st.text("aAbBzZ09-_", min_size=1, max_size=10), min_size=0, max_size=4
).map(lambda labels: dns.name.from_text(".".join(labels) + ".") if labels else dns.name.root)


@settings(max_examples=300, deadline=None)
@given(
    name=_NAMES,
    rdtype=st.sampled_from([1, 2, 6, 28, 43, 48, 65280]),
    edns=st.booleans(),
    dnssec_ok=st.booleans(),
    recursion_desired=st.booleans(),
    payload=st.sampled_from([512, 1232, 4096]),
    identity=st.integers(min_value=0, max_value=0xFFFF),
)
def test_queries_are_written_as_make_query_writes_them(
    name: dns.name.Name, rdtype: int, edns: bool, dnssec_ok: bool, recursion_desired: bool,
    payload: int, identity: int,
) -> None:
    request = UpstreamRequest.build(
        identity, name_wire(name), rdtype, recursion_desired=recursion_desired,
        payload=payload if edns else None, dnssec_ok=edns and dnssec_ok)
    expected = dns.message.make_query(
        name, rdtype, use_edns=0 if edns else False, want_dnssec=edns and dnssec_ok,
        payload=payload if edns else None, id=identity,
        flags=dns.flags.RD if recursion_desired else 0)
    assert request.wire == expected.to_wire()
    assert (request.id, request.name, request.rdtype) == (identity, name.to_wire(), rdtype)


def test_randomise_case_flips_only_letters_and_keeps_the_name() -> None:
    name = dns.name.from_text("a1-b_2.xn--c3.example.")
    wire = name_wire(name)
    seen = {randomise_case(wire) for _ in range(64)}
    assert len(seen) > 1
    for randomised in seen:
        assert randomised.lower() == wire
        assert dns.name.from_wire(randomised, 0)[0] == name
    for index, octet in enumerate(wire):
        cases = {randomised[index] for randomised in seen}
        letter = chr(octet).isalpha()
        assert cases == ({octet, octet ^ 0x20} if letter else {octet}), chr(octet)
    assert randomise_case(b"\x00") == b"\x00"


def _reply(question: str, rdtype: str = "A") -> bytearray:
    query = dns.message.make_query(question, rdtype, id=7)
    return bytearray(dns.message.make_response(query).to_wire())


def test_a_reply_echoing_the_question_in_any_case_is_recognised() -> None:
    request = UpstreamRequest.build(7, name_wire(dns.name.from_text("wWw.Example.")), 1,
                                    recursion_desired=False, payload=1232, dnssec_ok=True)
    assert request.echoed_by(bytes(_reply("www.example.")))
    assert request.echoed_by(bytes(_reply("WWW.EXAMPLE.")))
    assert not request.echoed_by(bytes(_reply("www.example.", "AAAA")))
    assert not request.echoed_by(bytes(_reply("wwx.example.")))
    assert not request.echoed_by(bytes(_reply("www.example."))[:-1])
    update = _reply("www.example.")
    update[2] |= dns.opcode.to_flags(dns.opcode.UPDATE) >> 8
    assert not request.echoed_by(bytes(update))
    two = _reply("www.example.")
    two[5] = 2
    assert not request.echoed_by(bytes(two))
