"""Denial of existence with NSEC3: proofs over hashed names (RFC 5155 section 8).

An NSEC3 record is owned by the hash of a name (``<base32hex>.<zone>``) and
says "no hash sorts between mine and ``next``". Proofs hash the names they
need and compare digests; 20-octet SHA-1 digests sort as their base32hex
forms do (the alphabet is in ascending order), so raw bytes are compared.

Hashing is the expensive part (CVE-2023-50868), so every hash is paid for
with ``ValidationWork.spend_hash`` and computed once per proof. Opt-out
(RFC 5155 section 6) lets a zone leave insecure delegations out of the
chain: a name whose non-existence rests on an opt-out record might still be
such a delegation, so those proofs are INSECURE rather than SECURE
(sections 8.3, 8.4, 9.2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard

import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.NSEC3
import dns.rrset
from dns.name import Name
from dns.rdatatype import RdataType

from dnssec.errors import Bogus, BogusNoDenial
from dnssec.nsec import (
    bitmap_types,
    check_may_deny_below,
    check_no_ds,
    check_nodata,
    wildcard_at,
)
from dnssec.status import Security
from dnssec.work import ValidationWork

#: The only NSEC3 hash algorithm (RFC 5155 section 11): SHA-1, 20 octets.
SHA1 = 1
SHA1_SIZE = 20
#: The only defined NSEC3 flag (RFC 5155 section 3.1.2.1).
OPT_OUT = 0x01


@dataclass(frozen=True, slots=True)
class Parameters:
    """What a zone hashes names with (RFC 5155 section 3.1)."""

    algorithm: int
    iterations: int
    salt: bytes


@dataclass(frozen=True, slots=True)
class Nsec3:
    """One NSEC3 record: the hash it is owned by, the next hash, its flags and types."""

    owner: bytes
    next: bytes
    opt_out: bool
    types: frozenset[int]

    def covers(self, digest: bytes) -> bool:
        """Whether ``digest`` sorts strictly between owner and next, circularly (RFC 5155 8.3).

        The last record of the chain points back to the first.
        """
        if self.owner < self.next:
            return self.owner < digest < self.next
        return digest > self.owner or digest < self.next


@dataclass(frozen=True, slots=True)
class EncloserProof:
    """A closest encloser proof (RFC 5155 section 8.3).

    ``encloser`` exists (an NSEC3 matches it); ``next_closer``, the name one
    label longer on the way to the query name, does not (``cover`` covers it).
    """

    encloser: Name
    next_closer: Name
    cover: Nsec3


class Nsec3Chain:
    """The usable NSEC3 records one zone sent in one response, and the hashes paid for."""

    def __init__(
        self,
        zone: Name,
        parameters: Parameters,
        records: Iterable[Nsec3],
        work: ValidationWork,
    ) -> None:
        self.zone = zone
        self.parameters = parameters
        self._records = {record.owner: record for record in records}
        self._work = work
        self._hashes: dict[Name, bytes] = {}

    @classmethod
    def from_rrsets(
        cls, zone: Name, rrsets: Iterable[dns.rrset.RRset], work: ValidationWork
    ) -> Nsec3Chain | None:
        """The NSEC3 records of ``zone`` sharing the first usable record's parameters.

        Records must be owned by a hash directly below ``zone``; those with an
        unknown hash algorithm or unknown flags are ignored (RFC 5155 8.1,
        8.2). ``None`` if no record is usable. Nothing is hashed here.
        """
        parameters: Parameters | None = None
        records: list[Nsec3] = []
        for rrset in rrsets:
            for these, record in read_records(zone, rrset):
                if parameters is None:
                    parameters = these
                if these == parameters:
                    records.append(record)
        if parameters is None:
            return None
        return cls(zone, parameters, records, work)

    def matching(self, name: Name) -> Nsec3 | None:
        """The record owned by the hash of ``name``: ``name`` exists."""
        return self.record_at(self._hash(name))

    def covering(self, name: Name) -> Nsec3 | None:
        """A record whose interval holds the hash of ``name``: ``name`` does not exist."""
        return self.record_covering(self._hash(name))

    def record_at(self, digest: bytes) -> Nsec3 | None:
        """The record owned by ``digest``, if there is one.

        Overridden by a chain read from elsewhere than one response (the
        cache's, for RFC 8198 aggressive use: ``resolver.cached_nsec3``).
        """
        return self._records.get(digest)

    def record_covering(self, digest: bytes) -> Nsec3 | None:
        """A record whose interval holds ``digest``, if there is one (see ``record_at``)."""
        return next((record for record in self._records.values() if record.covers(digest)), None)

    def _hash(self, name: Name) -> bytes:
        """The hash of ``name``, paid for the first time it is needed.

        Raises:
            ValidationWorkExceeded: the response has used up its hashes.
        """
        digest = self._hashes.get(name)
        if digest is None:
            self._work.spend_hash(f"{self.zone}: NSEC3 hash of {name}")
            parameters = self.parameters
            digest = nsec3_hash(name, parameters.salt, parameters.iterations)
            self._hashes[name] = digest
        return digest


def read_records(zone: Name, rrset: dns.rrset.RRset) -> list[tuple[Parameters, Nsec3]]:
    """The usable NSEC3 records of ``zone`` in ``rrset``, each with its parameters.

    The RRset must be owned by a hash directly below ``zone``; records with
    an unknown hash algorithm or unknown flags are left out (RFC 5155 8.1,
    8.2). Nothing is hashed here.
    """
    owner = _owner_hash(zone, rrset)
    if owner is None:
        return []
    return [
        (
            Parameters(rdata.algorithm, rdata.iterations, rdata.salt),
            Nsec3(owner, rdata.next, bool(rdata.flags & OPT_OUT), bitmap_types(rdata.windows)),
        )
        for rdata in rrset
        if _usable(rdata)
    ]


def nsec3_hash(name: Name, salt: bytes, iterations: int) -> bytes:
    """IH(salt, name, iterations) with SHA-1 (RFC 5155 section 5)."""
    digest = hashlib.sha1(name.to_digestable() + salt).digest()
    for _ in range(iterations):
        digest = hashlib.sha1(digest + salt).digest()
    return digest


def prove_nxdomain(chain: Nsec3Chain, qname: Name) -> Security:
    """``qname`` and the wildcard at its closest encloser do not exist (RFC 5155 8.4).

    INSECURE when the record covering the next closer name has opt-out: an
    unsigned delegation may hide there (section 9.2).

    Raises:
        BogusNoDenial: a record needed for the proof is missing.
        Bogus: a record shows that ``qname`` or the wildcard exists.
    """
    zone = chain.zone
    if chain.matching(qname) is not None:
        raise Bogus(f"{zone}: an NSEC3 matching {qname} shows it exists")
    proof = closest_encloser_proof(chain, qname)
    wildcard = wildcard_at(proof.encloser)
    if chain.matching(wildcard) is not None:
        raise Bogus(f"{zone}: an NSEC3 matching {wildcard} shows the wildcard for {qname} exists")
    if chain.covering(wildcard) is None:
        raise BogusNoDenial(f"{zone}: no NSEC3 proves the wildcard {wildcard} does not exist")
    return _unless_opt_out(proof.cover)


def prove_nodata(chain: Nsec3Chain, qname: Name, rdtype: RdataType) -> Security:
    """``qname`` has no ``rdtype`` and no CNAME (RFC 5155 sections 8.5 to 8.7).

    The NSEC3 matching ``qname`` (an empty non-terminal's too) lacks both
    types (8.5). Otherwise ``qname`` does not exist, shown by a closest
    encloser proof, and either the wildcard at the closest encloser lacks
    the types (8.7), or the next closer name is covered with opt-out: a DS
    query for an unsigned delegation left out of the chain (8.6), or an
    empty non-terminal above only such delegations (RFC 5155 erratum 3441).
    Both opt-out cases are INSECURE, as is a wildcard proof resting on one.

    Raises:
        BogusNoDenial: a record needed for the proof is missing.
        Bogus: a record lists a denied type, or cannot speak for ``qname``.
    """
    zone = chain.zone
    record = chain.matching(qname)
    if record is not None:
        check_nodata(zone, f"the NSEC3 matching {qname}", record.types, rdtype, qname)
        return Security.SECURE
    proof = closest_encloser_proof(chain, qname)
    wildcard = wildcard_at(proof.encloser)
    record = chain.matching(wildcard)
    if record is not None:
        check_nodata(zone, f"the NSEC3 matching {wildcard}", record.types, rdtype, wildcard)
        return _unless_opt_out(proof.cover)
    if proof.cover.opt_out:
        return Security.INSECURE
    raise BogusNoDenial(
        f"{zone}: no NSEC3 proves {qname} has no {dns.rdatatype.to_text(rdtype)}: "
        f"none matches it or the wildcard {wildcard}, and the one covering "
        f"{proof.next_closer} has no opt-out"
    )


def prove_wildcard_answer(chain: Nsec3Chain, qname: Name, wildcard: Name) -> Security:
    """The next closer name below the wildcard's parent does not exist (RFC 5155 8.8).

    The wildcard's parent is the closest encloser; the signature over the
    answer shows the wildcard exists, so no NSEC3 needs to match it.

    Raises:
        BogusNoDenial: no NSEC3 covers the next closer name.
    """
    next_closer = _next_closer(qname, wildcard.parent())
    cover = chain.covering(next_closer)
    if cover is None:
        raise BogusNoDenial(
            f"{chain.zone}: no NSEC3 proves {next_closer} does not exist, "
            f"so {wildcard} may not answer {qname}"
        )
    return _unless_opt_out(cover)


def prove_no_ds(chain: Nsec3Chain, name: Name) -> Security:
    """The delegation ``name`` has no DS (RFC 5155 sections 8.6 and 8.9).

    The NSEC3 matching ``name`` has NS and neither DS nor SOA: SECURE. Or no
    record matches and the next closer name of the closest provable encloser
    is covered with opt-out: INSECURE.

    Raises:
        BogusNoDenial: neither proof is there.
        Bogus: the matching record lists DS, lacks NS, or is the child's.
    """
    record = chain.matching(name)
    if record is not None:
        check_no_ds(chain.zone, f"the NSEC3 matching {name}", record.types, name)
        return Security.SECURE
    proof = closest_encloser_proof(chain, name)
    if proof.cover.opt_out:
        return Security.INSECURE
    raise BogusNoDenial(
        f"{chain.zone}: no NSEC3 proves {name} has no DS: none matches it, and the one "
        f"covering {proof.next_closer} has no opt-out"
    )


def closest_encloser_proof(chain: Nsec3Chain, qname: Name) -> EncloserProof:
    """Find the closest encloser of ``qname``, which has no NSEC3 of its own (RFC 5155 8.3).

    Ancestors are tried from ``qname`` up to the zone apex; the first with a
    matching record is the closest encloser, and the next closer name must
    be covered. The closest encloser must not be a delegation (NS without
    SOA) or own a DNAME: neither may deny names below it.

    Raises:
        BogusNoDenial: no ancestor matches, or nothing covers the next closer name.
        Bogus: the closest encloser is a delegation or a DNAME.
    """
    zone = chain.zone
    next_closer = qname
    while next_closer != zone:
        encloser = next_closer.parent()
        record = chain.matching(encloser)
        if record is not None:
            check_may_deny_below(zone, f"the NSEC3 matching {encloser}", record.types, qname)
            cover = chain.covering(next_closer)
            if cover is None:
                raise BogusNoDenial(
                    f"{zone}: no NSEC3 proves {next_closer} does not exist, "
                    f"so {encloser} is not shown to be the closest encloser of {qname}"
                )
            return EncloserProof(encloser, next_closer, cover)
        next_closer = encloser
    raise BogusNoDenial(f"{zone}: no NSEC3 matches an ancestor of {qname}")


def _next_closer(qname: Name, encloser: Name) -> Name:
    """The ancestor of ``qname`` (or itself) one label below ``encloser``."""
    return qname.split(len(encloser) + 1)[1]


def _unless_opt_out(cover: Nsec3) -> Security:
    """INSECURE if the proof rests on an opt-out record (RFC 5155 9.2), else SECURE."""
    return Security.INSECURE if cover.opt_out else Security.SECURE


def _owner_hash(zone: Name, rrset: dns.rrset.RRset) -> bytes | None:
    """The hash an NSEC3 RRset is owned by, if it is a well-formed one of ``zone``."""
    owner = rrset.name
    if rrset.rdtype != dns.rdatatype.NSEC3 or len(owner) != len(zone) + 1:
        return None
    if not owner.is_subdomain(zone):
        return None
    try:
        digest = base64.b32hexdecode(owner.labels[0], casefold=True)
    except binascii.Error:
        return None
    return digest if len(digest) == SHA1_SIZE else None


def _usable(rdata: dns.rdata.Rdata) -> TypeGuard[dns.rdtypes.ANY.NSEC3.NSEC3]:
    """Whether an NSEC3 RDATA uses SHA-1 and known flags only (RFC 5155 8.1, 8.2)."""
    return (
        isinstance(rdata, dns.rdtypes.ANY.NSEC3.NSEC3)
        and rdata.algorithm == SHA1
        and not rdata.flags & ~OPT_OUT
        and len(rdata.next) == SHA1_SIZE
    )
