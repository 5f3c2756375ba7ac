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
        for message in take_frames(buffer):
            yield message
        data = await stream.receive_some(_RECEIVE_SIZE)
        if not data:
            return
        buffer += data


def take_frames(buffer: bytearray) -> list[bytes]:
    """The whole messages at the start of ``buffer``, removed from it; a partial one stays."""
    messages = []
    start = 0
    while len(buffer) - start >= _LENGTH:
        end = start + _LENGTH + int.from_bytes(buffer[start:start + _LENGTH], "big")
        if len(buffer) < end:
            break
        messages.append(bytes(buffer[start + _LENGTH:end]))
        start = end
    del buffer[:start]
    return messages
