"""The contract between the sans-I/O iterator and the Trio transport.

The iterator yields an ``UpstreamQuery``; the driver hands it to a
``Transport`` and sends back either an ``UpstreamReply`` or the
``UpstreamError`` the transport raised. Tests swap the real transport for an
in-memory one over the lab, so the iterator never knows which it has.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import dns.message
import dns.name
import dns.rdatatype

from resolver.errors import UpstreamError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UpstreamQuery:
    """Ask ``address`` (on the configured upstream port) for ``qname``/``rdtype``.

    ``edns`` says whether to send an OPT record (servers known to choke on
    EDNS get none); ``timeout`` is the retransmission timeout chosen by server
    selection, in seconds.
    """

    address: str
    qname: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    edns: bool = True
    dnssec_ok: bool = True
    timeout: float = 1.0


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    """A reply that matched its query (source address, port, ID and question).

    ``tcp`` is true when it came over TCP (after TC=1 over UDP); ``edns`` is
    false when the server rejected EDNS and the query was repeated without it.
    ``rtt`` is the round-trip time of the exchange that produced it, seconds.
    """

    address: str
    message: dns.message.Message
    rtt: float
    tcp: bool = False
    edns: bool = True


class Transport(Protocol):
    """Performs one upstream exchange or raises an ``UpstreamError``."""

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        """Send ``query`` and return the matching reply.

        Raises:
            UpstreamTimeout: nothing matching arrived within ``query.timeout``.
            EgressRefused: the address is outside the allow-list (nothing sent).
            NetworkError: the socket layer failed.
            MalformedResponse: the reply could not be parsed.
        """
        ...


#: A sans-I/O resolution step: yields queries, is sent their replies (or the
#: error), returns a ``T``. The iterator and the validator are made of these.
Exchange = Generator[UpstreamQuery, UpstreamReply | UpstreamError, T]
