"""Metrics: the counters on the hot paths, snapshots, merge, the exposition and its endpoint.

The resolver is the one ``holdfast serve`` builds, over the in-memory lab
(``lab_resolver``), asked with wire-format queries through
``DnsServer.answer``; the exposition is read back with prometheus-client's
own parser, as Prometheus would read it.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.edns
import dns.message
import dns.rcode
import dns.rrset
import pytest
import trio
import trio.testing
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from resolver import metrics_endpoint
from resolver.answers import extended_errors, qtype_label, question_type
from resolver.clock import FakeClock
from resolver.counters import OTHER, Histogram, ServerTable
from resolver.daemon import Resolver, commands
from resolver.lab import Lab, LabTransport
from resolver.lab.drill import ask, lab_resolver
from resolver.lab.faults import parse_fault
from resolver.messages import parse_query, render_response, udp_size_limit
from resolver.metrics import Snapshot, SnapshotError, collect, exposition, merge
from resolver.metrics_endpoint import MAX_REQUEST, serve_metrics
from resolver.question import ExtendedError, Outcome

#: Every family the metrics promise (docs/operations.md), with its type, as
#: the parser names them (counters without ``_total``).
PROMISED = {
    "holdfast_build_info": "gauge",
    "holdfast_uptime_seconds": "gauge",
    "holdfast_workers": "gauge",
    "holdfast_queries": "counter",
    "holdfast_responses": "counter",
    "holdfast_queries_by_qtype": "counter",
    "holdfast_extended_errors": "counter",
    "holdfast_queries_dropped": "counter",
    "holdfast_queries_refused": "counter",
    "holdfast_tcp_connections": "counter",
    "holdfast_tcp_connections_refused": "counter",
    "holdfast_tcp_connections_evicted": "counter",
    "holdfast_tcp_connections_open": "gauge",
    "holdfast_tls_connections": "counter",
    "holdfast_tls_connections_open": "gauge",
    "holdfast_tls_connections_refused": "counter",
    "holdfast_tls_connections_evicted": "counter",
    "holdfast_tls_handshake_failures": "counter",
    "holdfast_answer_duration_seconds": "histogram",
    "holdfast_cache_entries": "gauge",
    "holdfast_cache_bytes": "gauge",
    "holdfast_cache_hits": "counter",
    "holdfast_cache_misses": "counter",
    "holdfast_cache_stale_hits": "counter",
    "holdfast_cache_evictions": "counter",
    "holdfast_stale_answers": "counter",
    "holdfast_failure_cache_entries": "gauge",
    "holdfast_failure_cache_hits": "counter",
    "holdfast_resolutions": "counter",
    "holdfast_resolutions_shared": "counter",
    "holdfast_resolution_timeouts": "counter",
    "holdfast_prefetches": "counter",
    "holdfast_internal_errors": "counter",
    "holdfast_upstream_queries": "counter",
    "holdfast_upstream_timeouts": "counter",
    "holdfast_upstream_errors": "counter",
    "holdfast_upstream_unparseable": "counter",
    "holdfast_upstream_case_mismatches": "counter",
    "holdfast_upstream_case_fallbacks": "counter",
    "holdfast_upstream_bogus": "counter",
    "holdfast_validations": "counter",
    "holdfast_scrubbed_records": "counter",
    "holdfast_aggressive_nsec_answers": "counter",
    "holdfast_holddowns_active": "gauge",
    "holdfast_holddowns": "counter",
    "holdfast_negative_trust_anchors": "gauge",
    "holdfast_negative_trust_anchor_lookups": "counter",
    "holdfast_localroot_state": "gauge",
    "holdfast_localroot_configured": "gauge",
    "holdfast_localroot_stale": "gauge",
    "holdfast_localroot_answers": "counter",
    "holdfast_localroot_bogus": "counter",
    "holdfast_localroot_rejections": "counter",
    "holdfast_dnstap_frames": "counter",
    "holdfast_dnstap_capped": "counter",
    "holdfast_shared_cache_store": "gauge",
    "holdfast_shared_cache_breaker_open": "gauge",
    "holdfast_shared_cache_breaker_openings": "counter",
    "holdfast_shared_cache_lookups": "counter",
    "holdfast_shared_cache_adopted": "counter",
    "holdfast_shared_cache_rejected": "counter",
    "holdfast_shared_cache_published": "counter",
    "holdfast_shared_cache_deleted": "counter",
    "holdfast_shared_cache_flushed": "counter",
    "holdfast_shared_cache_call_duration_seconds": "histogram",
    "holdfast_shared_cache_dropped": "counter",
    "holdfast_shared_cache_call_failures": "counter",
}
#: Present only while a local root copy is loaded.
LOCAL_ROOT_COPY = {
    "holdfast_localroot_serial",
    "holdfast_localroot_age_seconds",
    "holdfast_localroot_refresh_age_seconds",
    "holdfast_localroot_seconds_to_retirement",
}
LAB_ROOT_SERVERS = {"127.53.0.1", "127.53.0.2", "127.53.0.3"}


def families(snapshot: Snapshot) -> dict[str, Metric]:
    text = exposition(snapshot).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(family: Metric, **labels: str) -> float:
    """The one sample of ``family`` with exactly these labels (histograms: none)."""
    [found] = [sample.value for sample in family.samples if sample.labels == labels]
    return found


@pytest.fixture
async def resolver(
    lab: Lab,
    clock: FakeClock,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> Resolver:
    """A lab resolver whose client response timer is long, so failures decide.

    Tests that use it ask for ``autojump_clock`` (Trio's clock is the test's
    to choose), so timeouts and lab delays cost nothing.
    """
    resolver = lab_resolver(
        lab, clock, tmp_path, LabTransport(lab), {"serve_stale.client_timeout": 10.0}
    )
    await nursery.start(resolver.recursor.run)
    return resolver


# -- the counting primitives ---------------------------------------------------


def test_a_histogram_counts_each_value_in_the_first_bucket_that_holds_it() -> None:
    histogram = Histogram((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 1.0, 7.0):
        histogram.observe(seconds)
    assert histogram.counts == [2, 2, 1]  # le=0.1, le=1.0, +Inf
    assert histogram.snapshot() == {"bounds": [0.1, 1.0], "counts": [2, 2, 1], "sum": 8.65}


def test_a_server_table_keeps_the_recent_addresses_and_folds_the_others() -> None:
    table = ServerTable(("queries", "timeouts"), capacity=2)
    table.row("192.0.2.1")[0] += 3
    table.row("192.0.2.2")[0] += 1
    table.row("192.0.2.1")[1] += 1  # used again: now the most recent
    table.row("192.0.2.3")[0] += 1  # pushes out 192.0.2.2
    table.row("192.0.2.4")[0] += 1  # pushes out 192.0.2.1
    assert table.snapshot() == {
        "queries": {"192.0.2.3": 1, "192.0.2.4": 1, OTHER: 4},
        "timeouts": {"192.0.2.3": 0, "192.0.2.4": 0, OTHER: 1},
    }
    assert ServerTable(("queries",)).snapshot() == {"queries": {}}


def test_the_wire_readers_find_the_qtype_and_the_extended_errors() -> None:
    wire = dns.message.make_query("www.example.com.", "AAAA", want_dnssec=True).to_wire()
    assert question_type(wire) == 28
    assert question_type(wire[:14]) is None
    assert question_type(b"\x00" * 12) is None
    assert qtype_label(28) == "AAAA"
    assert qtype_label(65280) == "other"
    query = parse_query(wire)
    answer = dns.rrset.from_text("www.example.com.", 300, "IN", "AAAA", "2001:db8::1")
    outcome = Outcome(
        rcode=dns.rcode.SERVFAIL,
        answer=(answer,),
        errors=(ExtendedError(6, "bogus"), ExtendedError(22)),
    )
    response = render_response(query, outcome, max_size=udp_size_limit(query))
    assert extended_errors(response) == (6, 22)
    assert extended_errors(response[:-3]) == (6,)  # cut short: what was read, no exception
    plain = render_response(query, Outcome(rcode=dns.rcode.NOERROR), max_size=512)
    assert extended_errors(plain) == ()


# -- the counters move -------------------------------------------------------------


async def test_resolving_and_repeating_a_name_moves_the_counters(
    resolver: Resolver, autojump_clock: trio.testing.MockClock
) -> None:
    first = await ask(resolver, "www.example.com.")
    again = await ask(resolver, "www.example.com.", "A")
    assert first.rcode() == again.rcode() == dns.rcode.NOERROR
    snapshot = collect(resolver)
    assert snapshot["queries"] == {"udp": 2, "tcp": 0, "dot": 0, "doh": 0}
    assert snapshot["responses"] == {"NOERROR": 2}
    assert snapshot["qtypes"] == {"A": 2}
    # The first answer took the full path, the repeat the ready-made one.
    assert snapshot["cache"]["answer"]["misses"] == 1
    assert snapshot["cache"]["answer"]["hits"] == 1
    assert snapshot["cache"]["answer"]["entries"] == 1
    assert snapshot["cache"]["rrset"]["entries"] > 0
    assert snapshot["cache"]["rrset"]["bytes"] == resolver.cache.accounted_bytes > 0
    assert resolver.answers is not None
    assert snapshot["cache"]["answer"]["bytes"] == resolver.answers.accounted_bytes > 0
    assert sum(snapshot["latency"]["resolved"]["counts"]) == 1
    assert sum(snapshot["latency"]["cached"]["counts"]) == 1
    assert snapshot["latency"]["cached"]["sum"] > 0
    queried = snapshot["upstream"]["queries"]
    assert queried.keys() & LAB_ROOT_SERVERS
    assert all(address.startswith("127.53.") for address in queried)
    assert sum(queried.values()) == len(resolver.recursor.transport.sent)  # type: ignore[attr-defined]
    assert sum(snapshot["upstream"]["timeouts"].values()) == 0
    assert snapshot["validation"]["secure"] >= 1
    assert "bogus" not in snapshot["validation"]
    assert snapshot["recursor"]["resolutions"] == 1
    assert snapshot["extended_errors"] == {}
    assert json.loads(json.dumps(snapshot)) == snapshot

    # ...and keep moving: a scrape is not a reset.
    await ask(resolver, "www.example.com.")
    later = collect(resolver)
    assert later["cache"]["answer"]["hits"] == 2
    assert sum(later["latency"]["cached"]["counts"]) == 2


async def test_bogus_data_counts_per_server_with_its_hold_down_and_ede(
    resolver: Resolver, lab: Lab, autojump_clock: trio.testing.MockClock
) -> None:
    reply = await ask(resolver, "www.bogus.com.")
    assert reply.rcode() == dns.rcode.SERVFAIL
    snapshot = collect(resolver)
    bogus_servers = {s.address for s in lab.servers if "bogus.com." in s.zones}
    assert snapshot["upstream"]["bogus"].keys() == bogus_servers
    assert snapshot["validation"]["bogus"] >= 1
    assert snapshot["holddowns"] == {"current": len(bogus_servers), "started": len(bogus_servers)}
    assert snapshot["extended_errors"] == {str(int(dns.edns.EDECode.DNSSEC_BOGUS)): 1}
    assert snapshot["responses"] == {"SERVFAIL": 1}
    shown = families(snapshot)
    assert value(shown["holdfast_extended_errors"], code="6", name="DNSSEC_BOGUS") == 1
    for address in bogus_servers:
        # The bogus UDP reply and the TCP reply that confirmed it before the
        # hold-down (an off-path spoofer cannot race TCP).
        assert value(shown["holdfast_upstream_bogus"], server=address) == 2


async def test_a_stale_answer_and_the_timeouts_behind_it_are_counted(
    resolver: Resolver, lab: Lab, clock: FakeClock, autojump_clock: trio.testing.MockClock
) -> None:
    await ask(resolver, "ttl2.example.com.")
    clock.advance(10)
    servers = {s.address for s in lab.servers if "example.com." in s.zones}
    for address in servers:
        lab.set_fault(address, parse_fault("drop"), zone="example.com.")
    reply = await ask(resolver, "ttl2.example.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    snapshot = collect(resolver)
    assert snapshot["stale_answers"] == {"failure": 1, "client_timeout": 0}
    assert snapshot["cache"]["rrset"]["stale_hits"] >= 1
    timeouts = snapshot["upstream"]["timeouts"]
    assert {address for address, count in timeouts.items() if count} == servers
    assert str(int(dns.edns.EDECode.STALE_ANSWER)) in snapshot["extended_errors"]


async def test_local_root_state_serial_and_retirement_are_shown(
    lab: Lab, clock: FakeClock, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    zone = tmp_path / "root.zone"
    zone.write_text(lab.root_zone_text())
    resolver = lab_resolver(lab, clock, tmp_path, None, {"local_root.sources": [str(zone)]})
    before = collect(resolver)["local_root"]
    assert before["state"] == {"none": 1}
    assert before["configured"] == 1
    assert before["serial"] is None
    assert resolver.root_service is not None
    await resolver.root_service.refresh()
    installed = resolver.local_root.installed
    assert installed is not None

    fresh = collect(resolver)["local_root"]
    assert fresh["state"] == {"fresh": 1}
    assert fresh["stale"] == 0
    assert fresh["serial"] == installed.copy.serial
    assert fresh["seconds_to_retirement"] == pytest.approx(installed.retirement.at - clock.now)
    shown = families(collect(resolver))
    assert value(shown["holdfast_localroot_state"], state="fresh") == 1
    assert value(shown["holdfast_localroot_state"], state="stale") == 0
    assert value(shown["holdfast_localroot_serial"]) == installed.copy.serial

    clock.now = installed.stale_at + 1
    stale = collect(resolver)["local_root"]
    assert stale["state"] == {"stale": 1}
    assert stale["stale"] == 1
    assert stale["refresh_age_seconds"] == pytest.approx(clock.now - installed.refreshed_at)

    clock.now = installed.retirement.at
    retired = families(collect(resolver))
    assert value(retired["holdfast_localroot_state"], state="retired") == 1
    assert not LOCAL_ROOT_COPY & retired.keys()


async def test_ctl_stats_is_the_snapshot(
    resolver: Resolver, autojump_clock: trio.testing.MockClock
) -> None:
    await ask(resolver, "www.example.com.")
    stats = commands(resolver)({"command": ["stats"]})
    assert json.loads(json.dumps(stats))["queries"] == {"udp": 1, "tcp": 0, "dot": 0, "doh": 0}
    assert stats.keys() == collect(resolver).keys()


# -- the query log ---------------------------------------------------------------------


async def test_the_query_log_has_one_line_per_answer_only_when_on(
    resolver: Resolver, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="holdfast.query")
    await ask(resolver, "www.example.com.")
    assert not [r for r in caplog.records if r.name == "holdfast.query"]

    resolver.server.query_log = True
    await ask(resolver, "www.example.net.")
    await ask(resolver, "www.example.net.")
    lines = [r for r in caplog.records if r.name == "holdfast.query"]
    fields = [
        {key: getattr(r, key) for key in ("event", "client", "qname", "qtype", "rcode",
                                          "transport", "path")}
        for r in lines
    ]
    expected = {"event": "query", "client": "127.0.0.1", "qname": "www.example.net.",
                "qtype": "A", "rcode": "NOERROR", "transport": "udp"}
    assert fields == [{**expected, "path": "resolved"}, {**expected, "path": "cached"}]
    assert all(isinstance(r.ms, float) and r.ms >= 0 for r in lines)
    assert all(r.levelno == logging.INFO for r in lines)


# -- merge ---------------------------------------------------------------------------


@pytest.fixture
async def snapshot(resolver: Resolver) -> Snapshot:
    await ask(resolver, "www.example.com.")
    await ask(resolver, "www.example.com.")
    await ask(resolver, "www.bogus.com.")
    return collect(resolver)


async def test_merging_workers_adds_counters_and_histograms(
    snapshot: Snapshot, autojump_clock: trio.testing.MockClock
) -> None:
    other = copy.deepcopy(snapshot)
    other["upstream"]["queries"] = {"127.53.9.9": 5}
    other["responses"] = {"NXDOMAIN": 3}
    merged = merge([snapshot, other])
    assert merged["workers"] == 2
    assert merged["queries"]["udp"] == 2 * snapshot["queries"]["udp"]
    assert merged["responses"] == {**snapshot["responses"], "NXDOMAIN": 3}
    assert merged["upstream"]["queries"] == {**snapshot["upstream"]["queries"], "127.53.9.9": 5}
    cached = snapshot["latency"]["cached"]
    assert merged["latency"]["cached"] == {
        "bounds": cached["bounds"],
        "counts": [2 * count for count in cached["counts"]],
        "sum": 2 * cached["sum"],
    }
    assert merged["cache"]["rrset"]["entries"] == 2 * snapshot["cache"]["rrset"]["entries"]
    assert merged["holddowns"]["current"] == 2 * snapshot["holddowns"]["current"]
    assert merged["build"] == snapshot["build"]
    assert merge([snapshot]) == snapshot
    assert json.loads(json.dumps(merged)) == merged


async def test_merging_takes_the_worst_worker_for_local_root_gauges(
    snapshot: Snapshot, autojump_clock: trio.testing.MockClock
) -> None:
    first, second, third = (copy.deepcopy(snapshot) for _ in range(3))
    first["local_root"].update(
        state={"fresh": 1}, stale=0, serial=2024010102, seconds_to_retirement=900.0,
        age_seconds=10.0, refresh_age_seconds=10.0,
    )
    second["local_root"].update(
        state={"stale": 1}, stale=1, serial=2024010101, seconds_to_retirement=100.0,
        age_seconds=50.0, refresh_age_seconds=40.0,
    )
    third["local_root"].update(
        state={"none": 1}, stale=0, serial=None, seconds_to_retirement=None,
        age_seconds=None, refresh_age_seconds=None,
    )
    third["uptime_seconds"] = 1e6
    merged = merge([first, second, third])
    local_root = merged["local_root"]
    assert local_root["state"] == {"fresh": 1, "stale": 1, "none": 1}
    assert local_root["stale"] == 1
    assert local_root["serial"] == 2024010101
    assert local_root["seconds_to_retirement"] == 100.0
    assert local_root["age_seconds"] == 50.0
    assert local_root["refresh_age_seconds"] == 40.0
    assert merged["uptime_seconds"] == 1e6
    shown = families(merged)
    assert value(shown["holdfast_localroot_state"], state="stale") == 1
    assert value(shown["holdfast_localroot_state"], state="retired") == 0
    assert value(shown["holdfast_localroot_serial"]) == 2024010101


async def test_snapshots_that_do_not_match_are_refused(
    snapshot: Snapshot, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(SnapshotError):
        merge([])
    rebucketed = copy.deepcopy(snapshot)
    rebucketed["latency"]["cached"]["bounds"] = [1.0]
    rebucketed["latency"]["cached"]["counts"] = [0, 0]
    with pytest.raises(SnapshotError):
        merge([snapshot, rebucketed])
    garbled = copy.deepcopy(snapshot)
    garbled["queries"]["udp"] = "many"
    with pytest.raises(SnapshotError):
        merge([snapshot, garbled])


# -- exposition --------------------------------------------------------------------


async def test_the_exposition_has_every_promised_series_with_its_type(
    snapshot: Snapshot, autojump_clock: trio.testing.MockClock
) -> None:
    shown = families(snapshot)
    assert {name: family.type for name, family in shown.items() if name in PROMISED} == PROMISED
    assert set(shown) - set(PROMISED) - LOCAL_ROOT_COPY == set()
    assert all(name.startswith("holdfast_") for name in shown)
    assert value(shown["holdfast_queries"], transport="udp") == snapshot["queries"]["udp"]
    assert value(shown["holdfast_responses"], rcode="SERVFAIL") == 1
    assert value(shown["holdfast_responses"], rcode="REFUSED") == 0  # shown before it happens
    assert value(shown["holdfast_validations"], result="insecure") == 0
    assert value(shown["holdfast_cache_hits"], cache="answer") == 1
    build = shown["holdfast_build_info"].samples[0].labels
    assert build["version"] == snapshot["build"]["version"]
    histogram = {
        (sample.name, sample.labels.get("path"), sample.labels.get("le")): sample.value
        for sample in shown["holdfast_answer_duration_seconds"].samples
    }
    count = sum(snapshot["latency"]["resolved"]["counts"])
    assert histogram[("holdfast_answer_duration_seconds_count", "resolved", None)] == count
    assert histogram[("holdfast_answer_duration_seconds_bucket", "resolved", "+Inf")] == count
    buckets = [v for (name, path, le), v in histogram.items()
               if name.endswith("_bucket") and path == "resolved"]
    assert buckets == sorted(buckets)  # cumulative
    assert "holdfast_worker_restarts" not in shown
    restarts = families({**snapshot, "worker_restarts": 3})["holdfast_worker_restarts"]
    assert restarts.type == "counter"
    assert value(restarts) == 3
    hung = families({**snapshot, "worker_hung": 2})["holdfast_worker_hung"]
    assert (hung.type, value(hung)) == ("counter", 2)


# -- the endpoint ----------------------------------------------------------------------
# Real sockets on loopback and Trio's real clock: an autojumping clock could
# run out a read timeout while the kernel still holds the request.


@pytest.fixture
def idle(lab: Lab, clock: FakeClock, tmp_path: Path) -> Snapshot:
    """The snapshot of a resolver that has answered nothing."""
    return collect(lab_resolver(lab, clock, tmp_path))


async def fetch(port: int, request: bytes) -> bytes:
    """Send ``request`` raw and read until the server closes (or resets)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    data = b""
    async with stream:
        try:
            await stream.send_all(request)
            await stream.send_eof()
            while chunk := await stream.receive_some(65536):
                data += chunk
        except trio.BrokenResourceError:
            pass  # reset: closed with our request unread
    return data


