"""The Trio DNS server: where clients' queries enter and responses leave.

``DnsServer`` listens on UDP and TCP on every configured endpoint and passes
each packet through ``DnsServer.answer``: access list, then
``messages.parse_query``, then the RFC 8482 shortcut for ANY or the
resolver's ``QueryHandler``, then ``messages.render_response``. Each query
runs in its own task, so a slow resolution never holds up any other.

It is the only client-facing I/O in Holdfast, and so the place for the
limits that keep a flood or a stuck client from exhausting the process:
concurrent UDP queries, TCP connections, queries in flight per connection and
idle TCP connections are all capped.

Under overload, cached answers come first. The UDP reader drains the socket
in one tight loop, answers every repeated question as it reads it, and only
queues the others; ``admission.Admission`` starts them while the loop keeps
up and drops the surplus early and cheaply, before the kernel would drop
cached and cold queries alike. How late the loop is, and the chance to read
the sockets again between two steps of the resolutions, come from
``loopwatch.LoopWatch``: a cached question waits at most about one task
step, not a whole scheduler batch.

TCP connections form a pool. A client (an IPv4 address or an IPv6 /64) may
hold ``tcp_connections_per_client`` of them (Unbound tcp-connection-limit);
when it or the pool is at its cap, the connection idle longest gives way
to the new one (RFC 7766 section 6.2.3: a server under resource pressure
closes idle connections, the least recently used first), and only when none
is idle is the new one refused. Idle connections so cannot shut anyone out.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import trio

from resolver.access import AccessList
from resolver.admission import Admission, AdmissionLimits
from resolver.answers import (
    AnswerCache,
    clamp_ttls,
    extended_errors,
    qtype_label,
    question_type,
)
from resolver.cache import Lifetimes
from resolver.config import Config
from resolver.connections import BindError as BindError
from resolver.connections import (
    ConnectionPool,
    GracefulStop,
    PooledConnection,
    Sender,
    accept_clients,
    show,
    tcp_listener,
)
from resolver.connections import Endpoint as Endpoint
from resolver.counters import Histogram
from resolver.dnstap_output import DnstapOutput
from resolver.errors import HoldfastError, QueryError
from resolver.framing import frame, read_frames
from resolver.identity import Identity
from resolver.localzones import DENIED, LocalZones
from resolver.loopwatch import LoopWatch
from resolver.messages import (
    MIN_UDP_SIZE,
    OUR_UDP_PAYLOAD,
    TCP_SIZE_LIMIT,
    ClientQuery,
    DropQuery,
    Echo,
    QueryRejected,
    parse_query,
    render_any_response,
    render_echo_answer,
    render_error,
    render_response,
    render_truncated,
    udp_size_limit,
)
from resolver.policy import TRUNCATE, Policy
from resolver.question import ExtendedError, Outcome

logger = logging.getLogger("holdfast.server")
#: One INFO line per answered query when ``DnsServer.query_log`` is on.
query_logger = logging.getLogger("holdfast.query")

#: Resolves one client query; provided by the resolver.
QueryHandler = Callable[[ClientQuery], Awaitable[Outcome]]


#: EDE INFO-CODEs used here (RFC 8914 section 4).
EDE_OTHER = 0
EDE_PROHIBITED = 18

#: Datagrams read per wakeup before yielding to the other tasks: enough to
#: empty a 4 MiB receive buffer of small queries in a few batches, few enough
#: that a flood cannot keep the reader from yielding.
_UDP_BATCH = 1024
#: Seconds of other tasks' steps after which the UDP sockets are read again
#: (``loopwatch``), while cold resolutions run: a cached question then waits
#: about this long plus one step. A read that finds nothing costs about a
#: microsecond per socket, a thousandth of the slice.
_READ_SLICE = 0.001
#: Linux socket option the socket module does not name (asm-generic/socket.h).
_SO_RCVBUFFORCE = 33
#: Larger than any UDP payload, so nothing is cut short.
_UDP_RECEIVE_SIZE = 65535
#: Tries to find a free port for TCP when the endpoint asked for port 0.
_PORT_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Caps on what clients can make the server hold.

    Cold UDP queries beyond what ``admission`` lets start are dropped rather
    than answered SERVFAIL: under overload, parsing and rendering is exactly
    the work there is no room for, a dropped query is simply retried by its
    client (a SERVFAIL would make it give up), and a flood of spoofed
    sources gets no reflected traffic.
    """

    max_tcp_connections: int = 256
    tcp_connections_per_client: int = 32
    tcp_idle_timeout: float = 10.0
    max_tcp_queries_per_connection: int = 100
    max_udp_queries: int = 1024
    udp_queue: int = 1024
    udp_queue_timeout: float = 0.5
    #: SO_RCVBUF of the UDP sockets, bytes; 0 keeps the system's default.
    udp_receive_buffer: int = 4 << 20
    #: The largest UDP response, bytes (``messages.udp_size_limit``).
    max_udp_size: int = OUR_UDP_PAYLOAD

    @classmethod
    def from_config(cls, config: Config) -> ServerLimits:
        """The ``[server]`` limits of ``config``."""
        return cls(
            max_tcp_connections=config["server.tcp_connections"],
            tcp_connections_per_client=config["server.tcp_connections_per_client"],
            tcp_idle_timeout=config["server.tcp_idle_timeout"],
            max_udp_queries=config["server.udp_queries"],
            udp_queue=config["server.udp_queue"],
            udp_queue_timeout=config["server.udp_queue_timeout"],
            udp_receive_buffer=config["server.udp_receive_buffer"],
            max_udp_size=config["server.max_udp_size"],
        )

    def admission(self) -> AdmissionLimits:
        """The cold-query admission rule these limits give."""
        return AdmissionLimits(
            max_in_flight=self.max_udp_queries,
            max_waiting=self.udp_queue,
            max_wait=self.udp_queue_timeout,
        )


