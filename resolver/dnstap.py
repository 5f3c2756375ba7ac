"""dnstap messages and Frame Streams framing, pure: what ``dnstap_output`` writes.

Why dnstap: a query log line says what was asked; a dnstap message carries
the whole query and response as they went on the wire, in the format every
collector reads (``fstrm_capture``, ``dnstap-ldns``, ``dnstap-read``, Knot's
``kdig -G``). Unbound and Knot both produce it.

The encoding follows ``dnstap.proto`` (github.com/dnstap/dnstap.pb); only
the fields we fill are written, as protobuf (proto2) wire format:

* ``Dnstap``: ``type`` (15, enum, always MESSAGE = 1), ``message`` (14);
* ``Message``: ``type`` (1: RESOLVER_QUERY 3, RESOLVER_RESPONSE 4,
  CLIENT_QUERY 5, CLIENT_RESPONSE 6), ``socket_family`` (2: INET 1, INET6 2),
  ``socket_protocol`` (3: UDP 1, TCP 2), ``query_address`` (4, the client,
  or us towards a server: left out, we do not know our source address
  there), ``response_address`` (5, us towards a client: left out; the server
  upstream), ``response_port`` (7), ``query_time_sec``/``_nsec`` (8, 9),
  ``query_message`` (10), ``response_time_sec``/``_nsec`` (12, 13),
  ``response_message`` (14).

Frame Streams (github.com/farsightsec/fstrm, ``fstrm/control.h``): a data
frame is a 32-bit big-endian length and the payload; a control frame is a
zero length, the control frame's length, its type, and fields (type 1,
CONTENT_TYPE, a length and the string ``protobuf:dnstap.Dnstap``). On a
socket the writer sends READY, reads ACCEPT, sends START, the data frames,
and STOP, then reads FINISH (the bidirectional handshake Unbound uses).
"""

from __future__ import annotations

import enum
import math
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

CONTENT_TYPE = b"protobuf:dnstap.Dnstap"

_U32 = struct.Struct(">I")


class Control(enum.IntEnum):
    """Frame Streams control frame types."""

    ACCEPT = 1
    START = 2
    STOP = 3
    READY = 4
    FINISH = 5


_FIELD_CONTENT_TYPE = 1


class MessageType(enum.IntEnum):
    """``Message.Type`` values we send."""

    RESOLVER_QUERY = 3
    RESOLVER_RESPONSE = 4
    CLIENT_QUERY = 5
    CLIENT_RESPONSE = 6


_DNSTAP_MESSAGE = 1  # Dnstap.Type.MESSAGE
_UDP, _TCP = 1, 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _uint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _fixed32(field: int, value: int) -> bytes:
    return _key(field, 5) + struct.pack("<I", value)


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


@dataclass(frozen=True, slots=True)
class Event:
    """One message to send: what kind, over what, to or from whom, and when (wall time)."""

    kind: MessageType
    address: str
    tcp: bool
    time: float
    wire: bytes
    port: int = 0


def encode(event: Event) -> bytes:
    """The ``Dnstap`` protobuf bytes of ``event`` (module docstring for the fields)."""
    family = socket.AF_INET6 if ":" in event.address else socket.AF_INET
    packed = socket.inet_pton(family, event.address)
    seconds = int(event.time)
    nanoseconds = int((event.time - seconds) * 1e9)
    client = event.kind in (MessageType.CLIENT_QUERY, MessageType.CLIENT_RESPONSE)
    query = event.kind in (MessageType.CLIENT_QUERY, MessageType.RESOLVER_QUERY)
    parts = [
        _uint(1, event.kind),
        _uint(2, 1 if family == socket.AF_INET else 2),
        _uint(3, _TCP if event.tcp else _UDP),
        _bytes(4 if client else 5, packed),
    ]
    if event.port:
        parts.append(_uint(6 if client else 7, event.port))
    if query:
        parts += [_uint(8, seconds), _fixed32(9, nanoseconds), _bytes(10, event.wire)]
    else:
        parts += [_uint(12, seconds), _fixed32(13, nanoseconds), _bytes(14, event.wire)]
    message = b"".join(parts)
    return _bytes(14, message) + _uint(15, _DNSTAP_MESSAGE)


def data_frame(payload: bytes) -> bytes:
    """A Frame Streams data frame."""
    return _U32.pack(len(payload)) + payload


def control_frame(kind: Control, *, content_type: bool = True) -> bytes:
    """A Frame Streams control frame (escape, length, type, the content type field)."""
    body = _U32.pack(kind)
    if content_type:
        body += _U32.pack(_FIELD_CONTENT_TYPE) + _U32.pack(len(CONTENT_TYPE)) + CONTENT_TYPE
    return _U32.pack(0) + _U32.pack(len(body)) + body


class Sampler:
    """Which client exchanges and upstream queries to send: one in ``sample``, and at
    most ``max_rate`` in each one-second window.

    Why both: sampling keeps the share of work constant; the cap bounds it
    absolutely when the query rate climbs, so dnstap can never take more
    than a fixed slice of the cached path (``bench/dnstap_cost.py``).
    Unbound has ``dnstap-sample-rate``; the cap is ours. The clock is read
    only when a window's budget is spent: this runs once per cached answer.
    """

    def __init__(self, *, sample: int, max_rate: int, clock: Callable[[], float]) -> None:
        self.sample = sample
        self.max_rate = max_rate
        self._clock = clock
        self._count = 0
        self._budget = 0
        self._window = -math.inf
        #: Exchanges passed over by the rate cap (sampling is deliberate, not counted).
        self.capped = 0

    def take(self) -> bool:
        """Whether this exchange is sent."""
        self._count += 1
        if self._count < self.sample:
            return False
        self._count = 0
        if self._budget:
            self._budget -= 1
            return True
        now = self._clock()
        if now - self._window >= 1.0:
            self._window = now
            self._budget = self.max_rate - 1
            return True
        self.capped += 1
        return False
