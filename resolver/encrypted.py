"""DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484): the Trio shell.

``EncryptedServer`` accepts connections on the ``[server] listen_tls`` and
``listen_https`` endpoints, does the TLS handshake (``tls.TlsIdentity``), and
serves each connection: DoT as RFC 7766 pipelined frames (``framing``),
DoH through the sans-I/O sessions of ``doh`` (HTTP/2 when ALPN picked
``h2``, HTTP/1.1 otherwise). Every query is answered by the callable it was
given, which is ``DnsServer.answer``: the same resolver, access list and
ready-made answer cache as UDP and TCP, counted and logged under the
transport ``dot`` or ``doh``.

Limits, so that slow or hostile clients cannot starve the others (issue 21):

* a TLS handshake must finish within ``tls_handshake_timeout``;
* a connection with no query in flight is closed after ``tls_idle_timeout``
  from its last answer (or from its accept), whatever bytes trickle in: a
  slowloris that never completes a request is cut off like an idle client;
* encrypted connections form one pool with ``tls_connections`` in total and
  ``tls_connections_per_client`` per client (IPv4 address, IPv6 /64). When
  a cap is reached, the connection idle longest (a handshake still in
  progress counts as idle) is closed for the new one, and only when none is
  idle is the new one refused: the rule of the TCP pool in ``server.py``
  (RFC 7766 section 6.2.3; Unbound incoming-num-tcp, tcp-connection-limit);
* a DoT connection has at most ``tls_pipelined_queries`` queries in flight,
  then reading pauses (TCP flow control pushes back); an HTTP/2 connection
  at most ``https_max_streams`` streams (its SETTINGS, enforced by h2;
  Unbound http-max-streams); HTTP/1.1 answers one request at a time;
* a client that stops reading its responses loses the connection after
  ``tls_idle_timeout``.

The pool, the idle timer and the sender are ``connections``, the same code
as plain TCP's.

Throughput: a read returns every TLS record that has arrived
(``tls_stream.TlsStream``), so a batch of pipelined queries is parsed in
one pass. A repeated question is answered by the synchronous ready-made
path (``DnsServer.answer_ready``) as soon as it is read, without a task of
its own; the answers to everything one read brought in go out in one write
(one system call), up to ``_FLUSH_BYTES``: over DoT as one TLS record, over
DoH as one record per response (see ``_read_http``). Only cold
queries start a task. Plain TCP answers a frame at a time; here the record
and the HTTP layers make each write dear, so batching pays (see
``bench/encrypted.py``).

At shutdown (``shutdown``) the listeners close and every connection stops
reading; queries already read get the same grace as UDP and TCP ones, then
the connections close. A reload of the certificate applies from the next
connection (``tls``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import trio

from resolver.config import Config, parse_endpoint
from resolver.connections import (
    ConnectionPool,
    Endpoint,
    GracefulStop,
    PooledConnection,
    Sender,
    accept_clients,
    bind_stream,
    show,
)
from resolver.doh import DnsRequest, Http1Session, Http2Session, Session
from resolver.framing import frame, take_frames
from resolver.server import DnsServer
from resolver.tls import TlsIdentity, identity_for
from resolver.tls_stream import TlsStream

logger = logging.getLogger("holdfast.encrypted")

#: Answers one query packet from a client over a transport ("dot", "doh"): ``DnsServer.answer``.
Answer = Callable[[bytes, str, str], Awaitable[bytes | None]]
#: The ready-made response to a repeated question at once, or None (``DnsServer.answer_ready``).
Ready = Callable[[bytes, str, str], bytes | None]

#: One listening socket: its transport ("dot" or "doh"), endpoint and socket.
EncryptedListening = tuple[str, Endpoint, socket.socket]

_RECEIVE_SIZE = 65536
#: Answers gathered before they are sent: a read of small queries can ask for
#: large answers, and what waits to be sent is held in memory.
_FLUSH_BYTES = 65536


def _never_ready(wire: bytes, client: str, transport: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class EncryptedLimits:
    """Caps on what DoT and DoH clients can make the server hold (module docstring)."""

    connections: int = 256
    connections_per_client: int = 32
    idle_timeout: float = 10.0
    handshake_timeout: float = 5.0
    pipelined_queries: int = 100
    max_streams: int = 100

    @classmethod
    def from_config(cls, config: Config) -> EncryptedLimits:
        """The ``[server] tls_*`` and ``https_*`` limits of ``config``."""
        return cls(
            connections=config["server.tls_connections"],
            connections_per_client=config["server.tls_connections_per_client"],
            idle_timeout=config["server.tls_idle_timeout"],
            handshake_timeout=config["server.tls_handshake_timeout"],
            pipelined_queries=config["server.tls_pipelined_queries"],
            max_streams=config["server.https_max_streams"],
        )


@dataclass(slots=True)
class EncryptedStats:
    """Counters of the encrypted listeners, for ``ctl status`` and the metrics."""

    #: Connections whose handshake succeeded, by transport.
    accepted: Counter[str] = field(default_factory=Counter)
    #: Handshakes that failed or did not finish in time.
    handshake_failed: int = 0
    #: Of those, the ones that did not finish within ``handshake_timeout``.
    handshake_timeouts: int = 0
    #: New connections closed at once: a cap was reached and none was idle.
    refused: int = 0
    #: Idle connections closed to make room for a new one.
    evicted: int = 0
    open: int = 0


class EncryptedServer:
    """Serves DoT and DoH on their endpoints until cancelled or shut down.

    Args:
        tls_endpoints: where DNS over TLS is served.
        https_endpoints: where DNS over HTTPS is served.
        answer: answers one query (``DnsServer.answer`` with its transport label).
        identity: the certificate in use; ``self.identity`` is replaced by a reload.
        limits: resource caps.
        path: the DoH path (``[server] https_path``).
        ready: the ready-made answer path, tried first on every query read
            (``DnsServer.answer_ready``); by default every query goes to ``answer``.
    """

    def __init__(
        self,
        tls_endpoints: Sequence[Endpoint],
        https_endpoints: Sequence[Endpoint],
        answer: Answer,
        identity: TlsIdentity,
        limits: EncryptedLimits = EncryptedLimits(),
        path: str = "/dns-query",
        ready: Ready = _never_ready,
    ) -> None:
        self._tls_endpoints = tuple(tls_endpoints)
        self._https_endpoints = tuple(https_endpoints)
        self._answer = answer
        self._ready = ready
        self.identity = identity
        self.limits = limits
        self._path = path
        self.stats = EncryptedStats()
        self._pool: ConnectionPool[PooledConnection] = ConnectionPool(
            limits.connections, limits.connections_per_client)
        self._stop = GracefulStop()

    def bind(self, sockets: contextlib.ExitStack, *, reuse_port: bool = False
             ) -> list[EncryptedListening]:
        """Bind every endpoint (TCP), closed with ``sockets``.

        ``reuse_port``: SO_REUSEPORT, for ``--workers`` (see ``server.bind_all``).

        Raises:
            BindError: an endpoint cannot be bound.
        """
        wanted = [("dot", e) for e in self._tls_endpoints]
        wanted += [("doh", e) for e in self._https_endpoints]
        return bind_encrypted(wanted, sockets, reuse_port=reuse_port)

    async def serve(
        self,
        listening: Sequence[EncryptedListening] | None = None,
        *,
        task_status: trio.TaskStatus[list[tuple[str, Endpoint]]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bind (unless ``listening`` is given, e.g. by a ``--workers`` supervisor) and serve.

        ``task_status.started`` receives each transport and bound endpoint.
        Returns once ``shutdown`` has let the connections finish.
        """
        with self._stop.serving(), contextlib.ExitStack() as sockets:
            bound = list(listening) if listening is not None else self.bind(sockets)
            async with trio.open_nursery() as work:
                async with trio.open_nursery() as intake:
                    for kind, _, sock in bound:
                        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                        intake.start_soon(accept_clients, listener, kind,
                                          functools.partial(self._take, kind, work))
                    serving = [(kind, endpoint) for kind, endpoint, _ in bound]
                    logger.info("serving %s",
                                ", ".join(f"{kind} on {show(e)}" for kind, e in serving),
                                extra={"event": "encrypted_started"})
                    task_status.started(serving)
                    await self._stop.until_requested(intake)
                self._stop.drain(self._pool, work)

    async def shutdown(self, grace: float) -> None:
        """Stop accepting and reading, give queries read ``grace`` seconds, then return.

        The same grace as ``DnsServer.shutdown``; ``serve()`` returns normally.
        """
        await self._stop.shutdown(grace)

    def _take(self, kind: str, work: trio.Nursery, stream: trio.SocketStream, client: str
              ) -> bool:
        connection = self.admit(client)
        if connection is None:
            return False
        work.start_soon(self.serve_connection, kind, connection, stream)
        return True

    def admit(self, client: str) -> PooledConnection | None:
        """A place in the pool for a new connection of ``client``; None: refused (counted)."""
        connection = PooledConnection(client, self.limits.idle_timeout)
        evicted = self._pool.admit(connection)
        if evicted is None:
            self.stats.refused += 1
            return None
        self.stats.evicted += evicted
        self.stats.open = len(self._pool)
        return connection

    async def serve_connection(self, kind: str, connection: PooledConnection,
                               stream: trio.abc.Stream) -> None:
        """Handshake and serve one admitted connection (``kind``: "dot" or "doh") until it ends.

        Handshake and reading run under ``connection.reading`` (idle timeout,
        eviction, shutdown); the queries read are answered in ``queries``,
        which outlives it, so a query read is answered even when reading stops.
        """
        identity = self.identity  # a reload applies from the next connection
        context = identity.dot if kind == "dot" else identity.doh
        tls = TlsStream(stream, context)  # every record that arrived per read: tls_stream
        sender = Sender(tls, self.limits.idle_timeout)
        session: Session | None = None
        try:
            async with trio.open_nursery() as queries:
                sender.connection = queries.cancel_scope
                with connection.reading, contextlib.suppress(
                        trio.BrokenResourceError, trio.ClosedResourceError):
                    if not await self._handshake(connection, tls):
                        return
                    self.stats.accepted[kind] += 1
                    if kind == "dot":
                        await self._read_dot(connection, tls, sender, queries)
                    else:
                        if tls.selected_alpn_protocol() == "h2":
                            session = Http2Session(self._path, self.limits.max_streams)
                        else:
                            session = Http1Session(self._path)
                        await self._read_http(connection, tls, session, sender, queries)
            if session is not None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await sender.send(session.data_to_send())
        finally:
            self._pool.leave(connection)
            self.stats.open = len(self._pool)
            await trio.aclose_forcefully(tls)

    async def _handshake(self, connection: PooledConnection, tls: TlsStream) -> bool:
        """Whether the TLS handshake finished within ``handshake_timeout``."""
        with trio.move_on_after(self.limits.handshake_timeout) as timer:
            try:
                await tls.do_handshake()
            except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
                logger.debug("TLS handshake with %s failed: %s", connection.client, error)
            else:
                return True
        self.stats.handshake_failed += 1
        self.stats.handshake_timeouts += timer.cancelled_caught
        return False

    async def _read_dot(self, connection: PooledConnection, tls: trio.abc.Stream,
                        sender: Sender, queries: trio.Nursery) -> None:
        """Read framed queries: ready-made answers at once, cold ones in ``queries`` (RFC 7766)."""
        slots = trio.Semaphore(self.limits.pipelined_queries)
        buffer = bytearray()
        replies = bytearray()
        client = connection.client
        while data := await tls.receive_some(_RECEIVE_SIZE):
            buffer += data
            for wire in take_frames(buffer):
                reply = self._ready(wire, client, "dot")
                if reply is not None:
                    replies += frame(reply)
                    if len(replies) >= _FLUSH_BYTES:
                        await _flush(connection, sender, replies)
                    continue
                if not slots.value:  # about to wait: what is ready goes out first
                    await _flush(connection, sender, replies)
                await slots.acquire()
                connection.busy()
                queries.start_soon(self._answer_dot, connection, wire, sender, slots)
            await _flush(connection, sender, replies)

    async def _answer_dot(self, connection: PooledConnection, wire: bytes, sender: Sender,
                          slots: trio.Semaphore) -> None:
        try:
            reply = await self._answer(wire, connection.client, "dot")
            if reply is not None:
                await sender.send(frame(reply))
        finally:
            slots.release()
            connection.done()

    async def _read_http(self, connection: PooledConnection, tls: TlsStream,
                         session: Session, sender: Sender, queries: trio.Nursery) -> None:
        """Feed the session what the client sends; answer the queries it completes.

        Ready-made answers are given to the session at once (HTTP/1.1 then
        hands out the next pipelined request); cold queries get a task.
        """
        client = connection.client

        def seal(piece: bytes) -> None:
            """Encrypt ``piece`` as records of its own, sent with the next write."""
            try:
                tls.encrypt(piece)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                sender.connection.cancel()

        async def answer(request: DnsRequest) -> None:
            try:
                reply = await self._answer(request.wire, client, "doh")
                await start(session.respond(request.stream, reply))
            finally:
                connection.done()

        async def start(requests: list[DnsRequest]) -> bool:
            """Answer what is ready of ``requests``; whether anything was sent."""
            # Each response in a TLS record of its own: dnsperf 2.10 loses all
            # but one of the HTTP/2 responses that arrive in one record
            # (DNS-OARC/dnsperf#240). But the records of a batch go out in one
            # write (one system call, one pass through Trio), up to
            # ``_FLUSH_BYTES``: the session's output is taken (and sealed)
            # before each response, and the last is sent with what follows it.
            # The reads stay batched (``tls_stream``).
            sealed = 0
            answered = False
            index = 0
            while index < len(requests):
                request = requests[index]
                index += 1
                reply = self._ready(request.wire, client, "doh")
                if reply is None:
                    connection.busy()
                    queries.start_soon(answer, request)
                    continue
                piece = session.data_to_send()
                if sealed + len(piece) >= _FLUSH_BYTES:
                    await sender.send(piece)
                    sealed = 0
                elif piece:
                    seal(piece)
                    sealed += len(piece)
                requests += session.respond(request.stream, reply)
                answered = True
            if answered:
                connection.answered()
            rest = session.data_to_send()
            await sender.send(rest)
            return answered or bool(rest)

        await sender.send(session.data_to_send())
        while not session.closed:
            data = await tls.receive_some(_RECEIVE_SIZE)
            if not await start(session.receive(bytes(data))) and data:
                # Nothing to send back yet (a request's HEADERS without its
                # DATA, say): the ACK goes now, or a client with Nagle's
                # algorithm on (dnsperf 2.10's DoH) holds the rest of the
                # request until the kernel's delayed ACK, 40 ms later.
                tls.acknowledge()
            if not data:
                break