@dataclass(slots=True)
class ServerStats:
    """Running counters, for ``ctl status``."""

    queries_udp: int = 0
    queries_tcp: int = 0
    #: Queries over TLS and HTTPS (``encrypted.py``), not counted under TCP.
    queries_dot: int = 0
    queries_doh: int = 0
    #: Responses sent, by rcode mnemonic (``"NOERROR"``, ``"SERVFAIL"``, ...).
    #: Plain dicts, not ``Counter``s: the interpreter's fast paths for item
    #: access apply to exact dicts only, which halves the cost per answer.
    responses: dict[str, int] = field(default_factory=dict)
    #: Responses sent, by ``answers.qtype_label`` of the question.
    qtypes: dict[str, int] = field(default_factory=dict)
    #: Extended DNS Errors sent, by INFO-CODE.
    extended_errors: Counter[int] = field(default_factory=Counter)
    #: Packets that got no answer: malformed headers, responses, internal bugs.
    dropped: int = 0
    #: Cold UDP queries dropped under overload (``admission``): the queue was
    #: full, or they waited past ``udp_queue_timeout``.
    overloaded: int = 0
    refused_by_acl: int = 0
    #: TCP connections accepted (ever) and currently open.
    tcp_connections: int = 0
    tcp_open: int = 0
    #: TCP connections closed at once: the pool or the client was at its cap, none idle.
    tcp_refused: int = 0
    #: Idle TCP connections closed to make room for a new one.
    tcp_evicted: int = 0


