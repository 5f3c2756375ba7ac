"""The Trio shell that puts upstream queries on the wire.

The iterator decides *whom* to ask and *what*; server selection decides how
long to wait. This module does the one thing left: send an ``UpstreamQuery``
to an authoritative server over UDP (falling back to TCP on truncation) and
hand back the reply that matches it, or an ``UpstreamError`` saying why there
is none. It is deliberately paranoid about what it accepts, because a reply
it accepts goes straight into the cache:

* every UDP query gets a fresh socket (so a fresh OS-chosen source port)
  and a ``secrets``-random ID; the socket is ``connect()``ed, so the kernel
  drops datagrams from any other source (a TCP connection, which no
  off-path sender can race, is kept for the server's next query:
  ``resolver.upstream_tcp``);
* the letters of the query name get a random case (0x20, draft-vixie-
  dnsext-dns0x20; Unbound's ``use-caps-for-id``, on by default in Knot
  Resolver), drawn from ``secrets``: one more bit an off-path spoofer must
  guess per letter;
* a reply counts only if its ID, QR bit and question (type, class, and the
  name with the case exactly as sent) match; a reply to another question
  is ignored, and one with our ID that does not parse or has the name in
  another case is dropped and counted (``ReplyFilter``): we keep listening
  for the genuine reply until the timeout;
* a server seen to change the case is asked again over TCP, which an
  off-path spoofer cannot race; if its TCP reply changes the case too, it
  does not preserve case, and it gets unrandomised queries for
  ``CASE_FALLBACK_PERIOD``;
* TC=1 over TCP is a failure of that server, never an empty answer;
* an egress allow-list is checked before any socket exists, so a
  misconfigured or hostile delegation can never make us send a packet to an
  address we were told not to talk to;
* a query with ``tls_name`` (a forward zone's DNS over TLS, RFC 7858) goes
  over TLS on its TCP leg, the certificate verified for that name
  (``resolver.upstream_tls``); a fresh connection per query, as over TCP.

Servers that answer an EDNS query with FORMERR or NOTIMP (and no OPT record)
get the query again without EDNS; the reply then says ``edns=False`` and the
caller records that in server selection.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import ipaddress
import logging
import secrets
import socket
import ssl
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import trio
from cachetools import LRUCache

from resolver import upstream_tcp
from resolver.counters import ServerTable
from resolver.errors import (
    EgressRefused,
    MalformedResponse,
    NetworkError,
    UpstreamError,
    UpstreamTimeout,
)
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.framing import frame, read_frames
from resolver.upstream_request import QUESTION_OFFSET, UpstreamRequest, name_wire, randomise_case
from resolver.upstream_tls import UpstreamTlsError, client_context
from resolver.upstream_wire import read_reply

_log = logging.getLogger("holdfast.transport")

#: Seconds between two warnings about the same refused address.
REFUSAL_WARNING_INTERVAL = 60.0
#: Seconds a server whose TCP reply changed the case of the question gets
#: unrandomised queries; after that it is tried with 0x20 again (it may
#: have been fixed). Knot Resolver sets NO_0X20 for the retry of a
#: mismatched query (lib/selection.c, KR_SELECTION_MISMATCHED); remembering
#: it per server spares every later query a timeout.
CASE_FALLBACK_PERIOD = 3600.0

_MAX_MESSAGE = 65535
#: Header flag bits as plain ints: ``int & IntFlag`` runs the enum's Python code.
_QR, _TC = int(dns.flags.QR), int(dns.flags.TC)
_WARNED_ADDRESSES = 1024

#: Rcodes with which a server that does not speak EDNS rejects an OPT record.
_EDNS_REJECTIONS = frozenset({dns.rcode.FORMERR, dns.rcode.NOTIMP})
#: Rcodes of replies that carry no data and may omit the question section
#: (old servers answer FORMERR/NOTIMP/REFUSED that way).
_DATA_RCODES = frozenset({dns.rcode.NOERROR, dns.rcode.NXDOMAIN})

#: Servers remembered as not preserving case; the least recently marked go first.
_CASE_BLIND_SERVERS = 1024

#: Per server address: exchanges, then the ways they failed or were dropped.
#: An exchange counts as a timeout when nothing matching came within its
#: ``timeout``, even if it went on listening and a late reply came.
SERVER_COLUMNS = ("queries", "timeouts", "errors", "unparseable", "case_mismatches",
                  "case_fallbacks")  # fmt: skip
_QUERIES, _TIMEOUTS, _ERRORS, _UNPARSEABLE, _CASE_MISMATCHES, _CASE_FALLBACKS = range(6)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CaseMismatch(UpstreamError):
    """The only replies to a UDP leg had the question name in another case.

    Either a spoofer who guessed port and ID but not the case, or a server
    that does not preserve case: the exchange asks again over TCP to tell
    which. It never leaves the transport.
    """


class Drop(enum.Enum):
    """Why a message with our ID is dropped while a leg keeps listening (counted per server)."""

    UNPARSEABLE = "unparseable"
    CASE = "case_mismatch"


class RetryingTransport(abc.ABC):
    """The exchange policy every transport shares, around one leg it leaves open.

    An exchange is one query (fresh random ID, the name's case randomised,
    DO bit as asked, our EDNS payload), repeated over TCP when the reply is
    truncated or came back only with the name in another case, and
    repeated without EDNS when the server rejects the OPT record.
    Subclasses say how one leg reaches a server: over sockets here, in
    memory in the lab's ``LabTransport``, so the iterator's tests run the
    same policy as production.

    ``servers`` counts, per server address (``SERVER_COLUMNS``), the
    exchanges, those that timed out and those that failed otherwise, the
    replies dropped as unparseable or for the case of their name, and the
    times a server was found not to preserve case.

    Args:
        udp_payload: EDNS UDP payload size we advertise (RFC 6891), bytes.
        case_randomisation: 0x20 on the query name (``[upstream]
            qname_case_randomisation``).
        case_exempt: Zones whose names never get 0x20 and go in lower case
            (``[upstream] qname_case_exempt``): servers known to answer
            mixed case wrongly, which Unbound's ``caps-exempt`` and Knot
            Resolver's ``workarounds`` module (flag NO_0X20, the name
            lower-cased) spare it too.
    """

    def __init__(
        self,
        *,
        udp_payload: int = 1232,
        case_randomisation: bool = True,
        case_exempt: Sequence[dns.name.Name] = (),
    ) -> None:
        self._udp_payload = udp_payload
        self._case_randomisation = case_randomisation
        self._case_exempt = tuple(case_exempt)
        #: Server address -> until when (trio clock) it gets unrandomised queries.
        self._case_blind: LRUCache[str, float] = LRUCache(maxsize=_CASE_BLIND_SERVERS)
        self.servers = ServerTable(SERVER_COLUMNS)

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        """Send ``query`` and return the matching reply."""
        self.servers.row(query.address)[_QUERIES] += 1
        started = trio.current_time()
        try:
            reply = await self._exchange(query, edns=query.edns)
            if query.edns and _rejects_edns(reply.message):
                reply = await self._exchange(query, edns=False)
        except UpstreamError as error:
            # The row is looked up again: others may have pushed it out meanwhile.
            column = _TIMEOUTS if isinstance(error, UpstreamTimeout) else _ERRORS
            self.servers.row(query.address)[column] += 1
            raise
        except trio.Cancelled:
            # A hedged attempt given up on, or its resolution over, after
            # its timeout: it timed out as far as anyone can tell.
            self._count_late(query, started)
            raise
        self._count_late(query, started)
        return reply

    def _count_late(self, query: UpstreamQuery, started: float) -> None:
        """Count a timeout for an exchange still listening after its ``timeout``."""
        if trio.current_time() - started > query.timeout:
            self.servers.row(query.address)[_TIMEOUTS] += 1

    @abc.abstractmethod
    async def _leg(
        self, query: UpstreamQuery, replies: ReplyFilter, *, tcp: bool
    ) -> dns.message.Message:
        """Send ``replies.request`` to ``query.address`` once; return what ``replies`` takes.

        Over UDP, a truncated reply may come back parsed only up to its
        question. At the deadline (or when a TCP connection closes), raise
        ``replies.failure(...)``: what was dropped decides the error.
        """

    async def _exchange(self, query: UpstreamQuery, *, edns: bool) -> UpstreamReply:
        """One query over UDP, repeated over TCP if truncated or only seen in another case.

        A query marked ``tcp`` goes over TCP at once.
        """
        randomise = not self._exempt(query.qname) and self._randomises(query.address)
        started = trio.current_time()
        message: dns.message.Message | None = None
        if not query.tcp:
            try:
                udp = self._filter(query, edns, randomise, udp=True)
                message = await self._leg(query, udp, tcp=False)
                if int(message.flags) & _TC:
                    message = None
            except CaseMismatch:
                # Knot Resolver (lib/layer/iterate.c) forces TCP after a mismatching
                # reply "to work around authoritatives messing up question without
                # yielding to spoofed responses"; the TCP reply tells which it was.
                message = None
        tcp = message is None
        if message is None:
            replies = self._filter(query, edns, randomise, udp=False)
            started = trio.current_time()
            message = await self._leg(query, replies, tcp=True)
            if replies.case_changed:
                self._stop_randomising(query.address)
        return UpstreamReply(
            address=query.address,
            message=message,
            rtt=trio.current_time() - started,
            tcp=tcp,
            edns=edns,
        )

    def _filter(
        self, query: UpstreamQuery, edns: bool, randomise: bool, *, udp: bool
    ) -> ReplyFilter:
        """A fresh request for ``query`` and the filter its leg's replies go through."""
        return ReplyFilter(
            self._request(query, edns=edns, randomise=randomise),
            query.qname,
            query.address,
            self.servers,
            udp=udp,
            check_case=randomise,
        )

    def _request(self, query: UpstreamQuery, *, edns: bool, randomise: bool) -> UpstreamRequest:
        """Build a query with a fresh unpredictable ID (and case); RD only to a forwarder."""
        qname = query.qname
        if not randomise and self._exempt(qname):
            qname = qname.canonicalize()
        name = name_wire(qname)
        return UpstreamRequest.build(
            secrets.randbits(16),
            randomise_case(name) if randomise else name,
            query.rdtype,
            recursion_desired=query.recursion_desired,
            payload=self._udp_payload if edns else None,
            dnssec_ok=edns and query.dnssec_ok,
        )

    def _exempt(self, qname: dns.name.Name) -> bool:
        """Whether ``qname`` is under a zone exempt from 0x20."""
        return any(qname.is_subdomain(zone) for zone in self._case_exempt)

    def _randomises(self, address: str) -> bool:
        """Whether queries to ``address`` get 0x20 now."""
        if not self._case_randomisation:
            return False
        until = self._case_blind.get(address)
        if until is None:
            return True
        if trio.current_time() < until:
            return False
        del self._case_blind[address]
        return True

    def _stop_randomising(self, address: str) -> None:
        """``address`` answered over TCP with the case changed: it does not preserve case."""
        self._case_blind[address] = trio.current_time() + CASE_FALLBACK_PERIOD
        self.servers.row(address)[_CASE_FALLBACKS] += 1
        _log.warning(
            "%s does not preserve the case of query names; no 0x20 for it for %g s",
            address,
            CASE_FALLBACK_PERIOD,
        )