async def _flush(connection: PooledConnection, sender: Sender, replies: bytearray) -> None:
    """Send the answers gathered in ``replies`` in one write, and empty it."""
    if replies:
        connection.answered()
        await sender.send(bytes(replies))
        replies.clear()


def encrypted_endpoints(config: Config) -> list[tuple[str, Endpoint]]:
    """Where ``config`` asks for DoT ("dot") and DoH ("doh"), in the order ``bind`` uses."""
    return ([("dot", parse_endpoint(text)) for text in config["server.listen_tls"]]
            + [("doh", parse_endpoint(text)) for text in config["server.listen_https"]])


def bind_encrypted(wanted: Sequence[tuple[str, Endpoint]], sockets: contextlib.ExitStack, *,
                   reuse_port: bool) -> list[EncryptedListening]:
    """A listening socket per transport and endpoint in ``wanted``, closed with ``sockets``.

    Raises:
        BindError: an endpoint cannot be bound.
    """
    return [(kind, *bind_stream(endpoint, sockets, reuse_port)) for kind, endpoint in wanted]


def encrypted_server_for(config: Config, server: DnsServer) -> EncryptedServer | None:
    """The DoT/DoH listeners ``config`` asks for, answering through ``server``; None if none.

    Blocking (reads the certificate).

    Raises:
        CertificateError: see ``tls.identity_for``.
    """
    identity = identity_for(config)
    if identity is None:
        return None

    async def answer(wire: bytes, client: str, transport: str) -> bytes | None:
        return await server.answer_in_full(wire, client, tcp=True, transport=transport)

    def ready(wire: bytes, client: str, transport: str) -> bytes | None:
        return server.answer_ready(wire, client, tcp=True, transport=transport)

    return EncryptedServer(
        [parse_endpoint(text) for text in config["server.listen_tls"]],
        [parse_endpoint(text) for text in config["server.listen_https"]],
        answer,
        identity,
        EncryptedLimits.from_config(config),
        config["server.https_path"],
        ready,
    )
