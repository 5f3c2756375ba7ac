"""The RFC 8509 root key sentinel, through the recursor over the in-memory lab.

``*.wild.example.com`` is a signed wildcard, so every sentinel label below
``wild.example.com`` has a SECURE A record (192.0.2.2); ``insecure.com`` is
unsigned. The lab's root anchor is one DS record, whose key tag is
``ROOT_TAG``; 00000 is nobody's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.name
import dns.rcode
import dns.rdatatype
import pytest
import trio

from dnssec.anchors import TrustAnchors
from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.lab import Lab
from resolver.messages import ClientQuery
from resolver.question import Outcome, Question
from resolver.recursor import Recursor
from resolver.sentinel import judge, root_key_tags
from tests.resolver.test_iterator import Harness

A = dns.rdatatype.A


@pytest.fixture
def root_tag(lab: Lab) -> str:
    anchors = TrustAnchors.from_text(lab.trust_anchor_text(), source="lab")
    (tag,) = root_key_tags(anchors)
    return f"{tag:05d}"


@pytest.fixture
async def recursor(lab: Lab, clock: FakeClock) -> AsyncIterator[Recursor]:
    harness = Harness(lab, clock)
    recursor = Recursor(harness.iterator, harness.transport)
    async with trio.open_nursery() as nursery:
        await nursery.start(recursor.run)
        yield recursor
        nursery.cancel_scope.cancel()


async def ask(
    recursor: Recursor, name: str, rdtype: dns.rdatatype.RdataType = A, *, cd: bool = False
) -> Outcome:
    question = Question(dns.name.from_text(name), rdtype)
    return await recursor.handle(ClientQuery(id=1, question=question, cd=cd))


async def test_is_ta_of_a_root_anchor_answers(recursor: Recursor, root_tag: str) -> None:
    outcome = await ask(recursor, f"root-key-sentinel-is-ta-{root_tag}.wild.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.security is Security.SECURE
    assert outcome.answer


async def test_is_ta_of_another_key_fails(recursor: Recursor) -> None:
    outcome = await ask(recursor, "root-key-sentinel-is-ta-00000.wild.example.com.")
    assert outcome.rcode == dns.rcode.SERVFAIL
    assert "00000" in outcome.errors[0].text


async def test_not_ta_of_a_root_anchor_fails(recursor: Recursor, root_tag: str) -> None:
    outcome = await ask(recursor, f"ROOT-KEY-SENTINEL-NOT-TA-{root_tag}.wild.example.com.")
    assert outcome.rcode == dns.rcode.SERVFAIL


async def test_not_ta_of_another_key_answers(recursor: Recursor) -> None:
    outcome = await ask(recursor, "root-key-sentinel-not-ta-00000.wild.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.answer


async def test_cd_turns_it_off(recursor: Recursor) -> None:
    name = "root-key-sentinel-is-ta-00000.wild.example.com."
    outcome = await ask(recursor, name, cd=True)
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.answer


async def test_only_for_a_and_aaaa(recursor: Recursor) -> None:
    name = "root-key-sentinel-is-ta-00000.wild.example.com."
    outcome = await ask(recursor, name, dns.rdatatype.TXT)
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.security is Security.SECURE


async def test_only_for_secure_answers(recursor: Recursor) -> None:
    outcome = await ask(recursor, "root-key-sentinel-is-ta-00000.insecure.com.")
    assert outcome.rcode == dns.rcode.NXDOMAIN


async def test_switched_off(recursor: Recursor) -> None:
    recursor.root_key_sentinel = False
    outcome = await ask(recursor, "root-key-sentinel-is-ta-00000.wild.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR


def test_the_label_is_exactly_five_digits() -> None:
    anchors = TrustAnchors.from_text(". IN DS 4711 8 2 " + "00" * 32, source="test")
    secure = Outcome(rcode=dns.rcode.NOERROR, security=Security.SECURE)
    for label, fails in (
        ("root-key-sentinel-is-ta-04711", False),
        ("root-key-sentinel-is-ta-4711", False),  # not a sentinel label: 4 digits
        ("root-key-sentinel-is-ta-004711", False),  # nor 6
        ("root-key-sentinel-is-ta-04712", True),
        ("root-key-sentinel-not-ta-04711", True),
        ("x.root-key-sentinel-not-ta-04711", False),  # only the leftmost label counts
    ):
        question = Question(dns.name.from_text(f"{label}.example."), A)
        given = judge(question, secure, cd=False, anchors=anchors)
        assert (given.rcode == dns.rcode.SERVFAIL) is fails, label