class DnsServer:
    """Serves DNS over UDP and TCP on a set of endpoints until shut down.

    One instance serves once: ``serve()`` runs until cancelled or until
    ``shutdown()``.

    Args:
        endpoints: ``(address literal, port)`` pairs, IPv4 or IPv6; port 0
            picks a free port (the same for UDP and TCP).
        handler: resolves a ``ClientQuery`` into an ``Outcome``.
        access: which clients are served; others are answered REFUSED.
        limits: resource caps.
        answers: ready-made responses for repeated questions; None answers
            every query the full way.
        lifetimes: the cache's TTL bounds now (a reload replaces them): no
            response carries a TTL above them (``answers.clamp_ttls``).
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        handler: QueryHandler,
        access: AccessList | None = None,
        limits: ServerLimits = ServerLimits(),
        answers: AnswerCache | None = None,
        lifetimes: Callable[[], Lifetimes] = Lifetimes,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._answers = answers
        self._lifetimes = lifetimes
        self._handler = handler
        self._access = access if access is not None else AccessList()
        self.limits = limits
        self.stats = ServerStats()
        #: Seconds to answer, ready-made (``answer_ready``) and the full way.
        self.cached_latency = Histogram()
        self.resolved_latency = Histogram()
        #: Log every answered query on ``holdfast.query`` (a reload switches it).
        self.query_log = False
        #: Names answered here before the cache and recursion (``localzones``),
        #: and the CHAOS identity names (``identity``); a reload replaces them.
        self.local_zones: LocalZones | None = None
        self.identity: Identity | None = None
        #: The ``[[policy]]`` rules, tried before the local zones; a reload replaces them.
        self.policy: Policy | None = None
        #: Where answered client exchanges are copied as dnstap; None: nowhere.
        self.dnstap: DnstapOutput | None = None
        self._admission: Admission[tuple[socket.socket, bytes, tuple[Any, ...]]] = Admission(
            limits.admission()
        )
        self._stop = GracefulStop()
        #: The TCP connection pool: every connection admitted and not yet closed or evicted.
        self._pool: ConnectionPool[_TcpConnection] = ConnectionPool(
            limits.max_tcp_connections, limits.tcp_connections_per_client)

    async def serve(
        self,
        listening: Sequence[Listening] | None = None,
        *,
        task_status: trio.TaskStatus[list[Endpoint]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bind every endpoint, report them bound, and serve until stopped.

        ``listening``: sockets bound already (by a ``--workers`` supervisor,
        see ``bind_all``), served instead of the endpoints; they stay open
        when serving ends, as they belong to the caller.

        ``task_status.started`` receives the bound endpoints with their
        actual ports, in the order given.

        Raises:
            BindError: an endpoint is not an address literal or cannot be bound.
        """
        with self._stop.serving(), contextlib.ExitStack() as sockets:
            bound = listening or bind_all(self._endpoints, sockets)
            async with trio.open_nursery() as work:
                udp_sockets = [udp for _, udp, _ in bound]
                watch = LoopWatch(
                    self._admission.sojourn,
                    functools.partial(self._read_between_steps, udp_sockets, work),
                    self._admission.busy,
                    _READ_SLICE,
                )
                async with trio.open_nursery() as intake:
                    for _, udp, tcp in bound:
                        _tune_udp(udp, self.limits.udp_receive_buffer)
                        listener = trio.SocketListener(trio.socket.from_stdlib_socket(tcp))
                        intake.start_soon(self._receive_udp, udp, work)
                        intake.start_soon(accept_clients, listener, "TCP",
                                          functools.partial(self._take_tcp, work))
                    trio.lowlevel.add_instrument(watch)
                    try:
                        task_status.started([endpoint for endpoint, _, _ in bound])
                        await self._stop.until_requested(intake)
                    finally:
                        # Trio drops an instrument that raised (and logs why).
                        with contextlib.suppress(KeyError):
                            trio.lowlevel.remove_instrument(watch)
                self._stop.drain(self._pool, work)

    async def shutdown(self, grace: float = 2.0) -> None:
        """Stop taking queries, give those in flight ``grace`` seconds, then return.

        ``serve()`` returns normally once this is done.
        """
        await self._stop.shutdown(grace)

    async def answer(
        self, wire: bytes, client: str, *, tcp: bool, transport: str = ""
    ) -> bytes | None:
        """The response to one query packet from ``client``, or None to drop it.

        ``transport`` labels a stream transport other than plain TCP ("dot",
        "doh") in the counters and the query log.

        Never raises (except ``trio.Cancelled``): errors the resolver raises
        on purpose map to their rcode, anything else is logged as the bug it
        is and answered SERVFAIL.
        """
        ready = self.answer_ready(wire, client, tcp=tcp, transport=transport)
        if ready is not None:
            return ready
        return await self.answer_in_full(wire, client, tcp=tcp, transport=transport)

    async def answer_in_full(
        self, wire: bytes, client: str, *, tcp: bool, transport: str = ""
    ) -> bytes | None:
        """``answer`` for a packet that ``answer_ready`` has already passed on."""
        started = perf_counter()
        transport = self._count_query(tcp, transport)
        try:
            reply = await self._reply(wire, client, tcp=tcp)
        except Exception:
            logger.exception("dropped a query from %s: failed to answer it", client)
            reply = None
        if reply is None:
            self.stats.dropped += 1
            return None
        response, rcode = reply
        rcode_text = _rcode_text(rcode)
        responses, qtypes = self.stats.responses, self.stats.qtypes
        responses[rcode_text] = responses.get(rcode_text, 0) + 1
        qtype = question_type(wire)
        qtype_text = "-" if qtype is None else qtype_label(qtype)
        if qtype is not None:
            qtypes[qtype_text] = qtypes.get(qtype_text, 0) + 1
        for code in extended_errors(response):
            self.stats.extended_errors[code] += 1
        elapsed = perf_counter() - started
        self.resolved_latency.observe(elapsed)
        if self.query_log:
            self._log_query(wire, client, qtype_text, rcode_text, transport, "resolved", elapsed)
        if self.dnstap is not None:
            self.dnstap.client(wire, response, client, tcp=tcp)
        return response

    def answer_ready(
        self, wire: bytes, client: str, *, tcp: bool, transport: str = ""
    ) -> bytes | None:
        """The ready-made response to a repeated question, or None to answer it the full way.

        Synchronous, so the UDP loop can answer without starting a task.
        Never raises: a bug here must cost the fast path, not the server.
        Counting is plain integer arithmetic (``counters``): this path
        answers about 100,000 queries a second.
        """
        started = perf_counter()
        if self._answers is None or not self._access.allows(client):
            return None
        try:
            ready = self._answers.answer(wire, tcp=tcp)
        except Exception:
            logger.exception("the ready-made answer path failed; answering the full way")
            return None
        if ready is None:
            return None
        response, rcode, qtype = ready
        transport = self._count_query(tcp, transport)
        responses, qtypes = self.stats.responses, self.stats.qtypes
        responses[rcode] = responses.get(rcode, 0) + 1
        qtypes[qtype] = qtypes.get(qtype, 0) + 1
        elapsed = perf_counter() - started
        self.cached_latency.observe(elapsed)
        if self.query_log:
            self._log_query(wire, client, qtype, rcode, transport, "cached", elapsed)
        if self.dnstap is not None:
            self.dnstap.client(wire, response, client, tcp=tcp)
        return response

    def _count_query(self, tcp: bool, transport: str) -> str:
        """Count one query under its transport; the transport's label."""
        if not transport:  # plain UDP and TCP first: the hot path
            if tcp:
                self.stats.queries_tcp += 1
                return "tcp"
            self.stats.queries_udp += 1
            return "udp"
        if transport == "dot":
            self.stats.queries_dot += 1
        else:
            self.stats.queries_doh += 1
        return transport

    @staticmethod
    def _log_query(
        wire: bytes, client: str, qtype: str, rcode: str, transport: str, path: str,
        elapsed: float,
    ) -> None:
        """The query log line of one answered query (``path``: cached or resolved)."""
        try:
            qname = dns.name.from_wire(wire, 12)[0].to_text()
        except (dns.exception.DNSException, IndexError, ValueError):
            qname = "-"
        ms = round(elapsed * 1000, 3)
        query_logger.info(
            "%s %s %s %s %s %s %.3f ms", client, qname, qtype, rcode, transport, path, ms,
            extra={"event": "query", "client": client, "qname": qname, "qtype": qtype,
                   "rcode": rcode, "transport": transport, "path": path, "ms": ms},
        )

    async def _reply(self, wire: bytes, client: str, *, tcp: bool) -> tuple[bytes, int] | None:
        """ACL, parse, ANY shortcut, resolve, render: the response and its rcode."""
        allowed = self._access.allows(client)
        try:
            query = parse_query(wire)
        except DropQuery:
            return None
        except QueryRejected as rejected:
            chaos = self._chaos(rejected.echo, tcp=tcp) if allowed else None
            if chaos is not None:
                return chaos, dns.rcode.NOERROR
            return self._reject(rejected if allowed else self._refuse(rejected.echo), tcp=tcp)
        if not allowed:
            return self._reject(self._refuse(query.echo), tcp=tcp)
        rule = None if self.policy is None else self.policy.match(query.question)
        local = None if rule is None else rule.answer(query.question.name, tcp=tcp)
        if local is TRUNCATE:
            return render_truncated(query), dns.rcode.NOERROR
        if local is None and self.local_zones is not None:
            local = self.local_zones.answer(query.question)
        if local is DENIED:
            return None
        if query.is_any and local is None:
            return render_any_response(query), dns.rcode.NOERROR
        outcome = local if local is not None else await self._resolve(query)
        max_size = TCP_SIZE_LIMIT if tcp else udp_size_limit(query, self.limits.max_udp_size)
        try:
            response = clamp_ttls(
                render_response(query, outcome, max_size=max_size), self._lifetimes()
            )
        except Exception:
            logger.exception("cannot render the outcome for %s", query.question)
            return self._reject(query.reject(dns.rcode.SERVFAIL, "unrenderable"), tcp=tcp)
        if self._answers is not None and not outcome.errors and (
            rule is None or rule.keeps_ready_answers
        ):
            self._answers.remember(wire, response)
        # The rendered rcode: a bogus outcome became SERVFAIL unless CD was set.
        return response, response[3] & 0x0F

    def _chaos(self, echo: Echo, *, tcp: bool) -> bytes | None:
        """The answer to a CHAOS identity question (``identity``), or None: refuse it."""
        question = echo.question
        if self.identity is None or question is None:
            return None
        record = self.identity.record(question.name, question.rdtype, question.rdclass)
        if record is None:
            return None
        return render_echo_answer(echo, record, max_size=TCP_SIZE_LIMIT if tcp else MIN_UDP_SIZE)

    async def _resolve(self, query: ClientQuery) -> Outcome:
        """Run the handler, turning whatever it raises into an ``Outcome``."""
        try:
            return await self._handler(query)
        except QueryError as error:
            return Outcome(rcode=dns.rcode.Rcode.make(error.rcode))
        except HoldfastError as error:
            return Outcome.servfail(EDE_OTHER, str(error))
        except Exception:
            logger.exception("the resolver failed on %s", query.question)
            return Outcome.servfail(EDE_OTHER, "internal error")

    def _refuse(self, echo: Echo) -> QueryRejected:
        """The REFUSED for a client outside the access list."""
        self.stats.refused_by_acl += 1
        return QueryRejected(
            dns.rcode.REFUSED,
            "client not allowed",
            echo=echo,
            errors=(ExtendedError(EDE_PROHIBITED),),
        )

    @staticmethod
    def _reject(rejected: QueryRejected, *, tcp: bool) -> tuple[bytes, int]:
        max_size = TCP_SIZE_LIMIT if tcp else MIN_UDP_SIZE
        return render_error(rejected, max_size=max_size), rejected.rcode

    async def _receive_udp(self, sock: socket.socket, work: trio.Nursery) -> None:
        """Drain the socket whenever it is readable: cached answers now, cold ones started."""
        while True:
            await trio.lowlevel.wait_readable(sock)
            self._read_udp(sock, work)
            self._start_cold(work)

    def _read_between_steps(self, sockets: Sequence[socket.socket], work: trio.Nursery) -> None:
        """``LoopWatch.between``: drain every UDP socket between two task steps.

        Called only while cold resolutions run (``Admission.busy``), so the
        cold queries read here are started when one of those ends
        (``_answer_udp``), not from the scheduler's hook. The one task the
        hook may start is ``_send_udp``, when the socket's send buffer is full.
        """
        for sock in sockets:
            self._read_udp(sock, work)

    def _read_udp(self, sock: socket.socket, work: trio.Nursery) -> None:
        """Read what ``sock`` holds (``_UDP_BATCH`` at most): answer repeats, queue the rest."""
        admission = self._admission
        now = trio.current_time()
        for _ in range(_UDP_BATCH):
            try:
                wire, peer = sock.recvfrom(_UDP_RECEIVE_SIZE)
            except BlockingIOError:
                return
            except OSError as error:
                logger.debug("UDP receive failed: %s", error)
                continue
            ready = self.answer_ready(wire, peer[0], tcp=False)
            if ready is not None:
                if not _try_send(sock, ready, peer):
                    work.start_soon(_send_udp, sock, ready, peer)
                continue
            admission.arrive((sock, wire, peer), now)

    def _start_cold(self, work: trio.Nursery) -> None:
        """Start the cold queries ``admission`` lets through; count those it dropped."""
        admission = self._admission
        for sock, wire, peer in admission.take(trio.current_time()):
            work.start_soon(self._answer_udp, sock, wire, peer, work)
        self.stats.overloaded = admission.stats.dropped_full + admission.stats.dropped_stale

    async def _answer_udp(
        self, sock: socket.socket, wire: bytes, peer: tuple[Any, ...], work: trio.Nursery
    ) -> None:
        try:
            reply = await self.answer_in_full(wire, peer[0], tcp=False)
            if reply is not None:
                await _send_udp(sock, reply, peer)
        finally:
            self._admission.finished()
            self._start_cold(work)

    def _take_tcp(self, work: trio.Nursery, stream: trio.SocketStream, client: str) -> bool:
        """Admit a new connection into the pool (module docstring); False: refused."""
        connection = _TcpConnection(self, stream, client)
        evicted = self._pool.admit(connection)
        if evicted is None:
            self.stats.tcp_refused += 1
            return False
        self.stats.tcp_evicted += evicted
        self.stats.tcp_connections += 1
        self.stats.tcp_open += 1 - evicted  # an evicted one has left the pool already
        work.start_soon(self._serve_connection, connection)
        return True

    async def _serve_connection(self, connection: _TcpConnection) -> None:
        try:
            await connection.run()
        finally:
            if self._pool.leave(connection):
                self.stats.tcp_open -= 1

