"""Incident drill: the 4 October 2023 1.1.1.1 outage, a stale local root.

``root_zonemd_2023`` replays shared/incidents.md scenario S2. On 21
September 2023 a new record type (ZONEMD) appeared in the root zone;
1.1.1.1's loader could not parse its presentation form, refused every new
version, and kept serving the 21 September copy from memory with no alarm
until its signatures expired on 4 October, when SERVFAILs rose from 3% to
15% of all queries. Here the lab publishes root versions at a publication
point that Holdfast's refresh task reads (``PublishedSource``) and on the lab
root servers (127.53.0.1-3), all with the real root's SOA timers (refresh
30 min, retry 15 min, expire 7 days):

* T0: v1, usable; its signatures expire at T0 + 9.5 days (13 days in
  2023; the lab's other zones are only signed for 14 days);
* from T0 + 12 h, every 12 h: a version Holdfast must refuse, alternately
  one that writes a new record type (TYPE65280, signed and in the digest)
  with a mnemonic nobody knows, and one whose ZONEMD digest is wrong
  (validly signed);
* T0 + 9.75 days: a usable version again (the new type in RFC 3597 generic
  form), then every 12 h another.

A steady query mix over the lab runs throughout, against instance A (up
from T0) and instance B, a cold start in the middle of the bad period (no
cache, no copy), as the servers restarted in 2023 were. Time is simulated
and shared: the wall clock is Trio's clock plus T0, run under
``trio.testing.MockClock(autojump_threshold=0)``, so the refresh timers, the
resolvers' timers and the query loop move together, days take seconds, and
parsing runs inline (``rootzone.service.inline``) so that every run gives the
same figures.

What is measured, per instance: SERVFAIL per simulated hour (the worst
hour counts), bogus answers served and AD missing (as in the July 2023
drill, ``resolver/lab/drill.py``), answers with the wrong rcode, the serial
in use over time, the stale alarm, the retirement, queries to the lab root
servers with and without a copy in use, recovery after the usable
publication, and the refusals by kind. ``RootDrillReport.failures`` lists
every expectation of issue 7 that was not met.

Used by ``tests/scenarios/test_root_drill.py`` and by
``holdfast drill root-zonemd-2023``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import itertools
import random
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import trio

from dnssec.signatures import utc_text
from resolver.clock import Clock
from resolver.lab.drill import (
    INSECURE,
    POPULAR,
    Phase,
    PhaseFigures,
    ask,
    count_reply,
    lab_resolver,
)
from resolver.lab.errors import LabError
from resolver.lab.lab import Lab
from resolver.lab.network import LabTransport
from resolver.lab.signing import Window
from resolver.lab.zones import StaticZone, ZoneSource
from rootzone.candidate import LoadPolicy, records_from_text
from rootzone.lifecycle import Installed, RootState
from rootzone.service import RootService, inline
from rootzone.sources import Fetched

HOUR = 3600.0
DAY = 86400.0
#: T0: 2023-09-21T06:30:00Z, 1.1.1.1's last successful pull of the root zone.
START = 1_695_277_800.0
#: The lab's other zones are signed for 14 days from ``Lab.build``.
LAB_SIGNATURE_DAYS = 14.0
#: The lab root servers: asked only while no local copy is in use.
ROOT_SERVERS = frozenset({"127.53.0.1", "127.53.0.2", "127.53.0.3"})
FIRST_SERIAL = 2023100400
#: The real root zone's SOA timers (MINIMUM is the lab's).
REFRESH, RETRY, EXPIRE = 1800, 900, 604800
#: A private-use type (RFC 6895) standing for the record nobody's loader knew.
NEW_TYPE = dns.rdatatype.RdataType.make(65280)
#: How the unparseable versions write it; the wire and generic form say TYPE65280.
NEW_MNEMONIC = "NEWTYPE"
_GENERIC = re.compile(rf"\b{dns.rdatatype.to_text(NEW_TYPE)}\b")
#: Where the publication point says the text came from (in parse errors).
PUBLISHED_NAME = "lab:root.zone"

#: Signed names under the lab's other TLD, org.
OTHER_SIGNED = (
    "www.example.org.",
    "www.nsec3.org.",
    "www.rsa.org.",
    "www.ecdsa.org.",
    "www.ed25519.org.",
)
#: Names under TLDs the root does not delegate: NXDOMAIN from the root.
NONEXISTENT = ("www.example.zz.", "printer.corp.notatld.", "router.home.lan.")
LAB_TLDS = ("com.", "net.", "org.")
#: Share of queries for names never asked before.
FRESH_SHARE = 0.2


class VersionKind(enum.Enum):
    """What a published root version is like."""

    GOOD = "usable"
    UNKNOWN_MNEMONIC = "unknown mnemonic in text"
    BROKEN_ZONEMD = "wrong ZONEMD digest"


@dataclass(frozen=True, slots=True)
class Version:
    """One published root version."""

    serial: int
    kind: VersionKind
    #: Seconds after T0.
    published: float
    #: The zone-file text at the publication point.
    text: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Schedule:
    """The drill's timeline, seconds after T0."""

    end: float = 10.5 * DAY
    first_bad: float = 0.5 * DAY
    every: float = 0.5 * DAY
    good_again: float = 9.75 * DAY
    #: When v1's signatures expire.
    v1_expiry: float = 9.5 * DAY
    #: When instance B starts, cold; None for no instance B.
    restart: float | None = 5 * DAY

    def publications(self) -> Iterator[tuple[float, VersionKind]]:
        """(when, what) of v1 and every later version, in order, up to ``end``."""
        yield 0.0, VersionKind.GOOD
        bad = itertools.cycle((VersionKind.UNKNOWN_MNEMONIC, VersionKind.BROKEN_ZONEMD))
        at = self.first_bad
        while at < self.end:
            yield at, VersionKind.GOOD if at >= self.good_again else next(bad)
            at = self.good_again if at < self.good_again < at + self.every else at + self.every

    def phases(self) -> tuple[tuple[float, Phase], ...]:
        """(start, phase) of each stretch of the timeline, as the table shows them."""
        stretches = (
            ("v1 published, usable", 0.0, self.first_bad),
            ("unusable versions published", self.first_bad, self.good_again),
            ("usable versions published again", self.good_again, self.end),
        )
        return tuple(
            (start, Phase(name, 0, 0.0, (min(stop, self.end) - start) / 60))
            for name, start, stop in stretches
            if start < self.end
        )


