"""The validation-cost benchmark runs, and every name it times is really secure."""

from __future__ import annotations

from bench.validation_cost import NAMES, measure


async def test_one_round_over_the_catalogue() -> None:
    figures = await measure(rounds=1)
    assert figures["answers"] == len(NAMES)
    assert 0 < figures["validation_ms_median"] <= figures["resolution_ms_median_validating"]
