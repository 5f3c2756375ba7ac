"""The Trio shell that puts upstream queries on the wire.

The iterator decides *whom* to ask and *what*; server selection decides how
long to wait. This module does the one thing left: send an ``UpstreamQuery``
to an authoritative server over UDP (falling back to TCP on truncation) and
hand back the reply that matches it, or an ``UpstreamError`` saying why there
is none. It is deliberately paranoid about what it accepts, because a reply
it accepts goes straight into the cache:

* every query gets a fresh socket (so a fresh OS-chosen source port) and a
  ``secrets``-random ID; the socket is ``connect()``ed, so the kernel drops
  datagrams from any other source;
* a reply counts only if its ID, QR bit and question (name compared
  case-insensitively, type, class) match; anything else is ignored and we
  keep listening until the timeout;
* an egress allow-list is checked before any socket exists, so a
  misconfigured or hostile delegation can never make us send a packet to an
  address we were told not to talk to.

Servers that answer an EDNS query with FORMERR or NOTIMP (and no OPT record)
get the query again without EDNS; the reply then says ``edns=False`` and the
caller records that in server selection.
"""

from __future__ import annotations

import abc
import contextlib
import ipaddress
import logging
import secrets
import socket
from collections.abc import Iterator, Sequence

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import trio
from cachetools import LRUCache

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

_log = logging.getLogger("holdfast.transport")

#: Seconds between two warnings about the same refused address.
REFUSAL_WARNING_INTERVAL = 60.0

_MAX_MESSAGE = 65535
_WARNED_ADDRESSES = 1024

#: Rcodes with which a server that does not speak EDNS rejects an OPT record.
_EDNS_REJECTIONS = frozenset({dns.rcode.FORMERR, dns.rcode.NOTIMP})
#: Rcodes of replies that carry no data and may omit the question section
#: (old servers answer FORMERR/NOTIMP/REFUSED that way).
_DATA_RCODES = frozenset({dns.rcode.NOERROR, dns.rcode.NXDOMAIN})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RetryingTransport(abc.ABC):
    """The exchange policy every transport shares, around one leg it leaves open.

    An exchange is one query (fresh random ID, DO bit as asked, our EDNS
    payload), repeated over TCP when the reply is truncated, and repeated
    without EDNS when the server rejects the OPT record. Subclasses say how
    one leg reaches a server: over sockets here, in memory in the lab's
    ``LabTransport``, so the iterator's tests run the same policy as
    production.

    ``servers`` counts, per server address, the exchanges, those that timed
    out and those that failed otherwise (for metrics).

    Args:
        udp_payload: EDNS UDP payload size we advertise (RFC 6891), bytes.
    """

    def __init__(self, *, udp_payload: int = 1232) -> None:
        self._udp_payload = udp_payload
        self.servers = ServerTable(("queries", "timeouts", "errors"))

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        """Send ``query`` and return the matching reply."""
        self.servers.row(query.address)[0] += 1
        try:
            reply = await self._exchange(query, edns=query.edns)
            if query.edns and _rejects_edns(reply.message):
                reply = await self._exchange(query, edns=False)
        except UpstreamError as error:
            # The row is looked up again: others may have pushed it out meanwhile.
            self.servers.row(query.address)[1 if isinstance(error, UpstreamTimeout) else 2] += 1
            raise
        return reply

    @abc.abstractmethod
    async def _leg(
        self, query: UpstreamQuery, request: dns.message.Message, *, tcp: bool
    ) -> dns.message.Message:
        """Send ``request`` to ``query.address`` once; return the matching reply.

        Over UDP, a truncated reply may come back parsed only up to its
        question (``match_reply``).
        """

    async def _exchange(self, query: UpstreamQuery, *, edns: bool) -> UpstreamReply:
        """One query over UDP, repeated over TCP if the reply is truncated."""
        request = self._request(query, edns=edns)
        started = trio.current_time()
        message = await self._leg(query, request, tcp=False)
        truncated = bool(message.flags & dns.flags.TC)
        if truncated:
            request = self._request(query, edns=edns)
            started = trio.current_time()
            message = await self._leg(query, request, tcp=True)
        return UpstreamReply(
            address=query.address,
            message=message,
            rtt=trio.current_time() - started,
            tcp=truncated,
            edns=edns,
        )

    def _request(self, query: UpstreamQuery, *, edns: bool) -> dns.message.QueryMessage:
        """Build a non-recursive query with a fresh unpredictable ID."""
        return dns.message.make_query(
            query.qname,
            query.rdtype,
            use_edns=0 if edns else False,
            want_dnssec=edns and query.dnssec_ok,
            payload=self._udp_payload if edns else None,
            id=secrets.randbits(16),
            flags=0,
        )


