"""The Deckard ratchet (tests/conformance/ratchet.py): the list only shrinks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent / "conformance" / "ratchet.py"
HEADER = "scenario\ttopic\tverdict\tqmin_on\tqmin_off\treason\tdetail\n"


@pytest.fixture(scope="module")
def ratchet() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ratchet", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(tmp_path: Path, verdicts: dict[str, str], expected: str) -> list[str]:
    results = tmp_path / "results.tsv"
    results.write_text(
        HEADER + "".join(f"{name}\tt\t{v}\tpassed\tpassed\twhy\tdetail\n"
                         for name, v in verdicts.items())
    )
    listed = tmp_path / "expected.txt"
    listed.write_text(expected)
    return [str(results), str(listed)]


def test_exactly_the_listed_failures_pass_the_ratchet(ratchet: ModuleType, tmp_path: Path) -> None:
    args = _files(tmp_path, {"a": "passed", "b": "failed", "c": "skipped"}, "b\tknown\nc\tx\n")
    assert ratchet.main(args) == 0


def test_a_new_failure_fails(ratchet: ModuleType, tmp_path: Path) -> None:
    assert ratchet.main(_files(tmp_path, {"a": "failed"}, "")) == 1


def test_a_listed_scenario_that_passes_fails_until_it_is_taken_off(
    ratchet: ModuleType, tmp_path: Path
) -> None:
    assert ratchet.main(_files(tmp_path, {"a": "passed"}, "a\tknown\n")) == 1


def test_a_flaky_scenario_may_pass_or_fail(ratchet: ModuleType, tmp_path: Path) -> None:
    for verdict in ("passed", "failed"):
        assert ratchet.main(_files(tmp_path, {"a": verdict}, "a\tFLAKY: both seen\n")) == 0


def test_record_keeps_written_reasons_and_marks_new_ones(
    ratchet: ModuleType, tmp_path: Path
) -> None:
    results, listed = _files(tmp_path, {"a": "failed", "b": "failed", "c": "passed"}, "a\tmine\n")
    assert ratchet.main(["--record", results, listed]) == 0
    lines = [line for line in Path(listed).read_text().splitlines() if not line.startswith("#")]
    assert lines == ["a\tmine", "b\tNEW: why: detail"]


def test_missing_results_are_an_error(ratchet: ModuleType, tmp_path: Path) -> None:
    assert ratchet.main([str(tmp_path / "none.tsv"), str(tmp_path / "e.txt")]) == 2
