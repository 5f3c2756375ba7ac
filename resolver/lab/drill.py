"""Incident drills: replay a real outage against a whole resolver over the lab.

``tld_expired_sigs_2023`` replays 9 July 2023 (shared/incidents.md): some
instances of the .com/.net servers served signatures that had expired, and
a validating resolver that asked them returned SERVFAIL for up to 13% of its
upstream queries until operators rerouted traffic by hand. Here the lab's
four com/net instances (127.53.1.1-4) go bad one after another, on a share
of their responses, then all of them on every response, then heal; a steady
query mix over com/net names runs throughout. The resolver is the one
``holdfast serve`` builds (``daemon.build``), over the in-memory lab, with
simulated time: the wall clock is a ``FakeClock`` and Trio's clock jumps, so
hours take seconds and every run with the same seed gives the same figures.

What is measured, per phase:

* **SERVFAIL rate**, split into names answered before (for which a stale
  answer exists) and names never asked before;
* **stale answers** served (EDE 3 or 19);
* **bogus answers served**: responses that carry an RRSIG outside its
  validity window at the time of the answer, checked independently of the
  resolver by reading the RRSIGs it returned (DO=1). Must be 0;
* **AD missing** on an answer for a name in a signed zone;
* **time to route around** each bad instance: from the moment it starts
  serving expired signatures until it is held down for com. or net.;
* **recovery**: after the heal, how long until no instance is held down any
  more, compared with the longest hold-down in force at the heal.

Used by ``tests/scenarios/test_drill.py`` and by
``holdfast drill tld-expired-sigs-2023``.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import trio

from resolver import daemon
from resolver.clock import Clock, FakeClock
from resolver.config import Config
from resolver.lab.faults import parse_fault
from resolver.lab.lab import Lab
from resolver.lab.network import LabTransport
from rootzone.service import in_thread

#: The lab's com/net instances (one address each, like anycast instances).
INSTANCES = ("127.53.1.1", "127.53.1.2", "127.53.1.3", "127.53.1.4")
#: The zones whose signatures go bad.
TLDS = ("com.", "net.")
#: Signed names in com/net zones of the lab that clients ask for.
POPULAR = (
    "www.example.com.",
    "mail.example.com.",
    "www.example.net.",
    "alias.example.com.",
    "www.noglue.com.",
    "example.com.",
)
#: Insecure names in the mix (no AD expected).
INSECURE = ("www.insecure.com.",)
_STALE_CODES = {dns.edns.EDECode.STALE_ANSWER, dns.edns.EDECode.STALE_NXDOMAIN_ANSWER}


@dataclass(frozen=True, slots=True)
class Phase:
    """One stretch of the drill: how many instances are bad, on what share of replies."""

    name: str
    bad: int
    share: float
    minutes: float


@dataclass(slots=True)
class PhaseFigures:
    """What clients saw during one phase."""

    phase: Phase
    queries: int = 0
    servfail: int = 0
    known_queries: int = 0
    known_servfail: int = 0
    stale: int = 0
    bogus_served: int = 0
    ad_missing: int = 0

    @property
    def servfail_rate(self) -> float:
        return self.servfail / self.queries if self.queries else 0.0

    @property
    def known_servfail_rate(self) -> float:
        return self.known_servfail / self.known_queries if self.known_queries else 0.0


@dataclass(slots=True)
class DrillReport:
    """The whole drill's figures."""

    phases: list[PhaseFigures] = field(default_factory=list)
    #: Seconds from an instance going bad to its first hold-down, per instance.
    route_around: dict[str, float] = field(default_factory=dict)
    #: Longest hold-down left at the heal, seconds.
    holddown_at_heal: float = 0.0
    #: Seconds from the heal until no instance was held down (None: not within the drill).
    recovered_after: float | None = None

    @property
    def bogus_served(self) -> int:
        return sum(figures.bogus_served for figures in self.phases)

    def as_json(self) -> dict[str, object]:
        """The figures as JSON-able values."""
        return {
            "phases": [
                {
                    "phase": f.phase.name,
                    "queries": f.queries,
                    "servfail": f.servfail,
                    "known_queries": f.known_queries,
                    "known_servfail": f.known_servfail,
                    "stale": f.stale,
                    "bogus_served": f.bogus_served,
                    "ad_missing": f.ad_missing,
                }
                for f in self.phases
            ],
            "route_around_seconds": self.route_around,
            "holddown_at_heal_seconds": self.holddown_at_heal,
            "recovered_after_seconds": self.recovered_after,
            "bogus_served": self.bogus_served,
        }

    def text(self) -> str:
        """The report as a table for people."""
        lines = [
            f"{'phase':<38} {'queries':>7} {'SERVFAIL':>8} {'known':>7} {'stale':>6} "
            f"{'bogus':>5} {'no AD':>5}",
        ]
        for f in self.phases:
            lines.append(
                f"{f.phase.name:<38} {f.queries:>7} {f.servfail_rate:>8.1%} "
                f"{f.known_servfail_rate:>7.1%} {f.stale:>6} {f.bogus_served:>5} "
                f"{f.ad_missing:>5}"
            )
        lines.append("(SERVFAIL: all queries; known: names answered before, which have stale data)")
        for address, seconds in sorted(self.route_around.items()):
            lines.append(f"{address} held down {seconds:.0f} s after it went bad")
        lines.append(f"longest hold-down at the heal: {self.holddown_at_heal / 60:.1f} min")
        recovered = (
            "not within the drill"
            if self.recovered_after is None
            else f"{self.recovered_after / 60:.1f} min"
        )
        lines.append(f"every instance back in rotation after the heal: {recovered}")
        lines.append(f"bogus answers served: {self.bogus_served}")
        return "\n".join(lines)


