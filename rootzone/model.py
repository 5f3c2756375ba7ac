"""A root zone copy that passed every check, ready to answer from.

``RootCopy`` is immutable: a refresh builds a new one and the holder
(``rootzone.lifecycle.LocalRoot``) swaps it in with one assignment, so a
query sees the old copy or the new one, never a mixture.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from rootzone.lookup import RootAnswers
from rootzone.verify import NS, SOA, Zone, ZonemdResult, name_text

_SOA_TIMERS = struct.Struct("!IIIII")
#: RRsets per pickled part of a copy (``PickledCopy``): unpickling one takes
#: about a millisecond.
PART_RRSETS = 400


class Baseline(Protocol):
    """What a candidate is compared with: the copy in use, or a summary of it.

    A summary (``Summary``) is what goes to the worker process that checks a
    candidate, rather than the whole copy.
    """

    @property
    def serial(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def delegations(self) -> frozenset[bytes]: ...


@dataclass(frozen=True, slots=True)
class Summary:
    """A copy's serial, size and delegations: enough to judge a candidate against it."""

    serial: int
    size: int
    delegations: frozenset[bytes]


@dataclass(frozen=True, slots=True)
class RootCopy:
    """A verified copy of the root zone and what its lifetime is computed from.

    Attributes:
        zone: the records, grouped into RRsets.
        source: where it came from (file path, ``axfr://address``, URL).
        size: octets of the copy as fetched (the size guardrail compares it).
        zonemd: the ZONEMD verdict (verified, unverified, absent or ignored).
        earliest_expiration: the earliest RRSIG expiration in the copy, POSIX
            seconds (None if it has no RRSIG, which verification forbids).
        answers: the index that answers root-level questions from it.
    """

    zone: Zone
    source: str
    size: int
    zonemd: ZonemdResult
    earliest_expiration: int | None
    answers: RootAnswers

    @property
    def serial(self) -> int:
        return self.zone.serial

    @property
    def refresh(self) -> int:
        """SOA REFRESH, seconds: how often a secondary checks for a new copy."""
        return self._timers()[1]

    @property
    def retry(self) -> int:
        """SOA RETRY, seconds: how soon a failed check is tried again."""
        return self._timers()[2]

    @property
    def expire(self) -> int:
        """SOA EXPIRE, seconds: how long the copy may be used without a successful check."""
        return self._timers()[3]

    @property
    def delegations(self) -> frozenset[bytes]:
        """The owner names (canonical wire) of the zone's delegations, the TLDs for the root."""
        return delegation_owners(self.zone)

    def summary(self) -> Summary:
        return Summary(self.serial, self.size, self.delegations)

    def _timers(self) -> tuple[int, int, int, int, int]:
        soa = self.zone.rrsets[(self.zone.origin, SOA, 0)].rdatas[0]
        serial, refresh, retry, expire, minimum = _SOA_TIMERS.unpack(soa[-20:])
        return serial, refresh, retry, expire, minimum


@dataclass(frozen=True, slots=True)
class PickledCopy:
    """A ``RootCopy`` pickled in parts, so that it can be rebuilt a part at a time.

    The worker process that checks a candidate hands the copy back to the
    serving process. Unpickled in one piece, the real root's copy holds the
    serving process for some 50 ms (one C call the event loop cannot
    interrupt), a stall every client would see once per new serial. In
    parts of ``PART_RRSETS`` RRsets, the caller lets the loop run between
    them (``restore``).

    Attributes:
        shell: the copy with its zone's RRsets left out (the index, verdicts,
            times; small).
        parts: the RRsets (with the line each started on), in zone order.
    """

    shell: bytes
    parts: tuple[bytes, ...]

    @classmethod
    def of(cls, copy: RootCopy, part_size: int = PART_RRSETS) -> PickledCopy:
        """Pickle ``copy`` in parts (its zone is emptied for a moment, then put back)."""
        zone = copy.zone
        rrsets, lines = zone.rrsets, zone.lines
        items = [(key, rrset, lines[key]) for key, rrset in rrsets.items()]
        zone.rrsets, zone.lines = {}, {}
        try:
            shell = pickle.dumps(copy, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            zone.rrsets, zone.lines = rrsets, lines
        parts = tuple(
            pickle.dumps(items[start : start + part_size], protocol=pickle.HIGHEST_PROTOCOL)
            for start in range(0, len(items), part_size)
        )
        return cls(shell, parts)

    def restore(self) -> Generator[None, None, RootCopy]:
        """Rebuild the copy, yielding before each part; the copy is the generator's value.

        The copy is not complete, and must not be used, until the generator
        has returned.
        """
        copy: RootCopy = pickle.loads(self.shell)
        zone = copy.zone
        for part in self.parts:
            yield
            for key, rrset, line in pickle.loads(part):
                zone.rrsets[key] = rrset
                zone.lines[key] = line
        return copy


def delegation_owners(zone: Zone) -> frozenset[bytes]:
    """The names below the apex that have an NS RRset: the zone's delegations."""
    return frozenset(
        owner for owner, rdtype, _ in zone.rrsets if rdtype == NS and owner != zone.origin
    )


def zone_text(zone: Zone) -> str:
    """The zone as zone-file text with absolute names, SOA first, for saving a copy.

    Types dnspython does not know are written in the RFC 3597 generic form,
    which ``rootzone.zonefile`` reads back to the same records.
    """
    soa_key = (zone.origin, SOA, 0)
    lines = []
    for key in (soa_key, *(key for key in zone.rrsets if key != soa_key)):
        rrset = zone.rrsets[key]
        owner = name_text(rrset.owner)
        rdclass = dns.rdataclass.RdataClass.make(rrset.rdclass)
        rdtype = dns.rdatatype.RdataType.make(rrset.rdtype)
        for wire in rrset.rdatas:
            rdata = dns.rdata.from_wire(rdclass, rdtype, wire, 0, len(wire))
            text = rdata.to_text(origin=dns.name.root, relativize=False)
            lines.append(f"{owner} {rrset.ttl} IN {dns.rdatatype.to_text(rdtype)} {text}")
    return "\n".join(lines) + "\n"
