"""Injected misbehaviour for lab servers: the text form and its meaning.

Incident drills and tests make one lab address (or one zone on it) misbehave
the way real authoritative servers do: drop, stall, fail, lie about being
authoritative, corrupt their signatures. ``parse_fault`` turns the text used
by the CLI and the control socket (``KIND[:ARG][:P]``) into a ``Fault``;
``Lab.handle`` applies it to a fraction ``P`` of the responses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from resolver.lab.errors import LabError


class FaultKind(enum.Enum):
    """What a faulty server does instead of answering normally."""

    #: No reply at all.
    DROP = "drop"
    #: The normal reply, ``Fault.delay`` seconds late.
    DELAY = "delay"
    #: SERVFAIL, not authoritative.
    SERVFAIL = "servfail"
    #: REFUSED.
    REFUSED = "refused"
    #: Over UDP, an empty reply with TC=1 (TCP answers normally).
    TRUNCATE = "truncate"
    #: Random bytes instead of a DNS message.
    GARBAGE = "garbage"
    #: NOERROR with AA=0 and empty sections: a server that is not
    #: authoritative for the zone it was delegated.
    LAME = "lame"
    #: Signatures that expired a week ago (the zone is re-signed).
    EXPIRED_SIGS = "expired-sigs"
    #: Signatures whose bytes are corrupted, so they do not verify.
    BOGUS_SIGS = "bogus-sigs"


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: its kind, its delay (``DELAY`` only) and the fraction hit.

    ``fraction`` is the probability, drawn per response from the lab's
    seeded generator, that the fault applies; 1.0 means every response.
    """

    kind: FaultKind
    delay: float = 0.0
    fraction: float = 1.0

    def __str__(self) -> str:
        parts = [self.kind.value]
        if self.kind is FaultKind.DELAY:
            parts.append(f"{self.delay * 1000:g}")
        if self.fraction != 1.0:
            parts.append(f"{self.fraction:g}")
        return ":".join(parts)


_KINDS = ", ".join(kind.value for kind in FaultKind)


def parse_fault(text: str) -> Fault:
    """Parse ``KIND[:P]``, or ``delay:MS[:P]``, into a ``Fault``.

    Examples: ``drop``, ``servfail:0.5``, ``delay:200``, ``delay:200:0.5``,
    ``expired-sigs:0.3``.

    Raises:
        LabError: unknown kind, missing or bad delay, bad or extra fraction.
    """
    kind_text, *arguments = text.strip().split(":")
    try:
        kind = FaultKind(kind_text.lower())
    except ValueError:
        raise LabError(f"unknown fault kind {kind_text!r} in {text!r}; known: {_KINDS}") from None
    delay = 0.0
    if kind is FaultKind.DELAY:
        if not arguments:
            raise LabError(f"fault {text!r}: delay needs milliseconds, e.g. delay:200")
        delay = _number(text, arguments.pop(0), "delay in milliseconds") / 1000
        if delay < 0:
            raise LabError(f"fault {text!r}: the delay cannot be negative")
    fraction = 1.0
    if arguments:
        fraction = _number(text, arguments.pop(0), "fraction")
        if not 0.0 < fraction <= 1.0:
            raise LabError(f"fault {text!r}: the fraction must be in (0, 1], got {fraction:g}")
    if arguments:
        raise LabError(f"fault {text!r}: too many ':' parts; expected KIND[:P] or delay:MS[:P]")
    return Fault(kind, delay, fraction)


def _number(text: str, part: str, what: str) -> float:
    try:
        return float(part)
    except ValueError:
        raise LabError(f"fault {text!r}: {what} {part!r} is not a number") from None
