"""Client query parsing and response rendering, rule by rule."""

from __future__ import annotations

import struct
from collections.abc import Callable

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from dnssec.status import Security
from resolver.messages import (
    ANY_TTL,
    OUR_UDP_PAYLOAD,
    TCP_SIZE_LIMIT,
    ClientQuery,
    DropQuery,
    QueryRejected,
    parse_query,
    render_any_response,
    render_error,
    render_response,
    udp_size_limit,
)
from resolver.question import ExtendedError, Outcome, Question

NAME = dns.name.from_text("www.example.")


def make_wire(
    name: str = "www.example.",
    rdtype: str | int = "A",
    rdclass: str | int = "IN",
    *,
    query_id: int = 4321,
    **kwargs: object,
) -> bytes:
    query = dns.message.make_query(name, rdtype, rdclass, id=query_id, **kwargs)  # type: ignore[arg-type]
    return query.to_wire()


def with_header(wire: bytes, *, flags: int | None = None, qdcount: int | None = None) -> bytes:
    query_id, old_flags, old_qdcount, rest = struct.unpack_from("!HHH6s", wire)
    header = struct.pack(
        "!HHH6s",
        query_id,
        old_flags if flags is None else flags,
        old_qdcount if qdcount is None else qdcount,
        rest,
    )
    return header + wire[12:]


def rejection(wire: bytes) -> QueryRejected:
    with pytest.raises(QueryRejected) as caught:
        parse_query(wire)
    return caught.value


def error_reply(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(render_error(rejection(wire), max_size=512))


def respond(
    query: ClientQuery, outcome: Outcome, *, max_size: int = TCP_SIZE_LIMIT
) -> dns.message.Message:
    return dns.message.from_wire(render_response(query, outcome, max_size=max_size))


def a_rrset(count: int = 1, name: dns.name.Name = NAME) -> dns.rrset.RRset:
    addresses = [
        f"192.0.2.{i}" if i < 256 else f"198.51.{i // 256}.{i % 256}" for i in range(count)
    ]
    return dns.rrset.from_text_list(name, 300, "IN", "A", addresses)


# --- parsing -----------------------------------------------------------------


def test_well_formed_query_keeps_id_question_bits_and_edns_payload() -> None:
    wire = make_wire(
        query_id=777, want_dnssec=True, payload=4096, flags=dns.flags.RD | dns.flags.CD
    )

    query = parse_query(wire)

    assert query == ClientQuery(
        id=777,
        question=Question(NAME, dns.rdatatype.A),
        rd=True,
        cd=True,
        ad=False,
        dnssec_ok=True,
        edns=True,
        payload=4096,
    )
    assert not query.is_any


def test_query_without_edns_has_payload_512() -> None:
    query = parse_query(make_wire(use_edns=False))

    assert (query.edns, query.dnssec_ok, query.payload) == (False, False, 512)


def test_edns_payload_below_512_counts_as_512_rfc6891() -> None:
    assert parse_query(make_wire(use_edns=0, payload=100)).payload == 512


def test_packet_shorter_than_a_header_is_dropped() -> None:
    with pytest.raises(DropQuery):
        parse_query(make_wire()[:11])


def test_response_is_dropped() -> None:
    wire = make_wire()
    flags = struct.unpack_from("!H", wire, 2)[0] | dns.flags.QR
    with pytest.raises(DropQuery):
        parse_query(with_header(wire, flags=flags))


@pytest.mark.parametrize("opcode", [dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.Opcode(3)])
def test_opcode_other_than_query_gets_notimp(opcode: dns.opcode.Opcode) -> None:
    wire = with_header(make_wire(), flags=dns.opcode.to_flags(opcode) | dns.flags.RD)

    reply = error_reply(wire)

    assert reply.rcode() == dns.rcode.NOTIMP
    assert reply.opcode() == opcode
    assert reply.id == 4321
    assert reply.flags & dns.flags.RD


@pytest.mark.parametrize("qdcount", [0, 2])
def test_question_count_other_than_one_gets_formerr_without_question(qdcount: int) -> None:
    reply = error_reply(with_header(make_wire(), qdcount=qdcount))

    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.question == []
    assert reply.id == 4321


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda wire: wire[:-3], id="cut-short"),
        pytest.param(lambda wire: wire + b"\x00", id="trailing-junk"),
        pytest.param(lambda wire: wire[:12] + b"\xc0\x0c" + wire[-4:], id="pointer-loop"),
    ],
)
def test_unparsable_message_gets_formerr_without_question(
    damage: Callable[[bytes], bytes],
) -> None:
    wire = damage(make_wire(use_edns=False))

    reply = error_reply(wire)

    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.question == []
    assert reply.opt is None


@pytest.mark.parametrize("rdclass", ["CH", "HS", "ANY"])
def test_class_other_than_in_is_refused(rdclass: str) -> None:
    reply = error_reply(make_wire("version.bind.", "TXT", rdclass))

    assert reply.rcode() == dns.rcode.REFUSED
    assert reply.question[0].rdclass == dns.rdataclass.from_text(rdclass)


