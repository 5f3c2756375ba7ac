"""A denial without SOA is kept for ``NO_SOA_TTL`` seconds, beside the cache.

Deckard iter_nottl: the server answers NODATA with no record at all; the
same question within 5 s is answered without asking (Unbound's NORR_TTL,
Knot's cache.min_ttl), after that it is asked again. The cache itself keeps
no negative entry without SOA (RFC 2308 5).
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from resolver.cache import Cache
from resolver.cache_writes import NO_SOA_TTL
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import UpstreamQuery
from resolver.iterator import Iterator
from resolver.limits import Limits
from resolver.question import Outcome, Question
from resolver.selection import ServerSelection
from tests.resolver.test_iterator_limits import HINTS, ScriptedTransport, _reply, unanchored

EMPTY = dns.name.from_text("empty.")


def bare_nodata(query: UpstreamQuery) -> dns.message.Message:
    """Every name exists and has no data; no SOA comes with the NODATA."""
    return _reply(query, aa=True)


class Setup:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.transport = ScriptedTransport(bare_nodata)
        self.cache = Cache(self.clock)
        self.iterator = Iterator(
            cache=self.cache,
            selection=ServerSelection(self.clock),
            hints=HINTS,
            limits=Limits(),
            validator=unanchored(self.cache, self.clock),
            qname_minimisation=False,
        )

    async def ask(self) -> tuple[Outcome, int]:
        before = len(self.transport.sent)
        question = Question(EMPTY, dns.rdatatype.A)
        outcome = await run_exchange(self.iterator.resolve(question), self.transport)
        return outcome, len(self.transport.sent) - before


async def test_a_denial_without_soa_is_answered_again_for_a_few_seconds() -> None:
    setup = Setup()
    outcome, sent = await setup.ask()
    assert (outcome.rcode, outcome.answer, outcome.authority, sent) == (
        dns.rcode.NOERROR, (), (), 1
    )
    setup.clock.advance(NO_SOA_TTL - 1)
    outcome, sent = await setup.ask()
    assert (outcome.rcode, outcome.answer, outcome.authority, sent) == (
        dns.rcode.NOERROR, (), (), 0
    )
    assert setup.cache.lookup_negative(EMPTY, dns.rdatatype.A) is None  # not in the cache
    setup.clock.advance(1)
    _, sent = await setup.ask()
    assert sent == 1


async def test_a_denial_with_soa_is_cached_as_before() -> None:
    """The SOA's TTL, not ``NO_SOA_TTL``, rules a denial that has one."""

    def with_soa(query: UpstreamQuery) -> dns.message.Message:
        message = bare_nodata(query)
        message.authority.append(
            dns.rrset.from_text(dns.name.root, 300, "IN", "SOA", ". . 1 2 3 4 300")
        )
        return message

    setup = Setup()
    setup.transport.script = with_soa
    await setup.ask()
    setup.clock.advance(NO_SOA_TTL + 60)
    outcome, sent = await setup.ask()
    assert (outcome.rcode, sent) == (dns.rcode.NOERROR, 0)


async def test_a_flush_forgets_a_denial_without_soa() -> None:
    """``ctl flush`` reaches the few seconds' memory as it reaches the cache."""
    setup = Setup()
    await setup.ask()
    assert setup.iterator.forget(dns.name.from_text("other.")) == 0
    assert setup.iterator.forget(dns.name.root, below=False) == 0
    assert setup.iterator.forget(dns.name.root, below=True) == 1
    _, sent = await setup.ask()
    assert sent == 1
    assert setup.iterator.forget(None) == 1
