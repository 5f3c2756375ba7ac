"""End to end: ``holdfast serve --config FILE`` reloads on SIGHUP and ``holdfast ctl reload``.

The operator's loop: edit the file, ``kill -HUP``, see the change; break the
file, ``kill -HUP`` again, and the server keeps running on the last good
configuration and says why in its log (the lesson of the November 2025
outage in shared/incidents.md).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.scenarios.processes import (
    NEEDS_DIG,
    Dig,
    LabProcess,
    ResolverProcess,
    serving,
)

pytestmark = [
    pytest.mark.integration,
    NEEDS_DIG,
]

REPOSITORY = Path(__file__).resolve().parents[2]
#: Seconds a reload gets to show in the resolver's answers or log.
RELOAD_DEADLINE = 10.0


def wait_for(condition: Callable[[], bool], what: str, resolver: ResolverProcess) -> None:
    """Poll until ``condition()``; fail with the resolver's log if it does not come true."""
    deadline = time.monotonic() + RELOAD_DEADLINE
    while time.monotonic() < deadline:
        assert resolver.process.poll() is None, resolver.log.read_text()
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen within {RELOAD_DEADLINE} s:\n{resolver.log.read_text()}")


def status(resolver: ResolverProcess) -> Callable[[], str]:
    """The rcode of ``www.example.com A`` (a function, to poll)."""

    def ask() -> str:
        reply: Dig = resolver.dig("www.example.com", "A")
        return reply.status

    return ask


def test_sighup_reloads_and_a_broken_file_keeps_the_last_good_config(
    lab: LabProcess, tmp_path: Path
) -> None:
    config = tmp_path / "holdfast.toml"
    config.write_text('[server]\nallow = ["127.0.0.0/8"]\n')
    with serving(ResolverProcess.start(lab, tmp_path, "--config", str(config))) as resolver:
        assert status(resolver)() == "NOERROR"

        # An access list without 127.0.0.1: after SIGHUP, dig is refused.
        config.write_text('[server]\nallow = ["192.0.2.0/24"]\n')
        resolver.process.send_signal(signal.SIGHUP)
        wait_for(lambda: status(resolver)() == "REFUSED", "REFUSED after SIGHUP", resolver)
        assert "[config_reloaded]" in resolver.log.read_text()

        # A broken file: refused, logged, and the last good configuration stays.
        config.write_text('[server]\nallow = ["192.0.2.0/24"]\nalow = ["127.0.0.0/8"]\n')
        resolver.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "[config_refused]" in resolver.log.read_text(), "config_refused",
                 resolver)
        assert "unknown option server.alow (did you mean server.allow?)" in (
            resolver.log.read_text()
        )
        assert status(resolver)() == "REFUSED"

        # ctl reload says why it refuses, and applies a good file with a report.
        refused = ctl(resolver, "reload")
        assert refused.returncode == 1
        assert "refused, the running configuration stays" in refused.stderr
        config.write_text('[server]\nallow = ["127.0.0.1/32"]\n')
        reloaded = ctl(resolver, "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        report = json.loads(reloaded.stdout)
        assert report["applied"] == ["server.allow"]
        assert report["needs_restart"] == []
        assert report["reloaded"].startswith(f"{config} + command line")
        assert status(resolver)() == "NOERROR"


def test_ctl_flush_and_cache_dump_on_a_running_resolver(
    lab: LabProcess, tmp_path: Path
) -> None:
    with serving(ResolverProcess.start(lab, tmp_path)) as resolver:
        assert resolver.dig("www.example.com", "A", "+dnssec").status == "NOERROR"
        dump = ctl(resolver, "cache", "dump", "example.com")
        assert dump.returncode == 0, dump.stderr
        lines = dump.stdout.splitlines()
        assert lines[0].startswith("; holdfast cache dump of example.com.: ")
        [record] = [line for line in lines if line.startswith("www.example.com. ")]
        assert " IN A 192.0.2.1 ; secure, from 127.53.3." in record

        flushed = ctl(resolver, "flush", "www.example.com")
        assert flushed.returncode == 0, flushed.stderr
        assert json.loads(flushed.stdout) == {"flushed": "www.example.com.", "removed": 1}
        assert "www.example.com. " not in ctl(resolver, "cache", "dump").stdout
        assert resolver.dig("www.example.com", "A").status == "NOERROR"


def ctl(resolver: ResolverProcess, *words: str) -> subprocess.CompletedProcess[str]:
    """Run ``holdfast ctl --control SOCKET WORDS...`` (as ``python -m resolver``)."""
    return subprocess.run(
        [sys.executable, "-m", "resolver", "ctl", "--control", str(resolver.control), *words],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPOSITORY,
    )
