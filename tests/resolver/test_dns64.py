"""DNS64 (RFC 6147) rules of ``resolver/dns64.py``, on plain outcomes."""

from __future__ import annotations

import ipaddress

import dns.name
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset
import pytest

from dnssec.status import Security
from resolver.dns64 import (
    NO_SOA_TTL,
    PTR_CNAME_TTL,
    Dns64,
    embed,
    extract,
    prefix_error,
)
from resolver.question import Outcome, Question

NAME = dns.name.from_text("www.example.cz.")
AAAA_QUESTION = Question(NAME, dns.rdatatype.AAAA)
PREFIX = "fe80::21b:aabb:0:0/96"
SOA = dns.rrset.from_text("example.cz.", 5, "IN", "SOA", "bla. bla. 1 2 3 4 5")


def policy(prefix: str = PREFIX, **options: object) -> Dns64:
    made = Dns64.from_texts(prefix, **options)  # type: ignore[arg-type]
    assert made is not None
    return made


def nodata(security: Security = Security.INSECURE, soa: bool = True) -> Outcome:
    return Outcome(rcode=dns.rcode.NOERROR, authority=(SOA,) if soa else (), security=security)


def a_answer(*addresses: str, ttl: int = 3600, security: Security = Security.INSECURE,
             name: dns.name.Name = NAME) -> Outcome:
    rrset = dns.rrset.from_text(name, ttl, "IN", "A", *addresses)
    sig = dns.rrset.from_text(
        name, ttl, "IN", "RRSIG",
        "A 13 3 3600 20300101000000 20200101000000 1 example.cz. AAAA",
    )
    return Outcome(rcode=dns.rcode.NOERROR, answer=(rrset,), security=security,
                   signatures=(sig,))


def addresses(outcome: Outcome, rdtype: dns.rdatatype.RdataType) -> list[str]:
    return sorted(r.address for rrset in outcome.answer if rrset.rdtype == rdtype for r in rrset)


