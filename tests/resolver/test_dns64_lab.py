"""DNS64 and renumbering through the recursor, over the in-memory lab.

The lab's ``mail.example.com.`` has an A record (192.0.2.25) and no AAAA;
``www.example.com.`` has both; ``www.insecure.com.`` is in an unsigned zone.
The prefix is RFC 8215's local-use 64:ff9b:1::/48 (a /48 layout, RFC 6052
2.2): the well-known /96 would not embed the lab's documentation addresses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.edns
import dns.name
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest
import trio

from dnssec.status import Security
from resolver.clock import FakeClock
from resolver.dns64 import Dns64
from resolver.lab import Lab
from resolver.messages import ClientQuery
from resolver.question import Outcome, Question
from resolver.recursor import Recursor
from resolver.renumber import Renumbering
from tests.resolver.test_iterator import Harness

AAAA = dns.rdatatype.AAAA
#: 192.0.2.25 in 64:ff9b:1::/48.
MAIL_SYNTHESISED = "64:ff9b:1:c000:2:1900::"


@pytest.fixture
async def recursor(lab: Lab, clock: FakeClock) -> AsyncIterator[Recursor]:
    harness = Harness(lab, clock)
    recursor = Recursor(
        harness.iterator,
        harness.transport,
        dns64=Dns64.from_texts("64:ff9b:1::/48"),
        renumber=Renumbering.from_texts(["192.0.2.1/32 -> 198.51.100.1"]),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(recursor.run)
        yield recursor
        nursery.cancel_scope.cancel()


async def ask(
    recursor: Recursor, name: str | dns.name.Name, rdtype: dns.rdatatype.RdataType = AAAA,
    *, cd: bool = False,
) -> Outcome:
    qname = name if isinstance(name, dns.name.Name) else dns.name.from_text(name)
    return await recursor.handle(ClientQuery(id=1, question=Question(qname, rdtype), cd=cd))


def data(outcome: Outcome, rdtype: dns.rdatatype.RdataType) -> list[str]:
    return sorted(r.to_text() for rrset in outcome.answer if rrset.rdtype == rdtype for r in rrset)


async def test_a_name_without_aaaa_gets_one_made_from_its_a(recursor: Recursor) -> None:
    outcome = await ask(recursor, "mail.example.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert data(outcome, AAAA) == [MAIL_SYNTHESISED]
    # The NODATA and the A both validated (RFC 6147 5.5, case 2).
    assert outcome.security is Security.SECURE
    assert outcome.signatures == ()


async def test_a_client_that_sets_cd_gets_the_nodata(recursor: Recursor) -> None:
    outcome = await ask(recursor, "mail.example.com.", cd=True)
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.answer == ()


async def test_real_aaaa_records_and_nxdomain_pass_through(recursor: Recursor) -> None:
    assert data(await ask(recursor, "www.example.com."), AAAA) == ["2001:db8::1"]
    assert (await ask(recursor, "nx.example.com.")).rcode == dns.rcode.NXDOMAIN


async def test_an_unsigned_name_gets_an_insecure_synthesis(recursor: Recursor) -> None:
    outcome = await ask(recursor, "www.insecure.com.")
    assert data(outcome, AAAA) == ["64:ff9b:1:c000:2:c00::"]
    assert outcome.security is Security.INSECURE


async def test_a_reverse_name_in_the_prefix_is_a_cname_to_in_addr_arpa(
    recursor: Recursor,
) -> None:
    outcome = await ask(recursor, dns.reversename.from_address(MAIL_SYNTHESISED),
                        dns.rdatatype.PTR)
    assert data(outcome, dns.rdatatype.CNAME) == ["25.2.0.192.in-addr.arpa."]
    assert outcome.security is not Security.SECURE


async def test_renumbered_answers_lose_ad_and_say_so(recursor: Recursor) -> None:
    outcome = await ask(recursor, "www.example.com.", dns.rdatatype.A)
    assert data(outcome, dns.rdatatype.A) == ["198.51.100.1"]
    assert outcome.security is Security.INSECURE
    assert dns.edns.EDECode.FORGED_ANSWER in [error.code for error in outcome.errors]
