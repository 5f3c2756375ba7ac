"""``TlsStream``: a read returns every TLS record that has arrived; the ends of a connection."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from resolver.tls_stream import TlsStream
from tests.certificates import write_certificate


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The server's context (ALPN dot) and a client's that trusts it."""
    certificate, key = write_certificate(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(str(certificate), str(key))
    server.set_alpn_protocols(["dot"])
    client = ssl.create_default_context(cafile=str(Path(certificate)))
    client.set_alpn_protocols(["dot"])
    return server, client


Pair = tuple[TlsStream, trio.SSLStream[trio.abc.Stream], trio.testing.MemorySendStream]


@asynccontextmanager
async def connected(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> AsyncIterator[Pair]:
    """A handshaken server ``TlsStream`` and its client, over an in-memory stream pair."""
    client_raw, server_raw = trio.testing.memory_stream_pair()
    server = TlsStream(server_raw, contexts[0])
    client = trio.SSLStream(client_raw, contexts[1], server_hostname="localhost")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.do_handshake)
        nursery.start_soon(client.do_handshake)
    yield server, client, client_raw.send_stream


async def test_one_read_returns_every_record_that_has_arrived(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """30 queries written as 30 records are read at once (trio.SSLStream: one record a read)."""
    async with connected(contexts) as (server, client, _):
        for number in range(30):
            await client.send_all(b"%02d" % number * 20)
        await trio.testing.wait_all_tasks_blocked()

        data = await server.receive_some(65536)

    assert data == b"".join(b"%02d" % number * 20 for number in range(30))


async def test_a_read_is_capped_at_max_bytes_and_the_rest_comes_next(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async with connected(contexts) as (server, client, _):
        for _ in range(3):
            await client.send_all(b"x" * 100)

        first = await server.receive_some(150)
        second = await server.receive_some(1000)

    assert (len(first), len(second)) == (150, 150)


async def test_alpn_and_both_directions(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async with connected(contexts) as (server, client, _):
        await server.send_all(b"answer")
        reply = await client.receive_some(100)

        assert server.selected_alpn_protocol() == "dot"
    assert reply == b"answer"


async def test_the_end_with_or_without_close_notify_is_a_normal_end(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async with connected(contexts) as (server, client, _):
        await client.send_all(b"last")
        await client.aclose()  # close_notify
        assert await server.receive_some(100) == b"last"
        assert await server.receive_some(100) == b""

    async with connected(contexts) as (server, client, raw):
        await client.send_all(b"last")
        await raw.aclose()  # the socket closes without close_notify
        assert await server.receive_some(100) == b"last"
        assert await server.receive_some(100) == b""
        await server.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await server.receive_some(100)


async def test_a_client_that_does_not_speak_tls_breaks_the_handshake(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    client_raw, server_raw = trio.testing.memory_stream_pair()
    server = TlsStream(server_raw, contexts[0])
    await client_raw.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    with pytest.raises(trio.BrokenResourceError, match="handshake"):
        await server.do_handshake()


async def test_encrypted_records_leave_with_the_next_send_in_one_write(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """``encrypt`` makes records at once; ``send_all`` sends them, and its own, in one write."""
    async with connected(contexts) as (server, client, _):
        writes = 0
        transport = server.transport_stream
        assert isinstance(transport, trio.StapledStream)
        send_stream = transport.send_stream
        assert isinstance(send_stream, trio.testing.MemorySendStream)
        pump = send_stream.send_all_hook

        async def count_and_pump() -> None:
            nonlocal writes
            writes += 1
            if pump is not None:
                await pump()

        send_stream.send_all_hook = count_and_pump
        server.encrypt(b"first")
        server.encrypt(b"second")
        await server.send_all(b"third")

        records = [await client.receive_some(100) for _ in range(3)]

    assert writes == 1
    assert records == [b"first", b"second", b"third"]  # trio.SSLStream: one record a read


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")
async def test_acknowledge_leaves_delayed_ack_mode(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """TCP_QUICKACK set on the TCP socket under the TLS stream (a pending ACK goes at once)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0], await trio.open_tcp_stream(
            *listeners[0].socket.getsockname()[:2]):
        accepted = await listeners[0].accept()
        async with accepted:
            server = TlsStream(accepted, contexts[0])
            accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)  # delayed ACKs
            server.acknowledge()
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
