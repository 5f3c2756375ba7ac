"""End to end: ``--workers 3`` with a local root make one transfer per refresh (issue 22).

The root zone comes from an HTTP server in this test that counts the
downloads (the lab's root zone, taken from the lab by AXFR). The supervisor
fetches and checks it; every worker serves from the copy it was handed, a
restarted worker gets the copy in force, and a bad new copy is refused
once while every worker keeps the old one.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.zone
import pytest

from resolver.control import request
from tests.scenarios.processes import LabProcess, ResolverProcess, serving

pytestmark = pytest.mark.integration

WORKERS = 3
#: Seconds to wait for copies to load, refreshes to end and workers to restart.
DEADLINE = 30.0


@dataclass
class RootOverHttp:
    """What the test's HTTP server serves at ``/root.zone``, and the downloads it served."""

    body: bytes
    downloads: list[float] = field(default_factory=list)


@pytest.fixture
def root_text(lab: LabProcess) -> str:
    """The lab's signed root zone, transferred from a lab root server."""
    address = next(address for address, zones in lab.zones_by_address().items() if "." in zones)
    zone = dns.zone.from_xfr(dns.query.xfr(address, ".", port=lab.port, relativize=False),
                             relativize=False)
    text: str = zone.to_text(sorted=True, relativize=False)
    return text


@pytest.fixture
def served(root_text: str) -> Iterator[tuple[RootOverHttp, str]]:
    """An HTTP server on loopback serving the root zone; what it serves, and its URL."""
    root = RootOverHttp(root_text.encode())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            root.downloads.append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Length", str(len(root.body)))
            self.end_headers()
            self.wfile.write(root.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/root.zone"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def resolver(
    lab: LabProcess, tmp_path: Path, served: tuple[RootOverHttp, str]
) -> Iterator[ResolverProcess]:
    _, url = served
    started = ResolverProcess.start(lab, tmp_path, "--workers", str(WORKERS), "--local-root", url)
    with serving(started) as resolver:
        yield resolver


def ctl(resolver: ResolverProcess, *words: str) -> Any:
    return request(resolver.control, {"command": list(words)}, timeout=10)


def until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


def copies(resolver: ResolverProcess) -> dict[str, Any]:
    """Each worker's ``local-root status``."""
    status = ctl(resolver, "local-root", "status")
    assert status["applied"] == WORKERS, status
    return dict(status["results"])


def all_fresh(resolver: ResolverProcess) -> dict[str, Any] | None:
    states = copies(resolver)
    return states if all(state["state"] == "fresh" for state in states.values()) else None


def ask_from_many_ports(resolver: ResolverProcess, count: int) -> None:
    """``count`` questions, each from a new source port (the kernel spreads them over workers)."""
    for index in range(count):
        query = dns.message.make_query(f"host{index}.example.com", "A").to_wire()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(query, (resolver.host, resolver.port))
            reply = dns.message.from_wire(sock.recv(4096))
        assert reply.rcode() != dns.rcode.SERVFAIL


def test_one_transfer_per_refresh_serves_every_worker_and_a_restarted_one(
    resolver: ResolverProcess, served: tuple[RootOverHttp, str]
) -> None:
    root, _ = served
    states = until(lambda: all_fresh(resolver), "every worker serves a local root copy")
    assert len(root.downloads) == 1  # not one per worker
    serials = {state["serial"] for state in states.values()}
    loaded = {state["loaded_at"] for state in states.values()}
    assert len(serials) == len(loaded) == 1  # the one copy, with the supervisor's times
    assert "fetched and checked by the supervisor" in ctl(resolver, "status")["local_root"]

    ask_from_many_ports(resolver, 60)
    answered = {index: state["answers_from_copy"] for index, state in copies(resolver).items()}
    assert all(count > 0 for count in answered.values()), answered

    assert ctl(resolver, "local-root", "refresh") == {
        "refresh": "requested; see: holdfast ctl local-root status"}
    until(lambda: len(root.downloads) >= 2, "the refresh downloads the zone")
    supervisor = until(lambda: (view := ctl(resolver, "local-root", "status"))
                       and all(state["last_refresh"] == view["refresh"]["last_refresh"]
                               for state in view["results"].values()) and view,
                       "every worker hears of the refresh")
    assert len(root.downloads) == 2
    assert supervisor["refresh"]["sources"] == [served[1]]

    pid = ctl(resolver, "status")["worker_processes"][0]["pid"]
    os.kill(pid, signal.SIGKILL)
    until(lambda: (worker := ctl(resolver, "status")["worker_processes"][0])["state"] == "running"
          and worker["pid"] != pid, "worker 0 restarts")
    restarted = copies(resolver)["0"]
    assert restarted["state"] == "fresh"
    assert (restarted["serial"], restarted["loaded_at"]) == (serials.pop(), loaded.pop())
    assert len(root.downloads) == 2  # a restart transfers nothing


def test_a_bad_new_copy_is_refused_once_and_every_worker_keeps_the_old(
    resolver: ResolverProcess, served: tuple[RootOverHttp, str], root_text: str
) -> None:
    root, _ = served
    states = until(lambda: all_fresh(resolver), "every worker serves a local root copy")
    [serial] = {state["serial"] for state in states.values()}
    # A newer serial whose SOA signature no longer matches: DNSSEC refuses it.
    root.body = root_text.replace(f" {serial} ", f" {serial + 1} ", 1).encode()
    assert root.body != root_text.encode()

    for round_number in (2, 3):  # the second time the same bad copy is not even parsed
        ctl(resolver, "local-root", "refresh")
        until(lambda n=round_number: len(root.downloads) >= n, "the refresh downloads the zone")
        view = until(lambda: (view := ctl(resolver, "local-root", "status"))
                     and "last_rejection" in view["refresh"] and view, "the copy is refused")
        assert view["refresh"]["rejections"] == {"dnssec": 1}

    assert resolver.log.read_text().count("[local_root_rejected]") == 1
    for state in copies(resolver).values():
        assert (state["state"], state["serial"]) == ("fresh", serial)
        assert state["rejections"] == {}  # no worker saw the candidate
    stats = ctl(resolver, "stats")
    assert stats["local_root"]["rejections"] == {"dnssec": 1}
    assert stats["local_root"]["serial"] == serial
