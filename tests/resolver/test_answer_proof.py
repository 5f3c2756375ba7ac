"""Which denial records a positive answer carries to a DO client (``Outcome.proof``).

Only a wildcard expansion needs one (RFC 4035 3.1.3.3); NSEC records a
server adds to any other answer are not passed on (Deckard val_dname).
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

from resolver.exchange import UpstreamQuery
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
