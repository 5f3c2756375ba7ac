"""NSEC and NSEC3 chains and the denial proofs drawn from them.

Signed lab zones prove negatives with NSEC (RFC 4034/4035) or NSEC3
(RFC 5155: SHA-1, empty salt, and the iteration count of the zone's plan:
0 as RFC 9276 asks, except in ``nsec3-iter.org``). Insecure delegations
are left out of an NSEC3 chain (opt-out); only the records whose span holds
one of them carry the opt-out flag, so that the other proofs stay secure.
``authority.answer`` asks a ``Denial`` for the records of each kind of
proof; the RRSIGs are added by the zone. ``NoProof`` is the denial of a
zone that withholds its proofs (``nonsec.com``). The NSEC chain is searched
by bisection over the canonically sorted owner names, so the same code
serves the lazily built bench zone.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from resolver.lab.authority import wildcard_of

#: RFC 9276: no extra iterations (and no salt: the lab never uses one).
NSEC3_ITERATIONS = 0


def nsec_rrset(
    name: dns.name.Name, following: dns.name.Name, types: Iterable[int], ttl: int
) -> dns.rrset.RRset:
    """The NSEC at ``name`` pointing to ``following`` (adds NSEC and RRSIG)."""
    bitmap = _type_list([*types, dns.rdatatype.NSEC, dns.rdatatype.RRSIG])
    rdata = dns.rdata.from_text(
        dns.rdataclass.IN, dns.rdatatype.NSEC, f"{following.to_text()} {bitmap}"
    )
    return dns.rrset.from_rdata(name, ttl, rdata)


def nsec3_param_text(iterations: int) -> str:
    """The NSEC3PARAM RDATA: SHA-1, no flags, ``iterations``, empty salt."""
    return f"1 0 {iterations} -"


def nsec3_label(name: dns.name.Name, iterations: int = NSEC3_ITERATIONS) -> str:
    """The base32hex NSEC3 hash of ``name`` (lower case), as an owner label."""
    return dns.dnssec.nsec3_hash(name, None, iterations, 1).lower()


def nsec3_chain(
    origin: dns.name.Name,
    names: dict[dns.name.Name, list[int]],
    ttl: int,
    iterations: int = NSEC3_ITERATIONS,
    left_out: Iterable[dns.name.Name] = (),
) -> dict[str, dns.rrset.RRset]:
    """NSEC3 records for ``names`` and their types.

    ``names`` maps each owner to hash (empty non-terminals with no types)
    to the types present there, RRSIG included when signed data is there.
    ``left_out`` are the names opted out of the chain (insecure delegations
    and empty non-terminals above only them): the records whose span holds
    one of their hashes get the opt-out flag (RFC 5155 section 6).
    Returns the records keyed by hash label.
    """
    hashed = sorted((nsec3_label(name, iterations), types) for name, types in names.items())
    opted_out = [nsec3_label(name, iterations) for name in left_out]
    chain: dict[str, dns.rrset.RRset] = {}
    for index, (label, types) in enumerate(hashed):
        following = hashed[(index + 1) % len(hashed)][0]
        flags = int(any(_in_span(label, other, following) for other in opted_out))
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN,
            dns.rdatatype.NSEC3,
            f"1 {flags} {iterations} - {following.upper()} {_type_list(types)}",
        )
        chain[label] = dns.rrset.from_rdata(
            dns.name.Name((label.encode(), *origin.labels)), ttl, rdata
        )
    return chain


class NsecDenial:
    """Proofs from an NSEC chain over canonically sorted owner names."""

    def __init__(
        self,
        names: Sequence[dns.name.Name],
        nsec_at: Callable[[dns.name.Name], dns.rrset.RRset],
    ) -> None:
        """``names`` sorted canonically, apex first; ``nsec_at`` gives each NSEC."""
        self._names = names
        self._nsec_at = nsec_at

    def nodata(self, name: dns.name.Name) -> list[dns.rrset.RRset]:
        """The NSEC at ``name``; for an empty non-terminal, the one covering it."""
        return [self._covering(name)]

    def nxdomain(self, qname: dns.name.Name, encloser: dns.name.Name) -> list[dns.rrset.RRset]:
        return _unique([self._covering(qname), self._covering(wildcard_of(encloser))])

    def wildcard_answer(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        return [self._covering(qname)]

    def wildcard_nodata(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        return _unique([self._covering(qname), self._covering(wildcard_of(encloser))])

    def insecure_referral(self, cut: dns.name.Name) -> list[dns.rrset.RRset]:
        return [self._covering(cut)]

    def _covering(self, name: dns.name.Name) -> dns.rrset.RRset:
        """The NSEC at the last owner sorting at or before ``name``."""
        index = bisect.bisect_right(self._names, name) - 1
        return self._nsec_at(self._names[index])


class Nsec3Denial:
    """Proofs from an NSEC3 chain (RFC 5155 section 7.2)."""

    def __init__(
        self, chain: dict[str, dns.rrset.RRset], iterations: int = NSEC3_ITERATIONS
    ) -> None:
        """``chain`` maps hash labels (made with ``iterations``) to NSEC3 records."""
        self._chain = chain
        self._hashes = sorted(chain)
        self._iterations = iterations

    def nodata(self, name: dns.name.Name) -> list[dns.rrset.RRset]:
        """The NSEC3 matching ``name``; else (opt-out DS) the provable encloser."""
        matching = self._matching(name)
        return [matching] if matching is not None else self._provable_encloser(name)

    def nxdomain(self, qname: dns.name.Name, encloser: dns.name.Name) -> list[dns.rrset.RRset]:
        return _unique(
            [
                *self._encloser_proof(qname, encloser),
                self._covering(wildcard_of(encloser)),
            ]
        )

    def wildcard_answer(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        return [self._covering(_next_closer(qname, encloser))]

    def wildcard_nodata(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        wildcard = self._matching(wildcard_of(encloser))
        assert wildcard is not None
        return _unique([*self._encloser_proof(qname, encloser), wildcard])

    def insecure_referral(self, cut: dns.name.Name) -> list[dns.rrset.RRset]:
        return self.nodata(cut)

    def _provable_encloser(self, name: dns.name.Name) -> list[dns.rrset.RRset]:
        """Closest provable encloser proof for a name not in the chain."""
        encloser = name.parent()
        while self._matching(encloser) is None:
            encloser = encloser.parent()
        return self._encloser_proof(name, encloser)

    def _encloser_proof(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        matching = self._matching(encloser)
        assert matching is not None
        return _unique([matching, self._covering(_next_closer(qname, encloser))])

    def _matching(self, name: dns.name.Name) -> dns.rrset.RRset | None:
        return self._chain.get(nsec3_label(name, self._iterations))

    def _covering(self, name: dns.name.Name) -> dns.rrset.RRset:
        """The NSEC3 whose hash sorts last at or before ``name``'s (wrapping)."""
        index = bisect.bisect_right(self._hashes, nsec3_label(name, self._iterations)) - 1
        return self._chain[self._hashes[index]]


