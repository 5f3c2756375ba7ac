"""An in-memory ``Transport`` over the lab, for the iterator's tests.

It is the socket transport's exchange policy (``RetryingTransport``: fresh
query, TC=1 -> TCP, EDNS rejected -> without EDNS) with one leg that hands the
bytes straight to ``Lab.handle`` instead of a socket. Waiting is
``trio.sleep``, so under ``trio.testing.MockClock(autojump_threshold=0)``
timeouts cost nothing.
"""

from __future__ import annotations

import dns.message
import trio

from resolver.errors import UpstreamTimeout
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.lab.lab import PAYLOAD, Lab
from resolver.transport import ReplyFilter, RetryingTransport


class LabTransport(RetryingTransport):
    """``resolver.exchange.Transport`` answering from a ``Lab`` without sockets.

    ``sent`` records every query passed to ``exchange``, in order. ``port``
    is the upstream port the resolver was configured with; the in-memory
    lab answers on any port, so it is only kept for assertions.
    """

    def __init__(self, lab: Lab, *, port: int = 53, case_randomisation: bool = True) -> None:
        super().__init__(udp_payload=PAYLOAD, case_randomisation=case_randomisation)
        self.lab = lab
        self.port = port
        self.sent: list[UpstreamQuery] = []
        self._addresses = frozenset(server.address for server in lab.servers)

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        """Send ``query`` to the lab server at ``query.address``.

        Raises:
            UpstreamTimeout: no lab server there, the reply was dropped, or
                it came later than ``query.listen_for``.
            MalformedResponse: the reply did not parse (found at the timeout:
                the socket transport keeps listening for the genuine one).
        """
        self.sent.append(query)
        if query.address not in self._addresses:
            await trio.sleep(query.listen_for)
            raise UpstreamTimeout(query.address, "no lab server at this address")
        return await super().exchange(query)

    async def _leg(
        self, query: UpstreamQuery, replies: ReplyFilter, *, tcp: bool
    ) -> dns.message.Message:
        reply = self.lab.handle(query.address, replies.request.wire, tcp=tcp)
        patience = query.listen_for
        timed_out = UpstreamTimeout(query.address, f"no reply within {patience:g} s")
        if reply.wire is None or reply.delay >= patience:
            await trio.sleep(patience)
            raise timed_out
        await trio.sleep(reply.delay)
        message = replies.take(reply.wire)
        if message is None:
            # Dropped or ignored: the only reply there will be. A dropped one
            # ends the leg at its timeout, an ignored one at its patience,
            # as over sockets (transport._UpstreamFailures).
            end = query.timeout if replies.dropped else patience
            await trio.sleep(max(end - reply.delay, 0.0))
            raise replies.failure(timed_out)
        return message
