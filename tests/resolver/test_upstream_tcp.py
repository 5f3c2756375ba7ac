"""Upstream TCP connections kept for the server's next query (``resolver.upstream_tcp``;
RFC 7766 6.2.1, Unbound's ``tcp-reuse-timeout``)."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import trio
import trio.testing

from resolver.transport import UdpTcpTransport
from resolver.upstream_tcp import IdleConnections, TcpConnection
from tests.resolver.test_transport import (
    ANSWER,
    SERVER,
    answer,
    first_address,
    query_for,
    receive_exactly,
)


def truncated(query: dns.message.Message) -> bytes:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.TC
    return response.to_wire()


async def start_server(nursery: trio.Nursery, *, queries_per_connection: int) -> list[int]:
    """A server that truncates every UDP reply and answers over TCP, closing a
    connection after ``queries_per_connection`` queries. Returns the number of
    queries each TCP connection carried, one entry per connection."""
    udp_sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await udp_sock.bind((SERVER, 0))
    port = udp_sock.getsockname()[1]
    (listener,) = await trio.open_tcp_listeners(port, host=SERVER)
    connections: list[int] = []

    async def serve_udp() -> None:
        with udp_sock:
            while True:
                data, peer = await udp_sock.recvfrom(65535)
                await udp_sock.sendto(truncated(dns.message.from_wire(data)), peer)

    async def serve_tcp(stream: trio.SocketStream) -> None:
        connections.append(0)
        index = len(connections) - 1
        async with stream:
            for _ in range(queries_per_connection):
                (length,) = struct.unpack("!H", await receive_exactly(stream, 2))
                query = dns.message.from_wire(await receive_exactly(stream, length))
                connections[index] += 1
                wire = answer(query).to_wire()
                await stream.send_all(struct.pack("!H", len(wire)) + wire)

    nursery.start_soon(serve_udp)
    nursery.start_soon(trio.serve_listeners, serve_tcp, [listener])
    connections.append(port)  # the caller pops it
    return connections


async def test_the_next_query_to_the_server_reuses_the_connection(nursery: trio.Nursery) -> None:
    connections = await start_server(nursery, queries_per_connection=10)
    transport = UdpTcpTransport(port=connections.pop())
    for _ in range(3):
        reply = await transport.exchange(query_for())
        assert reply.tcp
        assert first_address(reply.message) == ANSWER
    assert connections == [3]


async def test_a_connection_the_server_closed_is_replaced(nursery: trio.Nursery) -> None:
    connections = await start_server(nursery, queries_per_connection=1)
    transport = UdpTcpTransport(port=connections.pop())
    for _ in range(2):
        reply = await transport.exchange(query_for())
        assert reply.tcp
        assert first_address(reply.message) == ANSWER
    assert connections == [1, 1]


async def test_an_idle_connection_is_closed_after_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ours, theirs = trio.socket.socketpair()
    pool = IdleConnections(idle_timeout=60.0)
    pool.keep(("192.0.2.1", 53), TcpConnection(trio.SocketStream(ours)))
    assert len(pool) == 1
    await trio.sleep(59)
    assert len(pool) == 1
    await trio.sleep(2)
    assert len(pool) == 0
    with theirs:
        assert await theirs.recv(1) == b""  # closed on our side
