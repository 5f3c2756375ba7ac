"""The DNS server: the answer pipeline, and UDP/TCP service over loopback sockets.

The socket tests bind 127.0.0.1 (and ::1 when available) on port 0; run them
inside a private network namespace::

    unshare -n sh -c 'ip link set lo up && .venv/bin/pytest tests/resolver/test_server.py'

Timeouts run on Trio's autojump clock: nothing waits in wall time.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

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
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.access import AccessList
from resolver.answers import AnswerCache
from resolver.clock import SystemClock
from resolver.errors import QueryError, UpstreamTimeout
from resolver.messages import OUR_UDP_PAYLOAD, ClientQuery
from resolver.question import Outcome
from resolver.server import (
    BindError,
    DnsServer,
    Endpoint,
    ServerLimits,
)
from tests.strategies import FUZZ, mutated, query_wires

LOCAL = "127.0.0.1"
SLOW = dns.name.from_text("slow.example.")


def address_record(query: ClientQuery) -> Outcome:
    rrset = dns.rrset.from_text(query.question.name, 300, "IN", "A", "192.0.2.1")
    return Outcome(rcode=dns.rcode.NOERROR, answer=(rrset,))


async def answering(query: ClientQuery) -> Outcome:
    return address_record(query)


def wire_query(name: str = "www.example.", rdtype: str = "A", query_id: int = 1) -> bytes:
    return dns.message.make_query(name, rdtype, id=query_id).to_wire()


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@contextmanager
def logged_errors() -> Iterator[list[logging.LogRecord]]:
    """Collect the ERROR records of ``holdfast.server`` (caplog is per test, not per example)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    collector = Collect(logging.ERROR)
    logger = logging.getLogger("holdfast.server")
    logger.addHandler(collector)
    try:
        yield records
    finally:
        logger.removeHandler(collector)


@asynccontextmanager
async def running(server: DnsServer) -> AsyncIterator[list[Endpoint]]:
    async with trio.open_nursery() as nursery:
        endpoints = await nursery.start(server.serve)
        yield endpoints
        nursery.cancel_scope.cancel()


async def ask_udp(endpoint: Endpoint, wire: bytes) -> dns.message.Message:
    family = socket.AF_INET6 if ":" in endpoint[0] else socket.AF_INET
    with trio.socket.socket(family, socket.SOCK_DGRAM) as sock:
        await sock.sendto(wire, endpoint)
        with trio.fail_after(5):
            return dns.message.from_wire(await sock.recv(65535))