class ReplyFilter:
    """What one leg accepts from its socket: the reply to ``request``, and nothing else.

    ``take`` is given each message that arrives and returns the reply, or
    None to keep listening:

    * another ID, not a response, or another question (names compared
      case-insensitively): not ours, ignored;
    * our ID but unparseable, or (with ``check_case``, over UDP) the name in
      another case than sent: dropped and counted (``Drop``); a forger must
      not end the wait for the genuine reply (RFC 5452 section 9.1 asks
      resolvers to keep listening after a mismatch);
    * over TCP, a name in another case is the server's own doing (an
      off-path spoofer cannot inject into the connection): taken, and
      ``case_changed`` is set; TC=1 is the server's failure (Knot Resolver,
      lib/layer/iterate.c: "TC=1 with TCP, bailing out").

    The reply is parsed with the question name written back in the case
    the iterator asked (``original``): records compressed against the
    question get it too, as Unbound does by lowercasing the query name in
    the packet (outside_network.c, serviced_callbacks), so no random case
    reaches the cache or a client.
    """

    def __init__(
        self,
        request: UpstreamRequest,
        original: dns.name.Name,
        address: str,
        counts: ServerTable,
        *,
        udp: bool,
        check_case: bool,
    ) -> None:
        self.request = request
        self.address = address
        self.case_changed = False
        self._counts = counts
        self._udp = udp
        self._check_case = check_case
        self._original = original
        self._original_name = name_wire(original)
        self._lowered = tuple(map(bytes.lower, original.labels))
        self._dropped: dict[Drop, int] = {}

    def take(self, wire: bytes) -> dns.message.Message | None:
        """The reply in ``wire``, or None if it is to be ignored or dropped.

        For a truncated UDP reply only its header and question are parsed
        (the rest may be cut off, and is not used).

        Raises:
            MalformedResponse: TC=1 over TCP.
        """
        if len(wire) < 2 or int.from_bytes(wire[:2], "big") != self.request.id:
            return None
        if self.request.echoed_by(wire):
            # The common reply, its question checked in the wire: what
            # dnspython's reading of the question would find, without it.
            flags = int.from_bytes(wire[2:4], "big")
        else:
            head = _parse(wire, question_only=True)
            if head is None:
                return self._drop(Drop.UNPARSEABLE)
            if not head.flags & _QR:
                return None
            if not head.question and head.rcode() in _DATA_RCODES:
                # Data with our ID but no question to match it against: malformed
                # (Knot Resolver, lib/layer/iterate.c resolve(): a reply parsed
                # no further than its header is KR_SELECTION_MALFORMED). Counted,
                # so the leg ends as this server's failure, not as a timeout
                # that later rounds would ask again until the time budget is
                # spent (scenario iter_req_qname).
                return self._drop(Drop.UNPARSEABLE)
            if not _answers_question(head, self.request):
                return None
            if not head.question:
                return self._take(wire, head.flags)
            flags = head.flags
        if not flags & _QR:
            return None
        sent = self.request.name
        end = QUESTION_OFFSET + len(sent)
        if wire[QUESTION_OFFSET:end] != sent:
            if self._check_case and self._udp:
                return self._drop(Drop.CASE)
            self.case_changed = self._check_case
        return self._take(wire[:QUESTION_OFFSET] + self._original_name + wire[end:], flags)

    def _take(self, wire: bytes, flags: int) -> dns.message.Message | None:
        """The reply in ``wire`` (its question in the case asked), header ``flags`` read."""
        if flags & _TC:
            if not self._udp:
                raise MalformedResponse(self.address, "TC=1 over TCP")
            return _parse(wire, question_only=True)
        message = _parse(wire, question_only=False)
        if message is None:
            return self._drop(Drop.UNPARSEABLE)
        self._restore_case(message)
        return message

    def _restore_case(self, message: dns.message.Message) -> None:
        """Put back the case asked where a server wrote the query name's labels out.

        The question and whatever is compressed against it were fixed in
        the wire. What a server builds from the question without pointing
        to it all keeps the random case: a DNAME's synthesised CNAME, whose
        owner is written as its first labels and a pointer, and whose
        target begins with the query name's labels (RFC 6672 section 2.2).
        Nothing else of ours carries it.
        """
        original = self._original
        labels = original.labels
        lowered = self._lowered
        for section in (message.answer, message.authority, message.additional):
            for position, rrset in enumerate(section):
                owner = rrset.name.labels
                # The owner is the query name in another case: labels equal
                # once lowered, as ``Name.__eq__`` compares them, for less.
                if owner != labels and tuple(map(bytes.lower, owner)) == lowered:
                    rrset.name = original
                    owner = labels
                if rrset.rdtype != dns.rdatatype.CNAME or owner != labels:
                    continue
                for cname in rrset:  # one, unless the server is broken (scrubbed later)
                    target = _with_prefix_case(cname.target, labels)
                    if target is not cname.target:
                        restored = cname.replace(target=target)
                        section[position] = dns.rrset.from_rdata(rrset.name, rrset.ttl, restored)
                    break

    @property
    def dropped(self) -> bool:
        """Whether a message with our ID was dropped (unparseable, or in another case)."""
        return bool(self._dropped)

    def failure(self, otherwise: UpstreamError) -> UpstreamError:
        """The error for a leg that ended without a reply: ``otherwise`` unless we dropped some."""
        if self._dropped.get(Drop.CASE):
            return CaseMismatch(
                self.address, f"{self._dropped[Drop.CASE]} replies with the name in another case"
            )
        if self._dropped.get(Drop.UNPARSEABLE):
            count = self._dropped[Drop.UNPARSEABLE]
            return MalformedResponse(self.address, f"{count} unparseable replies with our ID")
        return otherwise

    def _drop(self, why: Drop) -> dns.message.Message | None:
        """Count a dropped reply; None, for ``take`` to return."""
        self._dropped[why] = self._dropped.get(why, 0) + 1
        column = _UNPARSEABLE if why is Drop.UNPARSEABLE else _CASE_MISMATCHES
        self._counts.row(self.address)[column] += 1
        _log.debug("dropped a reply from %s: %s", self.address, why.value)
        return None


