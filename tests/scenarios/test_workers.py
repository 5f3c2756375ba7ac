"""End to end: ``holdfast serve --workers 2`` as real processes on loopback.

The supervisor binds one socket set per worker with SO_REUSEPORT, forwards
every ctl command to both workers, restarts a worker killed with SIGKILL
(replaying the operator's overrides to it), checks a reloaded file before
any worker sees it, and takes its workers down with it on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import pytest
from prometheus_client.parser import text_string_to_metric_families

from resolver.control import ControlError, request
from tests.scenarios.processes import (
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    free_port,
    serving,
    stop,
)

pytestmark = [
    pytest.mark.integration,
    NEEDS_DIG,
]

REPOSITORY = Path(__file__).resolve().parents[2]
ROUTE = ["route", "add", "com", "--prefer", "127.53.1.3", "--expires", "30m"]
#: Seconds to wait for a restarted worker (its back-off is 1 s, its start about as much).
RESTART_DEADLINE = 20.0


def start(lab: LabProcess, workdir: Path, *extra: str) -> ResolverProcess:
    return ResolverProcess.start(lab, workdir, "--workers", "2", "--metrics", "off", *extra)


@pytest.fixture
def resolver(lab: LabProcess, tmp_path: Path) -> Iterator[ResolverProcess]:
    with serving(start(lab, tmp_path)) as resolver:
        yield resolver


def ctl(resolver: ResolverProcess, *words: str) -> Any:
    """A ctl command over the control socket, in process; it must succeed."""
    return request(resolver.control, {"command": list(words)}, timeout=10)


def ctl_command(resolver: ResolverProcess, *words: str) -> subprocess.CompletedProcess[str]:
    """``holdfast ctl WORDS...`` as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "resolver", "ctl", "--control", str(resolver.control), *words],
        capture_output=True, text=True, timeout=30, check=False, cwd=REPOSITORY,
    )


def worker_pids(resolver: ResolverProcess) -> list[int]:
    return [worker["pid"] for worker in ctl(resolver, "status")["worker_processes"]]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by init, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def routes_by_worker(resolver: ResolverProcess) -> dict[str, list[str]]:
    listed = ctl(resolver, "route", "list")
    assert listed["applied"] == 2, listed
    return {
        index: [f"{route['zone']} {route['mode']} {' '.join(route['addresses'])}"
                for route in routes]
        for index, routes in listed["results"].items()
    }


def test_two_workers_serve_and_every_command_reaches_both(resolver: ResolverProcess) -> None:
    status = ctl(resolver, "status")
    assert status["workers"] == 2
    assert status["applied"] == 2
    pids = [worker["pid"] for worker in status["worker_processes"]]
    assert len(set(pids)) == 2
    assert resolver.process.pid not in pids
    assert status["supervisor_pid"] == resolver.process.pid
    assert all(alive(pid) for pid in pids)
    assert all(worker["state"] == "running" for worker in status["worker_processes"])

    reply = resolver.dig("www.example.com", "A")
    assert reply.status == "NOERROR", reply.output
    assert reply.answers("A") == ["192.0.2.1"]

    added = ctl_command(resolver, *ROUTE)
    assert added.returncode == 0, added.stderr
    assert '"applied": 2' in added.stdout
    assert routes_by_worker(resolver) == {
        "0": ["com. prefer 127.53.1.3"],
        "1": ["com. prefer 127.53.1.3"],
    }

    flushed = ctl(resolver, "flush", "all")
    assert (flushed["workers"], flushed["applied"]) == (2, 2)

    disabled = ctl(resolver, "local-root", "disable")
    assert disabled["applied"] == 2
    states = ctl(resolver, "local-root", "status")["results"]
    assert {index: state["state"] for index, state in states.items()} == {
        "0": "disabled",
        "1": "disabled",
    }

    refused = ctl_command(resolver, "route", "del", "org")
    assert refused.returncode != 0
    assert "no route for 'org'" in refused.stderr
    assert "all 2 workers" in refused.stderr


def test_the_kernel_spreads_clients_over_both_workers(resolver: ResolverProcess) -> None:
    assert resolver.dig("www.example.com", "A").status == "NOERROR"
    query = dns.message.make_query("www.example.com", "A").to_wire()
    answered = 0
    for _ in range(200):  # each from a socket of its own: a new source port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(query, (resolver.host, resolver.port))
            answered += bool(sock.recv(4096))
    assert answered == 200
    counts = {
        index: result["server"]["queries_udp"]
        for index, result in ctl(resolver, "status")["results"].items()
    }
    assert sum(counts.values()) >= 200, counts
    assert all(count > 20 for count in counts.values()), counts


def test_a_killed_worker_is_restarted_with_the_operators_overrides(
    resolver: ResolverProcess,
) -> None:
    ctl(resolver, *ROUTE)
    ctl(resolver, "local-root", "disable")
    before = worker_pids(resolver)

    os.kill(before[0], signal.SIGKILL)
    # Meanwhile the port keeps answering (a query that hashes to the dead
    # worker's socket waits there for its successor).
    for _ in range(5):
        reply = resolver.dig("www.example.com", "A")
        assert reply.status == "NOERROR", reply.output

    deadline = time.monotonic() + RESTART_DEADLINE
    while True:
        workers = ctl(resolver, "status")["worker_processes"]
        if workers[0]["state"] == "running" and workers[0]["pid"] != before[0]:
            break
        assert time.monotonic() < deadline, workers
        time.sleep(0.1)
    assert workers[0]["restarts"] == 1
    assert (workers[1]["pid"], workers[1]["restarts"]) == (before[1], 0)
    assert not alive(before[0])

    assert routes_by_worker(resolver) == {
        "0": ["com. prefer 127.53.1.3"],
        "1": ["com. prefer 127.53.1.3"],
    }
    [replayed] = ctl(resolver, "route", "list")["results"]["0"]
    assert 1700 < replayed["expires_in"] <= 1800  # the time it had left, not 30 min anew
    states = ctl(resolver, "local-root", "status")["results"]
    assert states["0"]["state"] == "disabled"
    log = resolver.log.read_text()
    assert "[worker_died]" in log
    assert "[worker_restarted]" in log
    assert resolver.dig("www.example.net", "A").status == "NOERROR"


