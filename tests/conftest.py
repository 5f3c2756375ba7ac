"""Fixtures shared by every test: a fake wall clock and the in-memory lab."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from resolver.clock import FakeClock
from resolver.lab import Lab

#: Where the real root zone snapshots live (never copied into the repo).
SHARED_ROOTZONE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "rootzone"

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def clock() -> FakeClock:
    """A wall clock that moves only when the test says so."""
    return FakeClock()


@pytest.fixture(scope="session")
def lab_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def session_lab(lab_clock: FakeClock) -> Lab:
    """One signed lab for the whole session (building it signs every zone)."""
    return Lab.build(lab_clock)


@pytest.fixture
def root_snapshots() -> Path:
    """The real root zone snapshots in ../shared; skips when absent."""
    if not SHARED_ROOTZONE.is_dir():
        pytest.skip("../shared/testdata/rootzone is not present")
    return SHARED_ROOTZONE
