"""Wall-clock time, injectable.

TTL expiry, negative-cache expiry and (later) signature validity windows all
read the wall clock through one ``Clock`` object, so tests can move time
without sleeping. Network timeouts and RTTs use Trio's clock instead, which
tests fake with ``trio.testing.MockClock``. ``SystemClock`` reads
``time.time()``, so harnesses such as libfaketime move Holdfast's time too.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current wall-clock time in POSIX seconds."""

    def wall(self) -> float:
        """Return the current time as seconds since the epoch."""
        ...


class SystemClock:
    """The real wall clock."""

    def wall(self) -> float:
        return time.time()


class FakeClock:
    """A wall clock that moves only when told to, for tests and drills."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def wall(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError("a FakeClock never moves backwards")
        self.now += seconds