class UdpTcpTransport(RetryingTransport):
    """``resolver.exchange.Transport`` over real UDP and TCP sockets.

    Each leg of an exchange (UDP, the TCP retry after TC=1, the retry without
    EDNS) gets its own ``query.timeout``; the caller bounds the whole
    resolution with its own deadline.

    Args:
        port: Destination port of every upstream server without one of its
            own (``UpstreamQuery.port``).
        allow: Networks upstream queries may go to; ``None`` allows all.
        udp_payload: EDNS UDP payload size we advertise (RFC 6891), bytes.
        case_randomisation: 0x20 on the query name.
        case_exempt: Zones whose names go without 0x20, in lower case.
    """

    def __init__(
        self,
        *,
        port: int = 53,
        allow: Sequence[Network] | None = None,
        udp_payload: int = 1232,
        case_randomisation: bool = True,
        case_exempt: Sequence[dns.name.Name] = (),
    ) -> None:
        super().__init__(
            udp_payload=udp_payload,
            case_randomisation=case_randomisation,
            case_exempt=case_exempt,
        )
        self._port = port
        self._allow = None if allow is None else tuple(allow)
        self._warned: LRUCache[str, float] = LRUCache(maxsize=_WARNED_ADDRESSES)
        #: TLS client contexts by CA file (None: the system store), built once each.
        self._tls: dict[str | None, ssl.SSLContext] = {}
        self._tcp = upstream_tcp.IdleConnections()

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        """Send ``query`` and return the matching reply.

        Raises:
            EgressRefused: the address is outside the allow-list or not an IP
                address; no socket was created.
            UpstreamTimeout: nothing matching arrived within ``query.timeout``.
            NetworkError: the socket layer failed (e.g. ICMP unreachable).
            MalformedResponse: within the timeout, only replies with our ID
                that could not be parsed; or TC=1 over TCP.
        """
        self._check_egress(query.address)
        return await super().exchange(query)

    async def _leg(
        self, query: UpstreamQuery, replies: ReplyFilter, *, tcp: bool
    ) -> dns.message.Message:
        family = _family(ipaddress.ip_address(query.address))
        if tcp:
            return await self._over_tcp(query, family, replies)
        return await self._over_udp(query, family, replies)

    def _check_egress(self, address: str) -> None:
        """Check that we may send to ``address`` before any socket exists.

        Raises:
            EgressRefused: ``address`` is not an IP address or not allowed.
        """
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise EgressRefused(address, "not an IP address") from None
        if self._allow is not None and not any(ip in network for network in self._allow):
            self._warn_refused(address)
            raise EgressRefused(address, "outside the upstream allow-list")

    def _warn_refused(self, address: str) -> None:
        """Log a refused address, at most once per address per interval."""
        now = trio.current_time()
        last = self._warned.get(address)
        if last is not None and now - last < REFUSAL_WARNING_INTERVAL:
            return
        self._warned[address] = now
        _log.warning("refusing to query %s: outside the upstream allow-list", address)

    async def _over_udp(
        self, query: UpstreamQuery, family: socket.AddressFamily, replies: ReplyFilter
    ) -> dns.message.Message:
        """Send the request over UDP; return the first reply ``replies`` takes.

        A truncated reply is returned parsed only up to its question.
        """
        with (
            _UpstreamFailures(replies, query) as ignored,
            trio.socket.socket(family, socket.SOCK_DGRAM) as sock,
        ):
            await sock.connect((query.address, query.port or self._port))
            await sock.send(replies.request.wire)
            while True:
                message = replies.take(await sock.recv(_MAX_MESSAGE))
                if message is not None:
                    return message
                ignored()

    async def _over_tcp(
        self, query: UpstreamQuery, family: socket.AddressFamily, replies: ReplyFilter
    ) -> dns.message.Message:
        """Send the request over TCP (RFC 1035 4.2.2 framing); return the reply.

        A connection kept from an earlier exchange with the server is used
        first (``resolver.upstream_tcp``); if the server closed it meanwhile,
        a fresh one is opened. The connection is kept after a matching reply.
        DNS over TLS to a forwarder (``query.tls_name``) takes a connection
        of its own (``_over_tls``).
        """
        if query.tls_name is not None:
            return await self._over_tls(query, family, replies)
        server = (query.address, query.port or self._port)
        with _UpstreamFailures(replies, query) as ignored:
            kept = self._tcp.take(server)
            if kept is not None:
                with contextlib.suppress(OSError, trio.BrokenResourceError):
                    message = await self._ask_on(kept, server, replies, ignored)
                    if message is not None:
                        return message
            sock = trio.socket.socket(family, socket.SOCK_STREAM)
            connection = upstream_tcp.TcpConnection(trio.SocketStream(sock))
            try:
                await sock.connect(server)
            except BaseException:
                connection.close()
                raise
            message = await self._ask_on(connection, server, replies, ignored)
            if message is not None:
                return message
            closed = NetworkError(query.address, "connection closed before a matching reply")
            raise replies.failure(closed)

    async def _over_tls(
        self, query: UpstreamQuery, family: socket.AddressFamily, replies: ReplyFilter
    ) -> dns.message.Message:
        """Send the request over TLS verified for ``query.tls_name`` (RFC 7858); the reply."""
        with (
            _UpstreamFailures(replies, query) as ignored,
            trio.socket.socket(family, socket.SOCK_STREAM) as sock,
        ):
            await sock.connect((query.address, query.port or self._port))
            stream = trio.SSLStream(
                trio.SocketStream(sock), self._tls_context(query), server_hostname=query.tls_name
            )
            await stream.do_handshake()
            await stream.send_all(frame(replies.request.wire))
            async with contextlib.aclosing(read_frames(stream)) as frames:
                async for wire in frames:
                    message = replies.take(wire)
                    if message is not None:
                        return message
                    ignored()
            closed = NetworkError(query.address, "connection closed before a matching reply")
            raise replies.failure(closed)

    async def _ask_on(
        self,
        connection: upstream_tcp.TcpConnection,
        server: upstream_tcp.Server,
        replies: ReplyFilter,
        ignored: Callable[[], None],
    ) -> dns.message.Message | None:
        """The reply ``replies`` takes from ``connection``, or None if the server closed it.

        The connection is kept for the next query after a matching reply and
        closed on anything else (a failure, a timeout, the end of the stream).
        ``ignored`` is told of each message ``replies`` did not take.
        """
        try:
            await connection.send(replies.request.wire)
            while (wire := await connection.receive()) is not None:
                message = replies.take(wire)
                if message is not None:
                    self._tcp.keep(server, connection)
                    return message
                ignored()
        except BaseException:
            connection.close()
            raise
        connection.close()
        return None


    def _tls_context(self, query: UpstreamQuery) -> ssl.SSLContext:
        """The client context for ``query``'s CA file (read once, bounded).

        Raises:
            NetworkError: the CA file cannot be used (any more).
        """
        context = self._tls.get(query.tls_ca_file)
        if context is None:
            try:
                context = client_context(query.tls_ca_file)
            except UpstreamTlsError as exc:
                raise NetworkError(query.address, str(exc)) from exc
            self._tls[query.tls_ca_file] = context
        return context