# RFC 6052 section 2.4, the table of examples (192.0.2.33 in each prefix).
RFC6052_EXAMPLES = [
    ("2001:db8::/32", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
    ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
]


@pytest.mark.parametrize(("prefix", "expected"), RFC6052_EXAMPLES)
def test_rfc6052_address_formats(prefix: str, expected: str) -> None:
    network = ipaddress.IPv6Network(prefix)
    v4 = ipaddress.IPv4Address("192.0.2.33")
    assert embed(network, v4) == ipaddress.IPv6Address(expected)
    assert extract(network, ipaddress.IPv6Address(expected)) == v4


@pytest.mark.parametrize("text", ["64:ff9b::/95", "64:ff9b::/128", "192.0.2.0/24", "nonsense"])
def test_a_prefix_outside_rfc6052_is_refused(text: str) -> None:
    assert prefix_error(text) is not None


def test_no_prefix_means_no_dns64() -> None:
    assert Dns64.from_texts("") is None


def test_nodata_calls_for_a_and_the_synthesis_embeds_every_address() -> None:
    dns64 = policy()
    assert dns64.synthesises(AAAA_QUESTION, cd=False)
    assert dns64.needs_a(nodata())
    made = dns64.synthesise(nodata(), a_answer("1.2.3.5", "1.2.3.6"))
    assert made is not None
    assert addresses(made, dns.rdatatype.AAAA) == ["fe80::21b:aabb:102:305",
                                                   "fe80::21b:aabb:102:306"]
    assert not made.authority


def test_an_aaaa_answer_nxdomain_and_failures_stand() -> None:
    dns64 = policy()
    aaaa = dns.rrset.from_text(NAME, 300, "IN", "AAAA", "2001:db8::1")
    assert not dns64.needs_a(Outcome(rcode=dns.rcode.NOERROR, answer=(aaaa,)))
    assert not dns64.needs_a(Outcome(rcode=dns.rcode.NXDOMAIN, authority=(SOA,)))
    assert not dns64.needs_a(Outcome.servfail(0, "upstream refused"))
    assert not dns64.needs_a(nodata(Security.BOGUS))


def test_only_excluded_aaaa_records_count_as_nodata() -> None:
    """RFC 6147 5.1.4: IPv4-mapped addresses (::ffff:0:0/96) are excluded by default."""
    mapped = dns.rrset.from_text(NAME, 300, "IN", "AAAA", "::ffff:192.0.2.1")
    outcome = Outcome(rcode=dns.rcode.NOERROR, answer=(mapped,))
    assert policy().needs_a(outcome)
    assert not policy(exclude=()).needs_a(outcome)
    both = dns.rrset.from_text(NAME, 300, "IN", "AAAA", "::ffff:192.0.2.1", "2001:db8::1")
    assert not policy().needs_a(Outcome(rcode=dns.rcode.NOERROR, answer=(both,)))


def test_no_synthesis_for_a_client_that_sets_cd() -> None:
    """RFC 6147 5.5: a client that validates for itself gets the data as it is."""
    assert not policy().synthesises(AAAA_QUESTION, cd=True)
    assert not policy().synthesises(Question(NAME, dns.rdatatype.A), cd=False)


def test_ttl_is_bounded_by_the_negative_ttl_or_600_seconds() -> None:
    """RFC 6147 5.1.7."""
    made = policy().synthesise(nodata(), a_answer("1.2.3.5", ttl=3600))
    assert made is not None
    assert made.answer[0].ttl == SOA.ttl
    made = policy().synthesise(nodata(soa=False), a_answer("1.2.3.5", ttl=3600))
    assert made is not None
    assert made.answer[0].ttl == NO_SOA_TTL
    made = policy().synthesise(nodata(), a_answer("1.2.3.5", ttl=2))
    assert made is not None
    assert made.answer[0].ttl == 2


def test_a_cname_chain_is_kept_and_its_target_synthesised() -> None:
    cname = dns.rrset.from_text("cname.example.cz.", 300, "IN", "CNAME", "www.example.cz.")
    a = a_answer("1.2.3.5")
    chained = Outcome(rcode=dns.rcode.NOERROR, answer=(cname, *a.answer))
    made = policy().synthesise(nodata(), chained)
    assert made is not None
    assert [rrset.rdtype for rrset in made.answer] == [dns.rdatatype.CNAME, dns.rdatatype.AAAA]
    assert made.answer[1].name == NAME


def test_secure_only_when_both_the_denial_and_the_a_validated() -> None:
    """RFC 6147 5.5 (case 2); the A's RRSIGs do not cover the made-up AAAA."""
    made = policy().synthesise(nodata(Security.SECURE), a_answer("1.2.3.5",
                                                                 security=Security.SECURE))
    assert made is not None
    assert made.security is Security.SECURE
    assert made.signatures == ()
    made = policy().synthesise(nodata(Security.INSECURE), a_answer("1.2.3.5",
                                                                   security=Security.SECURE))
    assert made is not None
    assert made.security is Security.INSECURE
    # Without a validated denial (synthall, ignore_aaaa) it is never secure.
    made = policy().synthesise(None, a_answer("1.2.3.5", security=Security.SECURE))
    assert made is not None
    assert made.security is Security.INSECURE


def test_nothing_to_synthesise_from() -> None:
    assert policy().synthesise(nodata(), Outcome(rcode=dns.rcode.NOERROR, authority=(SOA,))) \
        is None
    assert policy().synthesise(nodata(), Outcome.servfail(0, "timeout")) is None


def test_the_well_known_prefix_embeds_only_global_ipv4_addresses() -> None:
    """RFC 6052 3.1: 64:ff9b::/96 must not stand for private addresses."""
    wkp = policy("64:ff9b::/96")
    assert wkp.synthesise(nodata(), a_answer("10.0.0.1", "192.168.1.1")) is None
    made = wkp.synthesise(nodata(), a_answer("10.0.0.1", "8.8.8.8"))
    assert made is not None
    assert addresses(made, dns.rdatatype.AAAA) == ["64:ff9b::808:808"]
    # A network-specific prefix embeds them.
    assert policy("2001:db8:64::/96").synthesise(nodata(), a_answer("10.0.0.1")) is not None


def test_synthall_and_ignore_aaaa_skip_the_aaaa_question() -> None:
    assert policy().asks_aaaa(AAAA_QUESTION)
    assert not policy(synthall=True).asks_aaaa(AAAA_QUESTION)
    ignoring = policy(ignore_aaaa=["example.cz"])
    assert not ignoring.asks_aaaa(AAAA_QUESTION)
    assert ignoring.asks_aaaa(Question(dns.name.from_text("www.example.com."),
                                       dns.rdatatype.AAAA))


def reverse(address: str) -> Question:
    return Question(dns.reversename.from_address(address), dns.rdatatype.PTR)


def test_a_reverse_name_in_the_prefix_is_a_cname_to_in_addr_arpa() -> None:
    """RFC 6147 5.3.1, as Knot Resolver's module answers it."""
    dns64 = policy("64:ff9b:1::/48")
    question = reverse("64:ff9b:1:c000:2:2100::")
    target = dns64.ptr_target(question)
    assert target == dns.name.from_text("33.2.0.192.in-addr.arpa.")
    ptr = dns.rrset.from_text(target, 300, "IN", "PTR", "host.example.")
    made = dns64.ptr_answer(question, target, Outcome(rcode=dns.rcode.NOERROR, answer=(ptr,),
                                                      security=Security.SECURE))
    cname = made.answer[0]
    assert cname.rdtype == dns.rdatatype.CNAME
    assert cname.name == question.name
    assert cname[0].target == target
    assert cname.ttl == PTR_CNAME_TTL
    assert made.answer[1] == ptr
    assert made.security is Security.INSECURE


def test_other_reverse_names_are_left_alone() -> None:
    dns64 = policy("64:ff9b:1::/48")
    assert dns64.ptr_target(reverse("2001:db8::1")) is None
    partial = dns.name.from_text("1.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.")
    assert dns64.ptr_target(Question(partial, dns.rdatatype.PTR)) is None
    assert dns64.ptr_target(Question(reverse("64:ff9b:1::1").name, dns.rdatatype.A)) is None


def test_a_failed_reverse_lookup_stays_a_failure() -> None:
    dns64 = policy("64:ff9b:1::/48")
    question = reverse("64:ff9b:1:c000:2:2100::")
    failed = Outcome.servfail(0, "timeout")
    target = dns64.ptr_target(question)
    assert target is not None
    assert dns64.ptr_answer(question, target, failed) is failed
