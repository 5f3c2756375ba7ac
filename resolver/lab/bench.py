"""``bench.com``: 100,000 names generated and signed on demand.

Benchmarks need a zone far larger than the catalogue without slowing lab
start. Names ``n0`` .. ``n99999`` have one A record each (198.18.0.0/15);
nothing is generated until asked: records are computed from the name,
signatures are made per query and kept in an LRU cache, and the canonically
sorted name list needed for NSEC denial is built on the first query that
needs it and searched by bisection through a lazy view.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import overload

import cachetools
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from resolver.lab.denial import NsecDenial, nsec_rrset
from resolver.lab.signing import Window, ZoneKey
from resolver.lab.zones import DNSKEY_TTL, ZoneSource

BENCH_NAMES = 100_000
#: How many RRSIG RRsets the bench zone keeps.
SIGNATURE_CACHE = 20_000
BENCH_TTL = 3600

_GENERATED = re.compile(rb"n(0|[1-9][0-9]*)")


def bench_address(index: int) -> str:
    """The address of ``n<index>``: 198.18.0.0 counting up (RFC 2544 range)."""
    return f"198.{18 + index // 65536}.{(index // 256) % 256}.{index % 256}"


class _Index:
    """The bench zone's owner names in canonical order, built on first use."""

    def __init__(self, origin: dns.name.Name, fixed: frozenset[bytes], count: int) -> None:
        self.origin = origin
        self.fixed = fixed
        self.count = count

    @cached_property
    def labels(self) -> list[bytes]:
        """Apex (empty label) first, then every one-label owner, sorted as bytes.

        For single lower-case labels, byte order is DNSSEC canonical order.
        """
        generated = (f"n{index}".encode() for index in range(self.count))
        return [b"", *sorted({*self.fixed, *generated})]

    def label(self, name: dns.name.Name) -> bytes | None:
        """The owner label of ``name`` if it is an owner in the zone."""
        if name == self.origin:
            return b""
        if len(name) != len(self.origin) + 1 or not name.is_subdomain(self.origin):
            return None
        label = name.labels[0].lower()
        match = _GENERATED.fullmatch(label)
        if label in self.fixed or (match is not None and int(match[1]) < self.count):
            return label
        return None


class _Names(Sequence[dns.name.Name]):
    """The sorted owner names as ``Name`` objects, made on access."""

    def __init__(self, index: _Index) -> None:
        self._index = index

    def __len__(self) -> int:
        return len(self._index.labels)

    @overload
    def __getitem__(self, position: int) -> dns.name.Name: ...

    @overload
    def __getitem__(self, position: slice) -> Sequence[dns.name.Name]: ...

    def __getitem__(self, position: int | slice) -> dns.name.Name | Sequence[dns.name.Name]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        label = self._index.labels[position]
        origin = self._index.origin
        return dns.name.Name((label, *origin.labels)) if label else origin


class BenchZone:
    """The bench zone: ``ZoneData`` computed per query, signatures cached."""

    def __init__(
        self,
        source: ZoneSource,
        window: Window,
        *,
        count: int = BENCH_NAMES,
        index: _Index | None = None,
    ) -> None:
        """Only the apex, server and www records come from ``source``.

        ``index`` shares the sorted names of an earlier instance (re-signing).
        """
        if source.key is None:
            raise ValueError("the bench zone is always signed")
        self.source = source
        self._key: ZoneKey = source.key
        self._window = window
        origin = source.origin
        self._fixed = {(rrset.name, rrset.rdtype): rrset for rrset in source.rrsets}
        dnskey = dns.rrset.from_rdata(origin, DNSKEY_TTL, self._key.dnskey)
        self._fixed[(origin, dns.rdatatype.DNSKEY)] = dnskey
        labels = frozenset(name.labels[0].lower() for name, _ in self._fixed if name != origin)
        self._index = index or _Index(origin, labels, count)
        self._names = _Names(self._index)
        soa = self._fixed[(origin, dns.rdatatype.SOA)]
        self._negative_ttl = min(soa.ttl, soa[0].minimum)
        self._signatures: cachetools.LRUCache[
            tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rrset.RRset
        ] = cachetools.LRUCache(SIGNATURE_CACHE)
        self._denial = NsecDenial(self._names, self._nsec_at)

    def resigned(self, window: Window) -> BenchZone:
        """The same zone signed for ``window`` (shares the name index)."""
        return BenchZone(self.source, window, index=self._index)

    @property
    def origin(self) -> dns.name.Name:
        return self.source.origin

    @property
    def denial(self) -> NsecDenial:
        return self._denial

    def exists(self, name: dns.name.Name) -> bool:
        return self._index.label(name) is not None

    def rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        fixed = self._fixed.get((name, rdtype))
        if fixed is not None:
            return fixed
        label = self._index.label(name)
        if label is None:
            return None
        if rdtype == dns.rdatatype.NSEC:
            return self._nsec_at(name)
        if rdtype == dns.rdatatype.A and label not in self._index.fixed and label:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.A, bench_address(int(label[1:]))
            )
            return dns.rrset.from_rdata(name, BENCH_TTL, rdata)
        return None

    def signature(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.rrset.RRset | None:
        key = (name, rdtype)
        cached = self._signatures.get(key)
        if cached is not None:
            return cached
        rrset = self.rrset(name, rdtype)
        if rrset is None:
            return None
        signature = self._key.sign(rrset, self._window)
        self._signatures[key] = signature
        return signature

    def records(self) -> Iterator[dns.rrset.RRset]:
        """Every RRset of the zone with its RRSIGs, apex (SOA first) then canonical order.

        For writing the zone out (a real authoritative server serves it in
        ``bench/nsd.py``): signs as it goes and leaves the signature LRU alone.
        """
        soa = (self.origin, dns.rdatatype.SOA)
        apex = [soa, *sorted(key for key in self._fixed if key[0] == self.origin and key != soa)]
        for position in range(len(self._names)):
            name = self._names[position]
            keys = apex if position == 0 else sorted(
                key for key in self._fixed if key[0] == name
            ) or [(name, dns.rdatatype.A)]
            for owner, rdtype in [*keys, (name, dns.rdatatype.NSEC)]:
                rrset = self.rrset(owner, rdtype)
                assert rrset is not None
                yield rrset
                yield self._key.sign(rrset, self._window)

    def _nsec_at(self, name: dns.name.Name) -> dns.rrset.RRset:
        """The NSEC of owner ``name``: next owner from the sorted index."""
        labels = self._index.labels
        label = self._index.label(name)
        assert label is not None
        position = _bisect_label(labels, label)
        following = self._names[(position + 1) % len(labels)]
        types = [rdtype for owner, rdtype in self._fixed if owner == name] or [dns.rdatatype.A]
        return nsec_rrset(name, following, types, self._negative_ttl)


def _bisect_label(labels: list[bytes], label: bytes) -> int:
    """Position of ``label`` in the apex-first sorted ``labels``."""
    return bisect.bisect_left(labels, label, lo=1) if label else 0
