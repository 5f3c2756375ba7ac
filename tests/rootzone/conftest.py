"""The lab root as text and records, and the real snapshots, each parsed once per session."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from dnssec.anchors import TrustAnchors
from resolver.clock import FakeClock
from resolver.lab import Lab
from rootzone.zonefile import Record, parse_zone


@pytest.fixture(scope="session")
def lab_root_text(session_lab: Lab) -> str:
    return session_lab.root_zone_text()


@pytest.fixture(scope="session")
def lab_records(lab_root_text: str) -> list[Record]:
    return parse_zone(lab_root_text, source="lab root")


@pytest.fixture(scope="session")
def lab_anchors(session_lab: Lab) -> TrustAnchors:
    return TrustAnchors.from_text(session_lab.trust_anchor_text(), source="lab anchor")


@pytest.fixture(scope="session")
def lab_now(lab_clock: FakeClock) -> int:
    """The time the lab signed at: its signatures run from an hour before to 14 days after."""
    return int(lab_clock.wall())


@pytest.fixture
def snapshot(root_snapshots: Path) -> Callable[[str], list[Record]]:
    """``snapshot("2017082100")``: the records of that real root zone (skips when absent)."""
    return functools.partial(_parse_snapshot, root_snapshots)


@functools.cache
def _parse_snapshot(folder: Path, serial: str) -> list[Record]:
    path = folder / f"root-{serial}.zone"
    return parse_zone(path.read_text(encoding="utf-8"), source=path.name)
