"""The plan of one client query: its budget, the zone cuts it walks, what it heard.

Data shared by the resolution stages (``resolver.iterator`` walks the
cuts, ``resolver.servers`` asks a cut's servers, ``resolver.assemble``
gathers the answer), in the spirit of Knot Resolver's ``kr_rplan`` and
``kr_zonecut``: plain values the stages pass to one another instead of
reaching into the iterator.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.name
import dns.rdatatype

from resolver.classify import Classified
from resolver.forwarding import ZonePolicy
from resolver.limits import Budget, Limits
from resolver.trace import NO_TRACE, Tracer
from resolver.validation import Evidence


@dataclass(slots=True)
class ZoneCut:
    """A zone and what we know of its servers.

    ``addresses`` grows while the iterator resolves NS names without glue.
    """

    zone: dns.name.Name
    ns: tuple[dns.name.Name, ...]
    addresses: dict[dns.name.Name, tuple[str, ...]] = field(default_factory=dict)
    #: A stub or forward zone (or an operator route's stub) standing in for
    #: the delegation: its servers' ports, RD and fallback.
    policy: ZonePolicy | None = None

    def known_addresses(self) -> list[str]:
        """Every server address known for the zone (in the order they became known)."""
        return [a for found in self.addresses.values() for a in found]

    def unresolved(self) -> list[dns.name.Name]:
        """NS names whose addresses are not known yet."""
        return [name for name in self.ns if name not in self.addresses]


@dataclass(frozen=True, slots=True)
class Heard:
    """A usable reply: what it says, which zone's server sent it, and how it came."""

    reply: Classified
    zone: dns.name.Name
    address: str
    tcp: bool = False
    policy: ZonePolicy | None = None


#: Questions a plan lists; the rest are only counted (a bound on a query's memory).
MAX_PLANNED = 64


class Purpose(enum.Enum):
    """Why a question was taken up for the client query."""

    CLIENT = "client question"
    ALIAS = "alias target"
    NS_ADDRESS = "NS address"
    EVIDENCE = "key material for the validator"


@dataclass(eq=False, slots=True)
class Planned:
    """One question of the plan (compared by identity: the same one may be asked twice)."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    purpose: Purpose

    def text(self) -> str:
        return f"{self.purpose.value}: {self.name} {dns.rdatatype.to_text(self.rdtype)}"


class QueryBudget(Budget):
    """One client query's plan and budget, and what its key fetches heard over UDP.

    The plan is data (Knot Resolver's ``kr_rplan``: its pending and resolved
    queries): ``asked`` lists every question taken up for the client query,
    the client's own, alias targets, NS names' addresses and the validator's
    DS/DNSKEY fetches, in order, and ``pending`` those still in flight, the
    innermost last. ``describe`` prints it with the budget spent, for
    ``holdfast ctl trace``.

    ``udp_evidence`` keeps, per server, the last DS/DNSKEY answer it sent over
    UDP (question, zone, records, stub or forward zone), so that when the validator finds it
    bogus the same question can be asked again over TCP and the two compared.
    ``trace`` is told each step (``resolver.trace``; ``NO_TRACE`` by default).
    """

    __slots__ = ("asked", "pending", "trace", "udp_evidence", "unlisted")

    def __init__(
        self, limits: Limits, timer: Callable[[], float], trace: Tracer = NO_TRACE
    ) -> None:
        super().__init__(limits, timer)
        self.trace = trace
        self.udp_evidence: dict[
            str,
            tuple[
                dns.name.Name, dns.rdatatype.RdataType, dns.name.Name, Evidence, ZonePolicy | None
            ],
        ] = {}
        self.asked: list[Planned] = []
        #: Questions taken up beyond ``MAX_PLANNED``, counted but not listed.
        self.unlisted = 0
        self.pending: list[Planned] = []

    @contextmanager
    def asking(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, purpose: Purpose
    ) -> Iterator[None]:
        """Hold a question in the plan as pending while the ``with`` body resolves it."""
        planned = Planned(name, rdtype, purpose)
        if len(self.asked) < MAX_PLANNED:
            self.asked.append(planned)
        else:
            self.unlisted += 1
        self.pending.append(planned)
        try:
            yield
        finally:
            self.pending.remove(planned)

    def describe(self) -> list[str]:
        """The plan's questions (pending ones marked) and the budget spent, one line each."""
        lines = [f"plan: {len(self.asked) + self.unlisted} questions, {len(self.pending)} pending"]
        for number, planned in enumerate(self.asked, 1):
            mark = " (pending)" if any(planned is p for p in self.pending) else ""
            lines.append(f"  {number}. {planned.text()}{mark}")
        if self.unlisted:
            lines.append(f"  ... and {self.unlisted} more")
        limits, work = self.limits, self.validation
        lines.append(
            f"budget: {self.queries}/{limits.max_upstream_queries} upstream queries, "
            f"{self.referrals}/{limits.max_referrals} referrals, "
            f"{self.ns_lookups}/{limits.max_ns_lookups} NS lookups, "
            f"{work.signatures}/{work.limits.max_signatures_per_query} signatures checked"
        )
        return lines


def work_spent(budget: Budget) -> bool:
    """Whether validation work hit one of our limits (``ValidationWorkExceeded``).

    A verdict then says nothing about the server: its reply was judged
    bogus because we stopped checking, so no one is held down for it.
    """
    work = budget.validation
    limits = work.limits
    return (
        work.signatures >= limits.max_signatures_per_query
        or work.response_signatures >= limits.max_signatures_per_response
        or work.hashes >= limits.max_nsec3_hashes_per_response
    )
