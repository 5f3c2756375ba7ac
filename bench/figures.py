"""Summaries of repeated measurements: medians with their range, and percentiles.

Every figure the harness reports is the median of at least three runs, shown
with the min-max of those runs, because these shared 2-core machines drift
from one minute to the next.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The latency percentiles reported (100 is the maximum).
PERCENTILES = (50, 95, 99, 100)


@dataclass(frozen=True, slots=True)
class Spread:
    """The median of several runs and their range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        ordered = sorted(values)
        if not ordered:
            raise ValueError("no values to summarise")
        return cls(statistics.median(ordered), ordered[0], ordered[-1])

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high}


def percentile(ordered: Sequence[float], point: float) -> float:
    """The nearest-rank percentile of already sorted values (100 = the maximum)."""
    if not ordered:
        raise ValueError("no latencies")
    rank = max(1, min(len(ordered), -(-len(ordered) * point // 100)))
    return ordered[int(rank) - 1]


def latency_spreads(runs: Sequence[Sequence[float]]) -> dict[str, Spread]:
    """Each reported percentile of each run, summarised across runs: {"p99": Spread, ...}."""
    per_run = [sorted(run) for run in runs if run]
    return {
        _label(point): Spread.of(percentile(run, point) for run in per_run)
        for point in PERCENTILES
    }


def _label(point: int) -> str:
    return "max" if point == 100 else f"p{point}"
