"""Policy rules (``resolver/policy.py``): matching, actions, the load checks, the server hook."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio

from resolver import cli
from resolver.answers import AnswerCache
from resolver.clock import FakeClock
from resolver.config import POLICY, load_config
from resolver.messages import ClientQuery
from resolver.policy import (
    EDE_BLOCKED,
    MAX_PATTERN_LENGTH,
    TRUNCATE,
    Policy,
    PolicyError,
    compile_pattern,
    rules_from_tables,
)
from resolver.question import Outcome, Question
from resolver.server import DnsServer


def policy(*tables: dict[str, Any]) -> Policy:
    return Policy(rules_from_tables(list(tables)))


def verdict(rules: Policy, name: str, *, tcp: bool = False, rdtype: str = "A") -> Outcome | None:
    return decided(rules, Question(dns.name.from_text(name), dns.rdatatype.from_text(rdtype)), tcp)


def decided(rules: Policy, question: Question, tcp: bool = False) -> Outcome | None:
    """What the server answers from the rules: the first match's answer, or None."""
    rule = rules.match(question)
    return None if rule is None else rule.answer(question.name, tcp=tcp)


def rcode(outcome: Outcome | None) -> str:
    return "resolve" if outcome is None else dns.rcode.to_text(outcome.rcode)


# --- matching -------------------------------------------------------------------


def test_all_matches_every_name_and_type() -> None:
    rules = policy({"action": "deny", "all": True})
    for name in (".", "cz", "example.cz", "a.b.c.d.example.com"):
        assert rcode(verdict(rules, name, rdtype="MX")) == "NXDOMAIN"


def test_suffix_matches_the_name_and_below_not_its_neighbours() -> None:
    rules = policy({"action": "deny", "suffix": ["example.cz", "nic.cz."]})
    for name in ("example.cz", "EXAMPLE.CZ.", "dummy.example.cz", "x.y.Nic.cz"):
        assert rcode(verdict(rules, name)) == "NXDOMAIN", name
    for name in ("cz", "badexample.cz", "example.cz.evil.com", "example.com"):
        assert verdict(rules, name) is None, name


def test_pattern_searches_the_lower_case_name_without_its_final_dot() -> None:
    # kresd's deny_suff_patt '\8example[0-8]\2cz', as the Deckard template writes it.
    rules = policy({"action": "deny", "pattern": r"(^|\.)example[0-8]\.cz(\.|$)"})
    for name in ("example0.cz", "Dummy.EXAMPLE0.cz.", "example8.cz.evil.com"):
        assert rcode(verdict(rules, name)) == "NXDOMAIN", name
    for name in ("example9.cz", "anexample0.cz", "example0.czech"):
        assert verdict(rules, name) is None, name
    anchored = policy({"action": "refuse", "pattern": "^ads$"})
    assert rcode(verdict(anchored, "ads.")) == "REFUSED"
    assert rcode(verdict(policy({"action": "refuse", "pattern": "^$"}), ".")) == "REFUSED"


def test_a_name_of_unprintable_bytes_is_one_character_per_byte() -> None:
    # Written with \DDD escapes it would be about 1000 characters: four times
    # the length the pattern checks bound the matching time for.
    name = dns.name.Name([b"\x00" * 63] * 3 + [b"\x00" * 61, b""])
    rules = policy({"action": "deny", "pattern": "^[^x]{253}$"})
    assert decided(rules, Question(name, dns.rdatatype.A)) is not None


def test_the_first_matching_rule_decides() -> None:
    # kresd's module_policy_pass_deny: PASS for one name, then DENY for its zone.
    rules = policy(
        {"action": "pass", "pattern": r"(^|\.)dummy\.example\.cz$"},
        {"action": "deny", "suffix": ["example.cz"]},
    )
    assert verdict(rules, "dummy.example.cz") is None
    assert verdict(rules, "www.dummy.example.cz") is None
    assert rcode(verdict(rules, "fake.example.cz")) == "NXDOMAIN"
    reversed_order = policy(
        {"action": "deny", "suffix": ["example.cz"]},
        {"action": "pass", "pattern": "dummy"},
    )
    assert rcode(verdict(reversed_order, "dummy.example.cz")) == "NXDOMAIN"


