"""An in-memory ``Transport`` over the lab, for the iterator's tests.

It does what the socket transport does -- build the query, wait for the
reply or time out, retry over TCP after TC=1, retry without EDNS after a
FORMERR/NOTIMP that shows no OPT -- but hands the bytes straight to
``Lab.handle``. Waiting is ``trio.sleep``, so under
``trio.testing.MockClock(autojump_threshold=0)`` timeouts cost nothing.
"""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import trio

from resolver.errors import MalformedResponse, UpstreamTimeout
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.lab.lab import PAYLOAD, Lab


class LabTransport:
    """``resolver.exchange.Transport`` answering from a ``Lab`` without sockets.

    ``sent`` records every query passed to ``exchange``, in order. ``port``
    is the upstream port the resolver was configured with; the in-memory
    lab answers on any port, so it is only kept for assertions.
    """

    def __init__(self, lab: Lab, *, port: int = 53) -> None:
        self.lab = lab
        self.port = port
        self.sent: list[UpstreamQuery] = []
        self._addresses = frozenset(server.address for server in lab.servers)

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        """Send ``query`` to the lab server at ``query.address``.

        Raises:
            UpstreamTimeout: no lab server there, the reply was dropped, or
                it came later than ``query.timeout``.
            MalformedResponse: the reply did not parse or did not match.
        """
        self.sent.append(query)
        if query.address not in self._addresses:
            await trio.sleep(query.timeout)
            raise UpstreamTimeout(query.address, "no lab server at this address")
        edns = query.edns
        tcp = False
        while True:
            message = dns.message.make_query(
                query.qname,
                query.rdtype,
                use_edns=0 if edns else False,
                payload=PAYLOAD,
                want_dnssec=edns and query.dnssec_ok,
                flags=0,
            )
            started = trio.current_time()
            reply = await self._round_trip(query, message, tcp=tcp)
            rtt = trio.current_time() - started
            if reply.flags & dns.flags.TC and not tcp:
                tcp = True
                continue
            if edns and reply.edns < 0 and reply.rcode() in (dns.rcode.FORMERR, dns.rcode.NOTIMP):
                edns = False
                continue
            return UpstreamReply(query.address, reply, rtt, tcp=tcp, edns=edns)

    async def _round_trip(
        self, query: UpstreamQuery, message: dns.message.Message, *, tcp: bool
    ) -> dns.message.Message:
        reply = self.lab.handle(query.address, message.to_wire(), tcp=tcp)
        if reply.wire is None or reply.delay >= query.timeout:
            await trio.sleep(query.timeout)
            raise UpstreamTimeout(query.address, f"no reply within {query.timeout:g} s")
        await trio.sleep(reply.delay)
        try:
            response = dns.message.from_wire(reply.wire)
        except dns.exception.DNSException as error:
            raise MalformedResponse(query.address, f"unparseable reply: {error}") from None
        if not message.is_response(response):
            raise MalformedResponse(query.address, "reply does not match the query")
        return response