class TrioWallClock:
    """Wall-clock time that moves with Trio's clock: ``start`` plus seconds since creation.

    Under a ``MockClock`` every timer -- the refresh task's, the resolver's,
    the query loop's -- then reads one simulated time.
    """

    def __init__(self, start: float) -> None:
        self._start = start
        self._base = trio.current_time()

    def wall(self) -> float:
        return self._start + trio.current_time() - self._base


class Publication:
    """The lab's root publication point: the version in force, in text and on the root servers."""

    def __init__(self, lab: Lab, clock: Clock, start: float) -> None:
        root = lab.zone(dns.name.root)
        if not isinstance(root, StaticZone):
            raise LabError("the lab root is not a static zone")
        self._lab = lab
        self._clock = clock
        self._start = start
        self._source = root.source
        self.versions: list[Version] = []

    @property
    def current(self) -> Version:
        return self.versions[-1]

    def publish(self, kind: VersionKind, window: Window) -> Version:
        """Sign and publish the next version; the root servers serve it from now on."""
        serial = FIRST_SERIAL + len(self.versions)
        source = root_version(
            self._source,
            serial,
            new_type=bool(self.versions),
            zonemd_broken=kind is VersionKind.BROKEN_ZONEMD,
        )
        self._lab.replace_zone(StaticZone.build(source, window))
        text = self._lab.root_zone_text()
        if kind is VersionKind.UNKNOWN_MNEMONIC:
            text = _GENERIC.sub(NEW_MNEMONIC, text)
        version = Version(serial, kind, self._clock.wall() - self._start, text)
        self.versions.append(version)
        return version

    def source(self) -> PublishedSource:
        """A new reader of this publication point (one per resolver instance)."""
        return PublishedSource(self)


