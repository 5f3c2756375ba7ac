"""Small tables of things made recently, for work that recurs from one query to the next.

A cold query reads and writes the same few names and records again and
again (its zone's NS set, glue and signatures, its parent's), and making
them is much of its CPU (issue 19): the upstream reader keeps records it
parsed (``resolver.upstream_wire``), the cache the canonical form of the
names it looks up (``resolver.cache``). Such a table is a plain dict emptied
when full: a hit stays one dict lookup (an LRU would reorder on every hit),
and what recurs is back after one miss each. Values are shared by every
caller: immutable, or copied before use.
"""

from __future__ import annotations

from typing import Generic, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")


class Recent(Generic[_K, _V]):
    """A dict of at most ``size`` entries, emptied when full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: dict[_K, _V] = {}

    def put(self, key: _K, value: _V) -> None:
        if len(self.entries) >= self.size:
            self.entries.clear()
        self.entries[key] = value