@pytest.mark.parametrize("rdtype", ["AXFR", "IXFR"])
def test_zone_transfer_is_refused(rdtype: str) -> None:
    assert error_reply(make_wire(rdtype=rdtype)).rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("rdtype", ["OPT", "TSIG", "TKEY", "NONE"])
def test_meta_type_as_qtype_gets_formerr(rdtype: str) -> None:
    assert error_reply(make_wire(rdtype=rdtype)).rcode() == dns.rcode.FORMERR


@pytest.mark.parametrize("rdtype", ["MAILA", "MAILB"])
def test_obsolete_mail_qtype_gets_notimp(rdtype: str) -> None:
    assert error_reply(make_wire(rdtype=rdtype)).rcode() == dns.rcode.NOTIMP


def test_edns_version_other_than_0_gets_badvers_with_opt_rfc6891_6_1_3() -> None:
    reply = error_reply(make_wire(use_edns=1, want_dnssec=True))

    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.opt is not None
    assert reply.edns == 0
    assert reply.ednsflags & dns.flags.DO
    assert reply.question[0].name == NAME


# --- ANY (RFC 8482) ----------------------------------------------------------


def test_any_is_answered_with_synthesised_hinfo_rfc8482_4_2() -> None:
    query = parse_query(make_wire(rdtype="ANY"))
    assert query.is_any

    reply = dns.message.from_wire(render_any_response(query))

    assert reply.rcode() == dns.rcode.NOERROR
    [hinfo] = reply.answer
    assert (hinfo.name, hinfo.rdtype, hinfo.ttl) == (NAME, dns.rdatatype.HINFO, ANY_TTL)
    assert hinfo[0].cpu == b"RFC8482"
    assert hinfo[0].os == b""


# --- rendering ---------------------------------------------------------------


def test_response_copies_id_rd_cd_and_sets_ra_never_aa() -> None:
    query = ClientQuery(id=99, question=Question(NAME, dns.rdatatype.A), rd=True, cd=True)

    reply = respond(query, Outcome(rcode=dns.rcode.NOERROR, answer=(a_rrset(),)))

    assert reply.id == 99
    assert reply.flags & dns.flags.QR
    assert reply.flags & dns.flags.RA
    assert reply.flags & dns.flags.RD
    assert reply.flags & dns.flags.CD
    assert not reply.flags & dns.flags.AA
    assert reply.answer == [a_rrset()]
    assert reply.additional == []


def test_response_without_rd_or_cd_does_not_set_them_but_still_sets_ra() -> None:
    query = ClientQuery(id=1, question=Question(NAME, dns.rdatatype.A), rd=False, cd=False)

    reply = respond(query, Outcome(rcode=dns.rcode.NXDOMAIN))

    assert not reply.flags & (dns.flags.RD | dns.flags.CD)
    assert reply.flags & dns.flags.RA
    assert reply.rcode() == dns.rcode.NXDOMAIN


def test_question_is_echoed_with_the_clients_letter_case() -> None:
    query = parse_query(make_wire("wWw.ExAmPlE."))

    reply = respond(query, Outcome(rcode=dns.rcode.NOERROR, answer=(a_rrset(),)))

    assert reply.question[0].name.to_text() == "wWw.ExAmPlE."


@pytest.mark.parametrize(
    ("security", "ad", "dnssec_ok", "expect_ad"),
    [
        (Security.SECURE, True, False, True),
        (Security.SECURE, False, True, True),
        (Security.SECURE, False, False, False),
        (Security.INSECURE, True, True, False),
        (Security.INDETERMINATE, True, True, False),
        (Security.BOGUS, True, True, False),
    ],
)
def test_ad_only_for_secure_outcome_asked_with_ad_or_do_rfc6840_5_7(
    security: Security, ad: bool, dnssec_ok: bool, expect_ad: bool
) -> None:
    query = ClientQuery(
        id=1, question=Question(NAME, dns.rdatatype.A), ad=ad, dnssec_ok=dnssec_ok, edns=dnssec_ok
    )

    reply = respond(query, Outcome(dns.rcode.NOERROR, answer=(a_rrset(),), security=security))

    assert bool(reply.flags & dns.flags.AD) is expect_ad


def _signed_outcome(security: Security) -> Outcome:
    rrset = a_rrset()
    rrsig = dns.rrset.from_text(
        NAME, 300, "IN", "RRSIG", "A 13 2 300 20300101000000 20200101000000 1 example. AAAA"
    )
    nsec = dns.rrset.from_text("example.", 300, "IN", "NSEC", "www.example. A RRSIG NSEC")
    bogus = (ExtendedError(6, "www.example. A: bad"),) if security is Security.BOGUS else ()
    return Outcome(
        dns.rcode.NOERROR,
        answer=(rrset,),
        signatures=(rrsig,),
        proof=(nsec,),
        security=security,
        errors=bogus,
    )