class PublishedSource:
    """A ``rootzone.sources.Source`` reading the publication point.

    Like a ``FileSource``, it remembers what it fetched last and answers
    ``None`` while the text has not changed since.
    """

    def __init__(self, publication: Publication) -> None:
        self.name = PUBLISHED_NAME
        self._publication = publication
        self._seen: str | None = None

    async def fetch(self) -> Fetched | None:
        """The version in force, if it changed since the last fetch."""
        await trio.lowlevel.checkpoint()
        text = self._publication.current.text
        data = text.encode()
        fingerprint = hashlib.sha256(data).hexdigest()
        if fingerprint == self._seen:
            return None
        self._seen = fingerprint
        parse = functools.partial(records_from_text, text, source=self.name)
        return Fetched(self.name, len(data), fingerprint, parse)


def root_version(
    source: ZoneSource, serial: int, *, new_type: bool, zonemd_broken: bool
) -> ZoneSource:
    """The lab root as version ``serial``, with the real root's SOA timers.

    ``new_type`` adds an apex TYPE65280 record; ``zonemd_broken`` seals a
    wrong digest.
    """
    rrsets = [_with_timers(rrset, serial) for rrset in source.rrsets]
    if new_type:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, NEW_TYPE, r"\# 4 486f6c64")
        rrsets.append(dns.rrset.from_rdata(dns.name.root, 3600, rdata))
    return dataclasses.replace(source, rrsets=tuple(rrsets), zonemd_broken=zonemd_broken)


def _with_timers(rrset: dns.rrset.RRset, serial: int) -> dns.rrset.RRset:
    if rrset.rdtype != dns.rdatatype.SOA:
        return rrset
    soa = rrset[0].replace(serial=serial, refresh=REFRESH, retry=RETRY, expire=EXPIRE)
    return dns.rrset.from_rdata(rrset.name, rrset.ttl, soa)


#: The ``PhaseFigures`` counters, as the JSON report gives them per phase.
_COUNTERS = (
    "queries",
    "servfail",
    "known_queries",
    "known_servfail",
    "stale",
    "bogus_served",
    "ad_missing",
)
#: Counters that must stay at 0, and what they count.
_CLIENT_FAULTS = (
    ("servfail", "SERVFAIL answers"),
    ("bogus_served", "answers with a signature outside its validity window"),
    ("ad_missing", "signed answers without AD"),
)


@dataclass(slots=True)
class InstanceFigures:
    """What one resolver instance did and what its clients saw (times: seconds after T0)."""

    name: str
    started: float
    phases: list[PhaseFigures] = field(default_factory=list)
    hourly_queries: Counter[int] = field(default_factory=Counter)
    hourly_servfail: Counter[int] = field(default_factory=Counter)
    wrong_rcode: int = 0
    #: (when, serial) each time the copy in use changed; None: no copy.
    serials: list[tuple[float, int | None]] = field(default_factory=list)
    #: The first refusal (logged at ERROR and counted): the first alert.
    first_refusal: float | None = None
    stale_alarm: float | None = None
    retired: float | None = None
    retire_reason: str = ""
    root_queries_with_copy: int = 0
    root_queries_without_copy: int = 0
    answers_from_copy: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    last_rejection: str = ""

    def total(self, counter: str) -> int:
        """``counter`` (a ``PhaseFigures`` field: queries, servfail, ...) over every phase."""
        return sum(getattr(figures, counter) for figures in self.phases)

    @property
    def worst_hour(self) -> float:
        """The highest SERVFAIL rate of any simulated hour."""
        return max(
            (self.hourly_servfail[hour] / count for hour, count in self.hourly_queries.items()),
            default=0.0,
        )

    def in_use_at(self, moment: float) -> int | None:
        """The serial in use at ``moment`` (None: none)."""
        serial = None
        for at, changed in self.serials:
            if at <= moment:
                serial = changed
        return serial

    @property
    def went_without(self) -> bool:
        """Whether it was up without a copy in use: before its first, or after a retirement."""
        if not self.serials or self.serials[0][0] > self.started:
            return True
        return any(serial is None for _, serial in self.serials)

    def first_use(self, serials: set[int]) -> float | None:
        """When one of ``serials`` first came into use."""
        return next((at for at, serial in self.serials if serial in serials), None)

    def as_json(self) -> dict[str, object]:
        return {
            "instance": self.name,
            "started_seconds": self.started,
            "phases": [
                {"phase": f.phase.name, **{counter: getattr(f, counter) for counter in _COUNTERS}}
                for f in self.phases
            ],
            "worst_hour_servfail_rate": self.worst_hour,
            "wrong_rcode": self.wrong_rcode,
            "serials": self.serials,
            "first_refusal_seconds": self.first_refusal,
            "stale_alarm_seconds": self.stale_alarm,
            "retired_seconds": self.retired,
            "retire_reason": self.retire_reason,
            "root_queries_with_copy": self.root_queries_with_copy,
            "root_queries_without_copy": self.root_queries_without_copy,
            "answers_from_copy": self.answers_from_copy,
            "rejections": self.rejections,
            "last_rejection": self.last_rejection,
        }