class TcpClient:
    """A DNS-over-TCP client that reads whole frames."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    @asynccontextmanager
    async def connect(cls, endpoint: Endpoint) -> AsyncIterator[TcpClient]:
        async with await trio.open_tcp_stream(*endpoint) as stream:
            yield cls(stream)

    async def send(self, *wires: bytes) -> None:
        await self.stream.send_all(b"".join(len(w).to_bytes(2, "big") + w for w in wires))

    async def receive(self) -> dns.message.Message:
        with trio.fail_after(30):
            while len(self.buffer) < 2 or len(self.buffer) < 2 + int.from_bytes(self.buffer[:2]):
                data = await self.stream.receive_some()
                assert data, "connection closed"
                self.buffer += data
        end = 2 + int.from_bytes(self.buffer[:2])
        message = dns.message.from_wire(bytes(self.buffer[2:end]))
        del self.buffer[:end]
        return message

    async def closed_by_server(self) -> bool:
        with trio.fail_after(60):
            try:
                return await self.stream.receive_some() == b""
            except trio.BrokenResourceError:
                return True


# --- the answer pipeline, without sockets ---------------------------------------


@settings(FUZZ)
@given(wire=st.one_of(st.binary(max_size=600), mutated(query_wires()), query_wires()))
async def test_any_packet_gets_no_answer_or_a_parseable_reply_with_its_id(wire: bytes) -> None:
    server = DnsServer([], answering)

    with logged_errors() as errors:
        reply = await server.answer(wire, LOCAL, tcp=False)

    assert errors == []
    if reply is not None:
        assert len(reply) <= 512
        assert dns.message.from_wire(reply).id == int.from_bytes(wire[:2])


async def test_answer_resolves_through_the_handler_and_counts() -> None:
    server = DnsServer([], answering)

    reply = dns.message.from_wire(
        await server.answer(wire_query(query_id=7), LOCAL, tcp=True) or b""
    )

    assert (reply.id, reply.rcode()) == (7, dns.rcode.NOERROR)
    assert reply.answer[0][0].to_text() == "192.0.2.1"
    assert server.stats.queries_tcp == 1
    assert server.stats.responses["NOERROR"] == 1


async def test_answer_drops_a_response_and_counts_it() -> None:
    server = DnsServer([], answering)
    response = dns.message.make_response(dns.message.make_query("www.example.", "A")).to_wire()

    assert await server.answer(response, LOCAL, tcp=False) is None
    assert server.stats.dropped == 1


async def test_any_is_answered_without_the_handler() -> None:
    async def must_not_run(query: ClientQuery) -> Outcome:
        raise AssertionError("resolved an ANY query")

    server = DnsServer([], must_not_run)

    reply = dns.message.from_wire(
        await server.answer(wire_query(rdtype="ANY"), LOCAL, tcp=False) or b""
    )

    assert reply.answer[0].rdtype == dns.rdatatype.HINFO


@pytest.mark.parametrize(
    "wire",
    [wire_query(query_id=5), wire_query(query_id=5)[:-1], wire_query("version.bind.", "TXT", 5)],
    ids=["valid", "malformed", "class-IN-only"],
)
async def test_client_outside_acl_is_refused_with_ede_prohibited(wire: bytes) -> None:
    server = DnsServer([], answering, AccessList(["192.0.2.0/24"]))

    raw = await server.answer(wire, LOCAL, tcp=False)

    assert raw is not None
    reply = dns.message.from_wire(raw)
    assert (reply.id, reply.rcode()) == (5, dns.rcode.REFUSED)
    assert server.stats.refused_by_acl == 1


async def test_acl_refusal_carries_ede_18_for_edns_clients() -> None:
    server = DnsServer([], answering, AccessList(["192.0.2.0/24"]))
    wire = dns.message.make_query("www.example.", "A", use_edns=0).to_wire()

    reply = dns.message.from_wire(await server.answer(wire, LOCAL, tcp=False) or b"")

    assert [error.code for error in reply.extended_errors()] == [dns.edns.EDECode.PROHIBITED]


@pytest.mark.parametrize(
    ("raised", "rcode"),
    [
        (QueryError(dns.rcode.REFUSED, "policy"), dns.rcode.REFUSED),
        (UpstreamTimeout("192.0.2.53", "no reply"), dns.rcode.SERVFAIL),
    ],
)
async def test_holdfast_error_from_handler_maps_to_its_rcode(
    raised: Exception, rcode: dns.rcode.Rcode
) -> None:
    async def failing(query: ClientQuery) -> Outcome:
        raise raised

    server = DnsServer([], failing)

    reply = dns.message.from_wire(await server.answer(wire_query(), LOCAL, tcp=False) or b"")

    assert reply.rcode() == rcode


async def test_handler_bug_is_logged_with_traceback_and_answered_servfail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def buggy(query: ClientQuery) -> Outcome:
        raise KeyError("oops")

    server = DnsServer([], buggy)

    reply = dns.message.from_wire(await server.answer(wire_query(), LOCAL, tcp=False) or b"")

    assert reply.rcode() == dns.rcode.SERVFAIL
    [record] = [r for r in caplog.records if r.name == "holdfast.server"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert server.stats.responses["SERVFAIL"] == 1


async def test_unrenderable_outcome_is_logged_and_answered_servfail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def relative_names(query: ClientQuery) -> Outcome:
        rrset = dns.rrset.from_text(dns.name.from_text("www", None), 300, "IN", "A", "192.0.2.1")
        return Outcome(rcode=dns.rcode.NOERROR, answer=(rrset,))

    server = DnsServer([], relative_names)

    reply = dns.message.from_wire(await server.answer(wire_query(), LOCAL, tcp=False) or b"")

    assert reply.rcode() == dns.rcode.SERVFAIL
    assert any(r.exc_info for r in caplog.records if r.name == "holdfast.server")


async def test_cancellation_of_a_query_propagates() -> None:
    async def forever(query: ClientQuery) -> Outcome:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    server = DnsServer([], forever)

    with trio.CancelScope() as scope:
        scope.cancel()
        await server.answer(wire_query(), LOCAL, tcp=False)
        pytest.fail("answer() swallowed the cancellation")
    assert scope.cancelled_caught


# --- over sockets ----------------------------------------------------------------


async def test_udp_query_is_answered() -> None:
    server = DnsServer([(LOCAL, 0)], answering)

    async with running(server) as [endpoint]:
        reply = await ask_udp(endpoint, wire_query(query_id=42))

    assert endpoint[1] != 0
    assert (reply.id, reply.rcode()) == (42, dns.rcode.NOERROR)
    assert reply.flags & dns.flags.RA
    assert server.stats.queries_udp == 1


async def test_udp_repeat_is_answered_ready_made_and_each_query_counted_once() -> None:
    answers = AnswerCache(SystemClock(), udp_payload=OUR_UDP_PAYLOAD)
    server = DnsServer([(LOCAL, 0)], answering, answers=answers)

    async with running(server) as [endpoint]:
        first = await ask_udp(endpoint, wire_query(query_id=1))
        second = await ask_udp(endpoint, wire_query(query_id=2))

    assert (first.id, second.id) == (1, 2)
    assert second.answer == first.answer
    assert (answers.stats.misses, answers.stats.hits) == (1, 1)
    assert server.stats.queries_udp == 2
    assert server.stats.responses["NOERROR"] == 2


async def test_udp_and_tcp_on_ipv6_loopback() -> None:
    if not ipv6_available():
        pytest.skip("::1 is not available here")
    server = DnsServer([(LOCAL, 0), ("::1", 0)], answering)

    async with running(server) as [_, endpoint]:
        udp_reply = await ask_udp(endpoint, wire_query(query_id=6))
        async with TcpClient.connect(endpoint) as client:
            await client.send(wire_query(query_id=66))
            tcp_reply = await client.receive()

    assert (udp_reply.id, tcp_reply.id) == (6, 66)


async def test_udp_answer_too_big_is_truncated(autojump_clock: trio.testing.MockClock) -> None:
    async def big(query: ClientQuery) -> Outcome:
        addresses = [f"192.0.2.{i}" for i in range(60)]
        rrset = dns.rrset.from_text_list(query.question.name, 300, "IN", "A", addresses)
        return Outcome(rcode=dns.rcode.NOERROR, answer=(rrset,))

    server = DnsServer([(LOCAL, 0)], big)

    async with running(server) as [endpoint]:
        udp_reply = await ask_udp(endpoint, wire_query())
        async with TcpClient.connect(endpoint) as client:
            await client.send(wire_query())
            tcp_reply = await client.receive()

    assert udp_reply.flags & dns.flags.TC
    assert udp_reply.answer == []
    assert len(tcp_reply.answer[0]) == 60


@pytest.mark.parametrize(("max_udp_size", "whole"), [(OUR_UDP_PAYLOAD, False), (4096, True)])
async def test_max_udp_size_lets_a_larger_answer_out_whole_on_both_paths(
    max_udp_size: int, whole: bool
) -> None:
    """``[server] max_udp_size`` (Unbound max-udp-size): ~1.7 KB for a 4096-octet client.

    Both peers default to 1232 and truncate such an answer; raised (as
    Deckard's kresd and Unbound templates do, val_cname_new_signer) it goes
    out whole, from the full path and again ready-made.
    """

    async def big(query: ClientQuery) -> Outcome:
        addresses = [f"192.0.2.{i}" for i in range(100)]
        rrset = dns.rrset.from_text_list(query.question.name, 300, "IN", "A", addresses)
        return Outcome(rcode=dns.rcode.NOERROR, answer=(rrset,))

    answers = AnswerCache(SystemClock(), udp_payload=max_udp_size)
    server = DnsServer(
        [(LOCAL, 0)], big, limits=ServerLimits(max_udp_size=max_udp_size), answers=answers
    )
    asked = dns.message.make_query("www.example.", "A", use_edns=0, payload=4096)

    async with running(server) as [endpoint]:
        replies = [await ask_udp(endpoint, asked.to_wire()) for _ in range(2)]

    for reply in replies:
        assert bool(reply.flags & dns.flags.TC) is not whole
        assert len(reply.to_wire()) > OUR_UDP_PAYLOAD if whole else reply.answer == []
    assert answers.stats.hits == (1 if whole else 0)


async def test_udp_client_outside_acl_is_refused() -> None:
    server = DnsServer([(LOCAL, 0)], answering, AccessList(["192.0.2.0/24"]))

    async with running(server) as [endpoint]:
        reply = await ask_udp(endpoint, wire_query())

    assert reply.rcode() == dns.rcode.REFUSED


async def test_tcp_pipelined_queries_are_answered_as_they_finish() -> None:
    release = trio.Event()

    async def slow_first(query: ClientQuery) -> Outcome:
        if query.question.name == SLOW:
            await release.wait()
        return address_record(query)

    server = DnsServer([(LOCAL, 0)], slow_first)

    async with running(server) as [endpoint], TcpClient.connect(endpoint) as client:
        await client.send(
            wire_query("slow.example.", query_id=1),
            wire_query("two.example.", query_id=2),
            wire_query("three.example.", query_id=3),
        )
        first, second = await client.receive(), await client.receive()
        release.set()
        third = await client.receive()

    assert {first.id, second.id} == {2, 3}
    assert third.id == 1


async def test_half_received_frame_does_not_block_other_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = DnsServer([(LOCAL, 0)], answering)

    async with (
        running(server) as [endpoint],
        TcpClient.connect(endpoint) as stalled,
        TcpClient.connect(endpoint) as other,
    ):
        frame = len(wire_query()).to_bytes(2, "big") + wire_query()
        await stalled.stream.send_all(frame[:7])
        await other.send(wire_query(query_id=9))
        reply = await other.receive()

    assert reply.id == 9


async def test_idle_tcp_connection_is_closed_after_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = DnsServer([(LOCAL, 0)], answering, limits=ServerLimits(tcp_idle_timeout=10.0))

    async with running(server) as [endpoint], TcpClient.connect(endpoint) as client:
        await client.send(wire_query())
        await client.receive()
        answered = trio.current_time()
        await client.stream.send_all(b"\x00")  # half a length prefix: not activity
        assert await client.closed_by_server()
        closed = trio.current_time()

    assert 10.0 <= closed - answered < 10.5


async def test_tcp_query_in_flight_longer_than_idle_timeout_is_still_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow(query: ClientQuery) -> Outcome:
        await trio.sleep(25)
        return address_record(query)

    server = DnsServer([(LOCAL, 0)], slow, limits=ServerLimits(tcp_idle_timeout=10.0))

    async with running(server) as [endpoint], TcpClient.connect(endpoint) as client:
        await client.send(wire_query(query_id=3))
        reply = await client.receive()

    assert reply.id == 3


async def test_connections_beyond_the_cap_are_closed_when_none_is_idle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    release = trio.Event()

    async def held(query: ClientQuery) -> Outcome:
        await release.wait()
        return address_record(query)

    server = DnsServer([(LOCAL, 0)], held, limits=ServerLimits(max_tcp_connections=2))

    async with running(server) as [endpoint]:
        async with TcpClient.connect(endpoint) as one, TcpClient.connect(endpoint) as two:
            for client in (one, two):
                await client.send(wire_query())
            await trio.testing.wait_all_tasks_blocked()
            async with TcpClient.connect(endpoint) as three:
                assert await three.closed_by_server()
            release.set()
            for client in (one, two):
                await client.receive()
        await trio.testing.wait_all_tasks_blocked()
        assert (server.stats.tcp_open, server.stats.tcp_refused) == (0, 1)
        async with TcpClient.connect(endpoint) as four:
            await four.send(wire_query(query_id=4))
            assert (await four.receive()).id == 4

    assert server.stats.tcp_connections == 3


@asynccontextmanager
async def connected_from(source: str, endpoint: Endpoint) -> AsyncIterator[TcpClient]:
    """A TCP client whose connection comes from ``source`` (any 127/8 address is local)."""
    async with await trio.open_tcp_stream(*endpoint, local_address=source) as stream:
        yield TcpClient(stream)


async def test_idle_connections_filling_the_pool_do_not_shut_out_a_real_query(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Issue 16: 257 idle connections from several clients, then one real query (RFC 7766)."""
    server = DnsServer([(LOCAL, 0)], answering)
    sources = [f"127.0.0.{n}" for n in range(2, 11)]  # 9 clients, under 32 connections each

    async with running(server) as [endpoint], contextlib.AsyncExitStack() as idle:
        for index in range(257):
            await idle.enter_async_context(connected_from(sources[index % 9], endpoint))
        await trio.testing.wait_all_tasks_blocked()
        assert server.stats.tcp_open == 256
        async with connected_from("127.0.0.1", endpoint) as client:
            await client.send(wire_query(query_id=257))
            reply = await client.receive()

    assert reply.id == 257
    assert server.stats.tcp_evicted == 2
    assert server.stats.tcp_refused == 0


async def test_a_client_at_its_connection_cap_loses_its_own_idlest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = DnsServer(
        [(LOCAL, 0)], answering, limits=ServerLimits(tcp_connections_per_client=2)
    )

    async with (
        running(server) as [endpoint],
        connected_from("127.0.0.3", endpoint) as other,
        connected_from("127.0.0.2", endpoint) as first,
    ):
        await trio.testing.wait_all_tasks_blocked()
        autojump_clock.jump(1)
        async with (
            connected_from("127.0.0.2", endpoint) as second,
            connected_from("127.0.0.2", endpoint) as third,
        ):
            assert await first.closed_by_server()
            for query_id, client in enumerate((other, second, third)):
                await client.send(wire_query(query_id=query_id))
                assert (await client.receive()).id == query_id

    assert (server.stats.tcp_evicted, server.stats.tcp_refused) == (1, 0)


async def test_graceful_shutdown_lets_in_flight_queries_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started = trio.Event()

    async def slow(query: ClientQuery) -> Outcome:
        started.set()
        await trio.sleep(1)
        return address_record(query)

    server = DnsServer([(LOCAL, 0)], slow)
    replies: list[dns.message.Message] = []

    async def ask(endpoint: Endpoint) -> None:
        replies.append(await ask_udp(endpoint, wire_query(query_id=11)))

    async with trio.open_nursery() as nursery:
        [endpoint] = await nursery.start(server.serve)
        async with TcpClient.connect(endpoint) as client:
            nursery.start_soon(ask, endpoint)
            await client.send(wire_query(query_id=12))
            await started.wait()
            await server.shutdown(grace=5.0)
            replies.append(await client.receive())
            assert await client.closed_by_server()

    assert sorted(reply.id for reply in replies) == [11, 12]


async def test_shutdown_stops_taking_queries_and_gives_up_after_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started = trio.Event()

    async def forever(query: ClientQuery) -> Outcome:
        started.set()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    server = DnsServer([(LOCAL, 0)], forever)
    late_replies: list[bytes] = []

    async with trio.open_nursery() as nursery:
        [endpoint] = await nursery.start(server.serve)
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.sendto(wire_query(), endpoint)
            await started.wait()
            begun = trio.current_time()
            async with trio.open_nursery() as stopping:
                stopping.start_soon(server.shutdown, 2.0)
                await trio.testing.wait_all_tasks_blocked()
                await sock.sendto(wire_query(), endpoint)
            with trio.move_on_after(1):
                late_replies.append(await sock.recv(65535))

    assert 2.0 <= trio.current_time() - begun - 1 < 2.5
    assert late_replies == []
    assert server.stats.queries_udp == 1


async def test_binding_a_taken_port_fails_naming_the_endpoint() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((LOCAL, 0))
        port = taken.getsockname()[1]
        server = DnsServer([(LOCAL, port)], answering)

        with pytest.raises(BindError, match=f"UDP {LOCAL}:{port}"):
            await server.serve()


async def test_listen_address_must_be_a_literal() -> None:
    server = DnsServer([("localhost", 0)], answering)

    with pytest.raises(BindError, match="'localhost'"):
        await server.serve()


async def test_cold_udp_queries_beyond_the_cap_wait_in_a_bounded_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One resolution at a time, one waiting: of three cold queries an older one is dropped."""
    release = trio.Event()

    async def held(query: ClientQuery) -> Outcome:
        await release.wait()
        return address_record(query)

    limits = ServerLimits(max_udp_queries=1, udp_queue=1)
    server = DnsServer([(LOCAL, 0)], held, limits=limits)
    async with running(server) as [endpoint]:
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for query_id in (1, 2, 3):
                await sock.sendto(wire_query(f"n{query_id}.example.", query_id=query_id), endpoint)
            await trio.testing.wait_all_tasks_blocked()
            release.set()
            replies = set()
            with trio.move_on_after(5):
                while len(replies) < 3:
                    replies.add(dns.message.from_wire(await sock.recv(65535)).id)

    assert len(replies) == 2
    assert 3 in replies  # the newest is kept
    assert server.stats.overloaded == 1


async def test_a_cached_question_is_answered_within_the_batch_it_arrives_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While cold resolutions run, the UDP socket is read between two task steps.

    Without it the reader only sees the datagram after the scheduler batch
    has run every other task (``loopwatch``): under a flood, tens of ms.
    """
    monkeypatch.setattr("resolver.server._READ_SLICE", 0.0)
    release = trio.Event()

    async def held(query: ClientQuery) -> Outcome:
        if query.question.name.labels[0] == b"cold":
            await release.wait()
        return address_record(query)

    answers = AnswerCache(SystemClock(), udp_payload=OUR_UDP_PAYLOAD)
    server = DnsServer([(LOCAL, 0)], held, answers=answers)
    replied_before_poll: list[bool] = []

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.setblocking(False)

        class AtPoll(trio.abc.Instrument):
            """At the end of the batch that sent the cached question: is its reply there?"""

            armed = False

            def before_io_wait(self, timeout: float) -> None:
                if self.armed:
                    self.armed = False
                    try:
                        replied_before_poll.append(dns.message.from_wire(client.recv(512)).id == 7)
                    except BlockingIOError:
                        replied_before_poll.append(False)

        at_poll = AtPoll()
        async with running(server) as [endpoint]:
            await ask_udp(endpoint, wire_query("www.example.", query_id=1))  # now cached
            cold = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with cold:
                await cold.sendto(wire_query("cold.example.", query_id=2), endpoint)
                await trio.testing.wait_all_tasks_blocked()
                assert server._admission.busy()  # the cold resolution is in flight
                trio.lowlevel.add_instrument(at_poll)
                client.sendto(wire_query("www.example.", query_id=7), endpoint)
                at_poll.armed = True
                await trio.lowlevel.checkpoint()
                trio.lowlevel.remove_instrument(at_poll)
                release.set()

    assert replied_before_poll == [True]