async def start(
    nursery: trio.Nursery, source: Callable[[], Awaitable[Snapshot]]
) -> int:
    host, port = await nursery.start(serve_metrics, ("127.0.0.1", 0), source)
    assert host == "127.0.0.1"
    assert port > 0
    return int(port)


async def test_the_endpoint_serves_get_metrics_and_nothing_else(
    idle: Snapshot, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="holdfast.metrics")

    async def source() -> Snapshot:
        return idle

    port = await start(nursery, source)
    assert any(getattr(r, "event", None) == "metrics_listening" for r in caplog.records)
    response = await fetch(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Type: {CONTENT_TYPE_LATEST}".encode() in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert body == exposition(idle)
    headers_only = await fetch(port, b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n")
    assert headers_only.startswith(b"HTTP/1.1 200 OK")
    assert headers_only.endswith(b"\r\n\r\n")

    for request, status in (
        (b"GET / HTTP/1.1\r\n\r\n", b"404"),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", b"404"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"\x00\xff garbage\r\n\r\n", b"400"),
        (b"GET /metrics\r\n\r\n", b"400"),
    ):
        assert (await fetch(port, request)).startswith(b"HTTP/1.1 " + status), request
    assert await fetch(port, b"GET /" + b"a" * (2 * MAX_REQUEST)) == b""  # no end: cut off
    assert await fetch(port, b"GET /metrics HTT") == b""  # the client gave up before the end
    assert (await fetch(port, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")


async def test_a_failing_source_gets_500_and_the_endpoint_stays(
    idle: Snapshot, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    async def source() -> Snapshot:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a worker did not answer")
        return idle

    port = await start(nursery, source)
    assert (await fetch(port, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 500")
    assert "cannot produce the metrics" in caplog.text
    assert (await fetch(port, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")


async def test_a_silent_client_is_dropped_after_the_read_timeout(
    idle: Snapshot, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_endpoint, "READ_TIMEOUT", 0.2)

    async def source() -> Snapshot:
        return idle

    port = await start(nursery, source)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET /metrics HTTP/1.1\r\n")  # and never the blank line
        with trio.fail_after(10):
            assert await stream.receive_some(100) == b""
