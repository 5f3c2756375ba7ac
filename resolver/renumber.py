"""Renumbering: addresses in answers rewritten from one prefix to another.

Why: behind a NAT, a server the zone publishes as 192.0.2.5 may be reached
by the resolver's clients as 198.51.100.5. Rather than keep a copy of the
zone with the inside addresses, the resolver rewrites them on the way out:
``[renumber] prefixes = ["192.0.2.0/24 -> 198.51.100.0"]``. Knot Resolver's
``renumber`` module does this; Unbound has no counterpart.

The rule: an A (AAAA) record of the answer section whose address is inside
the source prefix takes the destination's first bits, as many as the
source prefix has, and keeps its own host bits (Knot Resolver rewrites
whole octets only; any prefix length works here). The first rule that
matches an address applies.

Rewritten data is not what the zone signed, so it is not secure any more:
an outcome with a rewritten record is at best INSECURE (no AD), the RRSIGs
of the rewritten RRsets are dropped (they would not verify), and EDE 4
"Forged Answer" says what happened (as Knot Resolver's module does).
Failures pass through untouched. Pure: the recursor applies it to each
answer it gives.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace

import dns.edns
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnssec.status import ExtendedError, Security
from resolver.question import Outcome

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_ARROW = "->"
FORGED = ExtendedError(dns.edns.EDECode.FORGED_ANSWER, "addresses renumbered by the resolver")


@dataclass(frozen=True, slots=True)
class Rule:
    """Addresses inside ``source`` take the leading bits of ``destination``."""

    source: Network
    destination: Address

    def rewrite(self, address: Address) -> Address | None:
        """``address`` renumbered, or None when it is outside ``source``."""
        if address.version != self.source.version or address not in self.source:
            return None
        host = int(address) & int(self.source.hostmask)
        network = int(self.destination) & int(self.source.netmask)
        return type(address)(network | host)


def parse_rule(text: str) -> Rule:
    """``"SOURCE/LEN -> DESTINATION"`` as a rule.

    Raises:
        ValueError: with a message saying what is wrong.
    """
    source_text, arrow, destination_text = text.partition(_ARROW)
    if not arrow:
        raise ValueError(f"{text!r} is not SOURCE/LEN -> DESTINATION")
    source = ipaddress.ip_network(source_text.strip())
    destination = ipaddress.ip_address(destination_text.strip())
    if source.version != destination.version:
        raise ValueError(f"{text!r} maps IPv{source.version} to IPv{destination.version}")
    return Rule(source, destination)


def renumber_rule_error(text: str) -> str | None:
    """Why ``text`` is not a ``[renumber] prefixes`` rule, or None."""
    try:
        parse_rule(text)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class Renumbering:
    """The rules of ``[renumber] prefixes``, in order."""

    rules: tuple[Rule, ...]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Renumbering | None:
        """The rules the configuration lists (already checked); None for none."""
        rules = tuple(parse_rule(text) for text in texts)
        return cls(rules) if rules else None

    def apply(self, outcome: Outcome) -> Outcome:
        """``outcome`` with its answer's addresses renumbered (and no longer secure)."""
        if outcome.failed:
            return outcome
        answer: list[dns.rrset.RRset] = []
        rewritten: set[tuple[object, int]] = set()
        for rrset in outcome.answer:
            renumbered = self._rrset(rrset)
            if renumbered is not None:
                rewritten.add((rrset.name, rrset.rdtype))
                rrset = renumbered
            answer.append(rrset)
        if not rewritten:
            return outcome
        return replace(
            outcome,
            answer=tuple(answer),
            errors=(*outcome.errors, FORGED),
            security=Security.INSECURE,
            signatures=tuple(
                sig for sig in outcome.signatures if (sig.name, sig.covers) not in rewritten
            ),
        )

    def _rrset(self, rrset: dns.rrset.RRset) -> dns.rrset.RRset | None:
        """The RRset with its addresses renumbered; None when none of them is."""
        if rrset.rdtype not in (dns.rdatatype.A, dns.rdatatype.AAAA):
            return None
        addresses = [ipaddress.ip_address(rdata.address) for rdata in rrset]
        renumbered = [self._address(address) for address in addresses]
        if renumbered == addresses:
            return None
        result = dns.rrset.RRset(rrset.name, dns.rdataclass.IN, rrset.rdtype)
        result.update_ttl(rrset.ttl)
        for address in renumbered:
            result.add(dns.rdata.from_text(dns.rdataclass.IN, rrset.rdtype, str(address)))
        return result

    def _address(self, address: Address) -> Address:
        for rule in self.rules:
            rewritten = rule.rewrite(address)
            if rewritten is not None:
                return rewritten
        return address
