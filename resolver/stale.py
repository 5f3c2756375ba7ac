"""Serve-stale (RFC 8767): answering from expired data rather than failing.

Why: on 9 July 2023 a validating resolver that asked the .com/.net
instances serving expired signatures had nothing good to answer with and
returned SERVFAIL. The last good answer, a little out of date, is far
better for a client than no answer, as long as it is marked as such.

Place in the query flow: ``recursor.Recursor`` asks ``StaleAnswers`` what to
do in three moments; the cache keeps expired data for ``max_stale`` seconds
and ``iterator.Iterator.cached`` reads it back (never BOGUS data, which the
cache does not keep past its TTL and which never displaces good data).

1. **Resolution failed** (timeouts, SERVFAIL or REFUSED upstream, every
   server bogus or held down): answer with the stale data if there is any.
   The recursor remembers the failure (``failures.FailureCache``, RFC
   9520), for at least ``failure_recheck`` seconds when stale data was
   served (section 4, "failure recheck timer"), and meanwhile that question
   is answered stale at once, so an outage does not turn into a query
   storm upstream.
2. **Fresh resolution is slow** (the client response timer, default 1.8 s,
   section 5): answer the client with the stale data and let the resolution
   go on in the background; when it ends it refreshes the cache.
3. Stale answers carry TTL ``reply_ttl`` (30 s), EDE 3 "Stale Answer" (19
   "Stale NXDOMAIN Answer" for a stale NXDOMAIN) and, after a failure, the
   EDEs that say why fresh data was unavailable (e.g. 22 No Reachable
   Authority, 7 Signature Expired). They keep the validation status they
   were cached with: AD only for data that was SECURE.

Pure: no I/O, no Trio, no clock. The client response timer itself is a
Trio timeout in the recursor, read from ``policy``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import dns.edns
import dns.rcode
import dns.rrset

from dnssec.status import ExtendedError
from resolver.question import Outcome
from resolver.validation import with_ttl

#: EDE codes that mark an answer as stale; never repeated as a "reason".
_STALE_CODES = frozenset({dns.edns.EDECode.STALE_ANSWER, dns.edns.EDECode.STALE_NXDOMAIN_ANSWER})


@dataclass(frozen=True, slots=True)
class StalePolicy:
    """The ``[serve_stale]`` settings (defaults: RFC 8767's suggestions).

    Attributes:
        enabled: Serve stale data at all.
        max_stale: How long past its TTL data is kept for serving, seconds.
        reply_ttl: The TTL of records in a stale answer, seconds.
        client_timeout: Seconds a client waits for fresh data before it
            gets the stale answer (the client response timer).
        failure_recheck: Seconds after a failed refresh during which the
            question is answered stale without asking upstream again.
        prefetch: Refresh data asked for in the last 10% of its TTL.
    """

    enabled: bool = True
    max_stale: float = 86_400.0
    reply_ttl: int = 30
    client_timeout: float = 1.8
    failure_recheck: float = 30.0
    prefetch: bool = True


class StaleAnswers:
    """Turns cached stale outcomes into answers.

    Args:
        policy: The serve-stale settings.
    """

    def __init__(self, policy: StalePolicy) -> None:
        self.policy = policy

    def answer(
        self, cached: Outcome, why: str, reasons: Iterable[ExtendedError] = ()
    ) -> Outcome:
        """The stale answer to give from ``cached`` (``Iterator.cached``'s outcome).

        Args:
            cached: What the cache holds for the question, stale or not.
            why: Why fresh data is not used, for the EDE's EXTRA-TEXT.
            reasons: The EDEs of the failed resolution, if it failed.
        """
        code = (
            dns.edns.EDECode.STALE_NXDOMAIN_ANSWER
            if cached.rcode == dns.rcode.NXDOMAIN
            else dns.edns.EDECode.STALE_ANSWER
        )
        errors = [ExtendedError(code, why)]
        errors.extend(e for e in (*reasons, *cached.errors) if e.code not in _STALE_CODES)
        ttl = self.policy.reply_ttl
        return dataclasses.replace(
            cached,
            answer=_aged(cached.answer, ttl),
            authority=_aged(cached.authority, ttl),
            signatures=_aged(cached.signatures, ttl),
            proof=_aged(cached.proof, ttl),
            errors=tuple(dict.fromkeys(errors)),
            stale=True,
            expiring=False,
        )


def _aged(rrsets: tuple[dns.rrset.RRset, ...], ttl: int) -> tuple[dns.rrset.RRset, ...]:
    """``rrsets`` with TTL ``ttl``, or their own when it is lower and not zero (still fresh)."""
    return tuple(with_ttl(rrset, min(rrset.ttl, ttl) if rrset.ttl else ttl) for rrset in rrsets)