def test_no_rules_no_verdict() -> None:
    assert verdict(Policy(), "example.cz") is None


# --- actions --------------------------------------------------------------------


def test_deny_is_an_authoritative_nxdomain_with_soa_and_ede_blocked() -> None:
    outcome = verdict(policy({"action": "deny", "suffix": ["nic.cz"]}), "www.nic.cz")
    assert outcome is not None
    assert outcome.rcode == dns.rcode.NXDOMAIN
    assert outcome.authoritative
    assert outcome.answer == ()
    (soa,) = outcome.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name == dns.name.from_text("www.nic.cz")
    assert [error.code for error in outcome.errors] == [EDE_BLOCKED]
    assert "#1" in outcome.errors[0].text


def test_refuse_and_drop_are_refused_and_servfail_with_ede_blocked() -> None:
    refused = verdict(policy({"action": "refuse", "all": True}), "example.cz")
    dropped = verdict(policy({"action": "drop", "all": True}), "example.cz")
    assert refused is not None
    assert dropped is not None
    assert refused.rcode == dns.rcode.REFUSED
    assert dropped.rcode == dns.rcode.SERVFAIL
    assert not refused.authoritative
    assert not dropped.authoritative
    assert [e.code for e in (*refused.errors, *dropped.errors)] == [EDE_BLOCKED, EDE_BLOCKED]


def test_tc_truncates_udp_and_passes_over_tcp() -> None:
    rules = policy(
        {"action": "tc", "suffix": ["example.cz"]},
        {"action": "deny", "all": True},
    )
    assert verdict(rules, "www.example.cz", tcp=False) is TRUNCATE
    # Over TCP the rule answers as usual, and the deny below is not reached.
    assert verdict(rules, "www.example.cz", tcp=True) is None
    assert rcode(verdict(rules, "other.cz", tcp=True)) == "NXDOMAIN"


# --- load checks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"action": "deny"}, "exactly one of"),
        ({"action": "deny", "all": True, "suffix": ["a"]}, "exactly one of"),
        ({"action": "block", "all": True}, "action must be one of deny, refuse, drop, tc, pass"),
        ({"all": True}, "action must be one of"),
        ({"action": "deny", "all": False}, "all must be true"),
        ({"action": "deny", "suffix": []}, "non-empty list of names"),
        ({"action": "deny", "suffix": "example.cz"}, "non-empty list of names"),
        ({"action": "deny", "suffix": ["a..b"]}, "is not a domain name"),
        ({"action": "deny", "zone": ["a"]}, "unknown key zone"),
        ({"action": "deny", "pattern": "ex[ample"}, "is not a regular expression"),
        ({"action": "deny", "pattern": ""}, "non-empty string"),
        ({"action": "deny", "pattern": "a" * (MAX_PATTERN_LENGTH + 1)}, "more than 256"),
    ],
)
def test_a_bad_rule_is_named_with_the_reason(table: dict[str, Any], says: str) -> None:
    with pytest.raises(PolicyError, match=r"\[\[policy\]\] #2") as raised:
        rules_from_tables([{"action": "pass", "all": True}, table])
    assert says in str(raised.value)


def test_not_an_array_of_tables() -> None:
    with pytest.raises(PolicyError, match=r"written \[\[policy\]\]"):
        rules_from_tables({"action": "deny"})


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"(a+)+$", "repeats a group that itself repeats"),
        (r"(.*\.)*ads", "repeats a group that itself repeats"),
        (r"(a|ab)*c", "repeats an alternation"),
        (r"(ads)\1", "backreference"),
        (r".*.*.*x", "too many repeats of unbounded length"),
        (r"[a-z]+[0-9]+\.[a-z]+$", "too many repeats of unbounded length"),
    ],
)
def test_patterns_that_could_backtrack_for_long_are_refused(pattern: str, says: str) -> None:
    with pytest.raises(PolicyError, match=says):
        compile_pattern(pattern, "[[policy]] #1")


