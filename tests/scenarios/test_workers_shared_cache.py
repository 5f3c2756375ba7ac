"""End to end: ``--workers 2`` share one cache map, so a name one worker learned the other finds."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from resolver.control import request
from resolver.lab.control import send_lab_command
from tests.scenarios.processes import (
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    serving,
    wait_until,
)

pytestmark = [pytest.mark.integration, NEEDS_DIG]

#: A com server that serves expired signatures in the hold-down test.
BAD = "127.53.1.3"


def test_workers_answer_from_each_others_cache(lab: LabProcess, tmp_path: Path) -> None:
    started = ResolverProcess.start(lab, tmp_path, "--workers", "2", "--metrics", "off")
    with serving(started) as resolver:
        # dig's random source ports spread the queries over both workers' sockets.
        for _ in range(20):
            assert resolver.dig("www.example.com", "A").status == "NOERROR"
        status = request(resolver.control, {"command": ["status"]}, timeout=10)
        tiers = [result["shared_cache"] for result in status["results"].values()]
        assert sum(tier["published"] for tier in tiers) > 0
        assert sum(tier["adopted"] for tier in tiers) > 0
        assert sum(tier["failures"] for tier in tiers) == 0


def test_workers_keep_their_own_caches_when_told(lab: LabProcess, tmp_path: Path) -> None:
    config = tmp_path / "holdfast.toml"
    config.write_text("[workers]\nshared_cache = false\n")
    started = ResolverProcess.start(lab, tmp_path, "--workers", "2", "--metrics", "off",
                                    "--config", str(config))
    with serving(started) as resolver:
        status = request(resolver.control, {"command": ["status"]}, timeout=10)
        assert all(result["shared_cache"] == "off" for result in status["results"].values())


def test_a_server_one_worker_held_down_is_not_asked_by_the_other(
    lab: LabProcess, tmp_path: Path
) -> None:
    """One bad server learned once: the supervisor gives the other worker the hold-down."""
    config = tmp_path / "holdfast.toml"
    # Every nx name below then costs a question to a com server.
    config.write_text("[dnssec]\naggressive_nsec = false\n")
    started = ResolverProcess.start(lab, tmp_path, "--workers", "2", "--metrics", "off",
                                    "--config", str(config))
    with serving(started) as resolver:
        ctl = functools.partial(request, resolver.control, timeout=10)
        ctl({"command": ["route", "add", "com", "--prefer", BAD]})
        send_lab_command(lab.directory, {"op": "fault", "address": BAD, "kind": "expired-sigs",
                                         "zone": "com."})
        assert resolver.dig("www.example.com", "A").status == "NOERROR"  # one worker

        def held_by_both() -> bool:
            listed = ctl({"command": ["holddown", "list"]})["results"]
            return all(BAD in str(held) for held in listed.values())

        wait_until(held_by_both, "the hold-down shared", resolver.process, resolver.log)
        stats = ctl({"command": ["stats"]})
        assert stats["holddowns"]["started"] == 1  # learned once
        asked = stats["upstream"]["queries"][BAD]
        for index in range(12):  # random source ports: both workers
            assert resolver.dig(f"nx{index}.com", "A").status == "NXDOMAIN"
        assert ctl({"command": ["stats"]})["upstream"]["queries"][BAD] == asked
