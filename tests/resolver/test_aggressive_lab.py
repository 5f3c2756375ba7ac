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

from dnssec import nsec3
from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.iterator import Outcome
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


def labels_fields(outcome: Outcome) -> set[int]:
    return {rdata.labels for sig in outcome.signatures for rdata in sig}


def same_span(first: Outcome, zone: str) -> str:
    """Another name under ``*.wild.<zone>`` whose proof is the first one's record.

    With NSEC3 the span depends on the hash (and some spans of nsec3.org are
    opt-out, which proves nothing): the name is looked for, not guessed.
    """
    origin = dns.name.from_text(zone)
    for rrset in first.proof:
        for parameters, record in nsec3.read_records(origin, rrset):
            for index in range(10_000):
                candidate = dns.name.from_text(f"n{index}.wild.{zone}")
                digest = nsec3.nsec3_hash(candidate, parameters.salt, parameters.iterations)
                if record.covers(digest) and candidate != first.answer[0].name:
                    return candidate.to_text()
    return f"two.wild.{zone}"  # NSEC: the span runs from *.wild to the next name


@pytest.mark.parametrize(
    ("zone", "denial"), [("example.com.", dns.rdatatype.NSEC), ("nsec3.org.", dns.rdatatype.NSEC3)]
)
async def test_a_cached_wildcard_answers_another_name_without_a_query(
    harness: Harness, zone: str, denial: dns.rdatatype.RdataType
) -> None:
    """RFC 8198 5.3: the wildcard and its proof from the first answer answer the second."""
    first = await harness.ask(f"one.wild.{zone}")
    assert first.security is Security.SECURE
    second = same_span(first, zone)
    before = len(harness.sent)
    outcome = await harness.ask(second)
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.security is Security.SECURE
    assert [r.name for r in outcome.answer] == [dns.name.from_text(second)]
    assert [r[0] for r in outcome.answer] == [r[0] for r in first.answer]
    assert labels_fields(outcome) == {len(dns.name.from_text(zone))}  # *.wild.<zone>
    assert any(r.rdtype == denial for r in outcome.proof), "a validating client can check it"
    if harness.iterator.aggressive_nsec:
        assert len(harness.sent) == before
    else:
        assert len(harness.sent) > before


async def test_nsec3_denials_without_a_query(harness: Harness) -> None:
    """RFC 8198 with NSEC3: the closest encloser proof of one name answers the next."""
    first = await harness.ask("nx.nsec3.org.")
    assert first.rcode == dns.rcode.NXDOMAIN
    assert first.security is Security.SECURE
    before = len(harness.sent)
    outcome = await harness.ask("ny.nsec3.org.")
    assert outcome.rcode == dns.rcode.NXDOMAIN
    assert outcome.security is Security.SECURE
    assert any(r.rdtype == dns.rdatatype.NSEC3 for r in outcome.proof)
    expected = before if harness.iterator.aggressive_nsec else before + 1
    assert len(harness.sent) == expected
    nodata = await harness.ask("www.nsec3.org.", TXT)
    assert nodata.rcode == dns.rcode.NOERROR
    assert not nodata.answer
    before = len(harness.sent)
    again = await harness.ask("www.nsec3.org.", MX)
    assert not again.answer
    assert again.security is Security.SECURE
    expected = before if harness.iterator.aggressive_nsec else before + 1
    assert len(harness.sent) == expected
