"""Which denial records a positive answer carries to a DO client (``Outcome.proof``).

Only a wildcard expansion needs one (RFC 4035 3.1.3.3), from the cache too;
NSEC records a server adds to any other answer are not passed on (Deckard
val_dname).
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.exchange import UpstreamQuery
from resolver.lab import Lab
from resolver.proofs import ProofMemory
from tests.resolver.test_iterator import Harness
from tests.resolver.test_iterator_limits import _referral, _reply, resolve

EXAMPLE = dns.name.from_text("example.")
NSEC = dns.rrset.from_text("www.example.", 300, "IN", "NSEC", "zz.example. A RRSIG NSEC")


def _signed_answer(query: UpstreamQuery, labels: int) -> dns.message.Message:
    """``www.example. A`` signed with an RRSIG of ``labels`` labels, an NSEC in authority."""
    if query.address.startswith("127.53.0."):
        return _referral(query, EXAMPLE, "127.53.9.1")
    message = _reply(query, aa=True)
    message.answer.append(dns.rrset.from_text(query.qname, 300, "IN", "A", "192.0.2.1"))
    message.answer.append(
        dns.rrset.from_text(
            query.qname, 300, "IN", "RRSIG",
            f"A 8 {labels} 300 20300101000000 20200101000000 1 example. AAAA",
        )
    )
    message.authority.append(NSEC)
    return message


async def test_an_nsec_beside_a_plain_answer_is_not_passed_on() -> None:
    outcome, _ = await resolve(lambda query: _signed_answer(query, labels=2), "www.example.")
    assert [r.rdtype for r in outcome.answer] == [dns.rdatatype.A]
    assert outcome.proof == ()


async def test_a_wildcard_expansion_keeps_its_proof() -> None:
    outcome, _ = await resolve(lambda query: _signed_answer(query, labels=1), "www.example.")
    assert [r.rdtype for r in outcome.answer] == [dns.rdatatype.A]
    assert NSEC in outcome.proof


async def test_a_wildcard_answer_from_the_cache_keeps_its_proof(
    session_lab: Lab, clock: FakeClock
) -> None:
    """The second answer comes from the cache with the same NSEC proof (Deckard
    val_wild_pos_multi; ``resolver.proofs``), without asking upstream again."""
    harness = Harness(session_lab, clock)
    first = await harness.ask("anything.wild.example.com.")
    assert first.security is Security.SECURE
    assert any(r.rdtype == dns.rdatatype.NSEC for r in first.proof)
    sent = len(harness.sent)
    second = await harness.ask("anything.wild.example.com.")
    assert len(harness.sent) == sent
    assert second.proof == first.proof


async def test_without_its_proof_a_wildcard_answer_is_fetched_again(
    session_lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(session_lab, clock)
    # With RFC 8198 on, the cached wildcard and its NSEC answer it with the
    # proof without asking (tests/resolver/test_aggressive_wildcard.py).
    harness.iterator.aggressive_nsec = False
    await harness.ask("anything.wild.example.com.")
    harness.iterator.wildcard_proofs = ProofMemory(clock)  # forgotten
    sent = len(harness.sent)
    again = await harness.ask("anything.wild.example.com.")
    assert len(harness.sent) > sent
    assert any(r.rdtype == dns.rdatatype.NSEC for r in again.proof)