def default_phases(minutes: float = 20.0, recovery_minutes: float = 60.0) -> tuple[Phase, ...]:
    """Healthy; one, two, three of four instances bad on half their replies; all bad; healed."""
    return (
        Phase("healthy", 0, 0.0, minutes),
        Phase("1 of 4 instances bad (50% of replies)", 1, 0.5, minutes),
        Phase("2 of 4 instances bad (50% of replies)", 2, 0.5, minutes),
        Phase("3 of 4 instances bad (50% of replies)", 3, 0.5, minutes),
        Phase("4 of 4 instances bad (every reply)", 4, 1.0, minutes),
        Phase("healed", 0, 0.0, recovery_minutes),
    )


async def tld_expired_sigs_2023(
    *,
    phases: tuple[Phase, ...] | None = None,
    queries_per_minute: float = 60.0,
    seed: int = 2023,
    start: float = 1_700_000_000.0,
) -> DrillReport:
    """Run the drill (under a Trio clock that may jump: use ``trio.testing.MockClock``)."""
    phases = phases or default_phases()
    rng = random.Random(seed)
    clock = FakeClock(start)
    lab = Lab.build(clock)
    with tempfile.TemporaryDirectory(prefix="holdfast-drill-") as directory:
        resolver = lab_resolver(lab, clock, Path(directory))
        report = DrillReport()
        known: set[str] = set()
        population = [*POPULAR, *INSECURE] + [
            f"d{i}.{tld}" for i in range(150) for tld in TLDS
        ]
        fresh = iter(range(10**9))
        async with trio.open_nursery() as nursery:
            await nursery.start(resolver.recursor.run)
            for phase in phases:
                figures = PhaseFigures(phase)
                report.phases.append(figures)
                _set_faults(lab, phase)
                went_bad = clock.wall()
                heal = phase.bad == 0 and report.phases[0] is not figures
                if heal:
                    report.holddown_at_heal = max(
                        (held.until - went_bad for held in resolver.selection.holddowns()),
                        default=0.0,
                    )
                for _ in range(round(phase.minutes * queries_per_minute)):
                    clock.advance(60.0 / queries_per_minute)
                    if rng.random() < 0.2:
                        name = f"n{next(fresh)}.{rng.choice(TLDS)}"
                    else:
                        name = rng.choice(population)
                    reply = await ask(resolver, name)
                    count_reply(figures, reply, name, name in known, clock.wall())
                    if reply.rcode() != dns.rcode.SERVFAIL:
                        known.add(name)
                    held = {h.address for h in resolver.selection.holddowns() if h.zone in TLDS}
                    for address in INSTANCES[: phase.bad]:
                        if address in held and address not in report.route_around:
                            report.route_around[address] = clock.wall() - went_bad
                    if heal and report.recovered_after is None and not held:
                        report.recovered_after = clock.wall() - went_bad
            nursery.cancel_scope.cancel()
    return report


def lab_resolver(
    lab: Lab,
    clock: Clock,
    directory: Path,
    transport: LabTransport | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> daemon.Resolver:
    """The resolver ``holdfast serve`` builds, over the in-memory lab.

    The lab's root hints and trust anchor are written to ``directory``, as
    an operator would pass them; ``overrides`` are further options
    (``section.key``). Drills and the resolver's end-to-end tests share it.
    A new local root copy is checked in a thread rather than a process:
    quicker to start, and the same code.
    """
    hints = directory / "root.hints"
    hints.write_text(lab.root_hints_text())
    anchor = directory / "trust-anchor.ds"
    anchor.write_text(lab.trust_anchor_text())
    config = Config.defaults().with_overrides(
        {
            "upstream.root_hints": str(hints),
            "dnssec.trust_anchors": [str(anchor)],
            **(overrides or {}),
        },
        source="lab",
    )
    return daemon.build(config, clock, transport or LabTransport(lab), offload=in_thread)


def _set_faults(lab: Lab, phase: Phase) -> None:
    for index, address in enumerate(INSTANCES):
        lab.clear_faults(address)
        if index < phase.bad:
            for tld in TLDS:
                lab.set_fault(address, parse_fault(f"expired-sigs:{phase.share:g}"), zone=tld)


async def ask(
    resolver: daemon.Resolver, name: str, rdtype: str = "A", *, cd: bool = False
) -> dns.message.Message:
    """Ask ``resolver`` as a client on 127.0.0.1 would, with DO=1 (and CD if ``cd``)."""
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    if cd:
        query.flags |= dns.flags.CD
    wire = await resolver.server.answer(query.to_wire(), "127.0.0.1", tcp=False)
    assert wire is not None
    return dns.message.from_wire(wire)


def count_reply(
    figures: PhaseFigures, reply: dns.message.Message, name: str, known: bool, now: float
) -> None:
    """Count one client reply in ``figures``: SERVFAIL, stale, AD missing, bad RRSIG window."""
    figures.queries += 1
    figures.known_queries += known
    if reply.rcode() == dns.rcode.SERVFAIL:
        figures.servfail += 1
        figures.known_servfail += known
        return
    codes = {o.code for o in reply.options if isinstance(o, dns.edns.EDEOption)}
    figures.stale += bool(codes & _STALE_CODES)
    if name not in INSECURE and not reply.flags & dns.flags.AD:
        figures.ad_missing += 1
    for rrset in (*reply.answer, *reply.authority):
        if rrset.rdtype == dns.rdatatype.RRSIG and any(
            not sig.inception <= now <= sig.expiration for sig in rrset
        ):
            figures.bogus_served += 1
            break
