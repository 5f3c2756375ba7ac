"""``holdfast ctl trace NAME [TYPE] [--dnssec]``: resolve one question afresh and show each step.

Like Knot Resolver's ``policy.TRACE`` and ``unbound-control lookup``, but
showing everything ``resolver.trace`` records: the cuts, the servers
considered and why one was chosen, the questions sent, each reply's class
and what scrubbing dropped, the validator's verdicts with key tags, what
was cached, and the final rcode with its EDEs; then the answer, as a
client would get it (with ``--dnssec``, its RRSIGs and the denial proof
too, as for a DO client).

The cache is bypassed both ways, for this question only: the resolution
runs in a private iterator with an empty cache and key cache of its own
(``private_iterator``), so it starts at the root hints, fetches every
DS/DNSKEY it needs and shows all of it; what it caches goes to the private
cache (the "cached" lines say what a client query would have stored) and is
dropped afterwards. Reading the shared cache would hide the steps; writing
it would let an operator's trace refresh or replace what clients are served.
Server selection is shared on purpose: the trace shows the RTT estimates
and hold-downs clients' queries meet, and its replies feed them as any
query's do. Routes, the local root copy and the trust anchors are the
resolver's own.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from dnssec.errors import HoldfastError
from resolver.cache import Cache
from resolver.iterator import Iterator
from resolver.question import Outcome, Question
from resolver.recursor import Recursor
from resolver.trace import Recorder

USAGE = "trace NAME [TYPE] [--dnssec]"
#: Entries of the private cache: one resolution with its sub-queries
#: stores a few hundred at most (``Limits.max_upstream_queries`` replies).
PRIVATE_CACHE_ENTRIES = 10_000


class TraceUsageError(HoldfastError):
    """The words after ``trace`` are not NAME [TYPE] [--dnssec]."""


def parse(words: Sequence[str]) -> tuple[Question, bool]:
    """The question and the ``--dnssec`` flag of ``trace NAME [TYPE] [--dnssec]``.

    Raises:
        TraceUsageError: the words do not say that.
    """
    dnssec = "--dnssec" in words
    rest = [word for word in words if word != "--dnssec"]
    if not 1 <= len(rest) <= 2:
        raise TraceUsageError(f"usage: {USAGE}")
    try:
        name = dns.name.from_text(rest[0])
        rdtype = dns.rdatatype.from_text(rest[1]) if len(rest) == 2 else dns.rdatatype.A
    except dns.exception.DNSException as exc:
        raise TraceUsageError(f"{' '.join(rest)[:80]!r}: {exc}; usage: {USAGE}") from exc
    if dns.rdatatype.is_metatype(rdtype):
        raise TraceUsageError(f"{dns.rdatatype.to_text(rdtype)} is not a type to resolve")
    return Question(name, rdtype), dnssec


def private_iterator(shared: Iterator) -> Iterator:
    """An iterator like ``shared`` with an empty cache, key cache and failure memory of its own.

    Selection, routes, root hints, the local root copy, limits and trust
    anchors are ``shared``'s (module docstring; ``Iterator.with_cache``).
    """
    return shared.with_cache(
        Cache(
            shared.validator.clock,
            max_entries=PRIVATE_CACHE_ENTRIES,
            lifetimes=shared.cache.lifetimes,
        )
    )


async def run(recursor: Recursor, question: Question, dnssec: bool) -> str:
    """Resolve ``question`` afresh through ``recursor`` and return the trace as text."""
    recorder = Recorder()
    outcome = await recursor.resolve_traced(question, private_iterator(recursor.iterator), recorder)
    return render(question, outcome, recorder, dnssec)


def render(question: Question, outcome: Outcome, recorder: Recorder, dnssec: bool) -> str:
    """The trace lines, numbered, then the answer a client would get."""
    lines = [f";; trace of {question} (cache bypassed: neither read nor written)"]
    lines += [f"{number:3d}. {line}" for number, line in enumerate(recorder.lines(), 1)]
    lines += [f";; {line}" for line in recorder.plan]
    lines.append(
        f";; {dns.rcode.to_text(outcome.rcode)}, {outcome.security.value}"
        + "".join(f", EDE {error.code}: {error.text}" for error in outcome.errors)
    )
    sections: list[tuple[str, tuple[dns.rrset.RRset, ...]]] = [("answer", outcome.answer)]
    if dnssec:
        sections.append(("answer RRSIG", outcome.signatures))
    sections.append(("authority", outcome.authority))
    if dnssec:
        sections.append(("proof", outcome.proof))
    for title, rrsets in sections:
        if rrsets:
            lines.append(f";; {title}")
            lines += [rrset.to_text() for rrset in rrsets]
    return "\n".join(lines)