def test_do_brings_the_rrsigs_after_their_rrset_and_the_proof() -> None:
    query = parse_query(make_wire(want_dnssec=True))
    reply = respond(query, _signed_outcome(Security.SECURE))
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.A, dns.rdatatype.RRSIG]
    assert [r.rdtype for r in reply.authority] == [dns.rdatatype.NSEC]
    plain = respond(parse_query(make_wire()), _signed_outcome(Security.SECURE))
    assert [r.rdtype for r in plain.answer] == [dns.rdatatype.A]
    assert plain.authority == []


def test_bogus_is_servfail_with_its_ede_and_no_data() -> None:
    reply = respond(parse_query(make_wire(want_dnssec=True)), _signed_outcome(Security.BOGUS))
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert reply.answer == []
    assert [e.code for e in reply.extended_errors()] == [6]


def test_bogus_with_cd_is_the_data_without_ad() -> None:
    query = parse_query(make_wire(want_dnssec=True, flags=dns.flags.RD | dns.flags.CD))
    reply = respond(query, _signed_outcome(Security.BOGUS))
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.A, dns.rdatatype.RRSIG]
    assert not reply.flags & dns.flags.AD
    assert reply.flags & dns.flags.CD


def test_edns_client_gets_opt_with_our_payload_do_echoed_and_ede() -> None:
    query = parse_query(make_wire(want_dnssec=True, payload=4096))
    outcome = Outcome.servfail(6, "DNSSEC bogus")

    reply = respond(query, outcome)

    assert reply.rcode() == dns.rcode.SERVFAIL
    assert reply.payload == OUR_UDP_PAYLOAD
    assert reply.ednsflags & dns.flags.DO
    [ede] = reply.extended_errors()
    assert (ede.code, ede.text) == (6, "DNSSEC bogus")


def test_ede_without_text_has_no_extra_text() -> None:
    query = parse_query(make_wire(use_edns=0))

    reply = respond(query, Outcome(dns.rcode.SERVFAIL, errors=(ExtendedError(22),)))

    [ede] = reply.extended_errors()
    assert (ede.code, ede.text) == (22, None)


def test_client_without_edns_gets_no_opt_and_no_ede() -> None:
    query = parse_query(make_wire(use_edns=False))

    reply = respond(query, Outcome.servfail(6, "DNSSEC bogus"))

    assert reply.opt is None
    assert reply.rcode() == dns.rcode.SERVFAIL


def test_extended_rcode_for_client_without_edns_becomes_servfail() -> None:
    query = parse_query(make_wire(use_edns=False))

    reply = respond(query, Outcome(rcode=dns.rcode.BADVERS))

    assert reply.opt is None
    assert reply.rcode() == dns.rcode.SERVFAIL


def test_clients_edns_options_are_not_echoed() -> None:
    wire = make_wire(use_edns=0, options=[dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")])

    reply = respond(parse_query(wire), Outcome(rcode=dns.rcode.NOERROR, answer=(a_rrset(),)))

    assert reply.options == ()


@pytest.mark.parametrize(
    ("payload", "limit"), [(None, 512), (100, 512), (800, 800), (1232, 1232), (4096, 1232)]
)
def test_udp_size_limit_is_client_payload_capped_at_1232_at_least_512(
    payload: int | None, limit: int
) -> None:
    wire = make_wire(use_edns=False) if payload is None else make_wire(use_edns=0, payload=payload)

    assert udp_size_limit(parse_query(wire)) == limit


@pytest.mark.parametrize(
    ("payload", "limit"), [(None, 512), (1232, 1232), (4096, 4096), (8192, 4096)]
)
def test_udp_size_limit_follows_a_raised_max_udp_size(payload: int | None, limit: int) -> None:
    wire = make_wire(use_edns=False) if payload is None else make_wire(use_edns=0, payload=payload)

    assert udp_size_limit(parse_query(wire), 4096) == limit


def test_response_too_big_is_truncated_to_question_and_opt() -> None:
    query = parse_query(make_wire(want_dnssec=True, payload=512))
    outcome = Outcome(dns.rcode.NOERROR, answer=(a_rrset(40),), errors=(ExtendedError(3, "stale"),))

    wire = render_response(query, outcome, max_size=udp_size_limit(query))
    reply = dns.message.from_wire(wire)

    assert len(wire) <= 512
    assert reply.flags & dns.flags.TC
    assert reply.question[0].name == NAME
    assert (reply.answer, reply.authority) == ([], [])
    assert reply.opt is not None
    assert reply.ednsflags & dns.flags.DO


def test_response_that_fits_is_not_truncated() -> None:
    query = parse_query(make_wire(payload=4096))

    wire = render_response(
        query, Outcome(dns.rcode.NOERROR, answer=(a_rrset(40),)), max_size=udp_size_limit(query)
    )
    reply = dns.message.from_wire(wire)

    assert not reply.flags & dns.flags.TC
    assert len(reply.answer[0]) == 40


def test_tcp_limit_fits_a_large_answer() -> None:
    query = parse_query(make_wire(use_edns=False))

    reply = respond(query, Outcome(dns.rcode.NOERROR, answer=(a_rrset(2000),)))

    assert not reply.flags & dns.flags.TC
    assert len(reply.answer[0]) == 2000