@dataclass(slots=True)
class RootDrillReport:
    """The whole drill: the timeline and each instance's figures."""

    schedule: Schedule
    queries_per_minute: float
    versions: list[tuple[float, int, VersionKind]] = field(default_factory=list)
    instances: list[InstanceFigures] = field(default_factory=list)

    @property
    def first_bad(self) -> float | None:
        return next((at for at, _, kind in self.versions if kind is not VersionKind.GOOD), None)

    @property
    def good_again(self) -> tuple[float, int] | None:
        """When and which usable version was first published after the bad ones."""
        first_bad = self.first_bad
        return next(
            (
                (at, serial)
                for at, serial, kind in self.versions
                if kind is VersionKind.GOOD and first_bad is not None and at > first_bad
            ),
            None,
        )

    def unusable(self) -> set[int]:
        return {serial for _, serial, kind in self.versions if kind is not VersionKind.GOOD}

    def stale_delay(self, instance: InstanceFigures) -> float | None:
        """Seconds from the first unusable publication to the stale alarm."""
        first_bad = self.first_bad
        if instance.stale_alarm is None or first_bad is None:
            return None
        return instance.stale_alarm - first_bad

    def recovery(self, instance: InstanceFigures) -> float | None:
        """Seconds from the usable publication to a usable copy in use again."""
        good = self.good_again
        if good is None:
            return None
        at = instance.first_use({serial for _, serial, _ in self.versions if serial >= good[1]})
        return None if at is None else at - good[0]

    def failures(self) -> list[str]:
        """Every expectation of issue 7 that this run did not meet (empty: all met)."""
        return [f"{i.name}: {problem}" for i in self.instances for problem in self._check(i)]

    def _check(self, instance: InstanceFigures) -> Iterator[str]:
        yield from self._check_clients(instance)
        yield from self._check_lifetime(instance)
        yield from self._check_fallback(instance)

    def _check_clients(self, instance: InstanceFigures) -> Iterator[str]:
        for counter, what in _CLIENT_FAULTS:
            count = instance.total(counter)
            if count:
                yield f"{count} {what}"
        if instance.wrong_rcode:
            yield f"{instance.wrong_rcode} answers with the wrong rcode"
        loaded = self.unusable() & {serial for _, serial in instance.serials}
        if loaded:
            yield f"used unusable serials {sorted(loaded)}"

    def _check_lifetime(self, instance: InstanceFigures) -> Iterator[str]:
        schedule, first_bad = self.schedule, self.first_bad
        if first_bad is None or instance.in_use_at(first_bad) is None:
            return
        if schedule.end > first_bad + REFRESH and (
            instance.first_refusal is None or instance.first_refusal > first_bad + REFRESH
        ):
            yield f"first refusal at {_day(instance.first_refusal)}, not within one refresh"
        delay = self.stale_delay(instance)
        if schedule.end > first_bad + REFRESH + RETRY and (
            delay is None or not 0 <= delay <= REFRESH + RETRY
        ):
            yield f"stale alarm {_duration(delay)} after the first unusable version"
        deadline = min(schedule.v1_expiry - HOUR, first_bad + EXPIRE)
        if schedule.end > deadline and (instance.retired is None or instance.retired > deadline):
            yield f"retired at {_day(instance.retired)}, not by {_day(deadline)}"

    def _check_fallback(self, instance: InstanceFigures) -> Iterator[str]:
        if instance.root_queries_with_copy:
            yield f"{instance.root_queries_with_copy} root-server queries while a copy was in use"
        if instance.went_without and not instance.root_queries_without_copy:
            yield "no root-server queries while no copy was in use"
        good = self.good_again
        if good is not None and self.schedule.end > good[0] + RETRY:
            recovery = self.recovery(instance)
            if recovery is None or recovery > RETRY:
                yield f"usable version in use {_duration(recovery)} after its publication"

    def as_json(self) -> dict[str, object]:
        """The figures as JSON-able values (times in seconds after T0)."""
        good = self.good_again
        return {
            "start": START,
            "queries_per_minute": self.queries_per_minute,
            "end_seconds": self.schedule.end,
            "v1_expiry_seconds": self.schedule.v1_expiry,
            "versions": [
                {"published_seconds": at, "serial": serial, "kind": kind.value}
                for at, serial, kind in self.versions
            ],
            "instances": [
                {
                    **instance.as_json(),
                    "stale_alarm_delay_seconds": self.stale_delay(instance),
                    "recovery_seconds": self.recovery(instance),
                }
                for instance in self.instances
            ],
            "first_bad_seconds": self.first_bad,
            "good_again_seconds": None if good is None else good[0],
            "failures": self.failures(),
        }

    def text(self) -> str:
        """The report as a table and a few lines per instance, for people."""
        lines = [*self._timeline(), ""]
        lines.append(
            f"{'instance':<4} {'phase':<34} {'queries':>7} {'SERVFAIL':>8} {'known':>7} "
            f"{'stale':>5} {'bogus':>5} {'no AD':>5}"
        )
        for instance in self.instances:
            for f in instance.phases:
                lines.append(
                    f"{instance.name[:4]:<4} {f.phase.name:<34} {f.queries:>7} "
                    f"{f.servfail_rate:>8.1%} {f.known_servfail_rate:>7.1%} {f.stale:>5} "
                    f"{f.bogus_served:>5} {f.ad_missing:>5}"
                )
        lines.append("(SERVFAIL: all queries; known: names answered before)")
        for instance in self.instances:
            lines.extend(["", *self._instance_lines(instance)])
        failures = self.failures()
        lines.append("")
        lines.append(
            "expectations: all met" if not failures else "NOT MET:\n  " + "\n  ".join(failures)
        )
        return "\n".join(lines)

    def _timeline(self) -> Iterator[str]:
        kinds = Counter(kind for _, _, kind in self.versions[1:] if kind is not VersionKind.GOOD)
        yield (
            f"root-zonemd-2023: {self.schedule.end / DAY:g} simulated days from "
            f"{utc_text(int(START))}, {self.queries_per_minute:g} client queries a minute"
        )
        yield f"v1 (serial {FIRST_SERIAL}) published at T0; its signatures expire at " + _day(
            self.schedule.v1_expiry
        )
        if self.first_bad is not None:
            detail = ", ".join(f"{count} {kind.value}" for kind, count in kinds.items())
            yield f"unusable versions from {_day(self.first_bad)}: {sum(kinds.values())} ({detail})"
        good = self.good_again
        if good is not None:
            yield f"usable version (serial {good[1]}) published at {_day(good[0])}"

    def _instance_lines(self, instance: InstanceFigures) -> Iterator[str]:
        cold = " (a cold start: no cache, no copy)" if instance.started else ""
        yield f"{instance.name}, up from {_day(instance.started)}{cold}:"
        yield (
            f"  worst hour: {instance.worst_hour:.1%} SERVFAIL; "
            f"wrong rcode: {instance.wrong_rcode}"
        )
        trace = ", ".join(
            f"{_day(at)} {'none' if serial is None else serial}" for at, serial in instance.serials
        )
        yield f"  serial in use: {trace or 'never any'}"
        first_bad = self.first_bad
        refused = instance.first_refusal
        if refused is not None and first_bad is not None and instance.started <= first_bad:
            delay = refused - first_bad
            yield f"  first refusal (ERROR) {_duration(delay)} after the first unusable version"
        if instance.stale_alarm is not None:
            yield (
                f"  stale alarm (WARN) {_duration(self.stale_delay(instance))} after the first "
                f"unusable version"
            )
        if instance.retired is not None:
            margin = self.schedule.v1_expiry - instance.retired
            yield (
                f"  retired at {_day(instance.retired)} ({instance.retire_reason}), "
                f"{margin / HOUR:.1f} h before v1's signatures expire"
            )
        yield (
            f"  root-server queries: {instance.root_queries_with_copy} with a copy in use, "
            f"{instance.root_queries_without_copy} without"
        )
        if self.good_again is not None:
            yield f"  usable copy in use {_duration(self.recovery(instance))} after publication"
        refusals = ", ".join(f"{kind} {n}" for kind, n in sorted(instance.rejections.items()))
        yield (
            f"  refusals: {refusals or 'none'}; "
            f"answers from the copy: {instance.answers_from_copy}"
        )
        if instance.last_rejection:
            yield f"  last refusal: {instance.last_rejection}"


