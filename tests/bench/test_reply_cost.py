"""``bench.reply_cost`` runs each of its loops and prints one figure per round."""

from __future__ import annotations

import pytest

from bench import reply_cost


def test_every_step_is_timed(capsys: pytest.CaptureFixture[str]) -> None:
    assert reply_cost.main(["--rounds", "1", "--replies", "3", "--count", "10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "read_reply, per NSD-like reply",
        "cache lookups, per NS hit + A hit + AAAA miss",
        "secure_nsec_zone, per new name",
        "RRSIG pack, per answer",
        "classify, per NSD-like reply",
        "localzones.answer, per new name",
    ]
    assert all(line.endswith(" us") for line in lines)
