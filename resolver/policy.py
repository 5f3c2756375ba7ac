"""Policy rules: an ordered list that blocks, refuses or lets through names.

Why: operators block names (malware, trackers, a zone that must not be
resolved from here) by rule, not record by record: every name under a
suffix, every name a regular expression matches, or everything. Knot
Resolver users write this as its policy chain (``policy.add(policy.suffix(
policy.DENY, {todname('example.cz')}))``), Unbound users as RPZ actions;
local zones (``localzones.py``) cannot say "first match wins" nor match a
pattern.

Semantics follow kresd's policy module (modules/policy/policy.lua):

* rules are tried in the order written; the first that matches decides, and
  later rules are not tried (kresd's chain of non-chaining actions);
* a rule matches the question name (QNAME) only, whatever its type: ``all``,
  a ``suffix`` list (the name is one of them or below one, as
  ``policy.suffix``), or a ``pattern`` (``policy.pattern``, but a Python
  regular expression searched anywhere in the lower-case name written
  without its final dot, as Pi-hole's regex lists are: ``(^|\\.)ads\\.``;
  a byte is one character, never a ``\\DDD`` escape);
* actions, named as kresd names them:

  - ``deny``: NXDOMAIN with AA and an SOA of the question name (kresd
    ``policy.DENY``: ``kr_pkt_make_auth_header`` and ``mkauth_soa``), plus
    Extended DNS Error 15 Blocked (RFC 8914 4.16);
  - ``refuse``: REFUSED (``policy.REFUSE``), with EDE 15;
  - ``drop``: SERVFAIL (``policy.DROP`` ends resolution with ``kres.FAIL``;
    unlike Unbound's ``rpz-drop`` and local-zone ``deny``, the client is
    answered), with EDE 15;
  - ``tc``: over UDP, an empty answer with TC=1 so that the client asks
    again over TCP; over TCP, DoT or DoH, as ``pass`` (``policy.TC``,
    Unbound's ``rpz-tcp-only``);
  - ``pass``: resolve as usual, and no later rule is tried
    (``policy.PASS``): an exception carved out of a broader rule below it.

A pattern is the operator's, but the name it is matched against is the
client's: with a backtracking engine such as Python's ``re``, a pattern
that repeats a group which itself repeats or alternates (``(a+)+``,
``(.*\\.)*``, ``(a|ab)*``) can take exponential time on a crafted name, and
every further unbounded repeat multiplies the time by the name's length
(``.*.*.*x``: 2.6 s on one 253-character name). So such patterns,
backreferences and those whose estimated worst case exceeds
``MAX_PATTERN_STEPS`` are refused at load, and patterns are at most
``MAX_PATTERN_LENGTH`` characters.

Pure: ``Policy.match`` takes a question and returns the first matching
rule, once per question; the server takes from it the answer
(``Rule.answer`` for the transport: an ``Outcome``, ``TRUNCATE`` or None)
before local zones, the cache and recursion, and whether to keep the
response ready-made. Its answers are never kept as ready-made responses
(they carry an EDE, or TC), nor are the answers to names a ``tc`` rule
truncates (``Rule.keeps_ready_answers``); a reload that changes the rules
drops the ready-made responses.
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rcode

from dnssec.errors import HoldfastError
from dnssec.status import ExtendedError
from resolver.localzones import negative_soa
from resolver.question import Outcome, Question

#: Longest ``pattern`` accepted: a name is at most 253 characters written out.
MAX_PATTERN_LENGTH = 256
#: RFC 8914 4.16: "blocked due to an internal security policy imposed by the
#: operator of the resolver".
EDE_BLOCKED = 15

#: The verdict that asks a UDP client to retry over TCP (``tc``).
TRUNCATE = Outcome(rcode=dns.rcode.NOERROR)


class PolicyError(HoldfastError):
    """A ``[[policy]]`` rule is unusable."""


class Action(enum.Enum):
    """What a matching rule does (kresd's action names, lower case)."""

    DENY = "deny"
    REFUSE = "refuse"
    DROP = "drop"
    TC = "tc"
    PASS = "pass"


#: The words an action is given as in the file.
ACTIONS = tuple(action.value for action in Action)
#: The keys that say what a rule matches; a rule has exactly one.
_MATCHERS = ("all", "suffix", "pattern")


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: its action and what it matches (no suffixes and no pattern: all names)."""

    action: Action
    suffixes: frozenset[dns.name.Name] = frozenset()
    pattern: re.Pattern[str] | None = None
    #: Its place in the file, counted from 1, for the EDE text.
    number: int = 0

    def matches(self, ancestors: frozenset[dns.name.Name], text: str) -> bool:
        """Whether the name (its ``ancestors`` including itself, and its ``text``) matches."""
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        if self.suffixes:
            return not self.suffixes.isdisjoint(ancestors)
        return True

    def answer(self, name: dns.name.Name, *, tcp: bool) -> Outcome | None:
        """This rule's answer for ``name``; ``TRUNCATE``; or None to answer as usual."""
        action = self.action
        if action is Action.PASS or (action is Action.TC and tcp):
            return None
        if action is Action.TC:
            return TRUNCATE
        blocked = (ExtendedError(EDE_BLOCKED, f"blocked by [[policy]] #{self.number}"),)
        if action is Action.DENY:
            return Outcome(rcode=dns.rcode.NXDOMAIN, authority=(negative_soa(name),),
                           errors=blocked, authoritative=True)
        rcode = dns.rcode.REFUSED if action is Action.REFUSE else dns.rcode.SERVFAIL
        return Outcome(rcode=rcode, errors=blocked)

    @property
    def keeps_ready_answers(self) -> bool:
        """Whether a response to a name this rule decides may be kept as a ready-made answer.

        Not for ``tc``: answered in full over TCP, the ready-made path
        (which sees no rules) would then give UDP clients the whole answer
        instead of TC=1.
        """
        return self.action is not Action.TC


class Policy:
    """The rules in force; ``match`` is the server's hook."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules = tuple(rules)

    def match(self, question: Question) -> Rule | None:
        """The first rule that matches ``question``'s name, if any (the server's hook).

        The server asks once per question and takes both the answer
        (``Rule.answer``) and whether to keep it ready-made from the rule.
        """
        if not self.rules:
            return None
        name = question.name
        ancestors = frozenset(name.split(depth)[1] for depth in range(1, len(name) + 1))
        # One character per byte, no \DDD escapes: at most 253 characters,
        # the length the pattern checks assume (an escaped name can be four
        # times longer, and a pattern's time grows with a power of it).
        text = ".".join(label.decode("latin-1") for label in name.labels[:-1]).lower()
        for rule in self.rules:
            if rule.matches(ancestors, text):
                return rule
        return None


def rules_from_tables(tables: Any) -> tuple[Rule, ...]:
    """The ``[[policy]]`` array of tables, in order.

    Each has ``action`` and one of ``all = true``, ``suffix = [NAME, ...]``,
    ``pattern = "REGEX"``.

    Raises:
        PolicyError: naming the rule (``[[policy]] #N``) and what is wrong.
    """
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise PolicyError("policy must be an array of tables, written [[policy]]")
    return tuple(_rule(table, number) for number, table in enumerate(tables, 1))


def _rule(table: dict[str, Any], number: int) -> Rule:
    where = f"[[policy]] #{number}"
    unknown = sorted(set(table) - {"action", *_MATCHERS})
    if unknown:
        raise PolicyError(f"{where}: unknown key {', '.join(unknown)} (it takes action and "
                          "one of all, suffix, pattern)")
    action = table.get("action")
    if action not in ACTIONS:
        raise PolicyError(f"{where}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
    given = [key for key in _MATCHERS if key in table]
    if len(given) != 1:
        raise PolicyError(f"{where}: give exactly one of all = true, suffix = [...], "
                          f"pattern = \"...\" (given: {', '.join(given) or 'none'})")
    matcher, value = given[0], table[given[0]]
    if matcher == "all":
        if value is not True:
            raise PolicyError(f"{where}: all must be true, not {value!r}")
        return Rule(Action(action), number=number)
    if matcher == "suffix":
        return Rule(Action(action), suffixes=_suffixes(value, where), number=number)
    return Rule(Action(action), pattern=compile_pattern(value, where), number=number)


def _suffixes(value: Any, where: str) -> frozenset[dns.name.Name]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: suffix must be a non-empty list of names")
    names = set()
    for text in value:
        try:
            names.add(dns.name.from_text(text))
        except dns.exception.DNSException as error:
            raise PolicyError(f"{where}: {text[:80]!r} is not a domain name: {error}") from error
    return frozenset(names)


def compile_pattern(value: Any, where: str) -> re.Pattern[str]:
    """A ``pattern`` compiled (case-insensitive), once it is known to match in bounded time.

    Raises:
        PolicyError: not a string, too long, not a regular expression, or one
            that could backtrack without bound (module docstring).
    """
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: pattern must be a non-empty string")
    if len(value) > MAX_PATTERN_LENGTH:
        raise PolicyError(f"{where}: pattern is {len(value)} characters, more than "
                          f"{MAX_PATTERN_LENGTH}")
    try:
        compiled = re.compile(value, re.IGNORECASE)
    except re.error as error:
        raise PolicyError(f"{where}: pattern {value[:80]!r} is not a regular expression: "
                          f"{error}") from error
    problem = _backtracking_risk(_PARSER.parse(value))
    if problem is not None:
        raise PolicyError(f"{where}: pattern {value[:80]!r} {problem}; a name chosen by a "
                          "client could make matching take seconds")
    return compiled


#: The parser ``re`` itself compiles with (private, so reached by name and
#: walked as data): the tree of (opcode, argument) pairs the check reads.
_PARSER: Any = importlib.import_module("re._parser")
_CONSTANTS: Any = importlib.import_module("re._constants")
_REPEATS = {_CONSTANTS.MAX_REPEAT, _CONSTANTS.MIN_REPEAT, _CONSTANTS.POSSESSIVE_REPEAT}
_BACKREFERENCES = {_CONSTANTS.GROUPREF, _CONSTANTS.GROUPREF_EXISTS}
#: The longest name a pattern is matched against, written out.
_NAME_LENGTH = 253
#: The most backtracking steps a pattern may cost on one name, estimated as
#: below: about a millisecond. ``.*x`` costs 253 * 253; ``.*.*x`` 253 ** 3,
#: measured at 84 ms on a 253-character name (three ``.*``: 2.6 s).
MAX_PATTERN_STEPS = 1 << 20


def _backtracking_risk(tree: Any) -> str | None:
    """What makes the parsed pattern ``tree`` slow on a crafted name, or None."""
    try:
        steps = _NAME_LENGTH * _steps(tree, inside_repeat=False)  # searched from every position
    except _Risky as risk:
        return str(risk)
    if steps > MAX_PATTERN_STEPS:
        return ("has too many repeats of unbounded length (*, +, {n,}) for one name: keep one "
                "and bound the others, e.g. {1,3}")
    return None


class _Risky(PolicyError):
    """A pattern whose matching time can grow exponentially (``_backtracking_risk``)."""


def _steps(tree: Any, *, inside_repeat: bool) -> int:
    """The worst-case backtracking steps of ``tree`` per start position, estimated.

    A sequence multiplies its items' costs, a repeat its range (at most a
    name's length), an alternation adds its branches'. Estimates fail for
    what backtracks exponentially: a repeat, or an alternation, inside a
    repeat (the star height above one that safe-regex checkers refuse), and
    backreferences; those raise ``_Risky``.
    """
    total = 1
    for op, argument in tree:
        if op in _BACKREFERENCES:
            raise _Risky("has a backreference")
        if op in _REPEATS:
            _low, high, child = argument
            if inside_repeat:
                raise _Risky("repeats a group that itself repeats")
            width = _NAME_LENGTH if high is _CONSTANTS.MAXREPEAT else min(high, _NAME_LENGTH)
            total *= width * _steps(child, inside_repeat=width > 1)
        elif op is _CONSTANTS.BRANCH:
            if inside_repeat:
                raise _Risky("repeats an alternation")
            total *= sum(_steps(branch, inside_repeat=False) for branch in argument[1])
        elif op is _CONSTANTS.SUBPATTERN or op in (_CONSTANTS.ASSERT, _CONSTANTS.ASSERT_NOT):
            total *= _steps(argument[-1], inside_repeat=inside_repeat)
        elif op is _CONSTANTS.ATOMIC_GROUP:
            total *= _steps(argument, inside_repeat=inside_repeat)
    return total
