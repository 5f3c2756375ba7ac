"""End to end: ``--workers`` forks its workers from a preloaded zygote (issue 22, memory).

The workers are children of the zygote, not of the supervisor; they share
its imported code (a worker's PSS is well under its RSS); a killed worker
is forked again; and with the zygote gone, workers are exec'd afresh.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resolver.control import request
from tests.scenarios.processes import LabProcess, ResolverProcess, serving

pytestmark = pytest.mark.integration

#: Seconds to wait for a restarted worker (its back-off is 1 s, its start about as much).
RESTART_DEADLINE = 20.0


@pytest.fixture
def resolver(lab: LabProcess, tmp_path: Path) -> Iterator[ResolverProcess]:
    with serving(ResolverProcess.start(lab, tmp_path, "--workers", "2")) as resolver:
        yield resolver


def ctl(resolver: ResolverProcess, *words: str) -> Any:
    return request(resolver.control, {"command": list(words)}, timeout=10)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def rollup(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def restarted(resolver: ResolverProcess, index: int, old: int) -> dict[str, Any]:
    deadline = time.monotonic() + RESTART_DEADLINE
    while True:
        worker: dict[str, Any] = ctl(resolver, "status")["worker_processes"][index]
        if worker["state"] == "running" and worker["pid"] != old:
            return worker
        assert time.monotonic() < deadline, worker
        time.sleep(0.1)


def test_workers_are_forked_from_the_zygote_and_share_its_pages(
    resolver: ResolverProcess,
) -> None:
    status = ctl(resolver, "status")
    zygote = status["zygote_pid"]
    assert zygote is not None
    assert parent_of(zygote) == resolver.process.pid
    pids = [worker["pid"] for worker in status["worker_processes"]]
    assert [parent_of(pid) for pid in pids] == [zygote, zygote]
    for pid in pids:  # the imported code is shared with the zygote and the other worker
        assert rollup(pid, "Pss") < 0.8 * rollup(pid, "Rss"), pid
    assert resolver.dig("www.example.com", "A").status == "NOERROR"

    os.kill(pids[0], signal.SIGKILL)
    again = restarted(resolver, 0, pids[0])
    assert parent_of(again["pid"]) == zygote
    assert "[worker_died]" in resolver.log.read_text()
    assert "was killed by SIGKILL" in resolver.log.read_text()


def test_without_the_zygote_a_worker_is_started_afresh(resolver: ResolverProcess) -> None:
    status = ctl(resolver, "status")
    zygote = status["zygote_pid"]
    os.kill(zygote, signal.SIGKILL)
    deadline = time.monotonic() + RESTART_DEADLINE
    while ctl(resolver, "status")["zygote_pid"] is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "[zygote_gone]" in resolver.log.read_text()
    # The workers it forked serve on (their channels are the supervisor's).
    assert resolver.dig("www.example.com", "A").status == "NOERROR"

    old = status["worker_processes"][1]["pid"]
    os.kill(old, signal.SIGKILL)
    again = restarted(resolver, 1, old)
    assert parent_of(again["pid"]) == resolver.process.pid  # exec'd by the supervisor
    assert resolver.dig("www.example.net", "A").status == "NOERROR"
