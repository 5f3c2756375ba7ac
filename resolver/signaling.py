"""Trust anchor key-tag signalling (RFC 8145 section 5.1): tell the root which keys we trust.

Why: before the 2018 root KSK roll the root operators had no way to know how
many validating resolvers already trusted the new key; resolvers that send
this signal let them count. The signal is one query, ``_ta-XXXX[-YYYY...].``
type NULL, whose leftmost label lists the key tags of our root trust anchors
(four lower-case hexadecimal digits each, ascending, RFC 8145 section 5.1);
the root answers NXDOMAIN, and the root servers' query logs are the
measurement.

It is sent once when the resolver starts (the first query to the root also
primes its DNSKEY RRset) and again whenever the root anchors in force change
(an RFC 5011 roll, ``anchor_refresh``, or a reload), looked at every
``CHECK_INTERVAL`` seconds. It is asked past the cache, so a cached denial
(aggressive NSEC) cannot keep it from reaching a root server.

Off by default (``[dnssec] trust_anchor_signaling``), as issue 20 asks:
Unbound's ``trust-anchor-signaling`` defaults to yes, but the query tells
every root server operator which keys this resolver trusts, which an
operator should opt into. Only the root's anchors are signalled, the ones
the measurement is for (the same key tags as the RFC 8509 sentinel,
``sentinel.root_key_tags``: DS tags and unrevoked DNSKEYs' tags).
``signal_question`` is pure; ``signal_key_tags`` is the Trio loop around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import dns.name
import dns.rdatatype
import trio

from dnssec.anchors import TrustAnchors
from resolver.question import Question
from resolver.sentinel import root_key_tags

if TYPE_CHECKING:
    from resolver.recursor import Recursor

log = logging.getLogger("holdfast.signaling")

#: Seconds between looks at the root anchors in force, for a change to signal.
CHECK_INTERVAL = 60.0


def signal_question(anchors: TrustAnchors) -> Question | None:
    """The RFC 8145 key-tag query for the root anchors in ``anchors``; None without any."""
    tags = sorted(root_key_tags(anchors))
    if not tags:
        return None
    label = "_ta-" + "-".join(f"{tag:04x}" for tag in tags)
    return Question(dns.name.Name((label.encode(), b"")), dns.rdatatype.NULL)


async def signal_key_tags(
    recursor: Recursor,
    anchors: Callable[[], TrustAnchors],
    *,
    interval: float = CHECK_INTERVAL,
) -> None:
    """Send the key-tag query now and each time ``anchors()`` gives other root key tags.

    Runs until cancelled. A signal whose resolution fails is not repeated:
    it is a courtesy to the root operators, not something we depend on.
    """
    sent: Question | None = None
    while True:
        question = signal_question(anchors())
        if question is not None and question != sent:
            sent = question
            outcome = await recursor.ask_upstream(question)
            log.info("trust anchor signal (RFC 8145) %s sent: %s", question.name,
                     outcome.rcode.name)
        await trio.sleep(interval)
