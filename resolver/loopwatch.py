"""Watching the Trio scheduler: how late the loop is, and a hook between two task steps.

Trio runs in *batches*: every task that is runnable runs one step, and only
then does the loop poll for I/O again. A datagram that arrives at the start
of a batch therefore waits the whole batch before any task can read it.
Under a flood of cold queries a batch holds one step of every resolution in
flight, and lasts tens of milliseconds: a cached question, which costs
microseconds to answer, waits that long in the socket buffer.

``LoopWatch`` is a Trio instrument that gives the server two things:

* ``late(seconds, now)`` at the end of every batch, with how long the batch
  ran: how late the loop is for everyone (every socket, every transport).
  It is the delay signal of ``admission`` (CoDel's sojourn time, RFC 8289),
  measured directly instead of from the receive time of one datagram.
* ``between()`` after a task step once ``every`` seconds have passed since
  the batch began or since the last call, while ``wanted()`` is true: the
  server reads its UDP sockets there and answers the cached questions at
  once, so their wait is bounded by one task step, not by a whole batch.
  Unbound reaches the same end with a thread per core that reads its socket
  between two pieces of work (``num-threads``); a single Trio thread must
  look between the steps.

The callbacks run in the scheduler, outside any task: they must be
synchronous, cheap when there is nothing to do, and must not raise (Trio
would disable the instrument and log the error).
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

import trio


class LoopWatch(trio.abc.Instrument):
    """Batch lengths to ``late``, and ``between`` every ``every`` seconds of task steps.

    Args:
        late: called with the seconds the batch ran and ``trio.current_time()``.
        between: called between two task steps (see the module docstring).
        wanted: whether ``between`` is worth calling now.
        every: seconds of task steps between two calls of ``between``.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        late: Callable[[float, float], None],
        between: Callable[[], None],
        wanted: Callable[[], bool],
        every: float,
        clock: Callable[[], float] = perf_counter,
    ) -> None:
        self._late = late
        self._between = between
        self._wanted = wanted
        self._every = every
        self._clock = clock
        self._batch_started = self._last_call = clock()

    def after_io_wait(self, timeout: float) -> None:
        self._batch_started = self._last_call = self._clock()

    def before_io_wait(self, timeout: float) -> None:
        self._late(self._clock() - self._batch_started, trio.current_time())

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        now = self._clock()
        if now - self._last_call >= self._every and self._wanted():
            self._between()
            self._last_call = self._clock()
