"""The lab process shared by the dig scenarios: one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scenarios.processes import LabProcess, serving


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    """The lab on port 53 of 127.53.0.0/16 (inside run-isolated), stopped after the module."""
    with serving(LabProcess.start(tmp_path_factory.mktemp("lab"))) as lab:
        yield lab
