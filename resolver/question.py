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

from dnssec.status import Security


@dataclass(frozen=True, slots=True)
class Question:
    """A question in class IN; ``name`` is absolute."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType

    def __str__(self) -> str:
        return f"{self.name} {dns.rdatatype.to_text(self.rdtype)}"


@dataclass(frozen=True, slots=True)
class ExtendedError:
    """An Extended DNS Error (RFC 8914): an INFO-CODE and its EXTRA-TEXT."""

    code: int
    text: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of resolving one ``Question``.

    ``answer`` holds the whole chain (CNAME/DNAME records first, then the
    final RRset); ``authority`` holds the SOA of a negative answer (and later
    the DNSSEC denial records). ``errors`` become EDE options in the response.
    """

    rcode: dns.rcode.Rcode
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    errors: tuple[ExtendedError, ...] = ()
    security: Security = field(default=Security.INDETERMINATE)

    @classmethod
    def servfail(cls, code: int, text: str) -> Outcome:
        """A SERVFAIL that says why, as an Extended DNS Error."""
        return cls(rcode=dns.rcode.SERVFAIL, errors=(ExtendedError(code, text),))
