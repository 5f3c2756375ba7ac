"""``LoopWatch``: the length of every scheduler batch, and a hook between task steps."""

from __future__ import annotations

import trio
import trio.testing

from resolver.loopwatch import LoopWatch


class Ticks:
    """A clock that moves one unit each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


async def steps(count: int) -> None:
    for _ in range(count):
        await trio.lowlevel.checkpoint()


def watch_run(every: float, wanted: bool) -> tuple[list[float], int]:
    """Run three tasks of five steps under a ``LoopWatch``: batch lengths, ``between`` calls."""
    lengths: list[float] = []
    calls = [0]

    def between() -> None:
        calls[0] += 1

    async def main() -> None:
        watch = LoopWatch(lambda seconds, now: lengths.append(seconds), between,
                          lambda: wanted, every, clock=Ticks())
        trio.lowlevel.add_instrument(watch)
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(steps, 5)
        trio.lowlevel.remove_instrument(watch)

    trio.run(main)
    return lengths, calls[0]


def test_each_batch_reports_its_length() -> None:
    lengths, _ = watch_run(every=1000.0, wanted=True)

    assert lengths
    assert all(length > 0 for length in lengths)
    assert max(lengths) >= 3  # one batch ran the three tasks' steps, one clock tick each


def test_between_is_called_once_the_slice_has_passed_and_only_when_wanted() -> None:
    _, often = watch_run(every=0.0, wanted=True)
    _, rarely = watch_run(every=1000.0, wanted=True)
    _, unwanted = watch_run(every=0.0, wanted=False)

    assert often >= 15  # after every step of the three tasks
    assert (rarely, unwanted) == (0, 0)