class NoProof:
    """The denial of a signed zone that sends no NSEC/NSEC3 records at all."""

    def nodata(self, name: dns.name.Name) -> list[dns.rrset.RRset]:
        return []

    def nxdomain(self, qname: dns.name.Name, encloser: dns.name.Name) -> list[dns.rrset.RRset]:
        return []

    def wildcard_answer(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        return []

    def wildcard_nodata(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        return []

    def insecure_referral(self, cut: dns.name.Name) -> list[dns.rrset.RRset]:
        return []


def _in_span(owner: str, hashed: str, following: str) -> bool:
    """Whether ``hashed`` sorts strictly between ``owner`` and ``following`` (wrapping)."""
    if owner < following:
        return owner < hashed < following
    return hashed > owner or hashed < following


def _next_closer(qname: dns.name.Name, encloser: dns.name.Name) -> dns.name.Name:
    return qname.split(len(encloser) + 1)[1]


def _type_list(types: Iterable[int]) -> str:
    return " ".join(dns.rdatatype.to_text(dns.rdatatype.RdataType(t)) for t in sorted(set(types)))


def _unique(rrsets: list[dns.rrset.RRset]) -> list[dns.rrset.RRset]:
    seen: set[tuple[dns.name.Name, int]] = set()
    out: list[dns.rrset.RRset] = []
    for rrset in rrsets:
        if (rrset.name, rrset.rdtype) not in seen:
            seen.add((rrset.name, rrset.rdtype))
            out.append(rrset)
    return out
