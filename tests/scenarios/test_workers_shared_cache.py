"""End to end: ``--workers 2`` share one cache map, so a name one worker learned the other finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolver.control import request
from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving

pytestmark = [pytest.mark.integration, NEEDS_DIG]


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