class _UpstreamFailures:
    """Bound a leg and turn socket failures into ``UpstreamError``s.

    The leg listens for ``query.listen_for``, but only while nothing with
    our ID was dropped: once ``replies`` dropped one, it ends at
    ``query.timeout`` as this server's failure (``replies.failure``), so a
    server that sends garbage is not waited for as a slow one would be
    (scenario iter_req_qname). The leg calls what ``with`` gives after each
    message ``replies`` did not take.

    A class around a bare ``trio.CancelScope`` rather than a
    ``@contextmanager`` around ``trio.fail_after`` (itself one): it is
    entered once per upstream query, and the two generators cost more than
    the rest of the leg's bookkeeping (issue 19's profile).
    """

    def __init__(self, replies: ReplyFilter, query: UpstreamQuery) -> None:
        self._replies = replies
        self._query = query
        self._scope = trio.CancelScope()
        self._started = 0.0

    def __enter__(self) -> Callable[[], None]:
        self._started = trio.current_time()
        self._scope.deadline = self._started + self._query.listen_for
        self._scope.__enter__()
        return self._ignored

    def _ignored(self) -> None:
        if self._replies.dropped:
            scope = self._scope
            scope.deadline = min(scope.deadline, self._started + self._query.timeout)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        self._scope.__exit__(kind, exc, traceback)
        address = self._replies.address
        if self._scope.cancelled_caught:
            waited = trio.current_time() - self._started
            timed_out = UpstreamTimeout(address, f"no matching reply within {waited:.3f} s")
            raise self._replies.failure(timed_out) from None
        if isinstance(exc, OSError | trio.BrokenResourceError):
            # trio.SSLStream reports a failed handshake (a certificate that does
            # not verify) as BrokenResourceError caused by the ssl error: say that.
            cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else None
            reason = exc if cause is None else cause
            raise NetworkError(address, str(reason) or type(reason).__name__) from exc
        return False


