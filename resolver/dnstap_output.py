"""The dnstap stream (``dnstap.py`` encodes): a Unix socket writer and its two taps.

``DnstapOutput`` is given each answered client exchange by the server
(``client``) and each upstream exchange by ``TappedTransport``, keeps those
its samplers pick, encodes them and queues the frames; ``run`` connects to
the collector's socket (Frame Streams, bidirectional handshake) and writes
them. The queue is bounded and never waited on: when the collector is slow
or gone, frames are dropped and counted, and no client waits for dnstap.
Without a collector it reconnects with a backoff (1 s doubling to 30 s), as
Unbound's dnstap I/O thread does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import dns.message
import trio

from resolver.dnstap import (
    Control,
    Event,
    MessageType,
    Sampler,
    control_frame,
    data_frame,
    encode,
)
from resolver.errors import HoldfastError
from resolver.exchange import Transport, UpstreamQuery, UpstreamReply

log = logging.getLogger("holdfast.dnstap")

#: Seconds between reconnection attempts: first, and at most.
RETRY_FIRST = 1.0
RETRY_MAX = 30.0
#: The longest control frame we read back (ACCEPT, FINISH with a content type).
_MAX_CONTROL = 512


@dataclass(slots=True)
class DnstapStats:
    """Counters for ``ctl status``."""

    sent: int = 0
    dropped: int = 0
    capped: int = 0


class DnstapOutput:
    """Sampled, rate-capped dnstap frames to a Unix socket (module docstring)."""

    def __init__(
        self,
        path: str,
        *,
        sample: int = 1,
        max_rate: int = 1000,
        queue: int = 4096,
        client_messages: bool = True,
        resolver_messages: bool = True,
    ) -> None:
        self.path = path
        self.clients = Sampler(sample=sample, max_rate=max_rate, clock=time.monotonic)
        self.resolvers = Sampler(sample=sample, max_rate=max_rate, clock=time.monotonic)
        self.clients_on, self.resolvers_on = client_messages, resolver_messages
        self.stats = DnstapStats()
        self._send, self._receive = trio.open_memory_channel[bytes](queue)

    def client(self, query: bytes, response: bytes, address: str, *, tcp: bool) -> None:
        """CLIENT_QUERY and CLIENT_RESPONSE for one answered client exchange, if sampled."""
        if not (self.clients_on and self.clients.take()):
            return
        now = time.time()
        self._queue(Event(MessageType.CLIENT_QUERY, address, tcp, now, query))
        self._queue(Event(MessageType.CLIENT_RESPONSE, address, tcp, now, response))

    def upstream(
        self, query: bytes, response: bytes | None, address: str, port: int, *, tcp: bool,
        sent: float,
    ) -> None:
        """RESOLVER_QUERY and, if one came, RESOLVER_RESPONSE for one upstream exchange."""
        if not (self.resolvers_on and self.resolvers.take()):
            return
        self._queue(Event(MessageType.RESOLVER_QUERY, address, tcp, sent, query, port))
        if response is not None:
            now = time.time()
            self._queue(Event(MessageType.RESOLVER_RESPONSE, address, tcp, now, response, port))

    def _queue(self, event: Event) -> None:
        try:
            self._send.send_nowait(data_frame(encode(event)))
        except trio.WouldBlock:
            self.stats.dropped += 1

    def statistics(self) -> DnstapStats:
        capped = self.clients.capped + self.resolvers.capped
        return DnstapStats(self.stats.sent, self.stats.dropped, capped)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and write until cancelled, reconnecting after failures."""
        task_status.started()
        delay = RETRY_FIRST
        while True:
            try:
                stream = await trio.open_unix_socket(self.path)
            except OSError as error:
                log.warning("dnstap: cannot connect to %s: %s; retrying in %g s", self.path,
                            error.strerror, delay, extra={"event": "dnstap_unavailable"})
                await trio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
            try:
                async with stream:
                    await self._session(stream)
            except (OSError, trio.BrokenResourceError, trio.EndOfChannel, DnstapRefused) as error:
                log.warning("dnstap: the stream to %s ended: %s", self.path, error,
                            extra={"event": "dnstap_unavailable"})

    async def _session(self, stream: trio.abc.Stream) -> None:
        """One connection: READY, ACCEPT, START, then frames until cancelled (then STOP)."""
        await stream.send_all(control_frame(Control.READY))
        await _expect(stream, Control.ACCEPT)
        await stream.send_all(control_frame(Control.START))
        try:
            while True:
                frame = await self._receive.receive()
                batch = [frame]
                while len(batch) < 64:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                try:
                    await stream.send_all(b"".join(batch))
                except (OSError, trio.BrokenResourceError):
                    self.stats.dropped += len(batch)  # the collector went away with them
                    raise
                self.stats.sent += len(batch)
        finally:
            with trio.move_on_after(1) as cleanup:
                cleanup.shield = True
                await stream.send_all(control_frame(Control.STOP, content_type=False))
                await _expect(stream, Control.FINISH)


class DnstapRefused(HoldfastError):
    """The collector did not accept the dnstap content type."""


async def _expect(stream: trio.abc.ReceiveStream, kind: Control) -> None:
    """Read one control frame and require it to be ``kind``."""
    head = await _read(stream, 8)
    escape, length = int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")
    if escape != 0 or not 4 <= length <= _MAX_CONTROL:
        raise DnstapRefused(f"expected a {kind.name} control frame")
    body = await _read(stream, length)
    if int.from_bytes(body[:4], "big") != kind:
        raise DnstapRefused(f"expected {kind.name}, got control type {body[:4].hex()}")


async def _read(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        if not chunk:
            raise trio.BrokenResourceError("the collector closed the connection")
        data += chunk
    return data


class TappedTransport:
    """A ``Transport`` that gives each upstream exchange to dnstap as well.

    An observer around the real transport rather than a hook inside it:
    the transport stays about sockets. The query bytes are rebuilt from
    the reply's ID and question (the name with the case sent, 0x20) and
    the query's EDNS and DO bits; without a reply, ID 0.
    """

    def __init__(self, inner: Transport, output: DnstapOutput, port: int) -> None:
        self.inner = inner
        self.output = output
        self.port = port

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        sent = time.time()
        reply: UpstreamReply | None = None
        try:
            reply = await self.inner.exchange(query)
            return reply
        finally:
            if self.output.resolvers_on:
                self._tap(query, reply, sent)

    def _tap(self, query: UpstreamQuery, reply: UpstreamReply | None, sent: float) -> None:
        message = dns.message.make_query(
            reply.message.question[0].name if reply and reply.message.question else query.qname,
            query.rdtype, use_edns=0 if query.edns else False, want_dnssec=query.dnssec_ok,
        )
        message.id = reply.message.id if reply is not None else 0
        message.flags = 0
        response = reply.message.to_wire() if reply is not None else None
        tcp = reply.tcp if reply is not None else query.tcp
        self.output.upstream(message.to_wire(), response, query.address, self.port, tcp=tcp,
                             sent=sent)
