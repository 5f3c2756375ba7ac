"""The security status of DNS data (RFC 4035 section 4.3).

Every cached RRset and every answer carries one of these, so that the cache,
serve-stale and the answer builder can decide what may be served and whether
the AD bit may be set.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Security(enum.Enum):
    """Validation verdict for an RRset or a whole answer."""

    #: Not validated (yet): the validator has not looked at it.
    INDETERMINATE = "indeterminate"
    #: Proven to be outside any signed zone, or signed only with algorithms we
    #: do not support (RFC 4035 5.2, RFC 8624).
    INSECURE = "insecure"
    #: Every signature on the chain from a trust anchor verified.
    SECURE = "secure"
    #: It should have validated and did not: never served without CD.
    BOGUS = "bogus"


@dataclass(frozen=True, slots=True)
class ExtendedError:
    """An Extended DNS Error (RFC 8914): an INFO-CODE and its EXTRA-TEXT.

    It lives here, in the bottom layer, because the validator is what
    chooses most of them (6 DNSSEC Bogus, 7 Signature Expired, ...).
    """

    code: int
    text: str = ""
