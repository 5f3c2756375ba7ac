"""DNS over TCP framing: each message behind a two-byte length (RFC 1035 4.2.2).

Shared by every TCP peer Holdfast has: the client-facing server (several
pipelined queries per connection, RFC 7766), the upstream transport (one
reply awaited) and the lab's authoritative servers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import trio

_LENGTH = 2
_RECEIVE_SIZE = 65536


def frame(wire: bytes) -> bytes:
    """``wire`` with its length prefix, ready to send."""
    return len(wire).to_bytes(_LENGTH, "big") + wire


async def read_frames(stream: trio.abc.ReceiveStream) -> AsyncGenerator[bytes, None]:
    """The messages arriving on ``stream``, until the peer closes it.

    A message split across reads waits for its remaining bytes; a partial
    message left when the stream ends is discarded. Use it under
    ``contextlib.aclosing`` so that leaving the loop early closes it at once.
    """
    buffer = bytearray()
    while True:
        while len(buffer) >= _LENGTH:
            end = _LENGTH + int.from_bytes(buffer[:_LENGTH], "big")
            if len(buffer) < end:
                break
            yield bytes(buffer[_LENGTH:end])
            del buffer[:end]
        data = await stream.receive_some(_RECEIVE_SIZE)
        if not data:
            return
        buffer += data