class _TcpConnection(PooledConnection):
    """One client's TCP connection: framed, pipelined, answered out of order.

    The reader (under its ``reading`` cancel scope) stops after
    ``tcp_idle_timeout`` without a query in flight (RFC 7766 6.2.3), at end of
    stream, at shutdown, or when the pool evicts it; queries already read are
    still answered before the connection closes. A half-received frame
    holds up nobody but this reader. When ``max_tcp_queries_per_connection``
    are in flight, reading pauses, which pushes back on the client through
    TCP flow control.
    """

    def __init__(self, server: DnsServer, stream: trio.SocketStream, client: str) -> None:
        super().__init__(client, server.limits.tcp_idle_timeout)
        self._server = server
        self._stream = stream
        self._slots = trio.Semaphore(server.limits.max_tcp_queries_per_connection)
        self._sender = Sender(stream, server.limits.tcp_idle_timeout)

    async def run(self) -> None:
        """Read and answer queries until the reader stops and all are answered."""
        async with self._stream, trio.open_nursery() as queries:
            self._sender.connection = queries.cancel_scope
            with self.reading:
                await self._read(queries)

    async def _read(self, queries: trio.Nursery) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            async with contextlib.aclosing(read_frames(self._stream)) as frames:
                async for wire in frames:
                    await self._slots.acquire()
                    self.busy()
                    queries.start_soon(self._answer, wire)

    async def _answer(self, wire: bytes) -> None:
        try:
            reply = await self._server.answer(wire, self.client, tcp=True)
            if reply is not None:
                await self._sender.send(frame(reply))
        finally:
            self._slots.release()
            self.done()


