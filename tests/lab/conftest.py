"""Lab fixtures: the shared signed lab, and a fresh one for fault tests."""

from __future__ import annotations

import pytest

from resolver.clock import FakeClock
from resolver.lab import Lab
from tests.lab.helpers import NOW


@pytest.fixture
def lab(session_lab: Lab) -> Lab:
    """The session's lab; for tests that set no faults."""
    return session_lab


@pytest.fixture
def fresh_lab() -> Lab:
    """A lab of one's own, for tests that set faults."""
    return Lab.build(FakeClock(NOW))
