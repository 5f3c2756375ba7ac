"""The contract between the sans-I/O iterator and the Trio transport.

The iterator yields an ``UpstreamQuery``; the driver hands it to a
``Transport`` and sends back either an ``UpstreamReply`` or the
``UpstreamError`` the transport raised. Tests swap the real transport for an
in-memory one over the lab, so the iterator never knows which it has.

The iterator also yields ``PAUSE`` between steps of work that needs no
packet (NS address lookups answered from the cache): the driver lets the
event loop run, then sends back None. Without it one query whose work is all
in memory would hold the loop, every other client and SIGTERM included,
for as long as that work lasts.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import dns.message
import dns.name
import dns.rdatatype

from dnssec.errors import HoldfastError
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
    #: Ask over TCP only: an off-path spoofer cannot race a TCP reply, so a
    #: reply that failed validation over UDP is confirmed this way before
    #: its server is held down.
    tcp: bool = False
    #: Another port than the configured upstream port (``addr@port`` of a
    #: stub or forward zone, ``resolver.forwarding``).
    port: int | None = None
    #: RD=1: the server is a recursive resolver (a forward zone's).
    recursion_desired: bool = False
    #: DNS over TLS (with ``tcp``): the name the server's certificate must
    #: be valid for, and the CA file to verify it with (None: the system's).
    tls_name: str | None = None
    tls_ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """Not a query: "let the event loop run, then go on" (the driver sends back None)."""


#: The one ``Pause`` the iterator yields.
PAUSE = Pause()


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


#: A sans-I/O resolution step: yields queries (or ``PAUSE``), is sent their
#: replies or errors (None after a pause), returns a ``T``. The iterator and
#: the validator are made of these.
Exchange = Generator[UpstreamQuery | Pause, UpstreamReply | UpstreamError | None, T]


class DriverMisuse(HoldfastError):
    """A driver sent nothing back for a query (a bug in the driver, not the network)."""


def ask(query: UpstreamQuery) -> Exchange[UpstreamReply | UpstreamError]:
    """Yield ``query`` and return its reply or error."""
    result = yield query
    if result is None:
        raise DriverMisuse(f"the driver sent no reply for the query to {query.address}")
    return result


def pause() -> Exchange[None]:
    """Let the driver give the event loop a turn."""
    yield PAUSE