def test_reload_checks_the_file_before_any_worker_sees_it(
    lab: LabProcess, tmp_path: Path
) -> None:
    config = tmp_path / "holdfast.toml"
    config.write_text("[cache]\nmin_ttl = 0\n")
    with serving(start(lab, tmp_path, "--config", str(config))) as resolver:
        pids = worker_pids(resolver)
        config.write_text("[cache]\nmin_tll = 5\n")
        refused = ctl_command(resolver, "reload")
        assert refused.returncode != 0
        assert "refused, the running configuration stays" in refused.stderr
        assert "unknown option cache.min_tll (did you mean cache.min_ttl?)" in refused.stderr
        assert "[config_reloaded]" not in resolver.log.read_text()
        assert worker_pids(resolver) == pids

        config.write_text("[cache]\nmin_ttl = 5\n")
        reloaded = ctl(resolver, "reload")
        assert reloaded["applied"] == 2
        assert all(
            result["applied"] == ["cache.min_ttl"] for result in reloaded["results"].values()
        )
        assert worker_pids(resolver) == pids

        # SIGHUP to the supervisor does the same.
        config.write_text("[cache]\nmin_ttl = 7\n")
        resolver.process.send_signal(signal.SIGHUP)
        wait_for_log(resolver, "[config_reloaded]", 4)
        assert worker_pids(resolver) == pids


def wait_for_log(resolver: ResolverProcess, text: str, count: int) -> None:
    """Wait until ``text`` is in the resolver's log ``count`` times."""
    deadline = time.monotonic() + RESTART_DEADLINE
    while resolver.log.read_text().count(text) < count:
        assert time.monotonic() < deadline, resolver.log.read_text()
        time.sleep(0.05)


def test_sigterm_stops_the_supervisor_and_every_worker(lab: LabProcess, tmp_path: Path) -> None:
    resolver = start(lab, tmp_path)
    try:
        pids = worker_pids(resolver)
        assert resolver.dig("www.example.com", "A").status == "NOERROR"
    finally:
        status = stop(resolver.process)
    assert status == 0, resolver.log.read_text()
    assert not any(alive(pid) for pid in pids)
    with pytest.raises(ControlError):
        request(resolver.control, {"command": ["status"]}, timeout=1)


def test_metrics_and_stats_add_up_the_workers(lab: LabProcess, tmp_path: Path) -> None:
    port = free_port()
    metrics = f"127.0.0.1:{port}"
    with serving(ResolverProcess.start(lab, tmp_path, "--workers", "2", "--metrics", metrics)) as (
        resolver
    ):
        for name in ("www.example.com", "www.example.net", "www.example.org"):
            assert resolver.dig(name, "A").status == "NOERROR"
        stats = ctl(resolver, "stats")
        assert stats["workers"] == 2
        assert stats["worker_restarts"] == 0
        assert stats["queries"]["udp"] == 3

        text = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        assert samples[("holdfast_workers", ())] == 2
        assert samples[("holdfast_worker_restarts_total", ())] == 0
        assert samples[("holdfast_queries_total", (("transport", "udp"),))] == 3


def test_workers_stop_when_their_supervisor_is_killed(lab: LabProcess, tmp_path: Path) -> None:
    resolver = start(lab, tmp_path)
    pids = worker_pids(resolver)
    resolver.process.kill()
    resolver.process.wait()
    deadline = time.monotonic() + RESTART_DEADLINE
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "a worker outlived its supervisor"
        time.sleep(0.1)
    assert "[supervisor_gone]" in resolver.log.read_text()


def test_a_hung_worker_is_killed_and_restarted(lab: LabProcess, tmp_path: Path) -> None:
    """Issue 16: a worker alive but answering nothing (SIGSTOP) is found by its heartbeat."""
    config = tmp_path / "holdfast.toml"
    config.write_text("[workers]\nheartbeat_interval = 0.2\nheartbeat_timeout = 1.0\n")
    with serving(start(lab, tmp_path, "--config", str(config))) as resolver:
        before = worker_pids(resolver)
        os.kill(before[0], signal.SIGSTOP)
        try:
            deadline = time.monotonic() + RESTART_DEADLINE
            while True:
                workers = ctl(resolver, "status")["worker_processes"]
                if workers[0]["state"] == "running" and workers[0]["pid"] != before[0]:
                    break
                assert time.monotonic() < deadline, workers
                time.sleep(0.1)
        finally:
            if alive(before[0]):
                os.kill(before[0], signal.SIGKILL)
        assert (workers[0]["restarts"], workers[0]["hangs"]) == (1, 1)
        assert (workers[1]["pid"], workers[1]["hangs"]) == (before[1], 0)
        assert not alive(before[0])
        assert ctl(resolver, "stats")["worker_hung"] == 1
        assert "[worker_hung]" in resolver.log.read_text()
        assert resolver.dig("www.example.com", "A").status == "NOERROR"
