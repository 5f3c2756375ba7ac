"""End to end: an RFC 5011 trust anchor state file in a running ``holdfast serve``.

What an operator does, over the lab: ``holdfast anchor --from`` makes the
state file from the lab root's DS (as ``unbound-anchor`` would from the
IANA file), ``serve`` is started with only ``[dnssec] trust_anchor_file``
(no ``--trust-anchor``), validates with it (AD), and refreshes the root's
trust point at once, rewriting the file with the root's DNSKEY Valid;
``holdfast anchor --check`` then finds it usable. The full rollover (add
hold-down, revocation, removal) takes weeks of simulated time, so it is
driven on a fake clock against the in-memory lab in
``tests/resolver/test_anchor_rollover.py``; a real process keeps real time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving

pytestmark = [pytest.mark.integration, NEEDS_DIG]

REPOSITORY = Path(__file__).resolve().parents[2]


def anchor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resolver", "anchor", *args],
                          capture_output=True, text=True, timeout=30, check=False,
                          cwd=REPOSITORY)


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_serve_validates_with_the_state_file_and_keeps_it_current(
    lab: LabProcess, tmp_path: Path
) -> None:
    state = tmp_path / "root.key"
    made = anchor("--file", str(state), "--from", str(lab.directory / "trust-anchor.ds"))
    assert made.returncode == 0, made.stderr
    before = state.read_text()
    assert "IN DNSKEY" not in before  # only the DS so far

    config = tmp_path / "holdfast.toml"
    config.write_text(f'[dnssec]\ntrust_anchor_file = "{state}"\n')
    with serving(ResolverProcess.start(lab, tmp_path, "--config", str(config),
                                       lab_anchor=False)) as resolver:
        reply = resolver.dig("www.example.com", "A", "+dnssec")
        assert reply.answers("A") == ["192.0.2.1"]
        assert "ad" in reply.flags, reply.output
        bogus = resolver.dig("www.bogus.com", "A")
        assert bogus.status == "SERVFAIL", bogus.output  # validating, not just resolving
        eventually(lambda: "IN DNSKEY" in state.read_text(),
                   "the refreshed trust point written back")

    after = state.read_text()
    assert ";;state=VALID" in after, after
    assert "(ksk)" in after, after
    checked = anchor("--file", str(state), "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not list(tmp_path.glob(".root.key.*")), "a temporary file was left behind"
