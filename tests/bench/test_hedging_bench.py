"""The staggered-attempts benchmark's parts that need no processes."""

from __future__ import annotations

from bench import hedging, workloads


def test_the_faulty_zone_has_the_two_servers_the_scenarios_assume() -> None:
    assert len(hedging.zone_servers(hedging.ZONE)) == 2


def test_default_runs_ask_names_no_other_workload_asks() -> None:
    per_resolver = hedging.names_per_resolver(600, 100, 3)
    assert per_resolver == 3 * (600 + 600 + 100)
    last = hedging.FIRST_NAME + 2 * per_resolver
    harness_cold_end = workloads.COLD_START + 2 * 3 * 3_000  # the harness's defaults
    assert harness_cold_end <= hedging.FIRST_NAME
    assert last <= min(workloads.MIXED_RANGE)
