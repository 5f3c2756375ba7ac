"""End to end: ``holdfast serve --metrics ADDR:PORT`` scraped as Prometheus would.

The lab and the resolver are real processes on loopback; the resolver is
asked with dig, its endpoint fetched with urllib and read back with
prometheus-client's parser. The same resolver logs in JSON with the query
log on, so the query log's lines are checked here too.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from resolver.control import request
from tests.scenarios.processes import (
    NEEDS_DIG,
    STARTUP_DEADLINE,
    LabProcess,
    ResolverProcess,
    free_port,
    serving,
)

pytestmark = [
    pytest.mark.integration,
    NEEDS_DIG,
]


@pytest.fixture(scope="module")
def resolver(
    lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ResolverProcess, str]]:
    """The resolver and its metrics URL; JSON logs (from the config) with the query log."""
    workdir = tmp_path_factory.mktemp("resolver")
    config = workdir / "holdfast.toml"
    config.write_text('[logging]\nformat = "json"\n')
    port = free_port()
    with serving(
        ResolverProcess.start(
            lab, workdir, "--config", str(config), "--metrics", f"127.0.0.1:{port}",
            "--query-log",
        )
    ) as resolver:
        yield resolver, f"http://127.0.0.1:{port}/metrics"


def scrape(url: str) -> dict[str, list[Sample]]:
    """The samples of each family, once the endpoint answers."""
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
                text = response.read().decode()
                break
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def total(samples: list[Sample], name: str | None = None, **labels: str) -> float:
    """The sum of the samples (named ``name``, if given) whose labels include ``labels``."""
    return sum(
        sample.value
        for sample in samples
        if (name is None or sample.name == name) and labels.items() <= sample.labels.items()
    )


def log_events(log: Path, event: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [entry for entry in entries if entry.get("event") == event]


def test_the_endpoint_shows_the_series_and_they_move(
    resolver: tuple[ResolverProcess, str],
) -> None:
    process, url = resolver
    assert process.dig("www.example.com", "A").status == "NOERROR"
    assert process.dig("www.example.com", "A").status == "NOERROR"
    first = scrape(url)
    for name in (
        "holdfast_build_info", "holdfast_uptime_seconds", "holdfast_queries",
        "holdfast_responses", "holdfast_queries_by_qtype", "holdfast_answer_duration_seconds",
        "holdfast_cache_hits", "holdfast_cache_misses", "holdfast_stale_answers",
        "holdfast_upstream_queries", "holdfast_upstream_timeouts", "holdfast_upstream_bogus",
        "holdfast_validations", "holdfast_holddowns_active", "holdfast_holddowns",
        "holdfast_localroot_state", "holdfast_localroot_stale",
    ):
        assert name in first, name
    assert total(first["holdfast_queries"], transport="udp") == 2
    assert total(first["holdfast_responses"], rcode="NOERROR") == 2
    assert total(first["holdfast_queries_by_qtype"], qtype="A") == 2
    assert total(first["holdfast_cache_hits"], cache="answer") == 1
    assert total(first["holdfast_validations"], result="secure") >= 1
    assert total(first["holdfast_localroot_state"], state="none") == 1
    upstream = {s.labels["server"] for s in first["holdfast_upstream_queries"] if s.value}
    assert upstream
    assert all(address.startswith("127.53.") for address in upstream)
    histogram = first["holdfast_answer_duration_seconds"]
    count = "holdfast_answer_duration_seconds_count"
    assert total(histogram, count, path="cached") == 1
    assert total(histogram, count, path="resolved") == 1

    assert process.dig("www.example.com", "A").status == "NOERROR"
    assert process.dig("nosuchname.example.com", "AAAA").status == "NXDOMAIN"
    second = scrape(url)
    assert total(second["holdfast_queries"], transport="udp") == 4
    assert total(second["holdfast_responses"], rcode="NXDOMAIN") == 1
    assert total(second["holdfast_queries_by_qtype"], qtype="AAAA") == 1
    assert total(second["holdfast_answer_duration_seconds"], count, path="cached") == 2
    assert total(second["holdfast_upstream_queries"]) > total(first["holdfast_upstream_queries"])
    assert total(second["holdfast_uptime_seconds"]) >= total(first["holdfast_uptime_seconds"])

    stats = request(process.control, {"command": ["stats"]})
    assert stats["queries"]["udp"] == 4

    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url.removesuffix("/metrics") + "/", timeout=10)
    assert missing.value.code == 404
    missing.value.close()

    [listening] = log_events(process.log, "metrics_listening")
    assert url == f"http://{listening['address']}:{listening['port']}/metrics"


def test_the_query_log_has_a_json_line_per_answered_query(
    resolver: tuple[ResolverProcess, str],
) -> None:
    process, _ = resolver
    assert process.dig("www.example.net", "TXT").status == "NOERROR"
    deadline = time.monotonic() + STARTUP_DEADLINE
    while not (lines := [entry for entry in log_events(process.log, "query")
                         if entry["qname"] == "www.example.net."]):
        assert time.monotonic() < deadline, process.log.read_text()
        time.sleep(0.05)
    [line] = lines
    assert line["logger"] == "holdfast.query"
    assert line["level"] == "info"
    assert {key: line[key] for key in ("client", "qtype", "rcode", "transport", "path")} == {
        "client": "127.0.0.1", "qtype": "TXT", "rcode": "NOERROR", "transport": "udp",
        "path": "resolved",
    }
    assert isinstance(line["ms"], float)
    assert line["ms"] >= 0
