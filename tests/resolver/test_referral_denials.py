"""A signed referral's proof that the child has no DS serves the validator
(``resolver.proofs``; Unbound reads it from the referral): no second
``child DS`` query, and the child is insecure (Deckard val_unsecds_negcache)."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype

from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.lab import Lab
from tests.resolver.test_iterator import Harness, addresses

INSECURE = dns.name.from_text("insecure.com.")


async def test_an_insecure_delegation_is_proven_by_its_referral(
    session_lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(session_lab, clock)
    outcome = await harness.ask("www.insecure.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert addresses(outcome) == {"192.0.2.12"}
    assert outcome.security is Security.INSECURE
    asked = [(q.qname, q.rdtype) for q in harness.sent]
    assert (INSECURE, dns.rdatatype.DS) not in asked
    assert len(harness.iterator.referral_denials) == 1