def _with_prefix_case(name: dns.name.Name, asked: tuple[bytes, ...]) -> dns.name.Name:
    """``name`` with its leading labels that equal ``asked``'s leading ones in ``asked``'s case."""
    labels = list(name.labels)
    for index, (label, model) in enumerate(zip(labels[:-1], asked[:-1], strict=False)):
        if label.lower() != model.lower():
            break
        labels[index] = model
    return name if tuple(labels) == name.labels else dns.name.Name(labels)


def _parse(wire: bytes, *, question_only: bool) -> dns.message.Message | None:
    """``dns.message.from_wire`` (whole replies: ``read_reply``), or None if it does not parse."""
    try:
        if not question_only:
            return read_reply(wire)
        return dns.message.from_wire(wire, question_only=True)
    # dnspython reports malformed input as DNSException, ValueError (bad
    # rdata values) or UnicodeError (a ValueError).
    except (dns.exception.DNSException, ValueError):
        return None


def _answers_question(reply: dns.message.Message, request: UpstreamRequest) -> bool:
    """Whether ``reply`` echoes ``request``'s question (names case-insensitively).

    An error reply without a question section is accepted too: it carries no
    data, and servers that reject EDNS often answer that way.
    """
    if not reply.question:
        return reply.rcode() not in _DATA_RCODES
    if len(reply.question) != 1:
        return False
    (echoed,) = reply.question
    return (
        name_wire(echoed.name).lower() == request.name.lower()
        and echoed.rdtype == request.rdtype
        and echoed.rdclass == dns.rdataclass.IN
    )


def _family(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> socket.AddressFamily:
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def _rejects_edns(reply: dns.message.Message) -> bool:
    """Whether ``reply`` is a server without EDNS rejecting our OPT record."""
    return reply.opt is None and reply.rcode() in _EDNS_REJECTIONS
