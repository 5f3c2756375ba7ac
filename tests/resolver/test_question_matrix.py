"""Every name of the lab catalogue x the question types clients ask: no SERVFAIL.

Issue 16: ordinary questions (``. DS``, QTYPE RRSIG, types below a DNAME)
were judged bogus and held down every server of their zone. Over valid lab
data every question must be answered, and no server held down as bogus.
The in-memory lab (no sockets) and one shared resolver keep it to seconds.
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from dnssec.status import Security
from resolver.assemble import follow_aliases
from resolver.clock import FakeClock
from resolver.exchange import UpstreamQuery, UpstreamReply
from resolver.lab import Lab
from resolver.lab.catalogue import plans
from resolver.messages import parse_query, render_any_response
from tests.resolver.test_iterator import Harness

#: Zones whose data is broken on purpose (testdata/lab/README.md), with why.
DELIBERATELY_BOGUS = {
    "bogus.com.": "corrupted RRSIG on www",
    "expired.com.": "every signature expired",
    "future.com.": "signatures not yet valid",
    "badkey.com.": "DS names a key the zone does not publish",
    "nosig.com.": "no RRSIGs but on the DNSKEY RRset",
    "nonsec.com.": "negative answers without NSEC",
    "keytrap.com.": "16 RRSIGs that do not verify",
    "outside.com.": "delegated outside the lab, never answered",
    "bench.com.": "generated per query; covered by the benchmarks",
}

_TYPE_NAMES = "A AAAA NS SOA MX TXT DS DNSKEY RRSIG NSEC NSEC3 NSEC3PARAM CNAME DNAME PTR SRV CAA"
TYPES = [dns.rdatatype.from_text(t) for t in (*_TYPE_NAMES.split(), "HINFO", "ANY")]


def catalogue_names() -> list[str]:
    """Every zone apex and owner of the catalogue (a wildcard as ``a.<parent>``),
    each zone's first server name, the names that do not exist and one below
    the DNAME (testdata/lab/README.md)."""
    names: dict[str, None] = {}
    for zone in plans():
        if zone.origin in DELIBERATELY_BOGUS:
            continue
        origin = dns.name.from_text(zone.origin)
        names[zone.origin] = None
        for line in zone.records:
            owner = dns.name.from_text(line.split()[0], origin)
            if owner.labels[0] == b"*":
                owner = dns.name.Name((b"a", *owner.labels[1:]))
            names[owner.to_text()] = None
        names[zone.servers[0][0]] = None
    for name in ("nx.example.com.", "nx.nsec3.org.", "z.nsec3.org.", "x.sub.example.com."):
        names[name] = None
    return list(names)


@pytest.fixture
def harness(lab: Lab, clock: FakeClock) -> Harness:
    return Harness(lab, clock)


def bogus_holddowns(harness: Harness) -> list[tuple[str, str, str]]:
    return [
        (server.address, mark.zone, mark.reason)
        for server in harness.selection.statistics().servers
        for mark in server.broken
        if mark.reason.startswith("bogus")
    ]


async def test_no_servfail_and_no_holddown_over_the_catalogue(lab: Lab, clock: FakeClock) -> None:
    harness = Harness(lab, clock)
    failed = []
    asked = 0
    for name in catalogue_names():
        for rdtype in TYPES:
            asked += 1
            if rdtype == dns.rdatatype.ANY:
                # The server answers ANY itself (RFC 8482), without resolving.
                wire = dns.message.make_query(name, rdtype, want_dnssec=True).to_wire()
                reply = dns.message.from_wire(render_any_response(parse_query(wire)))
                assert reply.rcode() == dns.rcode.NOERROR
                continue
            outcome = await harness.ask(name, rdtype)
            if outcome.failed:
                text = outcome.errors[0].text if outcome.errors else ""
                failed.append(f"{name} {dns.rdatatype.to_text(rdtype)}: {text}")
    assert asked >= 27 * 16
    assert failed == []
    assert bogus_holddowns(harness) == []


async def test_root_ds_is_a_secure_nodata_from_the_roots_own_apex(harness: Harness) -> None:
    outcome = await harness.ask(".", dns.rdatatype.DS)
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.answer == ()
    assert outcome.security is Security.SECURE
    assert bogus_holddowns(harness) == []


@pytest.mark.parametrize("name", ["www.example.com.", "www.nsec3.org.", "com."])
async def test_qtype_rrsig_gets_the_signatures_unvalidated(harness: Harness, name: str) -> None:
    outcome = await harness.ask(name, dns.rdatatype.RRSIG)
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.answer
    assert {r.rdtype for r in outcome.answer} == {dns.rdatatype.RRSIG}
    # Signatures are not signed: insecure (no AD), never bogus (Unbound does the same).
    assert outcome.security is Security.INSECURE
    assert bogus_holddowns(harness) == []


async def test_a_cname_question_below_a_dname_validates_the_dname(harness: Harness) -> None:
    outcome = await harness.ask("x.sub.example.com.", dns.rdatatype.CNAME)
    assert [r.rdtype for r in outcome.answer] == [dns.rdatatype.DNAME, dns.rdatatype.CNAME]
    assert outcome.security is Security.SECURE
    after = await harness.ask("x.sub.example.com.", dns.rdatatype.PTR)
    assert not after.failed


def test_a_dname_substitution_over_255_octets_is_yxdomain_rfc6672_2_2() -> None:
    owner = dns.name.from_text("d.example.")
    target = dns.name.from_text(".".join(["t" * 60] * 3) + ".")
    dname = dns.rrset.from_text(owner, 300, "IN", "DNAME", target.to_text())
    qname = dns.name.from_text(".".join(["q" * 60] * 2) + ".d.example.")
    walk = follow_aliases((dname,), qname, dns.rdatatype.A)
    assert walk.yxdomain
    assert walk.complete
    assert walk.records == [dname]


class _NoSoaForDs:
    """The lab, with the SOA taken out of every DS NODATA (Deckard val_nsec3_noopt_ref)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        reply: UpstreamReply = await self.inner.exchange(query)  # type: ignore[attr-defined]
        if query.rdtype == dns.rdatatype.DS and not reply.message.answer:
            reply.message.authority = [
                r for r in reply.message.authority
                if r.rdtype != dns.rdatatype.SOA and r.covers != dns.rdatatype.SOA
            ]
        return reply


async def test_a_ds_nodata_without_soa_proves_itself_with_its_nsec(
    lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(lab, clock)
    harness.transport = _NoSoaForDs(harness.transport)  # type: ignore[assignment]
    outcome = await harness.ask("www.insecure.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.security is Security.INSECURE
    assert bogus_holddowns(harness) == []
