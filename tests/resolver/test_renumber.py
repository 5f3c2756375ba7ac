"""Renumbering of answer addresses (``resolver/renumber.py``), on plain outcomes."""

from __future__ import annotations

import dns.edns
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from dnssec.status import Security
from resolver.question import Outcome
from resolver.renumber import Renumbering, renumber_rule_error

NAME = "www.example.cz."


def renumbering(*rules: str) -> Renumbering:
    made = Renumbering.from_texts(rules)
    assert made is not None
    return made


def answer(rdtype: str, *addresses: str, security: Security = Security.SECURE) -> Outcome:
    rrset = dns.rrset.from_text(NAME, 300, "IN", rdtype, *addresses)
    sig = dns.rrset.from_text(
        NAME, 300, "IN", "RRSIG", f"{rdtype} 13 3 300 20300101000000 20200101000000 1 cz. AAAA"
    )
    return Outcome(rcode=dns.rcode.NOERROR, answer=(rrset,), security=security,
                   signatures=(sig,))


def addresses(outcome: Outcome) -> list[str]:
    return sorted(rdata.address for rrset in outcome.answer for rdata in rrset)


def test_addresses_in_the_source_prefix_take_the_destination_prefix() -> None:
    """The Deckard scenario module_renumber: 1.2.3.0/24 -> 4.5.6.0."""
    made = renumbering("1.2.3.0/24 -> 4.5.6.0").apply(answer("A", "1.2.3.5", "192.0.2.1"))
    assert addresses(made) == ["192.0.2.1", "4.5.6.5"]


def test_prefixes_need_not_be_whole_octets_and_ipv6_works_too() -> None:
    made = renumbering("10.0.0.0/12 -> 172.16.0.0").apply(answer("A", "10.15.1.2"))
    assert addresses(made) == ["172.31.1.2"]
    made = renumbering("2001:db8::/32 -> 2001:db9::").apply(answer("AAAA", "2001:db8::7"))
    assert addresses(made) == ["2001:db9::7"]


def test_rewritten_data_is_not_secure_and_says_so() -> None:
    """Rewritten records are not what the zone signed: no AD, no RRSIG, EDE 4."""
    made = renumbering("1.2.3.0/24 -> 4.5.6.0").apply(answer("A", "1.2.3.5"))
    assert made.security is Security.INSECURE
    assert made.signatures == ()
    assert [error.code for error in made.errors] == [dns.edns.EDECode.FORGED_ANSWER]


def test_untouched_answers_and_failures_pass_as_they_are() -> None:
    rules = renumbering("1.2.3.0/24 -> 4.5.6.0")
    outside = answer("A", "192.0.2.1")
    assert rules.apply(outside) is outside
    failed = Outcome.servfail(0, "timeout")
    assert rules.apply(failed) is failed


def test_no_rules_means_no_renumbering() -> None:
    assert Renumbering.from_texts([]) is None


@pytest.mark.parametrize(
    "text", ["1.2.3.0/24 4.5.6.0", "1.2.3.0/24 -> 2001:db8::", "1.2.3.0/33 -> 4.5.6.0",
             "1.2.3.1/24 -> 4.5.6.0", "x -> 4.5.6.0"],
)
def test_a_bad_rule_is_refused(text: str) -> None:
    assert renumber_rule_error(text) is not None
