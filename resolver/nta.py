"""Negative trust anchors (RFC 7646): zones whose DNSSEC the operator set aside.

Why: when a zone's operator breaks its signatures (an expired RRSIG, a key
rolled without its DS), every validating resolver answers SERVFAIL for the
zone until they fix it. RFC 7646 lets a resolver's operator declare such a
zone, and everything below it, insecure for a while: its names are answered
without validation (no AD, and no SERVFAIL for bad signatures), while every
other zone stays validated. Unbound calls it ``domain-insecure`` (in the
configuration) and ``insecure_add`` (at run time); Knot Resolver
``trust_anchors.set_insecure``.

Where it acts: ``Validator.zone_keys`` asks ``covering(zone)`` before
anything else, so a zone under an anchor gets insecure keys without a key
being fetched, and ``Verdict``\\ s come out INSECURE. Nothing is kept in the
key cache for it, so deleting the anchor takes effect at the next query
(``holdfast ctl nta`` also flushes the zone's cached answers, both ways).

Anchors from the configuration (``[dnssec] negative_trust_anchors``) last
until the configuration changes, as Unbound's ``domain-insecure`` does; those
added with ``holdfast ctl nta add`` expire, by default after a day and at
most after a week (RFC 7646 section 2: an NTA should not outlive the
problem, and its lifetime should be limited). Pure: expiry reads the
injected wall clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dns.name

from dnssec.errors import HoldfastError
from dnssec.signatures import utc_text
from resolver.clock import Clock

#: Seconds an anchor added at run time lasts unless told otherwise.
DEFAULT_LIFETIME = 86_400.0
#: The longest run-time anchor, seconds (RFC 7646 section 2: about a week).
MAX_LIFETIME = 7 * 86_400.0


def zone_names(texts: Iterable[str]) -> list[dns.name.Name]:
    """The zones of ``[dnssec] negative_trust_anchors`` (checked by the config already)."""
    return [dns.name.from_text(text).canonicalize() for text in texts]


class NtaError(HoldfastError):
    """A negative trust anchor that cannot be added: its lifetime is out of range."""


@dataclass(frozen=True, slots=True)
class NegativeAnchor:
    """One zone set aside, until ``expires`` (POSIX wall time; None: from the configuration)."""

    zone: dns.name.Name
    expires: float | None

    def describe(self, now: float) -> dict[str, Any]:
        """What ``holdfast ctl nta list`` shows of it."""
        return {
            "zone": self.zone.to_text(),
            "origin": "config" if self.expires is None else "ctl",
            "expires": utc_text(int(self.expires)) if self.expires is not None else None,
            "expires_in": max(0, int(self.expires - now)) if self.expires is not None else None,
        }


class NegativeTrustAnchors:
    """The anchors in force, by zone; an expired one is dropped when next looked at."""

    def __init__(self, clock: Clock, configured: Iterable[dns.name.Name] = ()) -> None:
        self._clock = clock
        self._anchors: dict[dns.name.Name, NegativeAnchor] = {}
        #: Validations answered insecure because of an anchor.
        self.applied = 0
        self.configure(configured)

    def configure(self, zones: Iterable[dns.name.Name]) -> None:
        """Make ``zones`` the configured anchors; those added at run time stay."""
        self._anchors = {
            zone: anchor for zone, anchor in self._anchors.items() if anchor.expires is not None
        }
        for zone in zones:
            self._anchors[zone.canonicalize()] = NegativeAnchor(zone.canonicalize(), None)

    def add(self, zone: dns.name.Name, lifetime: float = DEFAULT_LIFETIME) -> NegativeAnchor:
        """Set ``zone`` aside for ``lifetime`` seconds (replacing an anchor it had).

        Raises:
            NtaError: ``lifetime`` is not more than zero and at most ``MAX_LIFETIME``.
        """
        if not (math.isfinite(lifetime) and 0 < lifetime <= MAX_LIFETIME):
            raise NtaError(
                f"a negative trust anchor lasts more than 0 and at most {MAX_LIFETIME:g} "
                f"seconds (RFC 7646 section 2), not {lifetime:g}"
            )
        anchor = NegativeAnchor(zone.canonicalize(), self._clock.wall() + lifetime)
        self._anchors[anchor.zone] = anchor
        return anchor

    def delete(self, zone: dns.name.Name) -> NegativeAnchor | None:
        """Remove the anchor of ``zone`` (configured or not); the removed one, if any."""
        return self._anchors.pop(zone.canonicalize(), None)

    def covering(self, name: dns.name.Name) -> NegativeAnchor | None:
        """The anchor at or closest above ``name``, if one is in force."""
        if not self._anchors:
            return None
        now = self._clock.wall()
        candidate = name.canonicalize()
        while True:
            anchor = self._anchors.get(candidate)
            if anchor is not None:
                if anchor.expires is None or anchor.expires > now:
                    return anchor
                del self._anchors[candidate]
            if candidate == dns.name.root:
                return None
            candidate = candidate.parent()

    def anchors(self) -> list[NegativeAnchor]:
        """The anchors in force, sorted by zone."""
        now = self._clock.wall()
        for zone, anchor in list(self._anchors.items()):
            if anchor.expires is not None and anchor.expires <= now:
                del self._anchors[zone]
        return sorted(self._anchors.values(), key=lambda anchor: anchor.zone)

    def __len__(self) -> int:
        return len(self.anchors())
