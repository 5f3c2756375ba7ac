"""The authoritative answering algorithm (RFC 1034 4.3.2, RFC 4035 3.1).

Given one zone and a question, decide what an authoritative server says:
an answer (following CNAMEs inside the zone and synthesising CNAMEs from
DNAMEs), a referral at a zone cut, NODATA, NXDOMAIN or a wildcard
expansion, with RRSIGs and NSEC/NSEC3 denial proofs when the client set DO.
It is pure: zones provide their data through ``ZoneData`` (static signed
zones and the lazily signed bench zone alike), ``Lab.handle`` puts the
result into a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeAlias

import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

#: How many in-zone CNAME/DNAME steps one answer follows before stopping.
MAX_CHAIN = 8


class Denial(Protocol):
    """Builds the NSEC or NSEC3 records that prove a negative (unsigned)."""

    def nodata(self, name: dns.name.Name) -> list[dns.rrset.RRset]:
        """Proof that existing ``name`` lacks the asked type (RFC 4035 3.1.3.1)."""
        ...

    def nxdomain(self, qname: dns.name.Name, encloser: dns.name.Name) -> list[dns.rrset.RRset]:
        """Proof that ``qname`` and the wildcard at ``encloser`` do not exist."""
        ...

    def wildcard_answer(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        """Proof that no name closer to ``qname`` than the wildcard exists."""
        ...

    def wildcard_nodata(
        self, qname: dns.name.Name, encloser: dns.name.Name
    ) -> list[dns.rrset.RRset]:
        """Proof of no closer match and that the wildcard lacks the type."""
        ...

    def insecure_referral(self, cut: dns.name.Name) -> list[dns.rrset.RRset]:
        """Proof that the delegation at ``cut`` has no DS."""
        ...


class ZoneData(Protocol):
    """Read access to one zone, signed or not."""

    @property
    def origin(self) -> dns.name.Name:
        """The zone apex."""
        ...

    @property
    def denial(self) -> Denial | None:
        """The zone's denial-of-existence records; ``None`` if unsigned."""
        ...

    def rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        """The RRset at ``name`` (glue included), or ``None``."""
        ...

    def signature(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.rrset.RRset | None:
        """The RRSIG RRset covering ``name``/``rdtype``, or ``None``."""
        ...

    def exists(self, name: dns.name.Name) -> bool:
        """Whether ``name`` has data or is an empty non-terminal."""
        ...


@dataclass(frozen=True, slots=True)
class ZoneAnswer:
    """What the zone says: rcode, AA bit and the three sections."""

    rcode: dns.rcode.Rcode
    authoritative: bool
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    additional: tuple[dns.rrset.RRset, ...] = ()


def answer(
    zone: ZoneData, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, *, dnssec_ok: bool
) -> ZoneAnswer:
    """Answer ``qname``/``qtype`` from ``zone`` as its authoritative server.

    CNAMEs are followed while the target stays inside the zone's authority
    (as BIND and NSD do); a DNAME synthesises an unsigned CNAME (RFC 6672),
    followed the same way. ``qname`` must be at or below the zone apex.
    """
    return _Answerer(zone, dnssec_ok and zone.denial is not None).run(qname, qtype)


def wildcard_of(encloser: dns.name.Name) -> dns.name.Name:
    """The source of synthesis below ``encloser`` (RFC 4592): ``*.encloser``."""
    return dns.name.Name((b"*", *encloser.labels))


_Proof: TypeAlias = Callable[[Denial], list[dns.rrset.RRset]]


class _Answerer:
    """One answer under construction."""

    def __init__(self, zone: ZoneData, signed: bool) -> None:
        self.zone = zone
        self.signed = signed
        self.rcode = dns.rcode.NOERROR
        self.answer: list[dns.rrset.RRset] = []
        self.authority: list[dns.rrset.RRset] = []

    def run(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> ZoneAnswer:
        name = qname
        for _ in range(MAX_CHAIN):
            cut, dname_owner = self._cut_or_dname(name, qtype)
            if cut is not None:
                return self._result() if self.answer else self._referral(cut)
            if dname_owner is not None:
                target = self._synthesise(name, dname_owner)
            else:
                target = self._lookup(name, qtype)
            if target is None or not target.is_subdomain(self.zone.origin):
                break
            name = target
        return self._result()

    def _result(self) -> ZoneAnswer:
        return ZoneAnswer(self.rcode, True, tuple(self.answer), tuple(self.authority))

    def _cut_or_dname(
        self, name: dns.name.Name, qtype: dns.rdatatype.RdataType
    ) -> tuple[dns.name.Name | None, dns.name.Name | None]:
        """The topmost zone cut (at or above ``name``) or DNAME (above it).

        A DS query at a cut is answered by the parent side, so the cut at
        ``name`` itself does not count then (RFC 4035 3.1.4.1).
        """
        for labels in range(len(self.zone.origin) + 1, len(name) + 1):
            ancestor = name.split(labels)[1]
            at_name = ancestor == name
            if self.zone.rrset(ancestor, dns.rdatatype.NS) is not None and not (
                at_name and qtype == dns.rdatatype.DS
            ):
                return ancestor, None
            if not at_name and self.zone.rrset(ancestor, dns.rdatatype.DNAME) is not None:
                return None, ancestor
        return None, None

    def _lookup(self, name: dns.name.Name, qtype: dns.rdatatype.RdataType) -> dns.name.Name | None:
        """Answer at ``name`` or its wildcard; return a CNAME target to follow."""
        if self.zone.exists(name):
            return self._from_owner(name, name, qtype, None, lambda d: d.nodata(name))
        encloser = name.parent()
        while not self.zone.exists(encloser):
            encloser = encloser.parent()
        wildcard = wildcard_of(encloser)
        if not self.zone.exists(wildcard):
            self.rcode = dns.rcode.NXDOMAIN
            self._negative(lambda d: d.nxdomain(name, encloser))
            return None
        return self._from_owner(
            wildcard,
            name,
            qtype,
            lambda d: d.wildcard_answer(name, encloser),
            lambda d: d.wildcard_nodata(name, encloser),
        )

    def _from_owner(
        self,
        owner: dns.name.Name,
        name: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        expansion_proof: _Proof | None,
        nodata_proof: _Proof,
    ) -> dns.name.Name | None:
        """Answer ``name`` with the data at ``owner`` (``name`` or a wildcard).

        ``expansion_proof`` is given for a wildcard: no closer match exists.
        """
        if qtype == dns.rdatatype.RRSIG:
            self._signatures_at(owner, name, nodata_proof)
            return None
        for rdtype in (qtype, dns.rdatatype.CNAME):
            rrset = self.zone.rrset(owner, rdtype)
            if rrset is None:
                continue
            self._add_answer(rrset, name)
            if expansion_proof is not None:
                self.authority.extend(self._proof(expansion_proof))
            if rdtype == qtype:
                return None
            target: dns.name.Name = rrset[0].target
            return target
        self._negative(nodata_proof)
        return None

    def _signatures_at(
        self, owner: dns.name.Name, name: dns.name.Name, nodata_proof: _Proof
    ) -> None:
        """QTYPE RRSIG: every RRSIG RRset at ``owner``, as BIND, NSD and Knot DNS answer.

        The types signed there are those the owner's NSEC/NSEC3 bitmap lists;
        RRSIGs are not themselves signed (RFC 4034 3). An unsigned zone, or a
        name with nothing signed, has none: NODATA.
        """
        denial = self.zone.denial
        bitmap = {
            window * 256 + index * 8 + bit
            for record in (denial.nodata(owner) if denial is not None else [])
            for rdata in record
            if record.rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
            for window, octets in rdata.windows
            for index, octet in enumerate(octets)
            for bit in range(8)
            if octet & (0x80 >> bit)
        }
        signatures = [
            signature
            for rdtype in sorted(bitmap)
            if (signature := self.zone.signature(owner, dns.rdatatype.RdataType.make(rdtype)))
        ]
        if not signatures:
            self._negative(nodata_proof)
        for signature in signatures:
            self.answer.append(signature if owner == name else _renamed(signature, name))

    def _synthesise(self, name: dns.name.Name, owner: dns.name.Name) -> dns.name.Name | None:
        """Add the DNAME at ``owner`` and the CNAME it makes for ``name``."""
        dname = self.zone.rrset(owner, dns.rdatatype.DNAME)
        assert dname is not None
        self._add_answer(dname, owner)
        try:
            target = name.relativize(owner).derelativize(dname[0].target)
        except dns.name.NameTooLong:
            self.rcode = dns.rcode.YXDOMAIN
            return None
        cname = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.CNAME, target.to_text())
        self.answer.append(dns.rrset.from_rdata(name, dname.ttl, cname))
        return target

    def _referral(self, cut: dns.name.Name) -> ZoneAnswer:
        """NS at ``cut``, DS or proof of none, and in-zone glue; AA clear."""
        ns = self.zone.rrset(cut, dns.rdatatype.NS)
        assert ns is not None
        ds = self.zone.rrset(cut, dns.rdatatype.DS)
        proof = self._proof(lambda d: [ds] if ds is not None else d.insecure_referral(cut))
        glue = [
            rrset
            for target in (rdata.target for rdata in ns)
            if target.is_subdomain(self.zone.origin)
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            if (rrset := self.zone.rrset(target, rdtype)) is not None
        ]
        return ZoneAnswer(dns.rcode.NOERROR, False, (), (ns, *proof), tuple(glue))

    def _negative(self, proof: _Proof) -> None:
        """Add the SOA (TTL capped by its MINIMUM, RFC 2308) and the proof.

        The SOA's RRSIG gets the same TTL (RFC 4034 section 3: an RRSIG's
        TTL is that of the RRset it covers); its original TTL is unchanged.
        """
        soa = self.zone.rrset(self.zone.origin, dns.rdatatype.SOA)
        assert soa is not None
        ttl = min(soa.ttl, soa[0].minimum)
        for record in self._with_signatures([soa]):
            capped = _renamed(record, record.name)
            capped.ttl = ttl
            self.authority.append(capped)
        self.authority.extend(self._proof(proof))

    def _proof(self, make: _Proof) -> list[dns.rrset.RRset]:
        """Denial records and their RRSIGs, or nothing if DO=0 or unsigned."""
        denial = self.zone.denial
        if not self.signed or denial is None:
            return []
        return self._with_signatures(make(denial))

    def _with_signatures(self, rrsets: list[dns.rrset.RRset]) -> list[dns.rrset.RRset]:
        out: list[dns.rrset.RRset] = []
        seen: set[tuple[dns.name.Name, int]] = set()
        for rrset in rrsets:
            if (rrset.name, rrset.rdtype) in seen:
                continue
            seen.add((rrset.name, rrset.rdtype))
            out.append(rrset)
            signature = self.zone.signature(rrset.name, rrset.rdtype) if self.signed else None
            if signature is not None:
                out.append(signature)
        return out

    def _add_answer(self, rrset: dns.rrset.RRset, name: dns.name.Name) -> None:
        """Add ``rrset`` (and its RRSIG) owned by ``name`` (wildcards renamed)."""
        for record in self._with_signatures([rrset]):
            self.answer.append(record if record.name == name else _renamed(record, name))


def _renamed(rrset: dns.rrset.RRset, name: dns.name.Name) -> dns.rrset.RRset:
    """A copy of ``rrset`` owned by ``name``."""
    return dns.rrset.from_rdata_list(name, rrset.ttl, list(rrset))
