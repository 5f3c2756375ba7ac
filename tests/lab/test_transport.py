"""LabTransport: the resolver's Transport protocol over the lab, in memory."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
import trio

from resolver.errors import MalformedResponse, UpstreamTimeout
from resolver.exchange import UpstreamQuery
from resolver.lab import Lab, LabReply, LabTransport, parse_fault


def _query(address: str, name: str = "www.example.com.", **options: object) -> UpstreamQuery:
    return UpstreamQuery(address, dns.name.from_text(name), dns.rdatatype.A, **options)  # type: ignore[arg-type]


async def test_exchange_returns_the_lab_answer_and_records_the_query(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    transport = LabTransport(fresh_lab)
    query = _query("127.53.3.1")
    reply = await transport.exchange(query)
    assert reply.message.answer[0][0].to_text() == "192.0.2.1"
    assert (reply.tcp, reply.edns) == (False, True)
    assert transport.sent == [query]


async def test_address_without_server_times_out_after_the_timeout(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    started = trio.current_time()
    with pytest.raises(UpstreamTimeout):
        await LabTransport(fresh_lab).exchange(_query("127.53.99.1", timeout=0.8))
    assert trio.current_time() - started == pytest.approx(0.8)


async def test_dropped_query_times_out(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(UpstreamTimeout):
        await LabTransport(fresh_lab).exchange(_query("127.53.3.22", "www.slow.com."))


async def test_delay_shorter_than_the_timeout_is_the_rtt(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    fresh_lab.set_fault("127.53.3.1", parse_fault("delay:300"))
    reply = await LabTransport(fresh_lab).exchange(_query("127.53.3.1"))
    assert reply.rtt == pytest.approx(0.3)


async def test_delay_past_the_timeout_times_out(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    fresh_lab.set_fault("127.53.3.1", parse_fault("delay:1500"))
    with pytest.raises(UpstreamTimeout):
        await LabTransport(fresh_lab).exchange(_query("127.53.3.1", timeout=1.0))


async def test_truncated_udp_reply_is_retried_over_tcp(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    reply = await LabTransport(fresh_lab).exchange(_query("127.53.3.23", "www.tcponly.com."))
    assert reply.tcp
    assert reply.message.answer


async def test_garbage_reply_is_ignored_until_the_timeout(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    """Random bytes do not carry our ID: not a reply (as over a socket), so the wait times out."""
    fresh_lab.set_fault("127.53.3.1", parse_fault("garbage"))
    started = trio.current_time()
    with pytest.raises(UpstreamTimeout):
        await LabTransport(fresh_lab).exchange(_query("127.53.3.1", timeout=1.0))
    assert trio.current_time() - started == pytest.approx(1.0)


async def test_a_reply_with_our_id_that_does_not_parse_is_malformed_at_the_timeout(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cut_short(address: str, wire: bytes, *, tcp: bool) -> LabReply:
        return LabReply(wire[:2] + b"\x81\x80\x00\x01")

    monkeypatch.setattr(fresh_lab, "handle", cut_short)
    transport = LabTransport(fresh_lab)
    with pytest.raises(MalformedResponse, match="unparseable"):
        await transport.exchange(_query("127.53.3.1"))
    assert transport.servers.snapshot()["unparseable"] == {"127.53.3.1": 1}


async def test_lab_servers_echo_the_question_in_the_case_it_was_sent(fresh_lab: Lab) -> None:
    """0x20 needs servers that preserve case; the lab's must, or every query would fall back."""
    for address, name in (("127.53.3.1", "wWw.ExAmPlE.cOm."), ("127.53.0.1", "CoM.")):
        query = dns.message.make_query(name, "A")
        wire = query.to_wire()
        for tcp in (False, True):
            reply = fresh_lab.handle(address, wire, tcp=tcp).wire
            assert reply is not None
            assert reply[12 : 12 + len(name) + 1] == wire[12 : 12 + len(name) + 1]


async def test_queries_to_the_lab_have_a_random_case_and_are_taken_without_drops(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dns.name.Name] = []
    answer = fresh_lab.handle

    def recording(address: str, wire: bytes, *, tcp: bool) -> LabReply:
        sent.append(dns.message.from_wire(wire).question[0].name)
        return answer(address, wire, tcp=tcp)

    monkeypatch.setattr(fresh_lab, "handle", recording)
    transport = LabTransport(fresh_lab)
    for _ in range(8):
        reply = await transport.exchange(_query("127.53.3.1"))
        # The reply comes back in the case the iterator asked, the answer's owner too.
        assert reply.message.question[0].name.labels == (b"www", b"example", b"com", b"")
        assert reply.message.answer[0].name.labels == (b"www", b"example", b"com", b"")
    assert len({name.labels for name in sent}) > 1
    assert all(name == dns.name.from_text("www.example.com.") for name in sent)
    snapshot = transport.servers.snapshot()
    assert snapshot["case_mismatches"] == {"127.53.3.1": 0}
    assert snapshot["case_fallbacks"] == {"127.53.3.1": 0}


async def test_formerr_without_opt_is_retried_without_edns(
    fresh_lab: Lab, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = fresh_lab.handle

    def edns_intolerant(address: str, wire: bytes, *, tcp: bool) -> LabReply:
        query = dns.message.from_wire(wire)
        if query.edns >= 0:
            response = dns.message.make_response(query)
            response.use_edns(False)
            response.set_rcode(dns.rcode.FORMERR)
            return LabReply(response.to_wire())
        return answer(address, wire, tcp=tcp)

    monkeypatch.setattr(fresh_lab, "handle", edns_intolerant)
    reply = await LabTransport(fresh_lab).exchange(_query("127.53.3.1"))
    assert not reply.edns
    assert reply.message.answer
