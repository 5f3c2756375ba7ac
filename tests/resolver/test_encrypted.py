"""DNS over TLS and HTTPS connections: certificates, limits and framing (issue 21).

The server side runs over in-memory streams under Trio's autojump clock,
so timeouts are tested without waiting for them.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.message
import h2.config
import h2.connection
import h2.events
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.config import Config
from resolver.encrypted import EncryptedLimits, EncryptedServer
from resolver.framing import frame
from resolver.tls import CertificateError, TlsIdentity, identity_for, load_identity
from resolver.tls_stream import TlsStream
from tests.certificates import write_certificate

Answer = Callable[[bytes, str, str], Awaitable[bytes | None]]


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def identity(pem: tuple[Path, Path]) -> TlsIdentity:
    certificate, key = pem
    return load_identity(str(certificate), str(key), now=datetime.datetime.now().timestamp())


def _query(name: str, qid: int = 1) -> bytes:
    query = dns.message.make_query(name, "A")
    query.id = qid
    return query.to_wire()


async def _echo(wire: bytes, client: str, transport: str) -> bytes | None:
    """Answer NOERROR at once, except names starting "slow" (10 s, autojump time)."""
    query = dns.message.from_wire(wire)
    if query.question[0].name.to_text().startswith("slow"):
        await trio.sleep(10)
    return dns.message.make_response(query).to_wire()


async def _raw(wire: bytes, client: str, transport: str) -> bytes | None:
    """Like ``DnsServer.answer`` for garbage: never raises; drops what has no header."""
    return wire if len(wire) >= 12 else None


class Harness:
    def __init__(self, pem: tuple[Path, Path], identity: TlsIdentity, nursery: trio.Nursery,
                 limits: EncryptedLimits, answer: Answer = _echo) -> None:
        self.server = EncryptedServer([], [], answer, identity, limits)
        self.nursery = nursery
        self.context = ssl.create_default_context(cafile=str(pem[0]))

    def open(self, client: str = "127.0.0.1", kind: str = "dot") -> trio.abc.Stream | None:
        """A raw connection admitted to the pool (None: refused), its TLS not started."""
        connection = self.server.admit(client)
        if connection is None:
            return None
        ours, theirs = trio.testing.memory_stream_pair()
        self.writes = 0  # the server's writes on its last connection
        pump = theirs.send_stream.send_all_hook

        async def count_and_pump() -> None:
            self.writes += 1
            if pump is not None:
                await pump()

        theirs.send_stream.send_all_hook = count_and_pump
        self.nursery.start_soon(self.server.serve_connection, kind, connection, theirs)
        return ours

    async def connect(self, client: str = "127.0.0.1", alpn: str = "dot"
                      ) -> trio.SSLStream[trio.abc.Stream]:
        raw = self.open(client, "dot" if alpn == "dot" else "doh")
        assert raw is not None
        self.context.set_alpn_protocols([alpn])
        tls = trio.SSLStream(raw, self.context, server_hostname="localhost")
        await tls.do_handshake()
        return tls


async def _read_response(stream: trio.abc.Stream) -> dns.message.Message | None:
    data = b""
    while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
        try:
            chunk = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            return None
        if not chunk:
            return None
        data += chunk
    return dns.message.from_wire(data[2:])


# -- Certificates --------------------------------------------------------------------


def test_identity_offers_tls_12_and_13_with_alpn(identity: TlsIdentity) -> None:
    assert identity.dot.minimum_version == ssl.TLSVersion.TLSv1_2
    assert len(identity.fingerprint) == 64


def test_expired_certificate_is_refused(tmp_path: Path) -> None:
    long_ago = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    certificate, key = write_certificate(tmp_path, not_before=long_ago, days=10)
    with pytest.raises(CertificateError, match="expired"):
        load_identity(str(certificate), str(key), now=datetime.datetime.now().timestamp())


def test_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    certificate, _ = write_certificate(tmp_path, "one")
    _, other_key = write_certificate(tmp_path, "two")
    with pytest.raises(CertificateError, match="do not load together"):
        load_identity(str(certificate), str(other_key), now=datetime.datetime.now().timestamp())


def test_not_a_certificate_and_not_a_regular_file_are_refused(tmp_path: Path) -> None:
    _, key = write_certificate(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        load_identity(str(garbage), str(key), now=0)
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    with pytest.raises(CertificateError, match="not a regular file"):
        load_identity(str(fifo), str(key), now=0)


def test_listeners_without_a_certificate_are_refused() -> None:
    config = Config.defaults().with_overrides({"server.listen_tls": ["127.0.0.1:853"]},
                                              source="test")
    with pytest.raises(CertificateError, match=r"need server\.tls_certificate"):
        identity_for(config)
    assert identity_for(Config.defaults()) is None


# -- Serving and limits --------------------------------------------------------------


async def test_dot_pipelined_answers_come_out_of_order(
        pem: tuple[Path, Path], identity: TlsIdentity, autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        harness = Harness(pem, identity, nursery, EncryptedLimits())
        tls = await harness.connect()
        assert tls.selected_alpn_protocol() == "dot"
        await tls.send_all(frame(_query("slow.example.", 1)) + frame(_query("fast.example.", 2)))
        first, second = await _read_response(tls), await _read_response(tls)
        assert first is not None
        assert second is not None
        assert (first.id, second.id) == (2, 1)
        assert harness.server.stats.accepted["dot"] == 1
        nursery.cancel_scope.cancel()


async def test_doh_offers_h2(pem: tuple[Path, Path], identity: TlsIdentity,
                             autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        harness = Harness(pem, identity, nursery, EncryptedLimits())
        tls = await harness.connect(alpn="h2")
        assert tls.selected_alpn_protocol() == "h2"
        nursery.cancel_scope.cancel()


async def test_slow_handshake_times_out_and_frees_its_place(
        pem: tuple[Path, Path], identity: TlsIdentity, autojump_clock: trio.abc.Clock) -> None:
    limits = EncryptedLimits(handshake_timeout=2.0, connections=1)
    async with trio.open_nursery() as nursery:
        harness = Harness(pem, identity, nursery, limits)
        raw = harness.open()  # connects, never says hello
        assert raw is not None
        await trio.sleep(2.5)
        assert harness.server.stats.handshake_failed == 1
        assert harness.server.stats.open == 0
        assert await raw.receive_some(100) == b""  # closed
        tls = await harness.connect()  # the place is free
        await tls.send_all(frame(_query("a.example.")))
        assert await _read_response(tls) is not None
        nursery.cancel_scope.cancel()


async def test_slowloris_is_cut_off_after_the_idle_timeout(
        pem: tuple[Path, Path], identity: TlsIdentity, autojump_clock: trio.abc.Clock) -> None:
    limits = EncryptedLimits(idle_timeout=5.0)
    async with trio.open_nursery() as nursery:
        harness = Harness(pem, identity, nursery, limits)
        tls = await harness.connect()
        started = trio.current_time()
        wire = frame(_query("a.example."))
        with trio.move_on_after(60), contextlib.suppress(trio.BrokenResourceError):
            for byte in wire[:-1]:  # one byte a second, never a whole query
                await tls.send_all(bytes([byte]))
                await trio.sleep(1)
        assert trio.current_time() - started < 7  # the server closed it
        assert await _read_response(tls) is None
        nursery.cancel_scope.cancel()


async def test_client_cap_evicts_its_idle_connection_but_not_a_busy_one(
        pem: tuple[Path, Path], identity: TlsIdentity, autojump_clock: trio.abc.Clock) -> None:
    limits = EncryptedLimits(connections_per_client=1)
    async with trio.open_nursery() as nursery:
        harness = Harness(pem, identity, nursery, limits)
        busy = await harness.connect()
        await busy.send_all(frame(_query("slow.example.")))
        await trio.sleep(1)
        assert harness.open() is None  # its only connection is busy: refused
        assert harness.open("127.0.0.2") is not None  # another client is not affected
        assert harness.server.stats.refused == 1
        assert await _read_response(busy) is not None  # now idle
        second = await harness.connect()  # evicts the idle one
        assert harness.server.stats.evicted == 1
        assert await _read_response(busy) is None
        await second.send_all(frame(_query("a.example.")))
        assert await _read_response(second) is not None
        nursery.cancel_scope.cancel()


async def test_dot_pipelining_is_capped(
        pem: tuple[Path, Path], identity: TlsIdentity, autojump_clock: trio.abc.Clock) -> None:
    in_flight = peak = 0

    async def counting(wire: bytes, client: str, transport: str) -> bytes | None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await _echo(wire, client, transport)
        finally:
            in_flight -= 1

    limits = EncryptedLimits(pipelined_queries=3)
    async with trio.open_nursery() as nursery:
        harness = Harness(pem, identity, nursery, limits, counting)
        tls = await harness.connect()
        await tls.send_all(b"".join(frame(_query(f"slow{i}.example.", i)) for i in range(8)))
        ids = set()
        for _ in range(8):
            response = await _read_response(tls)
            assert response is not None
            ids.add(response.id)
        assert ids == set(range(8))
        assert peak == 3
        nursery.cancel_scope.cancel()


# -- Fuzzing the DoT framing: no exception, the connection ends cleanly --------------


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=5))
def test_dot_framing_fuzz(pem: tuple[Path, Path], identity: TlsIdentity,
                          chunks: list[bytes]) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            harness = Harness(pem, identity, nursery, EncryptedLimits(idle_timeout=1.0), _raw)
            tls = await harness.connect()
            for chunk in chunks:
                await tls.send_all(chunk)
            while True:  # the server answers what it can, then closes
                try:
                    if not await tls.receive_some(65536):
                        break
                except trio.BrokenResourceError:
                    break
        assert harness.server.stats.open == 0

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- Shutdown and metrics (workers, shutdown grace, series) ------------------------------


async def _slow_or_stuck(wire: bytes, client: str, transport: str) -> bytes | None:
    """Names starting "slow" take 1 s, "stuck" 60 s (autojump time)."""
    query = dns.message.from_wire(wire)
    name = query.question[0].name.to_text()
    await trio.sleep(60 if name.startswith("stuck") else 1 if name.startswith("slow") else 0)
    return dns.message.make_response(query).to_wire()


async def test_shutdown_gives_queries_in_flight_the_grace_then_closes(
        pem: tuple[Path, Path], identity: TlsIdentity, autojump_clock: trio.abc.Clock) -> None:
    """Like UDP and TCP (``DnsServer.shutdown``): what was read is answered within the grace."""
    server = EncryptedServer([("127.0.0.1", 0)], [], _slow_or_stuck, identity)
    context = ssl.create_default_context(cafile=str(pem[0]))
    async with trio.open_nursery() as nursery:
        [(_, (host, port))] = await nursery.start(server.serve)
        tls = trio.SSLStream(await trio.open_tcp_stream(host, port), context,
                             server_hostname="localhost")
        await tls.do_handshake()
        await tls.send_all(frame(_query("slow.example.", 1)) + frame(_query("stuck.example.", 2)))
        await trio.sleep(0.1)
        started = trio.current_time()
        await server.shutdown(grace=2.0)
        assert 1.9 <= trio.current_time() - started <= 2.1  # the stuck query held it to the end
        answered = await _read_response(tls)
        assert answered is not None
        assert answered.id == 1  # answered within the grace
        assert await _read_response(tls) is None  # the stuck one was cut off, then closed
        await trio.aclose_forcefully(tls)
        assert server.stats.open == 0
        with pytest.raises(OSError, match="all attempts to connect"):
            await trio.open_tcp_stream(host, port)  # no longer listening


def test_encrypted_connection_series(identity: TlsIdentity) -> None:
    from resolver.metrics import _tls_families

    server = EncryptedServer([], [], _echo, identity)
    server.stats.accepted.update({"dot": 3, "doh": 2})
    server.stats.handshake_failed, server.stats.handshake_timeouts = 5, 2
    server.stats.evicted, server.stats.refused, server.stats.open = 4, 1, 6
    snapshot = {
        "accepted": dict(server.stats.accepted), "open": server.stats.open,
        "refused": server.stats.refused, "evicted": server.stats.evicted,
        "handshake_failures": {"error": 3, "timeout": 2},
    }
    samples = {(sample.name, *sample.labels.values()): sample.value
               for family in _tls_families(snapshot) for sample in family.samples}
    assert samples == {
        ("holdfast_tls_connections_total", "doh"): 2,
        ("holdfast_tls_connections_total", "dot"): 3,
        ("holdfast_tls_connections_open",): 6,
        ("holdfast_tls_connections_refused_total",): 1,
        ("holdfast_tls_connections_evicted_total",): 4,
        ("holdfast_tls_handshake_failures_total", "error"): 3,
        ("holdfast_tls_handshake_failures_total", "timeout"): 2,
    }


async def test_doh_ready_answers_go_out_one_record_each_in_one_write(
        pem: tuple[Path, Path], identity: TlsIdentity, autojump_clock: trio.abc.Clock) -> None:
    """Two requests read at once: two records back (dnsperf loses all but one of a record's).

    And both in one write: one system call for what one read brought in.
    """

    def ready(wire: bytes, client: str, transport: str) -> bytes | None:
        return dns.message.make_response(dns.message.from_wire(wire)).to_wire()

    async with trio.open_nursery() as nursery:
        harness = Harness(pem, identity, nursery, EncryptedLimits())
        harness.server = EncryptedServer([], [], _echo, identity, EncryptedLimits(), ready=ready)
        tls = await harness.connect(alpn="h2")
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.initiate_connection()
        for stream, qid in ((1, 11), (3, 12)):
            wire = _query("www.example.", qid)
            client.send_headers(stream, [
                (":method", "POST"), (":path", "/dns-query"), (":scheme", "https"),
                (":authority", "localhost"), ("content-type", "application/dns-message"),
                ("content-length", str(len(wire)))])
            client.send_data(stream, wire, end_stream=True)
        await trio.testing.wait_all_tasks_blocked()  # the server's SETTINGS went out
        writes_before = harness.writes
        await tls.send_all(client.data_to_send())
        ended: list[list[int]] = []
        with trio.fail_after(5):
            while sum(map(len, ended)) < 2:
                record = await tls.receive_some(65536)  # trio.SSLStream: one record a read
                events = client.receive_data(record)
                ended.append([event.stream_id for event in events
                              if isinstance(event, h2.events.StreamEnded)])
        writes = harness.writes - writes_before
        nursery.cancel_scope.cancel()

    assert [streams for streams in ended if streams] == [[1], [3]]
    assert writes == 1


async def test_doh_read_answered_with_nothing_is_acknowledged_at_once(
        pem: tuple[Path, Path], identity: TlsIdentity, autojump_clock: trio.abc.Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A request's HEADERS alone: the ACK goes now (dnsperf holds the DATA for it, Nagle)."""
    acknowledged: list[float] = []
    monkeypatch.setattr(TlsStream, "acknowledge",
                        lambda self: acknowledged.append(trio.current_time()))

    def ready(wire: bytes, client: str, transport: str) -> bytes | None:
        return dns.message.make_response(dns.message.from_wire(wire)).to_wire()

    async with trio.open_nursery() as nursery:
        harness = Harness(pem, identity, nursery, EncryptedLimits())
        harness.server = EncryptedServer([], [], _echo, identity, EncryptedLimits(), ready=ready)
        tls = await harness.connect(alpn="h2")
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.initiate_connection()
        await tls.send_all(client.data_to_send())
        await trio.testing.wait_all_tasks_blocked()
        client.receive_data(await tls.receive_some(65536))  # the server's SETTINGS
        await tls.send_all(client.data_to_send())  # our SETTINGS ACK: answered with nothing
        await trio.testing.wait_all_tasks_blocked()
        wire = _query("www.example.", 5)
        client.send_headers(1, [
            (":method", "POST"), (":path", "/dns-query"), (":scheme", "https"),
            (":authority", "localhost"), ("content-type", "application/dns-message"),
            ("content-length", str(len(wire)))])
        acknowledged.clear()
        await tls.send_all(client.data_to_send())  # HEADERS alone: nothing to answer yet
        await trio.testing.wait_all_tasks_blocked()
        after_headers = len(acknowledged)
        client.send_data(1, wire, end_stream=True)
        await tls.send_all(client.data_to_send())  # the DATA: answered
        events: list[h2.events.Event] = []
        with trio.fail_after(5):
            while not any(isinstance(event, h2.events.StreamEnded) for event in events):
                events += client.receive_data(await tls.receive_some(65536))
        nursery.cancel_scope.cancel()

    assert after_headers == 1
    assert len(acknowledged) == 1  # the answer carried the ACK of the DATA
