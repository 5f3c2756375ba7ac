"""A local root whose worker process cannot start never takes the resolver down (issue 15).

With ``--user nobody --local-root ...`` the loader's process pool failed
after the privilege drop (the interpreter's files unreadable to the user,
``multiprocessing.synchronize`` not importable) and the whole resolver
exited. Now the cause is logged once, the local root is marked unavailable
(``ctl status``, ``ctl local-root status``), and the root servers are asked.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import dns.rcode
import pytest
import trio
import trio.testing

from resolver.clock import FakeClock
from resolver.lab import Lab
from resolver.lab.drill import ask
from rootzone.lifecycle import RootState
from rootzone.model import RootCopy
from rootzone.service import WorkerUnavailable, inline, process_offload
from tests.resolver.test_local_root import LocalRootHarness

SYNCHRONIZE_MISSING = "No module named 'multiprocessing.synchronize'"


def unimportable_pool() -> Executor:
    """What ``ProcessPoolExecutor()`` raised after the drop: its lazy import failed."""
    raise ImportError(SYNCHRONIZE_MISSING)


def _exit_at_once() -> None:
    os._exit(3)


def pool_whose_worker_dies_at_start() -> Executor:
    """A real spawned worker that exits before running anything (it cannot start as the user)."""
    return ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_at_once
    )


def nothing() -> RootCopy | None:
    return None


async def test_a_pool_that_cannot_start_is_worker_unavailable() -> None:
    with pytest.raises(WorkerUnavailable, match=r"multiprocessing\.synchronize"):
        await process_offload(unimportable_pool)(nothing)


async def test_a_worker_that_dies_before_any_work_is_worker_unavailable() -> None:
    with pytest.raises(WorkerUnavailable, match="cannot start as uid"):
        await process_offload(pool_whose_worker_dies_at_start)(nothing)


async def test_a_worker_that_dies_on_the_candidate_is_that_candidate_s_refusal() -> None:
    """Only a worker that never ran anything is "unavailable"; one killed mid-check is not."""

    class DiesOnTheCandidate(ProcessPoolExecutor):
        def __init__(self) -> None:
            super().__init__(max_workers=1)
            self.submitted = 0

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.submitted += 1
            if self.submitted > 1:
                raise BrokenProcessPool("killed by the OOM killer")
            return super().submit(fn, *args, **kwargs)

    with pytest.raises(BrokenProcessPool, match="OOM"):
        await process_offload(DiesOnTheCandidate)(nothing)


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait, in simulated time, until ``condition`` holds.

    The pool and the file source run in threads, which the autojump clock
    does not wait for: a fixed simulated sleep can end before they do.
    """
    for _ in range(100_000):
        if condition():
            return
        await trio.sleep(1)
    raise AssertionError("the condition never held")


async def test_the_resolver_keeps_serving_through_the_root_servers(
    lab: Lab,
    clock: FakeClock,
    tmp_path: Path,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = LocalRootHarness(lab, clock, tmp_path)
    service = harness.resolver.root_service
    assert service is not None
    service._offload = process_offload(unimportable_pool)
    await nursery.start(harness.resolver.recursor.run)
    with caplog.at_level(logging.INFO, logger="holdfast"):
        await nursery.start(service.run)
        # An hour more after the failure: many refresh timers, were any still running.
        await eventually(lambda: service.unavailable is not None)
        await trio.sleep(3600)
        reply = await ask(harness.resolver, "www.example.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert harness.root_server_queries() > 0
    assert harness.resolver.local_root.state() is RootState.NONE
    unavailable = [r for r in caplog.records if getattr(r, "event", "") == "local_root_unavailable"]
    assert len(unavailable) == 1, "the cause is logged once, not at every timer"
    assert SYNCHRONIZE_MISSING in unavailable[0].getMessage()
    status = harness.ctl({"command": ["local-root", "status"]})
    assert SYNCHRONIZE_MISSING in status["unavailable"]
    assert harness.resolver.status()["local_root"].startswith("unavailable")

    # The operator fixes the cause and asks again: the copy loads.
    service._offload = inline
    harness.ctl({"command": ["local-root", "refresh"]})
    await eventually(lambda: harness.resolver.local_root.state() is RootState.FRESH)
    assert "unavailable" not in harness.ctl({"command": ["local-root", "status"]})
