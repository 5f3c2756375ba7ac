"""Runs the sans-I/O iterator against a real (or in-memory) transport.

This is the whole I/O loop of a resolution: take the ``UpstreamQuery`` the
generator yields, perform it, send back the reply or the ``UpstreamError``,
until the generator returns its result. Cancellation (the client's time
budget, shutdown) propagates out of ``transport.exchange`` and closes the
generator.
"""

from __future__ import annotations

from typing import TypeVar

from resolver.errors import UpstreamError
from resolver.exchange import Exchange, Transport, UpstreamReply

T = TypeVar("T")


async def run_exchange(exchange: Exchange[T], transport: Transport) -> T:
    """Drive ``exchange`` to completion and return its result."""
    try:
        query = next(exchange)
        while True:
            result: UpstreamReply | UpstreamError
            try:
                result = await transport.exchange(query)
            except UpstreamError as exc:
                result = exc
            query = exchange.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
    finally:
        exchange.close()
