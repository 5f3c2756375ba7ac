"""End to end: three ``holdfast serve`` instances behind dnsdist's ``chashed`` policy.

Shows what the scale-out layout in docs/operations.md promises: every name
is resolved upstream by one instance only (it is in that instance's cache
and no other's), repeats are answered from that instance's cache (no new
upstream query anywhere, and each instance counts exactly the repeats of its
own names), a restarted dnsdist sends every name where it went before, and
when an instance stops, dnsdist's health checks move its
names, and only its names, to the others while answers keep flowing.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resolver.control import request
from tests.scenarios.dnsdist import DNSDIST, NEEDS_DNSDIST, Dnsdist, config
from tests.scenarios.processes import (
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    dig,
    free_port,
    stop,
)

pytestmark = [pytest.mark.integration, NEEDS_DIG, NEEDS_DNSDIST]

REPOSITORY = Path(__file__).resolve().parents[2]
#: The lab's bench.com servers (testdata/lab/README.md): every nI.bench.com
#: name costs one query to them once the zone's keys are known.
BENCH_SERVERS = ("127.53.3.31", "127.53.3.32")
NAMES = [f"n{index}.bench.com" for index in range(29)]  # not a multiple of INSTANCES
INSTANCES = 3
#: Seconds for dnsdist to see a stopped instance fail its checks (1 s apart, one failure).
FAILOVER_DEADLINE = 20.0
#: The deployment's hash perturbation: every dnsdist started here uses it.
PERTURBATION = 1_870_563_911


def address(name: str) -> str:
    """nI.bench.com's address in the lab (I < 256)."""
    return f"198.18.0.{int(name[1:].split('.')[0])}"


def ctl(instance: ResolverProcess, *words: str) -> Any:
    return request(instance.control, {"command": list(words)}, timeout=10)


def cached_names(instance: ResolverProcess) -> set[str]:
    """The bench.com names whose A RRset ``instance`` holds."""
    dump = ctl(instance, "cache", "dump", "bench.com", "--limit", "10000")
    return {line.split()[0].rstrip(".") for line in dump.splitlines()
            if re.match(r"n\d+\.bench\.com\.\s+\d+\s+IN\s+A\s", line)}


def bench_upstream(instance: ResolverProcess) -> int:
    """Queries ``instance`` has sent to the bench.com servers."""
    queries = ctl(instance, "stats")["upstream"].get("queries", {})
    return sum(queries.get(server, 0) for server in BENCH_SERVERS)


def a_queries(instance: ResolverProcess) -> int:
    """Client queries of type A ``instance`` answered (the health checks ask SOA)."""
    return int(ctl(instance, "stats")["qtypes"].get("A", 0))


def addresses(instances: list[ResolverProcess]) -> list[tuple[str, int]]:
    return [(instance.host, instance.port) for instance in instances]


def ask(front: Dnsdist, name: str) -> None:
    reply = dig(front.host, front.port, "+time=3", name, "A")
    assert reply.status == "NOERROR", reply.output
    assert reply.answers("A") == [address(name)], reply.output


@pytest.fixture
def instances(lab: LabProcess, tmp_path: Path) -> Iterator[list[ResolverProcess]]:
    started: list[ResolverProcess] = []
    try:
        for number in range(INSTANCES):
            workdir = tmp_path / f"holdfast{number + 1}"
            workdir.mkdir()
            started.append(ResolverProcess.start(lab, workdir))
        yield started
    finally:
        for instance in started:
            stop(instance.process)


@pytest.fixture
def front(instances: list[ResolverProcess], tmp_path: Path) -> Iterator[Dnsdist]:
    started = Dnsdist.start(tmp_path, free_port(), addresses(instances), PERTURBATION)
    try:
        yield started
    finally:
        started.stop()


def test_each_name_is_resolved_and_cached_by_one_instance(
    instances: list[ResolverProcess], front: Dnsdist
) -> None:
    for name in NAMES:
        ask(front, name)
    slices = [cached_names(instance) for instance in instances]
    for name in NAMES:
        holders = [number for number, names in enumerate(slices) if name in names]
        assert len(holders) == 1, f"{name} is cached by instances {holders}"
    assert sum(1 for names in slices if names) >= 2, f"no spread: {slices}"
    upstream = [bench_upstream(instance) for instance in instances]
    for names, queries in zip(slices, upstream, strict=True):
        # One query per name, plus the zone's DNSKEY (and its NS) once.
        assert len(names) <= queries <= len(names) + 3, (names, queries)

    answered = [a_queries(instance) for instance in instances]
    for _ in range(2):
        for name in NAMES:
            ask(front, name)
    assert [bench_upstream(instance) for instance in instances] == upstream
    assert [a_queries(instance) - before for instance, before in zip(
        instances, answered, strict=True)] == [2 * len(names) for names in slices]


def test_a_restarted_dnsdist_keeps_each_name_on_its_instance(
    instances: list[ResolverProcess], front: Dnsdist, tmp_path: Path
) -> None:
    """The ring comes from the fixed back-end ids, not from dnsdist's random ones."""
    for name in NAMES:
        ask(front, name)
    upstream = [bench_upstream(instance) for instance in instances]
    front.stop()
    again = tmp_path / "again"
    again.mkdir()
    restarted = Dnsdist.start(again, free_port(), addresses(instances), PERTURBATION)
    try:
        for name in NAMES:
            ask(restarted, name)
    finally:
        restarted.stop()
    assert [bench_upstream(instance) for instance in instances] == upstream


def test_a_stopped_instance_hands_its_names_to_the_others(
    instances: list[ResolverProcess], front: Dnsdist
) -> None:
    for name in NAMES:
        ask(front, name)
    slices = [cached_names(instance) for instance in instances]
    gone = max(range(INSTANCES), key=lambda number: len(slices[number]))
    survivors = [number for number in range(INSTANCES) if number != gone]
    assert slices[gone], slices

    stop(instances[gone].process)
    # The survivors' names keep their place on the ring: answered at once.
    for number in survivors:
        for name in sorted(slices[number]):
            ask(front, name)
    # The stopped instance's names move once dnsdist's check fails.
    deadline = time.monotonic() + FAILOVER_DEADLINE
    for name in sorted(slices[gone]):
        while True:
            reply = dig(front.host, front.port, "+time=2", name, "A")
            if reply.answers("A") == [address(name)]:
                break
            assert time.monotonic() < deadline, f"{name} still unanswered:\n{reply.output}"

    after = {number: cached_names(instances[number]) for number in survivors}
    for name in slices[gone]:
        holders = [number for number in survivors if name in after[number]]
        assert len(holders) == 1, f"{name} is cached by instances {holders}"
    for number in survivors:
        # Only the stopped instance's slice moved: no survivor took another's names.
        assert after[number] - slices[number] <= slices[gone], (number, after, slices)


def test_the_documented_config_is_the_one_tested(tmp_path: Path) -> None:
    """docs/operations.md shows ``config`` for three hosts, word for word, and dnsdist takes it."""
    documented = config("192.0.2.53:53", ["192.0.2.1:53", "192.0.2.2:53", "192.0.2.3:53"],
                        ["192.0.2.0/24", "198.51.100.0/24"], 2_847_190_311)
    operations = (REPOSITORY / "docs" / "operations.md").read_text()
    assert f"```lua\n{documented}```" in operations
    path = tmp_path / "dnsdist.conf"
    path.write_text(documented)
    assert DNSDIST is not None
    checked = subprocess.run([DNSDIST, "--check-config", "-C", str(path)],
                             capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
