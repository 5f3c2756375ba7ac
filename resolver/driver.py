"""Runs the sans-I/O iterator against a real (or in-memory) transport.

This is the whole I/O loop of a resolution: take the ``UpstreamQuery`` the
generator yields, perform it, send back the reply or the ``UpstreamError``,
until the generator returns its result. A ``Pause`` is a checkpoint: the
event loop runs other tasks (and delivers cancellation) before the
generator goes on, so work done from memory never holds the loop.
Cancellation (the client's time budget, shutdown) propagates out of
``transport.exchange`` or the checkpoint and closes the generator.
"""

from __future__ import annotations

from typing import TypeVar

import trio

from resolver.errors import UpstreamError
from resolver.exchange import Exchange, Pause, Transport, UpstreamReply

T = TypeVar("T")


async def run_exchange(exchange: Exchange[T], transport: Transport) -> T:
    """Drive ``exchange`` to completion and return its result."""
    try:
        step = next(exchange)
        while True:
            result: UpstreamReply | UpstreamError | None
            if isinstance(step, Pause):
                await trio.lowlevel.checkpoint()
                result = None
            else:
                try:
                    result = await transport.exchange(step)
                except UpstreamError as exc:
                    result = exc
            step = exchange.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
    finally:
        exchange.close()
