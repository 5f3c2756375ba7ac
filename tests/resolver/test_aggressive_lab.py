"""RFC 8198 aggressive NSEC over the in-memory lab: denials answered without asking.

``nx.example.com`` is NXDOMAIN, proven by the NSEC from ``ns2`` to ``sub``
and the apex NSEC covering ``*.example.com``; ``ny.example.com`` sorts in the
same span, so once the first denial is cached the second needs no query.
Each test also runs with ``aggressive_nsec`` off, to show the query it saves.
"""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.lab import Lab
from tests.resolver.test_iterator import Harness

A = dns.rdatatype.A
MX = dns.rdatatype.MX
TXT = dns.rdatatype.TXT


@pytest.fixture(params=[True, False], ids=["aggressive", "off"])
def harness(request: pytest.FixtureRequest, lab: Lab, clock: FakeClock) -> Harness:
    harness = Harness(lab, clock)
    harness.iterator.aggressive_nsec = request.param
    return harness


def nsec_owners(proof: tuple[dns.rrset.RRset, ...]) -> set[str]:
    return {str(r.name) for r in proof if r.rdtype == dns.rdatatype.NSEC}


async def test_a_covered_name_is_nxdomain_without_a_query(harness: Harness) -> None:
    first = await harness.ask("nx.example.com.")
    assert first.rcode == dns.rcode.NXDOMAIN
    assert first.security is Security.SECURE
    before = len(harness.sent)
    outcome = await harness.ask("ny.example.com.")
    assert outcome.rcode == dns.rcode.NXDOMAIN
    assert outcome.security is Security.SECURE
    if not harness.iterator.aggressive_nsec:
        assert len(harness.sent) == before + 1
        return
    assert len(harness.sent) == before, "the cached NSECs prove it"
    assert harness.iterator.synthesised == 1
    assert nsec_owners(outcome.proof) == {"ns2.example.com.", "example.com."}
    assert outcome.authority[0].name == dns.name.from_text("example.com.")


async def test_a_missing_type_is_nodata_without_a_query(harness: Harness) -> None:
    first = await harness.ask("www.example.com.", TXT)
    assert first.rcode == dns.rcode.NOERROR
    assert not first.answer
    before = len(harness.sent)
    outcome = await harness.ask("www.example.com.", MX)
    assert outcome.rcode == dns.rcode.NOERROR
    assert not outcome.answer
    assert outcome.security is Security.SECURE
    expected = before if harness.iterator.aggressive_nsec else before + 1
    assert len(harness.sent) == expected
    # The NSEC at www lists A: that question goes upstream either way.
    answered = await harness.ask("www.example.com.", A)
    assert answered.answer
    assert len(harness.sent) == expected + 1


async def test_insecure_denials_are_not_used(harness: Harness) -> None:
    first = await harness.ask("nx.insecure.com.")
    assert first.rcode == dns.rcode.NXDOMAIN
    assert first.security is Security.INSECURE
    before = len(harness.sent)
    await harness.ask("ny.insecure.com.")
    assert len(harness.sent) == before + 1
    assert harness.iterator.synthesised == 0


async def test_not_used_past_the_negative_ttl(harness: Harness, clock: FakeClock) -> None:
    first = await harness.ask("nx.example.com.")
    clock.advance(first.authority[0].ttl)
    before = len(harness.sent)
    await harness.ask("ny.example.com.")
    assert len(harness.sent) > before
