"""How long a root copy may be used, and the holder every code path asks.

The October 2023 1.1.1.1 outage was a copy kept for two weeks after it
stopped refreshing, until its signatures expired. Here a copy's life has
two bounds, both computed when it is installed:

* **stale** once its last successful refresh is older than SOA refresh +
  retry: still used, but the alarm is raised (log, metric, status);
* **retired** at the earliest of last successful refresh + SOA expire, the
  earliest RRSIG expiration minus a safety margin, and the operator's
  maximum age. A retired copy answers nothing; resolution goes back to the
  root servers until a new copy loads.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import dns.message
import dns.name
import dns.rdatatype

from dnssec.signatures import utc_text
from rootzone.model import RootCopy

log = logging.getLogger("holdfast.rootzone")

#: Seconds before the earliest RRSIG expiration that a copy is retired.
SAFETY_MARGIN = 3600


@dataclass(frozen=True, slots=True)
class LifetimePolicy:
    """The operator's bounds on a copy's life (``[local_root]`` options).

    Attributes:
        safety_margin: retire this many seconds before the earliest RRSIG
            expiration.
        max_age: retire a copy this many seconds after it was loaded, even
            if it keeps refreshing; None for no such bound.
    """

    safety_margin: int = SAFETY_MARGIN
    max_age: int | None = None


@dataclass(frozen=True, slots=True)
class Retirement:
    """When a copy is retired, and which bound decided it (for logs and status)."""

    at: float
    reason: str


def retirement(
    copy: RootCopy, *, loaded_at: float, refreshed_at: float, policy: LifetimePolicy
) -> Retirement:
    """The moment ``copy`` stops being used: the earliest of its three bounds.

    Args:
        copy: the copy.
        loaded_at: when it was installed (the start of ``max_age``).
        refreshed_at: its last successful refresh (the start of SOA expire).
        policy: the operator's bounds.
    """
    bounds = [
        Retirement(
            refreshed_at + copy.expire, f"SOA expire ({copy.expire} s) after the last refresh"
        )
    ]
    if copy.earliest_expiration is not None:
        bounds.append(
            Retirement(
                copy.earliest_expiration - policy.safety_margin,
                f"{policy.safety_margin} s before its earliest signature expiration",
            )
        )
    if policy.max_age is not None:
        bounds.append(Retirement(loaded_at + policy.max_age, f"max_age ({policy.max_age} s)"))
    return min(bounds, key=lambda bound: bound.at)


class RootState(enum.Enum):
    """Where the local root stands, as status and metrics show it."""

    #: No copy has been loaded (resolution goes to the root servers).
    NONE = "none"
    #: A copy is in use and its last refresh is recent.
    FRESH = "fresh"
    #: A copy is in use, but it has not refreshed for refresh + retry: alarm.
    STALE = "stale"
    #: The copy passed a bound of its life and is no longer used.
    RETIRED = "retired"
    #: The operator turned the local root off (``ctl local-root disable``).
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Installed:
    """The copy in use, with the times its life is computed from."""

    copy: RootCopy
    loaded_at: float
    refreshed_at: float
    retirement: Retirement

    @property
    def stale_at(self) -> float:
        """When the copy turns stale: refresh + retry after its last refresh."""
        return self.refreshed_at + self.copy.refresh + self.copy.retry


@dataclass(frozen=True, slots=True)
class Rejection:
    """The last candidate refused or source failure, for status and logs."""

    at: float
    source: str
    kind: str
    reason: str


#: Seconds between attempts while no copy is in use (the copy's SOA retry
#: applies once there is one).
NO_COPY_RETRY = 300


class LocalRoot:
    """The one holder of the copy in use, asked by every code path.

    The iterator calls ``answer`` for every question to the root zone:
    client queries, NS address lookups, DS and DNSKEY fetches and prefetch
    all go through it, so ``disable``, retirement and a new copy take effect
    on all of them at the next question. ``answer`` checks the retirement
    time itself, so a copy is never used past its bound even if the refresh
    task is late. The refresh task (``rootzone.service``) calls ``install``,
    ``confirm`` and ``reject``; it never mutates a copy, it swaps it.
    """

    def __init__(self, now: Callable[[], float], policy: LifetimePolicy | None = None) -> None:
        self._now = now
        self.policy = policy or LifetimePolicy()
        self.enabled = True
        self._installed: Installed | None = None
        self._retired: Installed | None = None
        self.last_rejection: Rejection | None = None
        self.last_attempt: float | None = None
        self.last_attempt_failed = False
        self.rejections: Counter[str] = Counter()
        self.answered = 0
        self.bogus = 0
        self._stale_logged = False
        #: Called when the copy stops being used (retired or disabled), so
        #: that data taken from it can be forgotten too.
        self.on_withdrawn: Callable[[], object] | None = None

    # -- what the iterator asks ------------------------------------------

    def answer(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.message.Message | None:
        """The root's reply to (qname, rdtype) from the copy, or None to ask the root servers."""
        installed = self.in_use()
        if installed is None:
            return None
        self.answered += 1
        return installed.copy.answers.answer(qname, rdtype)

    def in_use(self) -> Installed | None:
        """The copy that may be used now: enabled, loaded and not past its retirement."""
        return self._current() if self.enabled else None

    def now(self) -> float:
        """The wall clock the lifetimes are measured on (POSIX seconds)."""
        return self._now()

    @property
    def installed(self) -> Installed | None:
        """The copy loaded and not retired, with its times, even while disabled."""
        return self._current()

    @property
    def copy(self) -> RootCopy | None:
        """The copy loaded and not retired, even while disabled: what a candidate must beat."""
        installed = self._current()
        return None if installed is None else installed.copy

    def _current(self) -> Installed | None:
        """The copy loaded, retired first if it is past its bound."""
        installed = self._installed
        if installed is not None and self._now() >= installed.retirement.at:
            self._retire(installed)
            return None
        return installed

    # -- what the refresh task tells it ------------------------------------

    def install(
        self, copy: RootCopy, *, refreshed_at: float | None = None, loaded_at: float | None = None
    ) -> None:
        """Start using ``copy`` (one assignment: queries see the old copy or this one).

        ``refreshed_at`` is its last successful refresh when that is older
        than now (a copy saved by a previous run); by default now.
        ``loaded_at`` is when it was first loaded, when that was earlier (a
        worker adopting the copy its supervisor loaded: ``max_age`` counts
        from the supervisor's load); by default now.
        """
        now = self._now()
        refreshed = now if refreshed_at is None else min(refreshed_at, now)
        loaded = now if loaded_at is None else min(loaded_at, now)
        self._installed = self._with_times(copy, loaded_at=loaded, refreshed_at=refreshed)
        self._retired = None
        self._stale_logged = False
        self._attempted(failed=False)
        retire_at = utc_text(int(self._installed.retirement.at))
        log.info(
            "local root serial %d loaded from %s (ZONEMD %s: %s); retired at %s at the latest",
            copy.serial,
            copy.source,
            copy.zonemd.status.value,
            copy.zonemd.detail,
            retire_at,
            extra={"event": "local_root_loaded", "serial": copy.serial, "retire_at": retire_at},
        )

    def confirm(self, *, refreshed_at: float | None = None) -> None:
        """A source was reached and has nothing newer: a successful refresh (RFC 1996).

        ``refreshed_at``: when, if not now (a worker told by its supervisor).
        """
        self._attempted(failed=False)
        installed = self._current()
        if installed is None:
            return
        now = self._now()
        refreshed = now if refreshed_at is None else min(refreshed_at, now)
        self._installed = self._with_times(
            installed.copy, loaded_at=installed.loaded_at, refreshed_at=refreshed
        )
        self._stale_logged = False

    def _with_times(self, copy: RootCopy, *, loaded_at: float, refreshed_at: float) -> Installed:
        """``copy`` with its times and the retirement they give under the policy."""
        return Installed(
            copy,
            loaded_at,
            refreshed_at,
            retirement(copy, loaded_at=loaded_at, refreshed_at=refreshed_at, policy=self.policy),
        )

    def reject(self, source: str, kind: str, reason: str, *, repeat: bool = False) -> None:
        """A candidate was refused or a source failed; the copy in use stays.

        ``repeat``: the same candidate again (not parsed again): the attempt
        failed, but it is logged and counted once.
        """
        self._attempted(failed=True)
        if repeat:
            log.debug("local root candidate from %s still refused: %s", source, reason)
            return
        self.rejections[kind] += 1
        self.last_rejection = Rejection(self._now(), source, kind, reason)
        log.error(
            "local root candidate refused: %s",
            reason,
            extra={"event": "local_root_rejected", "source": source, "kind": kind},
        )

    def attempt_failed(self) -> None:
        """A round over the sources brought neither a copy nor a confirmation."""
        self._attempted(failed=True)

    def report_bogus(self, reason: str) -> None:
        """Data from the copy failed validation at query time (a changed anchor, a clock jump).

        The question is retried at the root servers; this is logged and
        counted so that the operator sees it.
        """
        self.bogus += 1
        log.error(
            "local root data failed validation: %s", reason, extra={"event": "local_root_bogus"}
        )

    def disable(self) -> None:
        """Stop using the local root on every path, at the next question."""
        self.enabled = False
        log.warning("local root disabled by the operator", extra={"event": "local_root_disabled"})
        self._withdrawn()

    def enable(self) -> None:
        """Use the local root again (if a usable copy is loaded)."""
        self.enabled = True
        log.warning("local root enabled by the operator", extra={"event": "local_root_enabled"})

    # -- timing and state ---------------------------------------------------

    def next_check(self) -> float:
        """When the refresh task should next try its sources (or note a change of state).

        SOA refresh after a good refresh, SOA retry after a failed one,
        ``NO_COPY_RETRY`` without a copy; never later than the moment the
        copy turns stale or is retired, so those are logged on time.
        """
        now = self._now()
        installed = self._current()
        if installed is None:
            last = self.last_attempt if self.last_attempt is not None else now
            return last + NO_COPY_RETRY
        copy = installed.copy
        if self.last_attempt_failed and self.last_attempt is not None:
            due = self.last_attempt + copy.retry
        else:
            due = installed.refreshed_at + copy.refresh
        for moment in (installed.stale_at, installed.retirement.at):
            if moment > now:
                due = min(due, moment)
        return due

    def state(self) -> RootState:
        """The state now (stale is logged once per episode, at WARN)."""
        if not self.enabled:
            return RootState.DISABLED
        installed = self._current()
        if installed is None:
            return RootState.RETIRED if self._retired is not None else RootState.NONE
        if self._now() >= installed.stale_at:
            if not self._stale_logged:
                self._stale_logged = True
                log.warning(
                    "local root serial %d is stale: no successful refresh since %s",
                    installed.copy.serial,
                    utc_text(int(installed.refreshed_at)),
                    extra={"event": "local_root_stale", "serial": installed.copy.serial},
                )
            return RootState.STALE
        return RootState.FRESH

    def status(self) -> dict[str, object]:
        """What ``holdfast ctl local-root status`` shows."""
        now = self._now()
        state = self.state()
        installed = self._installed or self._retired
        result: dict[str, object] = {"state": state.value, "enabled": self.enabled}
        if installed is not None:
            copy = installed.copy
            result.update(
                serial=copy.serial,
                source=copy.source,
                zonemd=copy.zonemd.status.value,
                zonemd_detail=copy.zonemd.detail,
                loaded_at=utc_text(int(installed.loaded_at)),
                last_refresh=utc_text(int(installed.refreshed_at)),
                age_seconds=round(now - installed.loaded_at),
                stale_at=utc_text(int(installed.stale_at)),
                retire_at=utc_text(int(installed.retirement.at)),
                retire_reason=installed.retirement.reason,
                seconds_to_retirement=round(max(0.0, installed.retirement.at - now)),
            )
        if self.last_rejection is not None:
            rejection = self.last_rejection
            result["last_rejection"] = {
                "at": utc_text(int(rejection.at)),
                "source": rejection.source,
                "kind": rejection.kind,
                "reason": rejection.reason,
            }
        result["rejections"] = dict(self.rejections)
        result["answers_from_copy"] = self.answered
        result["bogus_from_copy"] = self.bogus
        result["next_check"] = utc_text(int(self.next_check()))
        return result

    def _attempted(self, *, failed: bool) -> None:
        self.last_attempt = self._now()
        self.last_attempt_failed = failed

    def _retire(self, installed: Installed) -> None:
        if self._installed is not installed:
            return
        self._installed = None
        self._retired = installed
        log.error(
            "local root serial %d retired (%s); resolving through the root servers",
            installed.copy.serial,
            installed.retirement.reason,
            extra={"event": "local_root_retired", "serial": installed.copy.serial},
        )
        self._withdrawn()

    def _withdrawn(self) -> None:
        if self.on_withdrawn is not None:
            self.on_withdrawn()

