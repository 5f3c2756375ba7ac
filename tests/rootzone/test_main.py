"""``python -m rootzone verify``: a JSON line on success, a reason and exit 1 on failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resolver.lab import Lab
from rootzone.__main__ import main, validation_time


@pytest.fixture
def lab_files(tmp_path: Path, session_lab: Lab, lab_root_text: str) -> tuple[Path, Path]:
    zone = tmp_path / "root.zone"
    zone.write_text(lab_root_text)
    anchor = tmp_path / "anchor.ds"
    anchor.write_text(session_lab.trust_anchor_text())
    return zone, anchor


def test_a_good_zone_prints_one_json_line(
    lab_files: tuple[Path, Path], lab_now: int, capsys: pytest.CaptureFixture[str]
) -> None:
    zone, anchor = lab_files
    assert main(["verify", str(zone), "--anchor", str(anchor), "--at", str(lab_now)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["serial"] == 2025010100
    assert (report["signatures"], report["zonemd"]) == (11, "verified")
    assert report["at"] == "2023-11-14T22:13:20+00:00"
    assert report["total_s"] >= report["parse_s"]
    assert err == ""


def test_a_failing_zone_says_why_and_exits_1(
    lab_files: tuple[Path, Path], lab_now: int, capsys: pytest.CaptureFixture[str]
) -> None:
    zone, anchor = lab_files
    later = "2023-12-01T00:00:00Z"
    assert main(["verify", str(zone), "--anchor", str(anchor), "--at", later]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"rootzone: {zone}: ")
    assert "expired" in err


def test_a_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "absent.zone"), "--at", "0"]) == 1
    assert "No such file" in capsys.readouterr().err


def test_validation_times() -> None:
    assert validation_time("1503360000") == 1503360000
    assert validation_time("2017-08-22T00:00:00Z") == 1503360000
    assert validation_time("2017-08-22") == 1503360000
    assert validation_time("2017-08-22T02:00:00+02:00") == 1503360000
    with pytest.raises(Exception, match="neither ISO 8601 nor POSIX seconds"):
        validation_time("yesterday")
