"""Fixtures for the resolver's tests over the in-memory lab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resolver.lab import Lab


@pytest.fixture
def lab(session_lab: Lab) -> Iterator[Lab]:
    """The session lab; faults set by a test are cleared after it."""
    yield session_lab
    for server in session_lab.servers:
        session_lab.clear_faults(server.address)
