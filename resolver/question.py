"""What the resolver is asked and what it ends with.

``Question`` is the key of a resolution: two clients asking the same
``Question`` share one upstream resolution. ``Outcome`` is the iterator's
result, independent of any client: the server renders it into a response for
each client that asked (with that client's ID, EDNS size and flags).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from dnssec.status import ExtendedError, Security

__all__ = ["ExtendedError", "Outcome", "Question"]


@dataclass(frozen=True, slots=True)
class Question:
    """A question in class IN; ``name`` is absolute."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType

    def __str__(self) -> str:
        return f"{self.name} {dns.rdatatype.to_text(self.rdtype)}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of resolving one ``Question``.

    ``answer`` holds the whole chain (CNAME/DNAME records first, then the
    final RRset); ``authority`` holds the SOA of a negative answer.
    ``signatures`` (the answer's RRSIGs) and ``proof`` (the SOA's RRSIG and
    the NSEC/NSEC3 records with theirs) go only to clients that set DO.
    ``errors`` become EDE options in the response. A BOGUS outcome keeps its
    data: a client that set CD gets it, any other SERVFAIL and ``errors``.
    ``stale`` marks an answer served from expired data (RFC 8767);
    ``expiring`` one answered from cached data in the last part of its
    lifetime, which the recursor refreshes in the background (prefetch).
    ``authoritative`` sets AA: only on answers this resolver makes up as the
    authority for them (a policy ``deny``, as Knot Resolver sets it).
    """

    rcode: dns.rcode.Rcode
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    errors: tuple[ExtendedError, ...] = ()
    security: Security = field(default=Security.INDETERMINATE)
    signatures: tuple[dns.rrset.RRset, ...] = ()
    proof: tuple[dns.rrset.RRset, ...] = ()
    stale: bool = False
    expiring: bool = False
    authoritative: bool = False

    @property
    def failed(self) -> bool:
        """Whether resolution gave no usable answer: SERVFAIL, or data that failed validation."""
        return self.rcode == dns.rcode.SERVFAIL or self.security is Security.BOGUS

    @classmethod
    def servfail(cls, code: int, text: str) -> Outcome:
        """A SERVFAIL that says why, as an Extended DNS Error."""
        return cls(rcode=dns.rcode.SERVFAIL, errors=(ExtendedError(code, text),))