class UdpTcpTransport(RetryingTransport):
    """``resolver.exchange.Transport`` over real UDP and TCP sockets.

    Each leg of an exchange (UDP, the TCP retry after TC=1, the retry without
    EDNS) gets its own ``query.timeout``; the caller bounds the whole
    resolution with its own deadline.

    Args:
        port: Destination port of every upstream server.
        allow: Networks upstream queries may go to; ``None`` allows all.
        udp_payload: EDNS UDP payload size we advertise (RFC 6891), bytes.
    """

    def __init__(
        self,
        *,
        port: int = 53,
        allow: Sequence[Network] | None = None,
        udp_payload: int = 1232,
    ) -> None:
        super().__init__(udp_payload=udp_payload)
        self._port = port
        self._allow = None if allow is None else tuple(allow)
        self._warned: LRUCache[str, float] = LRUCache(maxsize=_WARNED_ADDRESSES)

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        """Send ``query`` and return the matching reply.

        Raises:
            EgressRefused: the address is outside the allow-list or not an IP
                address; no socket was created.
            UpstreamTimeout: nothing matching arrived within ``query.timeout``.
            NetworkError: the socket layer failed (e.g. ICMP unreachable).
            MalformedResponse: a reply with our ID could not be parsed.
        """
        self._check_egress(query.address)
        return await super().exchange(query)

    async def _leg(
        self, query: UpstreamQuery, request: dns.message.Message, *, tcp: bool
    ) -> dns.message.Message:
        family = _family(ipaddress.ip_address(query.address))
        if tcp:
            return await self._over_tcp(query, family, request)
        return await self._over_udp(query, family, request)

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
        self, query: UpstreamQuery, family: socket.AddressFamily, request: dns.message.Message
    ) -> dns.message.Message:
        """Send ``request`` over UDP; return the first matching reply.

        A truncated reply is returned parsed only up to its question.
        """
        with (
            _upstream_failures(query.address, query.timeout),
            trio.socket.socket(family, socket.SOCK_DGRAM) as sock,
        ):
            await sock.connect((query.address, self._port))
            await sock.send(request.to_wire())
            while True:
                wire = await sock.recv(_MAX_MESSAGE)
                message = match_reply(wire, request, query.address, udp=True)
                if message is not None:
                    return message

    async def _over_tcp(
        self, query: UpstreamQuery, family: socket.AddressFamily, request: dns.message.Message
    ) -> dns.message.Message:
        """Send ``request`` over TCP (RFC 1035 4.2.2 framing); return the matching reply."""
        with (
            _upstream_failures(query.address, query.timeout),
            trio.socket.socket(family, socket.SOCK_STREAM) as sock,
        ):
            await sock.connect((query.address, self._port))
            stream = trio.SocketStream(sock)
            await stream.send_all(frame(request.to_wire()))
            async with contextlib.aclosing(read_frames(stream)) as replies:
                async for reply in replies:
                    message = match_reply(reply, request, query.address, udp=False)
                    if message is not None:
                        return message
            raise NetworkError(query.address, "connection closed before a matching reply")


@contextlib.contextmanager
def _upstream_failures(address: str, timeout: float) -> Iterator[None]:
    """Bound a leg by ``timeout`` and turn socket failures into ``UpstreamError``s."""
    try:
        with trio.fail_after(timeout):
            yield
    except trio.TooSlowError:
        raise UpstreamTimeout(address, f"no matching reply within {timeout:.3f} s") from None
    except (OSError, trio.BrokenResourceError) as exc:
        raise NetworkError(address, str(exc) or type(exc).__name__) from exc


def match_reply(
    wire: bytes, request: dns.message.Message, address: str, *, udp: bool
) -> dns.message.Message | None:
    """Parse ``wire`` if it is the reply to ``request``.

    Returns:
        The parsed reply; for a truncated UDP reply only its header and
        question (the rest may be cut off, and is not used). ``None`` when
        the message is not a reply to ``request`` and must be ignored.

    Raises:
        MalformedResponse: it carries our ID but cannot be parsed.
    """
    if len(wire) < 2 or int.from_bytes(wire[:2], "big") != request.id:
        return None
    head = _parse(wire, address, question_only=True)
    if not head.flags & dns.flags.QR or not _answers_question(head, request):
        return None
    if udp and head.flags & dns.flags.TC:
        return head
    return _parse(wire, address, question_only=False)


def _parse(wire: bytes, address: str, *, question_only: bool) -> dns.message.Message:
    """``dns.message.from_wire``, raising ``MalformedResponse`` on failure."""
    try:
        return dns.message.from_wire(wire, question_only=question_only)
    except dns.exception.DNSException as exc:
        raise MalformedResponse(address, f"unparseable reply: {exc}") from exc


def _answers_question(reply: dns.message.Message, request: dns.message.Message) -> bool:
    """Whether ``reply`` echoes ``request``'s question (names case-insensitively).

    An error reply without a question section is accepted too: it carries no
    data, and servers that reject EDNS often answer that way.
    """
    if not reply.question:
        return reply.rcode() not in _DATA_RCODES
    if len(reply.question) != 1:
        return False
    (asked,) = request.question
    (echoed,) = reply.question
    return (
        echoed.name == asked.name
        and echoed.rdtype == asked.rdtype
        and echoed.rdclass == asked.rdclass
    )


def _family(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> socket.AddressFamily:
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def _rejects_edns(reply: dns.message.Message) -> bool:
    """Whether ``reply`` is a server without EDNS rejecting our OPT record."""
    return reply.opt is None and reply.rcode() in _EDNS_REJECTIONS
