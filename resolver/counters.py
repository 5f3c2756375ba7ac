"""Counting primitives cheap enough for the hot paths, read by ``metrics``.

Why not prometheus_client's own ``Counter`` and ``Histogram``: each
observation there takes a lock and walks label dictionaries, which costs
more than the whole ready-made answer (``answers.AnswerCache``). The server,
the transport and the validator count into these plain objects instead,
and ``metrics.collect`` turns them into a snapshot only when someone asks.

* ``Histogram``: fixed upper bounds, one count per bucket and a sum, so an
  observation is one ``bisect`` and two additions.
* ``ServerTable``: counters per upstream server address, bounded. The
  ``capacity`` most recently used addresses have a row of their own; the
  counts of an address pushed out are added to ``OTHER``, so totals over
  all rows never go down and a resolver that talks to millions of servers
  still has at most ``capacity + 1`` label values.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence

#: The row that absorbs addresses pushed out of a ``ServerTable``.
OTHER = "other"

#: Addresses a ``ServerTable`` keeps a row for, by default.
MAX_SERVERS = 1000

#: Upper bounds (seconds) of the answer latency buckets: from a few
#: microseconds (a ready-made answer) to the 10 s a resolution may take.
LATENCY_BOUNDS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Histogram:
    """Observations counted in buckets with fixed upper bounds (Prometheus ``le``).

    ``counts[i]`` counts observations ``<= bounds[i]`` and above the bound
    before it (not cumulative); the last count is for those above every
    bound (``+Inf``).
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float] = LATENCY_BOUNDS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def snapshot(self) -> dict[str, list[float] | list[int] | float]:
        """The histogram as JSON-able values."""
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.sum}


class ServerTable:
    """Rows of counters per upstream address, for the ``capacity`` most recent ones.

    Args:
        columns: The name of each counter in a row.
        capacity: Addresses with a row of their own; the least recently
            used one beyond that is folded into ``OTHER``.
    """

    def __init__(self, columns: Sequence[str], capacity: int = MAX_SERVERS) -> None:
        self.columns = tuple(columns)
        self._capacity = capacity
        self._rows: OrderedDict[str, list[int]] = OrderedDict()
        self._other = [0] * len(self.columns)

    def row(self, address: str) -> list[int]:
        """The counters of ``address`` (in ``columns`` order), to be incremented in place."""
        row = self._rows.get(address)
        if row is not None:
            self._rows.move_to_end(address)
            return row
        if len(self._rows) >= self._capacity:
            _, evicted = self._rows.popitem(last=False)
            for index, count in enumerate(evicted):
                self._other[index] += count
        row = self._rows[address] = [0] * len(self.columns)
        return row

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Per column, the count of each address (``OTHER`` once anything was folded)."""
        rows = dict(self._rows)
        if any(self._other):
            rows[OTHER] = self._other
        return {
            column: {address: row[index] for address, row in rows.items()}
            for index, column in enumerate(self.columns)
        }
