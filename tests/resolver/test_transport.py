"""Behaviour of the UDP/TCP transport against tiny fake authoritative servers.

Run inside a private network namespace (these open loopback sockets)::

    unshare -n sh -c 'ip link set lo up && .venv/bin/python -m pytest tests/resolver/'
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio
import trio.testing

from resolver.errors import EgressRefused, MalformedResponse, NetworkError, UpstreamTimeout
from resolver.exchange import UpstreamQuery
from resolver.transport import (
    CASE_FALLBACK_PERIOD,
    REFUSAL_WARNING_INTERVAL,
    UdpTcpTransport,
)

SERVER = "127.53.0.1"
QNAME = dns.name.from_text("www.example.")
ANSWER = "192.0.2.80"

#: Given a query, the wire messages the fake server sends back (in order).
Responder = Callable[[dns.message.Message], list[bytes]]


@dataclass
class FakeServer:
    """A fake authoritative server: what it was asked, over which transport."""

    port: int
    udp_queries: list[dns.message.Message] = field(default_factory=list)
    tcp_queries: list[dns.message.Message] = field(default_factory=list)


def answer(query: dns.message.Message, address: str = ANSWER) -> dns.message.Message:
    response = dns.message.make_response(query)
    (question,) = query.question
    response.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A", address))
    return response


def answering(query: dns.message.Message) -> list[bytes]:
    return [answer(query).to_wire()]


def silent(query: dns.message.Message) -> list[bytes]:
    return []


async def start_server(
    nursery: trio.Nursery,
    udp: Responder,
    tcp: Responder = silent,
    address: str = SERVER,
) -> FakeServer:
    """Serve ``udp`` on a UDP port of ``address`` and ``tcp`` on the same TCP port."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    udp_sock = trio.socket.socket(family, socket.SOCK_DGRAM)
    await udp_sock.bind((address, 0))
    server = FakeServer(port=udp_sock.getsockname()[1])
    (listener,) = await trio.open_tcp_listeners(server.port, host=address)

    async def serve_udp() -> None:
        with udp_sock:
            while True:
                data, peer = await udp_sock.recvfrom(65535)
                query = dns.message.from_wire(data)
                server.udp_queries.append(query)
                for datagram in udp(query):
                    await udp_sock.sendto(datagram, peer)

    async def serve_tcp(stream: trio.SocketStream) -> None:
        async with stream:
            (length,) = struct.unpack("!H", await receive_exactly(stream, 2))
            query = dns.message.from_wire(await receive_exactly(stream, length))
            server.tcp_queries.append(query)
            for wire in tcp(query):
                await stream.send_all(struct.pack("!H", len(wire)) + wire)

    nursery.start_soon(serve_udp)
    nursery.start_soon(trio.serve_listeners, serve_tcp, [listener])
    return server


async def receive_exactly(stream: trio.SocketStream, count: int) -> bytes:
    data = b""
    while len(data) < count:
        data += await stream.receive_some(count - len(data))
    return data


def query_for(
    address: str = SERVER,
    *,
    edns: bool = True,
    dnssec_ok: bool = True,
    timeout: float = 1.0,
    listen: float | None = None,
) -> UpstreamQuery:
    return UpstreamQuery(address, QNAME, dns.rdatatype.A, edns, dnssec_ok, timeout, listen=listen)


def first_address(message: dns.message.Message) -> str:
    return str(message.answer[0][0])


async def test_normal_answer_over_udp_with_edns_and_do(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, answering)
    reply = await UdpTcpTransport(port=server.port).exchange(query_for())

    assert (reply.address, reply.tcp, reply.edns) == (SERVER, False, True)
    assert first_address(reply.message) == ANSWER
    assert reply.rtt >= 0
    (sent,) = server.udp_queries
    assert not sent.flags & dns.flags.RD
    assert sent.edns == 0
    assert sent.payload == 1232
    assert sent.ednsflags & dns.flags.DO


async def test_query_without_edns_has_no_opt_and_dnssec_ok_only_sets_do(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery, answering)
    transport = UdpTcpTransport(port=server.port, udp_payload=4000)
    await transport.exchange(query_for(edns=False))
    await transport.exchange(query_for(dnssec_ok=False))

    plain, no_do = server.udp_queries
    assert plain.opt is None
    assert no_do.payload == 4000
    assert not no_do.ednsflags & dns.flags.DO