def test_bounded_patterns_are_accepted_and_fast_on_a_crafted_name() -> None:
    crafted = ".".join(["a" * 63] * 3 + ["a" * 61])  # 253 characters, no match anywhere
    for pattern in (r"(^|\.)example[0-8]\.cz(\.|$)", r".*x", r"^ad[0-9]{1,3}[a-z]?\..*z$",
                    r"(^|\.)(ads|tracker)\.", r"(?=a)b", r"(?>a+)x"):
        compiled = compile_pattern(pattern, "[[policy]] #1")
        started = time.perf_counter()
        assert compiled.search(crafted) is None
        assert time.perf_counter() - started < 0.05, pattern


# --- configuration --------------------------------------------------------------


def test_the_file_keeps_the_rules_in_order(tmp_path: Path) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text(
        "[[policy]]\naction = \"pass\"\npattern = '(^|\\.)dummy\\.example\\.cz$'\n\n"
        "[[policy]]\naction = \"deny\"\nsuffix = [\"example.cz\"]\n"
    )
    rules = load_config(path)[POLICY]
    assert [rule.action.value for rule in rules] == ["pass", "deny"]
    # Equal rules read twice compare equal: a reload that leaves them alone changes nothing.
    assert load_config(path)[POLICY] == rules


def test_check_config_names_the_bad_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text("[[policy]]\naction = \"deny\"\npattern = '(a+)+'\n")
    assert cli.main(["check-config", str(path)]) == 2
    error = capsys.readouterr().err
    assert "[[policy]] #1" in error
    assert "repeats a group that itself repeats" in error


# --- the server hook ------------------------------------------------------------


async def _resolved(query: ClientQuery) -> Outcome:
    rrset = dns.rrset.from_text(query.question.name, 60, "IN", "A", "192.0.2.1")
    return Outcome(rcode=dns.rcode.NOERROR, answer=(rrset,))


def exchange(
    rules: Policy, name: str, *, tcp: bool = False, server: DnsServer | None = None
) -> dns.message.Message:
    if server is None:
        server = DnsServer([], _resolved)
    server.policy = rules
    query = dns.message.make_query(name, "A", use_edns=0)
    wire = trio.run(lambda: server.answer(query.to_wire(), "127.0.0.1", tcp=tcp))
    assert wire is not None
    return dns.message.from_wire(wire)


def test_server_renders_deny_with_aa_and_tc_only_over_udp() -> None:
    rules = policy(
        {"action": "tc", "suffix": ["tc.example"]},
        {"action": "deny", "suffix": ["blocked.example"]},
    )
    denied = exchange(rules, "www.blocked.example")
    assert denied.rcode() == dns.rcode.NXDOMAIN
    assert denied.flags & dns.flags.AA
    assert not denied.flags & dns.flags.AD
    assert denied.authority[0].rdtype == dns.rdatatype.SOA
    assert [option.code for option in denied.options] == [15]  # EDE
    truncated = exchange(rules, "www.tc.example")
    assert truncated.flags & dns.flags.TC
    assert truncated.rcode() == dns.rcode.NOERROR
    assert truncated.answer == []
    over_tcp = exchange(rules, "www.tc.example", tcp=True)
    assert not over_tcp.flags & dns.flags.TC
    assert over_tcp.answer[0][0].to_text() == "192.0.2.1"
    passed = exchange(rules, "www.example")
    assert not passed.flags & dns.flags.AA
    assert passed.answer[0][0].to_text() == "192.0.2.1"


def test_a_name_tc_truncates_is_never_a_ready_made_answer() -> None:
    rules = policy({"action": "tc", "suffix": ["tc.example"]})
    server = DnsServer([], _resolved, answers=AnswerCache(FakeClock(), udp_payload=1232))
    assert exchange(rules, "www.tc.example", tcp=True, server=server).answer
    # Asked again over UDP: TC=1, not the TCP answer from the ready-made path.
    again = exchange(rules, "www.tc.example", server=server)
    assert again.flags & dns.flags.TC
    assert again.answer == []
    # Other names are kept as usual.
    exchange(rules, "www.example", tcp=True, server=server)
    assert server.answer_ready(
        dns.message.make_query("www.example", "A", use_edns=0).to_wire(), "127.0.0.1",
        tcp=False) is not None
