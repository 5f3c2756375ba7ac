"""``fanout.com``: the glueless fan-out of issue 16, served for real.

A referral that lists N name servers without glue, where each of those
names sits in a zone that refers the same way one level deeper, is the
attack that froze the resolver's event loop for minutes before the work
budget (``resolver/limits.py``, ``resolver/failures.py``). The scripted
hostile authority of ``tests/resolver/test_work_budget.py`` reproduces it in
memory; this zone lets the drills, the shutdown scenario and
``bench/attacks.py`` send it through real sockets.

Every name ``l-K.fanout.com.`` (K a decimal number) is a zone cut whose NS
RRset is ``n0.l-K+1.fanout.com.`` .. ``n{N-1}.l-K+1.fanout.com.``: names in the
next cut, so the parent has no glue to give, and finding their addresses
means following the next referral, which fans out again. Nothing is stored:
the NS RRsets are computed from the name, so an attacker (or a benchmark)
gets a fresh, never-cached chain for every starting K. The zone is unsigned
(``com`` proves it has no DS), so its referrals need no denial proofs. The
hyphen keeps the cut labels out of the random labels other tests ask for.
"""

from __future__ import annotations

import re

import dns.name
import dns.rdatatype
import dns.rrset

from resolver.lab.authority import Denial
from resolver.lab.signing import Window
from resolver.lab.zones import StaticZone

#: NS names per referral: the issue froze the loop for 22 s with 5, over 60 s with 7.
FANOUT_WIDTH = 10
FANOUT_TTL = 300
#: The deepest level with a cut; the chain is finite, however deep a budget lets it go.
MAX_LEVEL = 10**12

_CUT = re.compile(rb"l-(0|[1-9][0-9]{0,11})")


def cut_label(level: int) -> str:
    """The label of the cut at ``level``: ``l-LEVEL``."""
    return f"l-{level}"


class FanoutZone:
    """``ZoneData`` for the fan-out zone: a static apex plus computed cuts."""

    def __init__(self, fixed: StaticZone, width: int = FANOUT_WIDTH) -> None:
        """``fixed`` holds the apex (SOA, NS, server addresses, ``www``); unsigned."""
        if fixed.source.key is not None:
            raise ValueError("the fan-out zone is unsigned: its referrals carry no proofs")
        self.source = fixed.source
        self._fixed = fixed
        self._width = width

    def resigned(self, window: Window) -> FanoutZone:
        """The same zone (unsigned: there is nothing to re-sign)."""
        return self

    @property
    def origin(self) -> dns.name.Name:
        return self._fixed.origin

    @property
    def denial(self) -> Denial | None:
        return None

    def level(self, name: dns.name.Name) -> int | None:
        """K if ``name`` is the cut ``l-K.fanout.com.``, else None."""
        if len(name) != len(self.origin) + 1 or name.parent() != self.origin:
            return None
        match = _CUT.fullmatch(name.labels[0].lower())
        if match is None or int(match[1]) > MAX_LEVEL:
            return None
        return int(match[1])

    def exists(self, name: dns.name.Name) -> bool:
        return self._fixed.exists(name) or self.level(name) is not None

    def rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        level = self.level(name)
        if level is None:
            return self._fixed.rrset(name, rdtype)
        if rdtype != dns.rdatatype.NS:
            return None
        below = dns.name.Name((cut_label(level + 1).encode(), *self.origin.labels))
        targets = [f"n{index}.{below}" for index in range(self._width)]
        return dns.rrset.from_text(name, FANOUT_TTL, "IN", "NS", *targets)

    def signature(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.rrset.RRset | None:
        return None
