"""DNS64 (RFC 6147): AAAA records made from A records, for IPv6-only clients.

Why: an IPv6-only network reaches IPv4-only servers through a NAT64
translator, which maps each IPv4 address into an IPv6 prefix (the Pref64,
RFC 6052). The client only learns such an address if its resolver makes it:
when a name has A records and no AAAA, DNS64 answers the AAAA question with
the A addresses embedded in the prefix. Off by default (``[dns64] prefix``);
Unbound's ``dns64`` module and Knot Resolver's ``dns64`` module do the same.

The rules, each from the RFC or a peer:

* **When.** An AAAA question whose answer is NOERROR without a usable AAAA
  record (NODATA, or only addresses in an excluded range, by default the
  IPv4-mapped ``::ffff:0:0/96``: RFC 6147 5.1.4) is asked again as A, for
  the same name (a CNAME chain is followed again and kept, as Unbound's
  ``dns64_adjust_a`` keeps it). An NXDOMAIN stands (no name, no A either),
  and so does a failure: Holdfast's SERVFAIL means resolution failed or the
  data was bogus, which synthesis must not hide (RFC 6147 5.5: data that
  does not validate gets SERVFAIL); Knot Resolver's module does the same,
  where Unbound also synthesises after an upstream error. ``synthall`` and
  ``ignore_aaaa`` (Unbound's ``dns64-synthall``, ``dns64-ignore-aaaa``) ask
  the A question first, for every name or for names under a zone; only
  when there is nothing to make an AAAA from is the AAAA asked after all
  (Unbound then gives the AAAA answer too).
* **Not with CD.** A client that sets CD validates for itself, and a made-up
  AAAA would fail its validation: it gets the data as it is (RFC 6147 5.5,
  case 3, for CD with DO; Unbound and Knot Resolver skip synthesis on CD
  whatever DO says, and so does Holdfast).
* **The addresses.** RFC 6052 section 2.2: the IPv4 address follows the
  prefix (/32, /40, /48, /56, /64 or /96), skipping bits 64 to 71. With the
  well-known prefix ``64:ff9b::/96`` only global IPv4 addresses are
  embedded (RFC 6052 section 3.1: it MUST NOT stand for private ones).
* **TTL.** The A record's TTL, but no longer than the negative TTL of the
  AAAA NODATA (its SOA as given), or 600 s without one (RFC 6147 5.1.7).
* **AD.** A synthesised AAAA has no signature. RFC 6147 5.5 (case 2) lets a
  validating DNS64 set AD when both the AAAA denial and the A answer
  validated; Knot Resolver ranks the result as the weaker of the two, and
  Unbound copies the A's status. Holdfast does the same: SECURE only when
  both were SECURE, and never without a validated denial (``synthall``,
  ``ignore_aaaa``); the A's RRSIGs are not passed on (they do not cover
  the AAAA).
* **Reverse names.** A PTR question for a full ``ip6.arpa`` name inside the
  prefix is answered with a CNAME to the ``in-addr.arpa`` name of the
  embedded IPv4 address, followed (RFC 6147 5.3.1; Knot Resolver's module
  answers with that CNAME, TTL 60). The CNAME is ours, unsigned: no AD.

Pure: the recursor (``resolver/recursor.py``) asks the questions this module
names and hands the outcomes back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from dnssec.status import Security
from resolver.question import Outcome, Question

#: RFC 6052 section 2.1: the Well-Known Prefix.
WELL_KNOWN_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
#: RFC 6052 section 2.2: the prefix lengths an IPv4 address can follow.
PREFIX_LENGTHS = (32, 40, 48, 56, 64, 96)
#: RFC 6147 5.1.4: AAAA records here count as absent unless configured otherwise.
DEFAULT_EXCLUDE = ("::ffff:0:0/96",)
#: RFC 6147 5.1.7: the TTL bound when the AAAA NODATA carried no SOA.
NO_SOA_TTL = 600
#: TTL of the CNAME made for a reverse name in the prefix (Knot Resolver's rev_ttl).
PTR_CNAME_TTL = 60
#: Octet 8 of the address (bits 64 to 71) never carries IPv4 bits (RFC 6052 2.2).
_RESERVED_OCTET = 8
#: Labels of a full ip6.arpa name: 32 nibbles, "ip6", "arpa" (the root is not counted).
_FULL_IP6_ARPA_LABELS = 32 + 2


def prefix_error(text: str) -> str | None:
    """Why ``text`` is not a usable Pref64 (``[dns64] prefix``), or None."""
    try:
        network = ipaddress.IPv6Network(text)
    except ValueError as exc:
        return f"{text!r} is not an IPv6 prefix in CIDR form, e.g. 64:ff9b::/96 ({exc})"
    if network.prefixlen not in PREFIX_LENGTHS:
        lengths = ", ".join(f"/{length}" for length in PREFIX_LENGTHS)
        return f"{text!r}: an RFC 6052 prefix is {lengths}, not /{network.prefixlen}"
    return None


def ipv6_network_error(text: str) -> str | None:
    """Why ``text`` is not an IPv6 network (``[dns64] exclude``), or None."""
    try:
        ipaddress.IPv6Network(text)
    except ValueError as exc:
        return f"{text!r} is not an IPv6 network in CIDR form ({exc})"
    return None


def embed(prefix: ipaddress.IPv6Network, address: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    """``address`` inside ``prefix``, laid out as RFC 6052 section 2.2 says."""
    octets = bytearray(prefix.network_address.packed)
    for position, octet in zip(_ipv4_positions(prefix), address.packed, strict=True):
        octets[position] = octet
    return ipaddress.IPv6Address(bytes(octets))


def extract(prefix: ipaddress.IPv6Network, address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    """The IPv4 address ``embed`` put into ``address`` (which is inside ``prefix``)."""
    octets = address.packed
    return ipaddress.IPv4Address(bytes(octets[position] for position in _ipv4_positions(prefix)))


def _ipv4_positions(prefix: ipaddress.IPv6Network) -> list[int]:
    """Which octets of the address hold the IPv4 address, in order."""
    first = prefix.prefixlen // 8
    return [i for i in range(first, 16) if i != _RESERVED_OCTET][:4]


@dataclass(frozen=True, slots=True)
class Dns64:
    """The DNS64 policy of ``[dns64]``: the prefix and what is synthesised."""

    prefix: ipaddress.IPv6Network
    #: Synthesise for every AAAA question, without asking for the AAAA (Unbound dns64-synthall).
    synthall: bool = False
    #: Zones whose AAAA records are ignored and always synthesised (Unbound dns64-ignore-aaaa).
    ignore_aaaa: tuple[dns.name.Name, ...] = ()
    #: AAAA records in these networks count as absent (RFC 6147 5.1.4).
    exclude: tuple[ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_texts(
        cls,
        prefix: str,
        *,
        synthall: bool = False,
        ignore_aaaa: Iterable[str] = (),
        exclude: Iterable[str] = DEFAULT_EXCLUDE,
    ) -> Dns64 | None:
        """The policy the configuration's texts (already checked) describe; None when off."""
        if not prefix:
            return None
        return cls(
            ipaddress.IPv6Network(prefix),
            synthall=synthall,
            ignore_aaaa=tuple(dns.name.from_text(zone) for zone in ignore_aaaa),
            exclude=tuple(ipaddress.IPv6Network(network) for network in exclude),
        )

    def synthesises(self, question: Question, *, cd: bool) -> bool:
        """Whether ``question`` is an AAAA question DNS64 applies to."""
        return question.rdtype == dns.rdatatype.AAAA and not cd

    def asks_aaaa(self, question: Question) -> bool:
        """Whether the AAAA answer counts at all, or is synthesised from A regardless."""
        return not self.synthall and not any(
            question.name.is_subdomain(zone) for zone in self.ignore_aaaa
        )

    def needs_a(self, aaaa: Outcome) -> bool:
        """Whether the AAAA outcome is a NODATA (or only excluded addresses): ask for A."""
        if aaaa.failed or aaaa.rcode != dns.rcode.NOERROR:
            return False
        return not any(
            not any(ipaddress.IPv6Address(rdata.address) in network for network in self.exclude)
            for rrset in aaaa.answer
            if rrset.rdtype == dns.rdatatype.AAAA
            for rdata in rrset
        )

    def synthesise(self, aaaa: Outcome | None, a: Outcome) -> Outcome | None:
        """The AAAA answer made from ``a``; None when there is nothing to make it from.

        ``aaaa`` is the NODATA that called for it, None when the AAAA was not asked.
        """
        if a.failed or a.rcode != dns.rcode.NOERROR:
            return None
        limit = NO_SOA_TTL if aaaa is None else _negative_ttl(aaaa)
        answer: list[dns.rrset.RRset] = []
        made = False
        for rrset in a.answer:
            if rrset.rdtype != dns.rdatatype.A:
                answer.append(rrset)
                continue
            synthesised = self._aaaa_from(rrset, limit)
            if synthesised is not None:
                answer.append(synthesised)
                made = True
        if not made:
            return None
        kept = {(rrset.name, rrset.rdtype) for rrset in answer}
        security = Security.INSECURE if aaaa is None else _weaker(aaaa.security, a.security)
        return Outcome(
            rcode=dns.rcode.NOERROR,
            answer=tuple(answer),
            errors=a.errors,
            security=security,
            signatures=tuple(sig for sig in a.signatures if (sig.name, sig.covers) in kept),
            proof=a.proof,
            stale=a.stale or (aaaa is not None and aaaa.stale),
        )

    def _aaaa_from(self, rrset: dns.rrset.RRset, limit: int) -> dns.rrset.RRset | None:
        """The AAAA RRset for the addresses of an A RRset that may be embedded."""
        addresses = [ipaddress.IPv4Address(rdata.address) for rdata in rrset]
        if self.prefix == WELL_KNOWN_PREFIX:
            addresses = [address for address in addresses if address.is_global]
        if not addresses:
            return None
        synthesised = dns.rrset.RRset(rrset.name, dns.rdataclass.IN, dns.rdatatype.AAAA)
        synthesised.update_ttl(min(rrset.ttl, limit))
        for address in addresses:
            text = str(embed(self.prefix, address))
            synthesised.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.AAAA, text))
        return synthesised

    def ptr_target(self, question: Question) -> dns.name.Name | None:
        """For a PTR question on a full ip6.arpa name inside the prefix, the in-addr.arpa name."""
        if question.rdtype != dns.rdatatype.PTR:
            return None
        name = question.name
        if len(name.labels) != _FULL_IP6_ARPA_LABELS + 1 or not name.is_subdomain(
            dns.reversename.ipv6_reverse_domain
        ):
            return None
        try:
            address = ipaddress.IPv6Address(dns.reversename.to_address(name))
        except (dns.exception.SyntaxError, ValueError):
            return None
        if address not in self.prefix:
            return None
        return dns.reversename.from_address(str(extract(self.prefix, address)))

    def ptr_answer(self, question: Question, target: dns.name.Name, ptr: Outcome) -> Outcome:
        """The answer to a reverse question in the prefix: our CNAME, then ``ptr``."""
        if ptr.failed:
            return ptr
        cname = dns.rrset.from_text(question.name, PTR_CNAME_TTL, "IN", "CNAME", target.to_text())
        return Outcome(
            rcode=ptr.rcode,
            answer=(cname, *ptr.answer),
            authority=ptr.authority,
            errors=ptr.errors,
            security=_weaker(ptr.security, Security.INSECURE),
            signatures=ptr.signatures,
            proof=ptr.proof,
            stale=ptr.stale,
        )


#: From weakest to strongest, for the status of data made from two outcomes.
_STRENGTH = (Security.BOGUS, Security.INDETERMINATE, Security.INSECURE, Security.SECURE)


def _weaker(first: Security, second: Security) -> Security:
    return min(first, second, key=_STRENGTH.index)


def _negative_ttl(aaaa: Outcome) -> int:
    """The negative TTL the AAAA NODATA was given with (its SOA's TTL), else 600 s."""
    for rrset in aaaa.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(rrset.ttl)
    return NO_SOA_TTL