#: One endpoint's sockets on the same port: its (address, port), UDP, and TCP listening.
Listening = tuple[Endpoint, socket.socket, socket.socket]


def bind_all(
    endpoints: Sequence[Endpoint], sockets: contextlib.ExitStack, *, reuse_port: bool = False
) -> list[Listening]:
    """Bind UDP and TCP on every endpoint, in order; closed with ``sockets``.

    ``reuse_port`` sets SO_REUSEPORT, so that each ``--workers`` process has
    sockets of its own on the same ports and the kernel spreads the clients
    across them. It is off otherwise: a second resolver started by mistake
    on the same port must fail to bind, not quietly take half the queries.

    Raises:
        BindError: an endpoint is not an address literal or cannot be bound.
    """
    return [_bind(endpoint, sockets, reuse_port) for endpoint in endpoints]


def _bind(endpoint: Endpoint, sockets: contextlib.ExitStack, reuse_port: bool) -> Listening:
    """Bind UDP and TCP on one endpoint (the same port), closed with ``sockets``."""
    host, port = endpoint
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError as error:
        raise BindError(f"listen address {host!r} is not an IP address literal") from error
    # With port 0 the kernel picks a UDP port that may be taken for TCP: pick again.
    attempts_left = _PORT_ATTEMPTS if port == 0 else 1
    while True:
        attempts_left -= 1
        try:
            udp = _udp_socket(family, endpoint, reuse_port)
        except OSError as error:
            raise BindError(f"cannot listen on UDP {show(endpoint)}: {error.strerror}") from error
        bound = (host, int(udp.getsockname()[1]))
        try:
            tcp = tcp_listener(family, bound, reuse_port)
        except OSError as error:
            _close(udp)
            if attempts_left and error.errno == errno.EADDRINUSE:
                continue
            raise BindError(f"cannot listen on TCP {show(bound)}: {error.strerror}") from error
        sockets.callback(_close, udp)
        sockets.callback(_close, tcp)
        return bound, udp, tcp


