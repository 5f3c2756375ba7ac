"""End to end: the query log in a file of its own, reopened on SIGHUP, and the dnstap
stream of a real ``serve`` over the lab, read back by a Frame Streams collector."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import pytest

from resolver.dnstap import MessageType
from resolver.metrics import exposition
from tests.dnstap_reader import Collector
from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving

pytestmark = [pytest.mark.integration, NEEDS_DIG]


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_the_query_log_file_is_reopened_on_sighup(lab: LabProcess, tmp_path: Path) -> None:
    queries = tmp_path / "queries.log"
    config = tmp_path / "holdfast.toml"
    config.write_text(f'[logging]\nquery_log = true\nformat = "json"\n'
                      f'query_log_target = "{queries}"\n')
    with serving(ResolverProcess.start(lab, tmp_path, "--config", str(config))) as resolver:
        assert resolver.dig("www.example.com", "A").status == "NOERROR"
        eventually(lambda: "www.example.com." in queries.read_text(), "the first query logged")
        queries.rename(tmp_path / "queries.log.1")  # what logrotate does

        resolver.process.send_signal(signal.SIGHUP)
        eventually(queries.exists, "a new query log file after SIGHUP")
        assert resolver.dig("localhost", "A").status == "NOERROR"
        eventually(lambda: "localhost." in queries.read_text(), "the next query in the new file")

    rotated = [json.loads(line) for line in (tmp_path / "queries.log.1").read_text().splitlines()]
    fresh = [json.loads(line) for line in queries.read_text().splitlines()]
    assert [entry["qname"] for entry in rotated] == ["www.example.com."]
    assert [entry["qname"] for entry in fresh] == ["localhost."]
    assert fresh[0]["logger"] == "holdfast.query"
    # Not in the event log any more.
    assert '"logger": "holdfast.query"' not in resolver.log.read_text()


def _question(message: dict[int, Any], field: int) -> str:
    return str(dns.message.from_wire(message[field]).question[0].name).lower()


def test_dnstap_stream_of_a_cold_and_a_cached_answer(lab: LabProcess, tmp_path: Path) -> None:
    # A short path: a Unix socket's name is limited to 108 bytes.
    socket_path = tmp_path / "tap.sock"
    config = tmp_path / "holdfast.toml"
    config.write_text(f'[dnstap]\nsocket = "{socket_path}"\n')
    with Collector(socket_path) as collector:
        with serving(ResolverProcess.start(lab, tmp_path, "--config", str(config))) as resolver:
            assert resolver.dig("www.example.com", "A").answers("A") == ["192.0.2.1"]
            eventually(lambda: MessageType.CLIENT_RESPONSE in _kinds(collector),
                       "the cold answer's CLIENT_RESPONSE")
            upstream = _kinds(collector).count(MessageType.RESOLVER_QUERY)
            assert resolver.dig("www.example.com", "A").answers("A") == ["192.0.2.1"]
            eventually(lambda: _kinds(collector).count(MessageType.CLIENT_RESPONSE) == 2,
                       "the cached answer's CLIENT_RESPONSE")
            status = json.loads(resolver.ctl("status").stdout)["dnstap"]
            stats = json.loads(resolver.ctl("stats").stdout)
        assert collector.finished.wait(10), "no STOP/FINISH at shutdown"

    messages = collector.messages()
    kinds = [message[1] for message in messages]
    clients = [m for m in messages if m[1] in (MessageType.CLIENT_QUERY,
                                               MessageType.CLIENT_RESPONSE)]
    assert [m[1] for m in clients] == [MessageType.CLIENT_QUERY, MessageType.CLIENT_RESPONSE] * 2
    for message in clients:
        field = 10 if message[1] == MessageType.CLIENT_QUERY else 14
        assert _question(message, field) == "www.example.com."
        assert message[4] == bytes([127, 0, 0, 1])
    assert all(kinds.count(kind) >= 1
               for kind in (MessageType.RESOLVER_QUERY, MessageType.RESOLVER_RESPONSE))
    # The cached answer asked nothing upstream.
    assert kinds.count(MessageType.RESOLVER_QUERY) == upstream
    resolver_queries = [m for m in messages if m[1] == MessageType.RESOLVER_QUERY]
    assert all(m[5][:2] == bytes([127, 53]) and m[7] == lab.port for m in resolver_queries)
    final = [m for m in messages if m[1] == MessageType.RESOLVER_RESPONSE
             and _question(m, 14) == "www.example.com."]
    assert any("192.0.2.1" in dns.message.from_wire(m[14]).to_text() for m in final)

    assert status["socket"] == str(socket_path)
    assert status["sent"] >= 4
    assert status["dropped"] == 0
    assert stats["dnstap"]["sent"] >= status["sent"]
    assert 'holdfast_dnstap_frames_total{result="sent"}' in exposition(stats).decode()


def _kinds(collector: Collector) -> list[int]:
    return [message[1] for message in collector.messages()]
