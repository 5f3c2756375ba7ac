"""Keeping the managed trust anchors current: the Trio shell around ``dnssec.rfc5011``.

At each trust point's active refresh time (RFC 5011 2.3), the zone's
DNSKEY RRset is asked of the resolver itself, as a client with DO=1 would
(validated with the anchors in use, from the cache while its TTL lasts, as
Unbound's probe does); a SECURE, fresh answer is fed to
``rfc5011.refresh``, anything else counts as a failed refresh and is retried
after the retry time. The state file is then written (in a thread,
atomically), and when the set of trusted keys changed the resolver is
handed the new anchors.

What a change does to the caches: nothing is flushed. A key becoming Valid
leaves every earlier verdict true; a key revoked (or a trust point deleted)
ends its trust for what is validated from now on, so the zone key verdicts
(``KeyCache``) are dropped and each zone's keys are judged again, from the
DNSKEY and DS RRsets already cached, with the new anchors. Cached answers
keep their TTL, as with Unbound, which changes an anchor in place. (A
reload that *replaces* anchors by hand flushes the whole cache instead:
``reload.py``.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dns.name
import dns.rdatatype
import dns.rrset
import trio

from dnssec.anchors import TrustAnchors
from dnssec.anchorstate import anchors_of, render, write_atomically
from dnssec.rfc5011 import NotValidated, TrustPoint, failed, refresh
from dnssec.status import Security
from dnssec.work import WorkLimits
from resolver.clock import Clock
from resolver.messages import ClientQuery
from resolver.question import Outcome, Question
from resolver.validation import KeyCache

if TYPE_CHECKING:
    from resolver.daemon import Resolver

log = logging.getLogger("holdfast.anchors")

#: Longest sleep between looks at the wall clock: a clock stepped forward
#: (or a suspended host) is noticed within this many seconds.
MAX_SLEEP = 600.0

#: Asks the resolver for a zone's DNSKEY RRset.
Fetch = Callable[[dns.name.Name], Awaitable[Outcome]]
#: Hands the resolver a new set of trust anchors.
Install = Callable[[TrustAnchors], None]


class AnchorMaintainer:
    """The trust points of one state file, refreshed in time, written after each refresh."""

    def __init__(
        self,
        path: Path,
        points: Sequence[TrustPoint],
        clock: Clock,
        limits: WorkLimits,
    ) -> None:
        self.path = path
        self.points = list(points)
        #: The anchors of ``[dnssec] trust_anchors``, kept beside the managed ones.
        self.static = TrustAnchors(())
        self.clock = clock
        self.limits = limits

    def keep_static(self, anchors: TrustAnchors) -> None:
        """Keep those of ``anchors`` outside the managed zones as the static ones.

        At start and at a reload, ``anchors`` are all those read from the
        files; the managed zones' anchors are this maintainer's own.
        """
        zones = self.zones()
        self.static = TrustAnchors(tuple(r for r in anchors.rrsets if r.name not in zones))

    def anchors(self) -> TrustAnchors:
        """Every anchor in force: the static ones and the managed keys trusted now."""
        return TrustAnchors.merge((self.static, anchors_of(self.points)))

    def zones(self) -> frozenset[dns.name.Name]:
        return frozenset(point.zone for point in self.points)

    def next_due(self) -> float:
        """When the next trust point is due for a refresh (wall clock)."""
        return min((point.next_probe for point in self.points), default=float("inf"))

    async def refresh_due(self, fetch: Fetch, install: Install) -> bool:
        """Refresh every trust point that is due; True if the trusted keys changed.

        The file is written when any point was refreshed; a write that fails
        is logged and tried again at the next refresh (the states are kept).
        """
        now = int(self.clock.wall())
        refreshed = trust_changed = False
        for index, point in enumerate(self.points):
            if point.next_probe > now:
                continue
            refreshed = True
            outcome = await fetch(point.zone)
            new, changed = self._judge(point, outcome, now)
            self.points[index] = new
            trust_changed |= changed
        if refreshed:
            try:
                await trio.to_thread.run_sync(write_atomically, self.path, render(self.points))
            except OSError as error:
                log.error("cannot write the trust anchor file %s: %s; the states are kept "
                          "in memory and written at the next refresh", self.path, error,
                          extra={"event": "trust_anchor_file_unwritable"})
        if trust_changed:
            install(self.anchors())
        return trust_changed

    def _judge(self, point: TrustPoint, outcome: Outcome, now: int) -> tuple[TrustPoint, bool]:
        """The trust point after ``outcome``, and whether its trusted keys changed."""
        dnskeys = _find(outcome.answer, point.zone, dns.rdatatype.DNSKEY)
        rrsigs = _find(outcome.signatures, point.zone, dns.rdatatype.RRSIG)
        if outcome.security is not Security.SECURE or outcome.stale or dnskeys is None:
            reason = "; ".join(error.text for error in outcome.errors) or outcome.security.value
            log.warning("trust anchor refresh of %s failed (%s); retry in %d s", point.zone,
                        reason, point.retry_time,
                        extra={"event": "trust_anchor_refresh_failed", "zone": str(point.zone)})
            return failed(point, now), False
        try:
            result = refresh(point, dnskeys, rrsigs, now, self.limits)
        except NotValidated as error:
            log.warning("trust anchor refresh of %s: %s; retry in %d s", point.zone, error,
                        point.retry_time,
                        extra={"event": "trust_anchor_refresh_failed", "zone": str(point.zone)})
            return error.point, error.point.trusted() != point.trusted()
        for change in result.changes:
            log.warning("trust anchor %s %s", point.zone, change,
                        extra={"event": "trust_anchor_state", "zone": str(point.zone),
                               "key_tag": change.tag, "state": change.after.value})
        return result.point, result.trust_changed

    async def run(
        self,
        resolver: Resolver,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Refresh as the timers say until cancelled (the recursor must be running)."""

        async def fetch(zone: dns.name.Name) -> Outcome:
            return await ask_dnskey(resolver, zone)

        task_status.started()
        while True:
            await self.refresh_due(fetch, lambda anchors: install(resolver, anchors))
            wait = self.next_due() - self.clock.wall()
            await trio.sleep(min(max(wait, 1.0), MAX_SLEEP))


async def ask_dnskey(resolver: Resolver, zone: dns.name.Name) -> Outcome:
    """``zone``'s DNSKEY RRset as the resolver answers a client asking with DO=1."""
    question = Question(zone, dns.rdatatype.DNSKEY)
    query = ClientQuery(id=0, question=question, dnssec_ok=True, edns=True, payload=65_535)
    return await resolver.recursor.handle(query)


def install(resolver: Resolver, anchors: TrustAnchors) -> None:
    """Put ``anchors`` in force: the validator and the local root use them from now on."""
    resolver.anchors = anchors
    validator = resolver.iterator.validator
    validator.anchors = anchors
    validator.keys = KeyCache(resolver.clock, resolver.cache)  # zone keys judged again
    if resolver.root_service is not None:
        resolver.root_service.anchors = anchors
    log.warning("trust anchors now: %s", ", ".join(str(zone) for zone in anchors.zones()),
                extra={"event": "trust_anchors_changed", "flushed": 0})


def _find(
    rrsets: Sequence[dns.rrset.RRset], name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    """The RRset of ``name`` and ``rdtype`` (for RRSIG: those covering DNSKEY)."""
    for rrset in rrsets:
        if rrset.name == name and rrset.rdtype == rdtype and (
            rdtype != dns.rdatatype.RRSIG or rrset.covers == dns.rdatatype.DNSKEY
        ):
            return rrset
    return None