def _udp_socket(
    family: socket.AddressFamily, endpoint: Endpoint, reuse_port: bool
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        sock.bind(endpoint)
    except OSError:
        sock.close()
        raise
    return sock


def _tune_udp(sock: socket.socket, receive_buffer: int) -> None:
    """The receive buffer at ``receive_buffer`` bytes (0: as is).

    A larger buffer (Unbound so-rcvbuf) absorbs the bursts that arrive while
    the loop works; SO_RCVBUFFORCE goes past ``net.core.rmem_max`` when we
    may (root, before the privilege drop), SO_RCVBUF up to it otherwise.
    """
    if not receive_buffer:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, receive_buffer)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)


def _close(sock: socket.socket) -> None:
    trio.lowlevel.notify_closing(sock)
    sock.close()


@functools.cache
def _rcode_text(rcode: int) -> str:
    """The label an rcode is counted under, made once per rcode (at most 4,096 of them)."""
    return dns.rcode.to_text(dns.rcode.Rcode.make(rcode))


def _try_send(sock: socket.socket, reply: bytes, peer: tuple[Any, ...]) -> bool:
    """Send one datagram now; False if the socket buffer is full (a lost send is True)."""
    try:
        sock.sendto(reply, peer)
    except BlockingIOError:
        return False
    except OSError as error:
        logger.debug("UDP send to %s failed: %s", peer[0], error)
    return True


async def _send_udp(sock: socket.socket, reply: bytes, peer: tuple[Any, ...]) -> None:
    """Send, waiting only while the socket buffer is full."""
    while not _try_send(sock, reply, peer):
        await trio.lowlevel.wait_writable(sock)