def _day(offset: float | None) -> str:
    return "never" if offset is None else f"day {offset / DAY:.2f}"


def _duration(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds / 60:.1f} min"


class _Instance:
    """One resolver under test, with its own transport, source and figures."""

    def __init__(self, drill: _Drill, name: str) -> None:
        self.transport = LabTransport(drill.lab)
        self.resolver = lab_resolver(drill.lab, drill.clock, drill.directory, self.transport)
        self.service = RootService(
            self.resolver.local_root,
            [drill.publication.source()],
            anchors=self.resolver.anchors,
            policy=LoadPolicy(),
            offload=inline,
        )
        self.resolver.root_service = self.service
        self.figures = InstanceFigures(name, drill.offset())
        self.known: set[str] = set()
        self._installed: Installed | None = None
        self._sent = 0
        self._had_copy = False

    async def start(self, nursery: trio.Nursery) -> None:
        await nursery.start(self.resolver.recursor.run)
        await nursery.start(self.service.run)

    def observe(self) -> None:
        """Note what the local root did since the last look.

        Alarm, retirement and load times are read from the holder's own
        records, so they are exact whatever the query rate.
        """
        local_root = self.resolver.local_root
        state = local_root.state()  # what the metric and status show
        installed = local_root.in_use()
        figures = self.figures
        self._follow(installed)
        if state is RootState.STALE and figures.stale_alarm is None and installed is not None:
            figures.stale_alarm = installed.stale_at - START
        self._count_root_queries(has_copy=installed is not None)
        figures.answers_from_copy = local_root.answered
        figures.rejections = dict(local_root.rejections)
        rejection = local_root.last_rejection
        if rejection is not None:
            figures.last_rejection = f"{rejection.kind}: {rejection.reason}"
            if figures.first_refusal is None:
                figures.first_refusal = rejection.at - START

    def _count_root_queries(self, *, has_copy: bool) -> None:
        """Count the root-server queries since the last look by whether a copy was in use.

        Those of a look that saw a copy come or go are left out: they may be
        from either side of the change.
        """
        sent = self.transport.sent[self._sent :]
        self._sent += len(sent)
        to_root = sum(query.address in ROOT_SERVERS for query in sent)
        if has_copy and self._had_copy:
            self.figures.root_queries_with_copy += to_root
        elif not has_copy and not self._had_copy:
            self.figures.root_queries_without_copy += to_root
        self._had_copy = has_copy

    def _follow(self, installed: Installed | None) -> None:
        """Trace the copy in use: a new one (when it was loaded) or none (when it retired).

        A refresh that finds nothing new replaces the ``Installed`` record
        (new refresh time, new retirement time) but not the copy.
        """
        previous, figures = self._installed, self.figures
        self._installed = installed
        if installed is not None:
            if previous is None or installed.copy is not previous.copy:
                figures.serials.append((installed.loaded_at - START, installed.copy.serial))
            return
        if previous is None:
            return
        at = previous.retirement.at - START
        figures.serials.append((at, None))
        if figures.retired is None:
            figures.retired, figures.retire_reason = at, previous.retirement.reason

    async def ask(self, name: str, expected: int, phase: Phase, now: float) -> None:
        """Ask ``name`` as a client and count the reply."""
        figures = self.figures
        if not figures.phases or figures.phases[-1].phase != phase:
            figures.phases.append(PhaseFigures(phase))
        reply = await ask(self.resolver, name)
        count_reply(figures.phases[-1], reply, name, name in self.known, now)
        hour = int((now - START) // HOUR)
        figures.hourly_queries[hour] += 1
        if reply.rcode() == dns.rcode.SERVFAIL:
            figures.hourly_servfail[hour] += 1
            return
        self.known.add(name)
        figures.wrong_rcode += reply.rcode() != expected


class _Mix:
    """The client queries: the catalogue's names, names under absent TLDs, new names."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._fresh = itertools.count()
        self._names = (*POPULAR, *INSECURE, *OTHER_SIGNED, *NONEXISTENT)

    def next(self) -> tuple[str, int]:
        """A name to ask and the rcode it must get."""
        draw = self._random.random()
        if draw < FRESH_SHARE / 2:
            return f"n{next(self._fresh)}.{self._random.choice(LAB_TLDS)}", dns.rcode.NXDOMAIN
        if draw < FRESH_SHARE:
            number = next(self._fresh)
            return f"n{number}.absent{number}.", dns.rcode.NXDOMAIN
        name = self._random.choice(self._names)
        return name, dns.rcode.NXDOMAIN if name in NONEXISTENT else dns.rcode.NOERROR


#: The query loop's ticks are this far off the refresh tasks' timers (whole
#: seconds after T0 for A, after its start for B), so that no two tasks wake
#: at one instant and Trio's scheduling order cannot change the figures.
_TICK_OFFSET = 0.5
#: Instance B starts this far after a tick, for the same reason.
_RESTART_OFFSET = 0.25


class _Drill:
    """The lab, the publication point, the instances, and the loop that drives them."""

    def __init__(self, schedule: Schedule, directory: Path) -> None:
        self.schedule = schedule
        self.directory = directory
        self.clock = TrioWallClock(START)
        self.lab = Lab.build(self.clock)
        self.publication = Publication(self.lab, self.clock, START)
        self.instances: list[_Instance] = []
        self._pending = list(schedule.publications())
        self._phases = schedule.phases()

    def offset(self) -> float:
        """Seconds since T0."""
        return self.clock.wall() - START

    async def run(self, queries_per_minute: float, seed: int) -> None:
        """Publish v1, start A, then one query a tick to every instance up, until the end."""
        self._publish_due()
        async with trio.open_nursery() as nursery:
            await self._start(nursery, "A")
            mix = _Mix(seed)
            interval = 60.0 / queries_per_minute
            base = trio.current_time()
            restart = self.schedule.restart
            for tick in itertools.count():
                offset = _TICK_OFFSET + tick * interval
                if offset >= self.schedule.end:
                    break
                await trio.sleep_until(base + offset)
                self._publish_due()
                if restart is not None and offset >= restart:
                    restart = None
                    await trio.sleep(_RESTART_OFFSET)
                    await self._start(nursery, "B")
                await self._ask(*mix.next())
            nursery.cancel_scope.cancel()

    async def _start(self, nursery: trio.Nursery, name: str) -> None:
        instance = _Instance(self, name)
        self.instances.append(instance)
        await instance.start(nursery)

    async def _ask(self, name: str, expected: int) -> None:
        now = self.clock.wall()
        phase = [phase for start, phase in self._phases if start <= now - START][-1]
        for instance in self.instances:
            instance.observe()
            await instance.ask(name, expected, phase, now)

    def _publish_due(self) -> None:
        """Publish every version whose time has come."""
        now = self.clock.wall()
        while self._pending and self._pending[0][0] <= now - START:
            at, kind = self._pending.pop(0)
            if at == 0.0:
                window = Window(int(now - HOUR), int(START + self.schedule.v1_expiry))
            else:
                window = Window.valid(now)
            self.publication.publish(kind, window)


async def root_zonemd_2023(
    *,
    schedule: Schedule | None = None,
    queries_per_minute: float = 1.0,
    seed: int = 2023,
) -> RootDrillReport:
    """Run the drill (under a Trio clock that may jump: use ``trio.testing.MockClock``).

    Raises:
        LabError: the schedule runs past the lab's signatures.
    """
    schedule = schedule or Schedule()
    if schedule.end > (LAB_SIGNATURE_DAYS - 1) * DAY:
        raise LabError(
            f"the lab's zones are signed for {LAB_SIGNATURE_DAYS:g} days: "
            f"run at most {LAB_SIGNATURE_DAYS - 1:g}"
        )
    with tempfile.TemporaryDirectory(prefix="holdfast-root-drill-") as directory:
        drill = _Drill(schedule, Path(directory))
        await drill.run(queries_per_minute, seed)
    report = RootDrillReport(schedule, queries_per_minute)
    report.versions = [(v.published, v.serial, v.kind) for v in drill.publication.versions]
    report.instances = [instance.figures for instance in drill.instances]
    return report
