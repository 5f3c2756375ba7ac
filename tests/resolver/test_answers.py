"""The cache-hit fast path: a patched template is byte for byte the slow path's answer."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.answers import AnswerCache, clamp_ttls, parse_query, ttl_offsets
from resolver.cache import Lifetimes
from resolver.clock import FakeClock
from resolver.messages import OUR_UDP_PAYLOAD, render_response, udp_size_limit
from resolver.messages import parse_query as parse_client_query
from resolver.question import ExtendedError, Outcome
from resolver.server import DnsServer
from tests.strategies import FUZZ, mutated, query_wires

NAME = "www.example.com."


def query(name: str = NAME, *, qid: int = 7, **options: object) -> bytes:
    return dns.message.make_query(name, "A", id=qid, **options).to_wire()  # type: ignore[arg-type]


def outcome(ttl: int = 300, soa_ttl: int = 900, rcode: int = dns.rcode.NOERROR) -> Outcome:
    answer = dns.rrset.from_text(NAME, ttl, "IN", "A", "192.0.2.1", "192.0.2.2")
    soa = dns.rrset.from_text("example.com.", soa_ttl, "IN", "SOA", "ns. host. 1 2 3 4 5")
    return Outcome(rcode=dns.rcode.Rcode.make(rcode), answer=(answer,), authority=(soa,))


def slow(wire: bytes, result: Outcome) -> bytes:
    client = parse_client_query(wire)
    return render_response(client, result, max_size=udp_size_limit(client))


def shown(response: bytes | tuple[bytes, str] | None) -> object:
    """A response as comparable text: header, EDNS, and each section's records in order.

    dnspython shuffles the records of an RRset when rendering, so bytes differ
    from render to render; everything else must match exactly, case included.
    """
    assert response is not None
    wire = response if isinstance(response, bytes) else response[0]
    message = dns.message.from_wire(wire)
    sections = [
        [(rrset.name.to_text(), rrset.ttl, sorted(r.to_text() for r in rrset)) for rrset in section]
        for section in message.sections
    ]
    return (len(wire), message.id, message.flags, message.ednsflags, message.payload, sections)


@pytest.fixture
def answers(clock: FakeClock) -> AnswerCache:
    return AnswerCache(clock, udp_payload=OUR_UDP_PAYLOAD)


def test_a_repeat_is_the_slow_answer_with_its_own_id_case_and_rd(
    answers: AnswerCache, clock: FakeClock
) -> None:
    first = query()
    answers.remember(first, slow(first, outcome()))
    again = query("WwW.ExAmPlE.cOm.", qid=4242)
    again = again[:2] + bytes([again[2] & ~1]) + again[3:]  # RD=0
    ready = answers.answer(again, tcp=False)
    assert ready is not None
    assert ready[1] == "NOERROR"
    assert shown(ready) == shown(slow(again, outcome()))


def test_ttls_count_down_like_the_cache_and_the_template_dies_with_the_smallest(
    answers: AnswerCache, clock: FakeClock
) -> None:
    wire = query()
    answers.remember(wire, slow(wire, outcome(ttl=300, soa_ttl=900)))
    clock.advance(120.5)
    ready = answers.answer(wire, tcp=False)
    assert ready is not None
    assert shown(ready) == shown(slow(wire, outcome(ttl=180, soa_ttl=780)))
    clock.advance(180)
    assert answers.answer(wire, tcp=False) is None
    assert answers.statistics().entries == 0


@pytest.mark.parametrize(
    "variant",
    [
        {"use_edns": 0},
        {"want_dnssec": True},
        {"flags": dns.flags.RD | dns.flags.CD},
        {"flags": dns.flags.RD | dns.flags.AD},
    ],
)
def test_each_variant_of_a_question_has_its_own_template(
    answers: AnswerCache, variant: dict[str, object]
) -> None:
    plain = query(use_edns=False)
    answers.remember(plain, slow(plain, outcome()))
    other = query(**variant)
    assert answers.answer(other, tcp=False) is None
    answers.remember(other, slow(other, outcome()))
    assert shown(answers.answer(other, tcp=False)) == shown(slow(other, outcome()))
    assert shown(answers.answer(plain, tcp=False)) == shown(slow(plain, outcome()))


def test_dig_cookie_option_is_accepted() -> None:
    wire = query(use_edns=0, options=[dns.edns.GenericOption(dns.edns.COOKIE, b"12345678")])
    assert parse_query(wire, OUR_UDP_PAYLOAD) is not None


@pytest.mark.parametrize(
    "wire",
    [
        query(use_edns=1),
        query(use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")]),
        query(use_edns=0, options=[dns.edns.GenericOption(dns.edns.COOKIE, b"123")]),
        query() + b"\x00",
        query(use_edns=False)[:-1],
        b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
        dns.message.make_response(dns.message.make_query(NAME, "A")).to_wire(),
        dns.message.make_query(NAME, "A", rdclass="CH").to_wire(),
    ],
    ids=["edns1", "nsid", "bad-cookie", "trailing", "short", "pointer", "response", "chaos"],
)
def test_anything_unusual_takes_the_slow_path(wire: bytes) -> None:
    assert parse_query(wire, OUR_UDP_PAYLOAD) is None


def test_failures_truncations_and_zero_ttls_are_not_kept(answers: AnswerCache) -> None:
    wire = query()
    answers.remember(wire, slow(wire, Outcome.servfail(0, "x")))
    answers.remember(wire, slow(wire, outcome(ttl=0)))
    answers.remember(wire, slow(wire, Outcome(rcode=dns.rcode.NOERROR)))
    big = dns.rrset.from_text(NAME, 300, "IN", "TXT", *[f'"{i}{"x" * 200}"' for i in range(8)])
    answers.remember(wire, slow(wire, Outcome(rcode=dns.rcode.NOERROR, answer=(big,))))
    assert answers.statistics().stored == 0


def test_a_template_larger_than_this_clients_limit_is_a_miss(answers: AnswerCache) -> None:
    big = dns.rrset.from_text(NAME, 300, "IN", "TXT", *[f'"{i}{"x" * 200}"' for i in range(4)])
    result = Outcome(rcode=dns.rcode.NOERROR, answer=(big,))
    large = query(payload=1232)
    answers.remember(large, slow(large, result))
    assert answers.answer(large, tcp=False) is not None
    small = query(payload=512)
    assert answers.answer(small, tcp=False) is None  # the slow path truncates


def test_nxdomain_is_kept_and_counted(answers: AnswerCache) -> None:
    wire = query()
    answers.remember(wire, slow(wire, outcome(rcode=dns.rcode.NXDOMAIN)))
    ready = answers.answer(wire, tcp=True)
    assert ready is not None
    assert ready[1] == "NXDOMAIN"


def test_flushing_the_rrset_cache_drops_every_template(clock: FakeClock) -> None:
    generation = [0]
    answers = AnswerCache(
        clock, udp_payload=OUR_UDP_PAYLOAD, cache_generation=lambda: generation[0]
    )
    wire = query()
    answers.remember(wire, slow(wire, outcome()))
    generation[0] += 1
    assert answers.answer(wire, tcp=False) is None


def test_the_oldest_template_goes_first_when_full(clock: FakeClock) -> None:
    answers = AnswerCache(clock, udp_payload=OUR_UDP_PAYLOAD, max_entries=2)
    wires = [query(f"n{i}.example.com.") for i in range(3)]
    for wire in wires:
        answers.remember(wire, slow(wire, outcome()))
    assert answers.answer(wires[0], tcp=False) is None
    assert answers.answer(wires[1], tcp=False) is not None
    assert answers.answer(wires[2], tcp=False) is not None


def test_ttl_offsets_skip_opt_and_follow_compression() -> None:
    wire = query(want_dnssec=True)
    response = slow(wire, outcome(ttl=111, soa_ttl=222))
    message = dns.message.from_wire(response)
    assert len(ttl_offsets(response)) == 3
    assert message.answer[0].ttl == 111
    assert message.authority[0].ttl == 222


@settings(FUZZ)
@given(st.one_of(st.binary(max_size=80), mutated(query_wires())))
def test_no_packet_makes_the_fast_path_raise(wire: bytes) -> None:
    answers = AnswerCache(FakeClock(), udp_payload=OUR_UDP_PAYLOAD)
    answers.answer(wire, tcp=False)
    answers.remember(wire, slow(query(), outcome()))


async def test_the_server_answers_a_repeat_without_the_resolver(clock: FakeClock) -> None:
    calls: list[str] = []

    async def handler(client: object) -> Outcome:
        calls.append("resolved")
        return outcome()

    answers = AnswerCache(clock, udp_payload=OUR_UDP_PAYLOAD)
    server = DnsServer([("127.0.0.1", 0)], handler, answers=answers)  # type: ignore[arg-type]
    first = await server.answer(query(qid=1), "127.0.0.1", tcp=False)
    second = await server.answer(query(qid=2), "127.0.0.1", tcp=False)
    assert calls == ["resolved"]
    assert first is not None
    assert second is not None
    assert second[2:] == first[2:]
    assert server.stats.queries_udp == 2
    assert server.stats.responses["NOERROR"] == 2
    refused = await server.answer(query(qid=3), "192.0.2.9", tcp=False)
    assert refused is not None
    assert dns.message.from_wire(refused).rcode() == dns.rcode.REFUSED


async def test_answers_with_extended_errors_are_never_kept(clock: FakeClock) -> None:
    stale = Outcome(rcode=dns.rcode.NOERROR, answer=outcome().answer, errors=(ExtendedError(3),))

    async def handler(client: object) -> Outcome:
        return stale

    answers = AnswerCache(clock, udp_payload=OUR_UDP_PAYLOAD)
    server = DnsServer([("127.0.0.1", 0)], handler, answers=answers)  # type: ignore[arg-type]
    await server.answer(query(), "127.0.0.1", tcp=False)
    assert answers.statistics().stored == 0


async def test_a_bug_in_the_fast_path_costs_only_the_fast_path(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(AnswerCache):
        def answer(self, wire: bytes, *, tcp: bool) -> tuple[bytes, str] | None:
            raise RuntimeError("bug")

    async def handler(client: object) -> Outcome:
        return outcome()

    server = DnsServer(
        [("127.0.0.1", 0)], handler, answers=Broken(clock, udp_payload=OUR_UDP_PAYLOAD)
    )  # type: ignore[arg-type]
    response = await server.answer(query(), "127.0.0.1", tcp=False)
    assert response is not None
    assert dns.message.from_wire(response).rcode() == dns.rcode.NOERROR
    assert "ready-made answer path failed" in caplog.text


def _ttls(response: bytes | None) -> list[list[int]]:
    assert response is not None
    message = dns.message.from_wire(response)
    return [[rrset.ttl for rrset in section] for section in message.sections[1:3]]


@pytest.mark.parametrize("upstream_ttl", [3600, 2**31 - 1])
async def test_no_path_serves_a_ttl_above_max_ttl_and_templates_die_with_it(
    clock: FakeClock, upstream_ttl: int
) -> None:
    """Issue 16: TTL 3600 with max_ttl=5 was still served at 16 s, as 3584."""
    calls: list[str] = []

    async def handler(client: object) -> Outcome:
        calls.append("resolved")
        return outcome(ttl=upstream_ttl, soa_ttl=upstream_ttl)

    lifetimes = Lifetimes(max_ttl=5, max_negative_ttl=3)
    answers = AnswerCache(clock, udp_payload=OUR_UDP_PAYLOAD)
    server = DnsServer(
        [("127.0.0.1", 0)], handler, answers=answers, lifetimes=lambda: lifetimes  # type: ignore[arg-type]
    )
    first = await server.answer(query(qid=1), "127.0.0.1", tcp=False)
    # An SOA in the authority section is denial data (RFC 2308): max_negative_ttl.
    assert _ttls(first) == [[5], [3]]
    clock.advance(2)
    ready = await server.answer(query(qid=2), "127.0.0.1", tcp=False)
    assert _ttls(ready) == [[3], [1]]
    assert calls == ["resolved"]
    clock.advance(14)
    late = await server.answer(query(qid=3), "127.0.0.1", tcp=False)
    assert calls == ["resolved", "resolved"]  # the template died with its smallest TTL
    assert _ttls(late) == [[5], [3]]


async def test_a_negative_answer_is_clamped_to_max_negative_ttl(clock: FakeClock) -> None:
    async def handler(client: object) -> Outcome:
        soa = dns.rrset.from_text("example.com.", 900, "IN", "SOA", "ns. host. 1 2 3 4 900")
        return Outcome(rcode=dns.rcode.Rcode.NXDOMAIN, authority=(soa,))

    answers = AnswerCache(clock, udp_payload=OUR_UDP_PAYLOAD)
    lifetimes = Lifetimes(max_ttl=600, max_negative_ttl=30)
    server = DnsServer(
        [("127.0.0.1", 0)], handler, answers=answers, lifetimes=lambda: lifetimes  # type: ignore[arg-type]
    )
    assert _ttls(await server.answer(query(qid=1), "127.0.0.1", tcp=False)) == [[], [30]]
    clock.advance(31)
    assert answers.answer(query(qid=2), tcp=False) is None


def test_clamping_leaves_ttls_within_bounds_and_opt_alone() -> None:
    wire = query(want_dnssec=True)
    response = slow(wire, outcome(ttl=111, soa_ttl=222))
    assert clamp_ttls(response, Lifetimes()) is response
    clamped = clamp_ttls(response, Lifetimes(max_ttl=100, max_negative_ttl=50))
    message = dns.message.from_wire(clamped)
    assert [message.answer[0].ttl, message.authority[0].ttl] == [100, 50]
    assert message.ednsflags & dns.flags.DO
