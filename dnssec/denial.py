"""Authenticated denial of existence: what NSEC or NSEC3 records prove.

The validator checks the RRSIGs of the NSEC/NSEC3 RRsets in a response's
authority section, then asks here whether they prove what the response
claims: a name does not exist (NXDOMAIN), a type does not exist at a name
(NODATA), a wildcard answered because nothing closer exists, or a
delegation has no DS. These are pure functions over dnspython objects.

A zone signs with NSEC (RFC 4034/4035, ``dnssec.nsec``) or NSEC3 (RFC 5155,
``dnssec.nsec3``); the NSEC records of ``zone`` are used if any were sent,
else its NSEC3 records. Records of other types or owned outside ``zone``
are ignored. A proof that fails raises ``BogusNoDenial`` (EDE 12) when a
needed record is missing, or ``Bogus`` (EDE 6) when a record contradicts
the claim; the message names the zone and what was not proven.

NSEC3 proofs with more iterations than ``WorkLimits.max_nsec3_iterations``
are not checked at all (RFC 9276 section 3.2): the answer is INSECURE with
EDE 27, and no hash is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.rdatatype
import dns.rrset
from dns.edns import EDECode
from dns.name import Name
from dns.rdatatype import RdataType

from dnssec import nsec, nsec3
from dnssec.errors import Bogus, BogusNoDenial
from dnssec.nsec import NsecChain
from dnssec.nsec3 import Nsec3Chain
from dnssec.status import ExtendedError, Security
from dnssec.work import ValidationWork


@dataclass(frozen=True, slots=True)
class Denial:
    """What a proof established.

    ``security`` is SECURE when the denial is proven; INSECURE when it rests
    on an NSEC3 opt-out record, or when the NSEC3 iterations are over the
    limit (then ``error`` says so, EDE 27).
    """

    security: Security
    error: ExtendedError | None = None


_PROVEN = Denial(Security.SECURE)


def prove_nxdomain(
    qname: Name, zone: Name, records: Sequence[dns.rrset.RRset], work: ValidationWork
) -> Denial:
    """``qname`` does not exist and no wildcard could have answered it.

    NSEC: RFC 4035 sections 3.1.3.2 and 5.4; NSEC3: RFC 5155 section 8.4.

    Raises:
        BogusNoDenial, Bogus: not proven (see the module docstring).
        ValidationWorkExceeded: the response has used up its NSEC3 hashes.
    """
    return _prove(
        zone,
        records,
        work,
        qname,
        f"{qname} does not exist",
        lambda chain: nsec.prove_nxdomain(chain, qname),
        lambda chain: nsec3.prove_nxdomain(chain, qname),
    )


def prove_nodata(
    qname: Name,
    rdtype: RdataType,
    zone: Name,
    records: Sequence[dns.rrset.RRset],
    work: ValidationWork,
) -> Denial:
    """``qname`` exists (or a wildcard answers it) without ``rdtype`` or a CNAME.

    NSEC: RFC 4035 sections 3.1.3.1 and 3.1.3.4; NSEC3: RFC 5155 sections
    8.5 to 8.7. For DS the record must be the parent zone's (no SOA bit).

    Raises:
        BogusNoDenial, Bogus: not proven (see the module docstring).
        ValidationWorkExceeded: the response has used up its NSEC3 hashes.
    """
    return _prove(
        zone,
        records,
        work,
        qname,
        f"{qname} has no {dns.rdatatype.to_text(rdtype)}",
        lambda chain: nsec.prove_nodata(chain, qname, rdtype),
        lambda chain: nsec3.prove_nodata(chain, qname, rdtype),
    )


def prove_wildcard_answer(
    qname: Name,
    wildcard: Name,
    zone: Name,
    records: Sequence[dns.rrset.RRset],
    work: ValidationWork,
) -> Denial:
    """An answer synthesised from ``wildcard`` is legitimate: ``qname`` does not exist.

    ``wildcard`` (``*.<closest encloser>``) comes from the RRSIG Labels
    field. An answer owned by the wildcard itself needs no proof (RFC 4035
    section 5.3.4). NSEC: RFC 4035 section 3.1.3.3; NSEC3: RFC 5155 8.8.

    Raises:
        Bogus: ``wildcard`` is no wildcard of ``zone`` above ``qname``, or
            the records show a closer name exists.
        BogusNoDenial: not proven (see the module docstring).
        ValidationWorkExceeded: the response has used up its NSEC3 hashes.
    """
    if qname == wildcard:
        return _PROVEN
    _check_wildcard(qname, wildcard, zone)
    return _prove(
        zone,
        records,
        work,
        qname,
        f"{qname} does not exist (answered from {wildcard})",
        lambda chain: nsec.prove_wildcard_answer(chain, qname, wildcard),
        lambda chain: nsec3.prove_wildcard_answer(chain, qname, wildcard),
    )


def prove_no_ds(
    name: Name, zone: Name, records: Sequence[dns.rrset.RRset], work: ValidationWork
) -> Denial:
    """The delegation ``name`` from its parent ``zone`` has no DS.

    SECURE when the record at ``name`` shows NS without DS or SOA (RFC 4035
    5.2, RFC 5155 8.9); INSECURE when an opt-out NSEC3 covers it (RFC 5155
    8.6). Either way the child is unsigned: that is the caller's business.

    Raises:
        BogusNoDenial, Bogus: not proven (see the module docstring).
        ValidationWorkExceeded: the response has used up its NSEC3 hashes.
    """
    return _prove(
        zone,
        records,
        work,
        name,
        f"{name} has no DS",
        lambda chain: nsec.prove_no_ds(chain, name),
        lambda chain: nsec3.prove_no_ds(chain, name),
    )


def _prove(
    zone: Name,
    records: Sequence[dns.rrset.RRset],
    work: ValidationWork,
    name: Name,
    claim: str,
    with_nsec: Callable[[NsecChain], None],
    with_nsec3: Callable[[Nsec3Chain], Security],
) -> Denial:
    """Run the NSEC proof if ``zone`` sent NSEC records, else the NSEC3 one.

    The NSEC3 iteration count is checked before anything is hashed
    (RFC 9276 section 3.2).
    """
    if not name.is_subdomain(zone):
        raise BogusNoDenial(f"{zone}: {name} is outside the zone, which cannot prove {claim}")
    nsecs = NsecChain.from_rrsets(zone, records)
    if nsecs.records:
        with_nsec(nsecs)
        return _PROVEN
    chain = Nsec3Chain.from_rrsets(zone, records, work)
    if chain is None:
        raise BogusNoDenial(f"{zone}: no NSEC or NSEC3 records prove {claim}")
    iterations, limit = chain.parameters.iterations, work.limits.max_nsec3_iterations
    if iterations > limit:
        text = f"{zone}: NSEC3 iterations {iterations} over the limit {limit}"
        return Denial(
            Security.INSECURE, ExtendedError(EDECode.UNSUPPORTED_NSEC3_ITERATIONS_VALUE, text)
        )
    return Denial(with_nsec3(chain))


def _check_wildcard(qname: Name, wildcard: Name, zone: Name) -> None:
    """Check that ``wildcard`` is ``*.<ancestor of qname>`` inside ``zone`` (RFC 4592).

    Raises:
        Bogus: it is not.
    """
    encloser = wildcard.parent() if wildcard.labels[:1] == (b"*",) else None
    if (
        encloser is None
        or not encloser.is_subdomain(zone)
        or qname == encloser
        or not qname.is_subdomain(encloser)
    ):
        raise Bogus(f"{zone}: {qname} cannot be synthesised from the wildcard {wildcard}")