async def test_each_query_uses_a_fresh_id(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, answering)
    transport = UdpTcpTransport(port=server.port)
    for _ in range(8):
        await transport.exchange(query_for())
    assert len({query.id for query in server.udp_queries}) > 1


async def test_reply_with_wrong_id_is_ignored_then_right_one_accepted(
    nursery: trio.Nursery,
) -> None:
    def spoofed_first(query: dns.message.Message) -> list[bytes]:
        spoof = answer(query, "198.51.100.66")
        spoof.id = (query.id + 1) % 65536
        return [spoof.to_wire(), b"\x00", answering(query)[0]]

    server = await start_server(nursery, spoofed_first)
    reply = await UdpTcpTransport(port=server.port).exchange(query_for())
    assert first_address(reply.message) == ANSWER


async def test_reply_to_another_question_or_not_a_reply_is_ignored(
    nursery: trio.Nursery,
) -> None:
    def confusing_first(query: dns.message.Message) -> list[bytes]:
        other = dns.message.make_query("other.example.", "A", id=query.id)
        other_reply = answer(other, "198.51.100.66")
        other_type = dns.message.make_response(dns.message.make_query(QNAME, "AAAA", id=query.id))
        echo = query.to_wire()  # right ID and question, but QR=0
        return [other_reply.to_wire(), other_type.to_wire(), echo, answering(query)[0]]

    server = await start_server(nursery, confusing_first)
    reply = await UdpTcpTransport(port=server.port).exchange(query_for())
    assert first_address(reply.message) == ANSWER


