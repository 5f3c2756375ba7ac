"""Runs the sans-I/O iterator against a real (or in-memory) transport.

This is the whole I/O loop of a resolution: take the ``UpstreamQuery`` the
generator yields, perform it, send back the reply or the ``UpstreamError``,
until the generator returns its result. A ``Pause`` is a checkpoint: the
event loop runs other tasks (and delivers cancellation) before the
generator goes on, so work done from memory never holds the loop.

Concurrent attempts (``Launch``, ``Await``, ``Abandon``) run as tasks of
one nursery per resolution; the driver only starts them, keeps what they
return until the generator awaits it, and keeps the timers. Which server,
when to hedge, and which reply wins are the generator's decisions
(``resolver.hedging``). When the generator returns, every attempt still
running is cancelled. Cancellation (the client's time budget, shutdown)
propagates out of ``transport.exchange``, the wait or the checkpoint and
closes the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

from resolver.errors import UpstreamError
from resolver.exchange import (
    Abandon,
    Await,
    Exchange,
    Landed,
    Launch,
    Launched,
    Pause,
    Sent,
    Tick,
    Transport,
    UpstreamQuery,
    UpstreamReply,
)

T = TypeVar("T")


class _Attempts:
    """The attempts in flight for one resolution, and the results not yet awaited."""

    def __init__(self, nursery: trio.Nursery, transport: Transport) -> None:
        self._nursery = nursery
        self._transport = transport
        self._next = 0
        #: Ended, not yet awaited, in the order they ended.
        self._ended: dict[int, Landed] = {}
        #: Abandoned attempts still running, and who gets their late reply.
        self._late: dict[int, Callable[[UpstreamReply], None]] = {}
        self._changed = trio.Event()

    def launch(self, query: UpstreamQuery) -> Launched:
        self._next += 1
        self._nursery.start_soon(self._run, self._next, query)
        return Launched(self._next, trio.current_time())

    async def _run(self, attempt: int, query: UpstreamQuery) -> None:
        result: UpstreamReply | UpstreamError
        try:
            result = await self._transport.exchange(query)
        except UpstreamError as exc:
            result = exc
        late = self._late.pop(attempt, None)
        if late is not None:
            if isinstance(result, UpstreamReply):
                late(result)
            return
        self._ended[attempt] = Landed(attempt, result, trio.current_time())
        self._changed.set()

    async def wait(self, request: Await) -> Landed | Tick:
        while True:
            for attempt in self._ended:
                if attempt in request.attempts:
                    return self._ended.pop(attempt)
            if trio.current_time() >= request.deadline:
                return Tick(trio.current_time())
            self._changed = trio.Event()
            with trio.move_on_at(request.deadline):
                await self._changed.wait()

    def abandon(self, request: Abandon) -> None:
        for attempt in request.attempts:
            ended = self._ended.pop(attempt, None)
            if ended is None:
                self._late[attempt] = request.late
            elif isinstance(ended.result, UpstreamReply):
                request.late(ended.result)


async def run_exchange(exchange: Exchange[T], transport: Transport) -> T:
    """Drive ``exchange`` to completion and return its result."""
    value: T
    failure: BaseException | None = None
    async with trio.open_nursery() as nursery:
        try:
            value = await _drive(exchange, _Attempts(nursery, transport), transport)
        # Re-raised below, outside the nursery, so that callers see the
        # exception itself rather than an ExceptionGroup around it.
        except BaseException as exc:
            failure = exc
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return value


async def _drive(exchange: Exchange[T], attempts: _Attempts, transport: Transport) -> T:
    try:
        step = next(exchange)
        while True:
            result: Sent
            if isinstance(step, Pause):
                await trio.lowlevel.checkpoint()
                result = None
            elif isinstance(step, Launch):
                result = attempts.launch(step.query)
            elif isinstance(step, Await):
                result = await attempts.wait(step)
            elif isinstance(step, Abandon):
                attempts.abandon(step)
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
