"""Issue 23: zone cuts when a parent and its child share servers.

``shared.com.`` (NSEC) and ``shared3.com.`` (NSEC3) are signed and serve,
from the same two servers, an unsigned child delegated without a DS
(``insecure.``) and a signed child with a DS (``signed.``). Asked for a
child name, those servers answer from the child zone (AA), never with a
referral: the iterator has to find the cut itself (``resolver.zonecuts``).
"""

from __future__ import annotations

import dataclasses

import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnssec.status import Security
from resolver.cache import Rank
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.lab import Lab
from resolver.question import Outcome, Question
from tests.resolver.test_iterator import Harness, addresses

A = dns.rdatatype.A

#: (question, expected address, expected security)
CASES = [
    ("www.shared.com.", "192.0.2.60", Security.SECURE),
    ("www.insecure.shared.com.", "192.0.2.61", Security.INSECURE),
    ("www.signed.shared.com.", "192.0.2.62", Security.SECURE),
    ("www.shared3.com.", "192.0.2.63", Security.SECURE),
    ("www.insecure.shared3.com.", "192.0.2.64", Security.INSECURE),
    ("www.signed.shared3.com.", "192.0.2.65", Security.SECURE),
]
#: Negative answers from the children: (question, type, rcode, security)
NEGATIVE = [
    ("nx.insecure.shared.com.", A, dns.rcode.NXDOMAIN, Security.INSECURE),
    ("nx.signed.shared.com.", A, dns.rcode.NXDOMAIN, Security.SECURE),
    ("www.signed.shared.com.", dns.rdatatype.TXT, dns.rcode.NOERROR, Security.SECURE),
    ("nx.insecure.shared3.com.", A, dns.rcode.NXDOMAIN, Security.INSECURE),
    ("nx.signed.shared3.com.", A, dns.rcode.NXDOMAIN, Security.SECURE),
]


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


@pytest.mark.parametrize("minimise", [True, False], ids=["qmin", "no-qmin"])
@pytest.mark.parametrize(("question", "address", "security"), CASES)
async def test_a_child_on_its_parents_servers_answers_like_unbound(
    lab: Lab, clock: FakeClock, minimise: bool, question: str, address: str, security: Security
) -> None:
    harness = Harness(lab, clock, minimise=minimise)
    outcome = await harness.ask(question)
    assert outcome.rcode == dns.rcode.NOERROR, outcome.errors
    assert addresses(outcome) == {address}
    assert outcome.security is security
    assert outcome.errors == ()
    assert harness.selection.holddowns() == []


@pytest.mark.parametrize("minimise", [True, False], ids=["qmin", "no-qmin"])
@pytest.mark.parametrize(("question", "rdtype", "rcode", "security"), NEGATIVE)
async def test_negative_answers_from_a_child_on_its_parents_servers(
    lab: Lab,
    clock: FakeClock,
    minimise: bool,
    question: str,
    rdtype: dns.rdatatype.RdataType,
    rcode: dns.rcode.Rcode,
    security: Security,
) -> None:
    harness = Harness(lab, clock, minimise=minimise)
    outcome = await harness.ask(question, rdtype)
    assert (outcome.rcode, outcome.security, outcome.errors) == (rcode, security, ())
    assert harness.selection.holddowns() == []


async def test_the_cut_found_is_cached_and_used_for_the_next_name(
    lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(lab, clock, minimise=False)
    await harness.ask("www.insecure.shared.com.")
    assert ns_targets(harness, "insecure.shared.com.") == {"ns1.shared.com.", "ns2.shared.com."}
    before = len(harness.sent)
    outcome = await harness.ask("nx.insecure.shared.com.")
    assert (outcome.rcode, outcome.security) == (dns.rcode.NXDOMAIN, Security.INSECURE)
    assert len(harness.sent) - before == 1  # the cut is known: one question, no probe


# -- a server cannot claim a cut it does not serve ----------------------------------

COM_SERVERS = {f"127.53.1.{i}" for i in range(1, 5)}
EXAMPLE_COM = "127.53.3.1"


class Impostor:
    """The lab, where com's servers answer some questions about example.com. names
    themselves (AA), with example.com.'s genuine, signed replies copied from its
    own server ``EXAMPLE_COM``."""

    def __init__(self, harness: Harness, *questions: tuple[str, dns.rdatatype.RdataType]) -> None:
        self.inner = harness.transport
        self.sent = self.inner.sent
        self.questions = {(name(text), rdtype) for text, rdtype in questions}

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        if query.address in COM_SERVERS and (query.qname, query.rdtype) in self.questions:
            reply = await self.inner.exchange(dataclasses.replace(query, address=EXAMPLE_COM))
            return dataclasses.replace(reply, address=query.address)
        return await self.inner.exchange(query)


async def test_a_childs_secure_answer_from_its_parents_server_is_used_without_a_probe(
    lab: Lab, clock: FakeClock
) -> None:
    """A com server answers for example.com. (signed by example.com.): example.com.'s
    keys are secure through com.'s DS, so they judge it and no ``example.com. NS``
    probe is sent (Knot Resolver moves its cut to the signer and refetches keys,
    Unbound's validator walks DS to the signer; neither asks NS: Deckard
    iter_validate_child_zone_noaddr). Before, the probe's referral was followed
    and example.com.'s own servers asked again."""
    harness = Harness(lab, clock, minimise=False)
    impostor = Impostor(harness, ("www.example.com.", A))
    outcome = await resolve(harness, impostor, "www.example.com.")
    assert addresses(outcome) == {"192.0.2.1"}
    assert outcome.security is Security.SECURE
    probes = [
        q for q in harness.sent if q.address in COM_SERVERS and q.rdtype == dns.rdatatype.NS
    ]
    assert probes == []
    assert harness.selection.holddowns() == []


async def test_a_server_claiming_a_childs_apex_it_is_not_named_for_does_not_move_the_cut(
    lab: Lab, clock: FakeClock
) -> None:
    """The com servers answer example.com. NS authoritatively too, but the NS names
    do not lead to them: no cut is cached for them. (The answer they copied carries
    example.com.'s genuine signatures, which verify with keys proven through com.'s
    DS: it is secure, as Unbound's validator judges it; before the validator walked
    to a signer below the zone, it was bogus here.)"""
    harness = Harness(lab, clock, minimise=False)
    impostor = Impostor(harness, ("www.example.com.", A), ("example.com.", dns.rdatatype.NS))
    outcome = await resolve(harness, impostor, "www.example.com.")
    assert outcome.security is Security.SECURE
    # Walking to example.com.'s keys follows com.'s referral; the impostors'
    # authoritative claim (which would rank ANSWER) is not cached.
    cut = harness.cache.lookup_rrset(name("example.com."), dns.rdatatype.NS)
    assert cut is None or cut.rank is Rank.REFERRAL


async def resolve(harness: Harness, transport: Impostor, question: str) -> Outcome:
    return await run_exchange(harness.iterator.resolve(Question(name(question), A)), transport)


def ns_targets(harness: Harness, zone: str) -> set[str]:
    hit = harness.cache.lookup_rrset(name(zone), dns.rdatatype.NS)
    assert hit is not None
    return {str(rdata.target) for rdata in hit.rrset}