async def test_no_reply_times_out_and_closes_the_socket(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await start_server(nursery, silent)
    created: list[trio.socket.SocketType] = []
    real_socket = trio.socket.socket

    def recording_socket(*args: int) -> trio.socket.SocketType:
        created.append(real_socket(*args))
        return created[-1]

    monkeypatch.setattr("resolver.transport.trio.socket.socket", recording_socket)
    started = trio.current_time()
    with pytest.raises(UpstreamTimeout):
        await UdpTcpTransport(port=server.port).exchange(query_for(timeout=0.8))
    assert trio.current_time() - started == pytest.approx(0.8)
    assert [sock.fileno() for sock in created] == [-1]


async def test_rtt_is_measured_on_the_trio_clock(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def slow_server(task_status: trio.TaskStatus[int]) -> None:
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind((SERVER, 0))
            task_status.started(sock.getsockname()[1])
            data, peer = await sock.recvfrom(65535)
            await trio.sleep(0.25)
            await sock.sendto(answering(dns.message.from_wire(data))[0], peer)

    port = await nursery.start(slow_server)
    reply = await UdpTcpTransport(port=port).exchange(query_for())
    assert reply.rtt == pytest.approx(0.25, abs=0.01)


async def test_truncated_reply_is_repeated_over_tcp(nursery: trio.Nursery) -> None:
    def truncated(query: dns.message.Message) -> list[bytes]:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.TC
        return [response.to_wire()]

    def wrong_id_then_answer(query: dns.message.Message) -> list[bytes]:
        stale = answer(query, "198.51.100.66")
        stale.id = (query.id + 1) % 65536
        return [stale.to_wire(), answering(query)[0]]

    server = await start_server(nursery, truncated, tcp=wrong_id_then_answer)
    reply = await UdpTcpTransport(port=server.port).exchange(query_for())

    assert (reply.tcp, reply.edns) == (True, True)
    assert first_address(reply.message) == ANSWER
    (tcp_query,) = server.tcp_queries
    assert tcp_query.question == server.udp_queries[0].question


async def test_truncated_reply_with_cut_off_records_still_goes_to_tcp(
    nursery: trio.Nursery,
) -> None:
    def cut_off(query: dns.message.Message) -> list[bytes]:
        response = answer(query)
        response.flags |= dns.flags.TC
        return [response.to_wire()[:-3]]

    server = await start_server(nursery, cut_off, tcp=answering)
    reply = await UdpTcpTransport(port=server.port).exchange(query_for())
    assert reply.tcp
    assert first_address(reply.message) == ANSWER


@pytest.mark.parametrize("rcode", [dns.rcode.FORMERR, dns.rcode.NOTIMP])
async def test_edns_rejection_is_retried_once_without_edns(
    nursery: trio.Nursery, rcode: dns.rcode.Rcode
) -> None:
    def no_edns_server(query: dns.message.Message) -> list[bytes]:
        if query.opt is None:
            return answering(query)
        rejection = dns.message.make_response(query)
        rejection.use_edns(False)
        rejection.set_rcode(rcode)
        return [rejection.to_wire()]

    server = await start_server(nursery, no_edns_server)
    reply = await UdpTcpTransport(port=server.port).exchange(query_for())

    assert reply.edns is False
    assert first_address(reply.message) == ANSWER
    with_opt, without_opt = server.udp_queries
    assert with_opt.opt is not None
    assert without_opt.opt is None


async def test_edns_rejection_without_question_section_is_accepted(
    nursery: trio.Nursery,
) -> None:
    def bare_formerr(query: dns.message.Message) -> list[bytes]:
        if query.opt is None:
            return answering(query)
        header = struct.pack("!HHHHHH", query.id, 0x8000 | dns.rcode.FORMERR, 0, 0, 0, 0)
        return [header]

    server = await start_server(nursery, bare_formerr)
    reply = await UdpTcpTransport(port=server.port).exchange(query_for())
    assert reply.edns is False


async def test_formerr_from_an_edns_speaker_is_returned_as_is(nursery: trio.Nursery) -> None:
    def formerr(query: dns.message.Message) -> list[bytes]:
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.FORMERR)
        return [response.to_wire()]

    server = await start_server(nursery, formerr)
    reply = await UdpTcpTransport(port=server.port).exchange(query_for())
    assert (reply.message.rcode(), reply.edns) == (dns.rcode.FORMERR, True)
    assert len(server.udp_queries) == 1


def garbage(query: dns.message.Message) -> list[bytes]:
    return [struct.pack("!H", query.id) + b"\x81\x80\x00\x01"]


async def test_garbage_with_our_id_is_dropped_and_the_genuine_reply_taken(
    nursery: trio.Nursery,
) -> None:
    """A forger's unparseable reply with our ID must not end the wait (issue 16, item 8)."""

    def garbage_first(query: dns.message.Message) -> list[bytes]:
        cut_off = answer(query).to_wire()[:-3]  # our ID and question, records cut short
        return [*garbage(query), cut_off, *answering(query)]

    server = await start_server(nursery, garbage_first)
    transport = UdpTcpTransport(port=server.port)
    reply = await transport.exchange(query_for())
    assert first_address(reply.message) == ANSWER
    assert transport.servers.snapshot()["unparseable"] == {SERVER: 2}


async def test_only_garbage_with_our_id_is_malformed_at_the_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(nursery, garbage)
    started = trio.current_time()
    with pytest.raises(MalformedResponse, match="unparseable"):
        await UdpTcpTransport(port=server.port).exchange(query_for(timeout=0.8))
    assert trio.current_time() - started == pytest.approx(0.8)


async def test_a_hedged_query_listens_on_after_its_timeout_but_not_after_garbage(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A silent server may still answer late (resolver.hedging); one that sent garbage won't."""
    server = await start_server(nursery, garbage)
    started = trio.current_time()
    with pytest.raises(MalformedResponse, match="unparseable"):
        await UdpTcpTransport(port=server.port).exchange(query_for(timeout=0.8, listen=4.0))
    assert trio.current_time() - started == pytest.approx(0.8)
    silent = await start_server(nursery, lambda query: [])
    started = trio.current_time()
    transport = UdpTcpTransport(port=silent.port)
    with pytest.raises(UpstreamTimeout):
        await transport.exchange(query_for(timeout=0.8, listen=4.0))
    assert trio.current_time() - started == pytest.approx(4.0)
    assert transport.servers.snapshot()["timeouts"] == {SERVER: 1}


async def test_data_without_a_question_is_malformed_not_a_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Deckard's iter_req_qname: the server's failure, so it is not asked again in rounds."""

    def no_question(query: dns.message.Message) -> list[bytes]:
        response = answer(query)
        response.question = []
        return [response.to_wire()]

    server = await start_server(nursery, no_question)
    transport = UdpTcpTransport(port=server.port)
    with pytest.raises(MalformedResponse):
        await transport.exchange(query_for(timeout=0.8))
    assert transport.servers.snapshot()["unparseable"] == {SERVER: 1}


async def test_truncated_reply_over_tcp_is_a_failure_of_the_server(
    nursery: trio.Nursery,
) -> None:
    """TC=1 over TCP is not an empty answer (Knot Resolver: "TC=1 with TCP, bailing out")."""

    def truncated(query: dns.message.Message) -> list[bytes]:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.TC
        return [response.to_wire()]

    server = await start_server(nursery, truncated, tcp=truncated)
    with pytest.raises(MalformedResponse, match="TC=1 over TCP"):
        await UdpTcpTransport(port=server.port).exchange(query_for())
    assert len(server.tcp_queries) == 1


async def test_icmp_port_unreachable_is_a_network_error() -> None:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        await probe.bind((SERVER, 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(NetworkError):
        await UdpTcpTransport(port=closed_port).exchange(query_for())


async def test_ipv6_server(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, answering, address="::1")
    reply = await UdpTcpTransport(port=server.port).exchange(query_for("::1"))
    assert first_address(reply.message) == ANSWER


async def test_egress_outside_allow_list_is_refused_before_any_socket_exists(
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_socket(*args: int) -> trio.socket.SocketType:
        raise AssertionError("a socket was created for a refused address")

    monkeypatch.setattr("resolver.transport.trio.socket.socket", no_socket)
    transport = UdpTcpTransport(allow=[ipaddress.ip_network("127.0.0.0/8")])
    caplog.set_level(logging.WARNING, logger="holdfast.transport")

    for _ in range(3):
        with pytest.raises(EgressRefused):
            await transport.exchange(query_for("192.0.2.53"))
    with pytest.raises(EgressRefused):
        await transport.exchange(query_for("2001:db8::53"))
    with pytest.raises(EgressRefused):
        await transport.exchange(query_for("not-an-address"))
    warned = [record.getMessage() for record in caplog.records]
    assert len(warned) == 2
    assert "192.0.2.53" in warned[0]

    await trio.sleep(REFUSAL_WARNING_INTERVAL)
    with pytest.raises(EgressRefused):
        await transport.exchange(query_for("192.0.2.53"))
    assert len(caplog.records) == 3


async def test_allow_list_admits_addresses_inside_it(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, answering)
    transport = UdpTcpTransport(port=server.port, allow=[ipaddress.ip_network("127.53.0.0/16")])
    reply = await transport.exchange(query_for())
    assert first_address(reply.message) == ANSWER


# --- 0x20: the case of the query name --------------------------------------------------


def swapcase(name: dns.name.Name) -> dns.name.Name:
    """``name`` with every letter in the other case: what a case-mangling server sends."""
    return dns.name.Name(label.swapcase() for label in name.labels)


def in_other_case(response: dns.message.Message) -> dns.message.Message:
    """``response`` with its question name in the other case (a new question RRset:
    ``make_response`` shares the query's)."""
    (question,) = response.question
    response.question = [
        dns.rrset.RRset(swapcase(question.name), question.rdclass, question.rdtype)
    ]
    return response


def case_changing(query: dns.message.Message) -> list[bytes]:
    """A server that answers correctly but writes the question name in another case."""
    return [in_other_case(answer(query)).to_wire()]


async def test_each_query_name_gets_a_random_case_and_the_reply_comes_back_as_asked(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery, answering)
    transport = UdpTcpTransport(port=server.port)
    for _ in range(8):
        reply = await transport.exchange(query_for())
        # The answer's owner is compressed against the question: both as the iterator asked.
        assert reply.message.question[0].name.labels == QNAME.labels
        assert reply.message.answer[0].name.labels == QNAME.labels
    sent = [query.question[0].name for query in server.udp_queries]
    assert all(name == QNAME for name in sent)
    assert len({name.labels for name in sent}) > 1


def owner_written_out(query: dns.message.Message) -> list[bytes]:
    """An answer whose owner is the query name written in full (as sent), not a pointer."""
    wire = answer(query).to_wire()
    return [wire.replace(b"\xc0\x0c", query.question[0].name.to_wire(), 1)]


def dname_answer(query: dns.message.Message) -> list[bytes]:
    """A DNAME answer: the CNAME's target begins with the query name's first label, as sent."""
    response = dns.message.make_response(query)
    (question,) = query.question
    target = dns.name.Name((question.name.labels[0], b"other", b""))
    response.answer.append(dns.rrset.from_text("example.", 300, "IN", "DNAME", "other."))
    response.answer.append(
        dns.rrset.from_text(question.name, 300, "IN", "CNAME", target.to_text()))
    return [response.to_wire()]


@pytest.mark.parametrize("responder", [owner_written_out, dname_answer])
async def test_the_random_case_a_server_wrote_out_is_put_back_as_asked(
    nursery: trio.Nursery, responder: Responder
) -> None:
    server = await start_server(nursery, responder)
    transport = UdpTcpTransport(port=server.port)
    for _ in range(4):
        reply = await transport.exchange(query_for())
        owners = [rrset.name.labels for rrset in reply.message.answer]
        assert QNAME.labels in owners
        for rrset in reply.message.answer:
            if rrset.rdtype == dns.rdatatype.CNAME:
                assert rrset[0].target.labels == (b"www", b"other", b"")
    sent = {query.question[0].name.labels for query in server.udp_queries}
    assert len(sent) > 1  # the case was random: there was something to put back


async def test_without_case_randomisation_the_name_goes_as_asked(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, answering)
    await UdpTcpTransport(port=server.port, case_randomisation=False).exchange(query_for())
    assert server.udp_queries[0].question[0].name.labels == QNAME.labels


async def test_names_under_an_exempt_zone_go_without_0x20_in_lower_case(
    nursery: trio.Nursery,
) -> None:
    """``[upstream] qname_case_exempt`` (Unbound caps-exempt, Knot Resolver's workarounds):
    servers that mishandle mixed case get the name in lower case, whatever the client's case."""
    server = await start_server(nursery, answering)
    transport = UdpTcpTransport(port=server.port, case_exempt=[dns.name.from_text("example.")])
    mixed = dns.name.from_text("WWW.Example.")
    other = dns.name.from_text("www.example.net.")
    for qname in (mixed, mixed, other, other, other, other):
        query = UpstreamQuery(SERVER, qname, dns.rdatatype.A)
        reply = await transport.exchange(query)
        assert reply.message.question[0].name.labels == qname.labels
    sent = [query.question[0].name.labels for query in server.udp_queries]
    assert sent[:2] == [(b"www", b"example", b""), (b"www", b"example", b"")]
    # Other names still get a random case.
    assert len(set(sent[2:])) > 1


async def test_a_reply_with_the_name_in_another_case_is_dropped_and_counted(
    nursery: trio.Nursery,
) -> None:
    """A forger who guessed port and ID but not the case loses to the genuine reply."""

    def forged_first(query: dns.message.Message) -> list[bytes]:
        forged = in_other_case(answer(query, "198.51.100.66"))
        return [forged.to_wire(), *answering(query)]

    server = await start_server(nursery, forged_first)
    transport = UdpTcpTransport(port=server.port)
    reply = await transport.exchange(query_for())
    assert first_address(reply.message) == ANSWER
    assert not reply.tcp
    assert transport.servers.snapshot()["case_mismatches"] == {SERVER: 1}


async def test_only_wrong_case_over_udp_is_asked_again_over_tcp_and_randomising_goes_on(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A spoofer alone cannot turn 0x20 off: the TCP reply preserves the case."""

    def forged_only(query: dns.message.Message) -> list[bytes]:
        return [in_other_case(answer(query, "198.51.100.66")).to_wire()]

    server = await start_server(nursery, forged_only, tcp=answering)
    transport = UdpTcpTransport(port=server.port)
    reply = await transport.exchange(query_for(timeout=0.5))
    assert reply.tcp
    assert first_address(reply.message) == ANSWER
    assert transport.servers.snapshot()["case_fallbacks"] == {SERVER: 0}
    assert transport._randomises(SERVER)


async def test_a_server_that_changes_case_over_tcp_too_gets_plain_queries_for_a_while(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(nursery, case_changing, tcp=case_changing)
    transport = UdpTcpTransport(port=server.port)

    first = await transport.exchange(query_for(timeout=0.5))
    assert first.tcp
    assert first_address(first.message) == ANSWER
    assert first.message.question[0].name.labels == QNAME.labels
    assert transport.servers.snapshot()["case_fallbacks"] == {SERVER: 1}

    second = await transport.exchange(query_for(timeout=0.5))
    assert not second.tcp
    assert server.udp_queries[-1].question[0].name.labels == QNAME.labels

    await trio.sleep(CASE_FALLBACK_PERIOD)
    third = await transport.exchange(query_for(timeout=0.5))
    assert third.tcp  # randomised again, found out again
    assert transport.servers.snapshot()["case_fallbacks"] == {SERVER: 2}


async def test_a_tcp_only_query_skips_udp(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, answering, tcp=answering)
    query = UpstreamQuery(SERVER, QNAME, dns.rdatatype.A, tcp=True)
    reply = await UdpTcpTransport(port=server.port).exchange(query)
    assert reply.tcp
    assert (len(server.udp_queries), len(server.tcp_queries)) == (0, 1)
