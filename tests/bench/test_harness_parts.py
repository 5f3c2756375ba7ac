"""The harness's pure parts: dnsperf's output, the summaries, the workloads, the report."""

from __future__ import annotations

import pytest

from bench import workloads
from bench.dnsperf import DnsperfError, parse
from bench.figures import Spread, latency_spreads, percentile
from bench.report import render, targets

DNSPERF_OUTPUT = """\
DNS Performance Testing Tool
Version 2.10.0

[Status] Sending queries (to 127.0.0.1:5300)
> NOERROR n1.bench.com A 0.000084
> NXDOMAIN nx1.bench.com A 0.001966
> NOERROR n2.bench.com A 0.000035

Statistics:

  Queries sent:         3
  Queries completed:    3 (100.00%)
  Queries lost:         0 (0.00%)

  Response codes:       NOERROR 2 (66.67%), NXDOMAIN 1 (33.33%)
  Average packet size:  request 30, reply 46
  Run time (s):         0.101234
  Queries per second:   29.634313

  Average Latency (s):  0.000695 (min 0.000035, max 0.001966)
"""


def test_dnsperf_summary_and_verbose_lines_are_read() -> None:
    run = parse(DNSPERF_OUTPUT)
    assert (run.sent, run.completed, run.lost) == (3, 3, 0)
    assert run.qps == pytest.approx(29.634313)
    assert run.elapsed == pytest.approx(0.101234)
    assert run.latencies == [0.000084, 0.001966, 0.000035]
    assert run.rcodes == {"NOERROR": 2, "NXDOMAIN": 1}


def test_unreadable_dnsperf_output_is_an_error_not_a_zero() -> None:
    with pytest.raises(DnsperfError, match="qps"):
        parse(DNSPERF_OUTPUT.replace("Queries per second", "QPS"))


def test_nearest_rank_percentiles_and_spreads() -> None:
    ordered = [float(i) for i in range(1, 101)]
    assert percentile(ordered, 50) == 50
    assert percentile(ordered, 99) == 99
    assert percentile(ordered, 100) == 100
    assert percentile([7.0], 99) == 7
    assert Spread.of([3, 1, 2]) == Spread(2, 1, 3)
    spreads = latency_spreads([ordered, [x * 2 for x in ordered], [x * 3 for x in ordered]])
    assert spreads["p99"] == Spread(198, 99, 297)
    assert spreads["max"].high == 300


def test_cold_runs_never_share_a_name_nor_touch_the_cached_or_mixed_names() -> None:
    slices = list(workloads.cold_slices(6, 3_000))
    names = [name for names in slices for name, _ in names]
    assert len(names) == len(set(names)) == 18_000
    cached = {name for name, _ in workloads.cached()}
    mixed = {name for name, _ in workloads.mixed(5_000)}
    assert not cached & set(names)
    assert not mixed & set(names)
    with pytest.raises(ValueError, match="do not fit"):
        list(workloads.cold_slices(100, 3_000))


def test_mixed_workload_is_skewed_with_about_five_percent_nxdomain() -> None:
    queries = workloads.mixed(20_000)
    nx = sum(name.startswith("nx") for name, _ in queries)
    assert 0.04 < nx / len(queries) < 0.06
    assert queries == workloads.mixed(20_000)  # same file for both resolvers
    top = max(set(queries), key=queries.count)
    assert queries.count(top) > len(queries) / 100


def _resolver(name: str, qps: float, p99: float, *, validates: bool = True) -> dict[str, object]:
    spread = {"median": qps, "min": qps, "max": qps}
    latency = {pct: {"median": p99, "min": p99, "max": p99} for pct in ("p50", "p95", "p99", "max")}
    return {
        "name": name, "version": "1", "validates": validates,
        "cold_qps": spread, "cold_latency": latency, "cold_lost": 0, "cold_rcodes": {},
        "cold_lab_cpu": spread, "cold_resolver_cpu": spread,
        "cached_qps": spread, "cached_lost": 0, "cached_rate": qps / 2,
        "cached_latency": latency, "mixed_qps": spread, "mixed_lost": 0,
        "reload_latency": latency, "rss_bytes": 1,
    }


def test_report_judges_each_target_and_flags_a_non_validating_resolver() -> None:
    results = {
        "machine": {key: "x" for key in ("date", "commit", "cpus", "cpu", "kernel", "python",
                                        "dnspython", "trio", "dnsperf")},
        "settings": {"runs": 3},
        "resolvers": [_resolver("Holdfast", 50, 0.0009, validates=False),
                      _resolver("Unbound", 100, 0.0005)],
        "rootzone": {"zones": [{"zone": "root-2017082100.zone",
                                "total_s": {"median": 1.5, "min": 1.4, "max": 1.6}}]},
        "memory": {"sizes": [{"entries": 1_000_000, "rss_bytes": 4e8, "bytes_per_rrset": 400}]},
    }
    verdicts = [row[3] for row in targets(results)]
    assert verdicts == ["**not met**", "**met**", "**met**", "**not met**", "**met**", "**met**"]
    assert "does not validate yet" in targets(results)[2][2]
    page = render(results)
    assert "latency-cdf.svg" in page
    assert "0.50x" in page
