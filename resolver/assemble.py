"""Answer assembly: an alias chain's steps gathered into one client answer.

The stage after a reply was judged (Knot Resolver's answer assembly in
``lib/resolve.c``, Unbound's ``iter_dns_store``/``dns_copy_msg`` chain
handling): where a question's CNAME/DNAME chain leads through one answer
section, which records and signatures go to the client, the proof that
goes with a denial or a wildcard expansion, and how the steps of a chain
that crosses zones merge into one ``Outcome``. Pure functions of records;
the iterator asks the servers and the validator judges, this module only
puts together what they found, for fresh resolution and serve-stale alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import dns.edns
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from dnssec.errors import HoldfastError
from dnssec.status import ExtendedError, Security
from resolver.classify import Classified
from resolver.question import Outcome, Question
from resolver.validation import Verdict, with_ttl, worse

#: The records that make a name an alias of another.
ALIAS_TYPES = (dns.rdatatype.CNAME, dns.rdatatype.DNAME)


class ResolutionFailed(HoldfastError):
    """Resolution cannot go on; the client gets SERVFAIL with this EDE."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class AliasLoop(ResolutionFailed):
    """A chain that comes back to a name it passed: SERVFAIL with the looping records.

    RFC 1034 3.6.2 asks that a CNAME loop be signalled as an error; Knot
    Resolver answers SERVFAIL and keeps the chain it gathered in the answer
    section, so the client (and its operator) can see the loop (Deckard
    iter_dname_insec). Only the records of a chain that was not bogus.
    """

    def __init__(self, code: int, text: str, chain: Chain) -> None:
        super().__init__(code, text)
        self.answer = tuple(chain.records)
        self.signatures = tuple(chain.signatures)

    def outcome(self) -> Outcome:
        """The SERVFAIL for the chain's question, with the records that loop."""
        return Outcome(
            rcode=dns.rcode.SERVFAIL,
            answer=self.answer,
            signatures=self.signatures,
            errors=(ExtendedError(self.code, self.text),),
        )


@dataclass(frozen=True, slots=True)
class Step:
    """What one name resolved to, before following its alias (if any).

    ``signatures`` are the RRSIGs of ``records``; ``proof`` is what a
    DNSSEC-aware client gets in the authority section besides the SOA: the
    SOA's RRSIG and the NSEC/NSEC3 records with theirs.
    """

    rcode: dns.rcode.Rcode
    records: tuple[dns.rrset.RRset, ...] = ()
    soa: dns.rrset.RRset | None = None
    next_name: dns.name.Name | None = None
    security: Security = Security.INDETERMINATE
    errors: tuple[ExtendedError, ...] = ()
    signatures: tuple[dns.rrset.RRset, ...] = ()
    proof: tuple[dns.rrset.RRset, ...] = ()
    #: The server whose reply failed validation, when another may do better.
    blame: str | None = None
    #: From cached data past its TTL (serve-stale).
    stale: bool = False
    #: From cached data in the last ``iterator.PREFETCH_SHARE`` of its TTL.
    expiring: bool = False


class Chain:
    """The steps of one question's alias chain, gathered into an ``Outcome``.

    Shared by fresh resolution and by the serve-stale reading of the cache,
    so both bound and merge a chain the same way.
    """

    def __init__(self, question: Question, max_aliases: int) -> None:
        self.question = question
        self.max_aliases = max_aliases
        self.records: list[dns.rrset.RRset] = []
        self.signatures: list[dns.rrset.RRset] = []
        #: The proofs of every link: a wildcard expansion's goes to the client
        #: with the answer even when the chain goes on (RFC 4035 3.1.3.3).
        self.proof: list[dns.rrset.RRset] = []
        self.security = Security.SECURE
        self.errors: list[ExtendedError] = []
        self.seen = {question.name}
        self.stale = self.expiring = False

    def follow(self, step: Step) -> dns.name.Name | None:
        """Add ``step``; return the next name to resolve, or None when the chain ends.

        Raises:
            ResolutionFailed: the chain is too long (``AliasLoop``: it loops).
        """
        # A DNAME that rewrites the name more than once (x. DNAME . for
        # a.x.x.) is one record in the answer, with its RRSIG once, as in
        # Unbound's and Knot's answers (Deckard val_dname): twice, it inflated
        # the reply past the client's size and set TC.
        self.records.extend(r for r in step.records if r not in self.records)
        self.signatures.extend(s for s in step.signatures if s not in self.signatures)
        self.proof.extend(p for p in step.proof if p not in self.proof)
        self.security = worse(self.security, step.security)
        self.errors.extend(error for error in step.errors if error not in self.errors)
        self.stale |= step.stale
        self.expiring |= step.expiring
        aliases = sum(1 for r in self.records if r.rdtype in ALIAS_TYPES)
        if aliases > self.max_aliases:
            raise ResolutionFailed(
                dns.edns.EDECode.OTHER,
                f"alias chain from {self.question.name} longer than {self.max_aliases}",
            )
        if step.next_name is None or self.security is Security.BOGUS:
            return None
        if step.next_name in self.seen:
            raise AliasLoop(
                dns.edns.EDECode.OTHER,
                f"alias loop at {step.next_name} from {self.question.name}",
                self,
            )
        self.seen.add(step.next_name)
        return step.next_name

    def outcome(self, last: Step) -> Outcome:
        """The chain as an ``Outcome``; ``last`` is the step that ended it."""
        return Outcome(
            rcode=last.rcode,
            answer=tuple(self.records),
            authority=(last.soa,) if last.soa is not None else (),
            errors=tuple(self.errors),
            security=self.security,
            signatures=tuple(self.signatures),
            proof=(*self.proof, *(p for p in last.proof if p not in self.proof)),
            stale=self.stale,
            expiring=self.expiring,
        )


def capped(rrset: dns.rrset.RRset, verdict: Verdict) -> dns.rrset.RRset:
    """``rrset`` with its TTL capped where its signature says (original TTL, expiration)."""
    cap = verdict.ttls.get((rrset.name, rrset.rdtype))
    return with_ttl(rrset, cap) if cap is not None and cap < rrset.ttl else rrset


def covering(
    rrset: dns.rrset.RRset, signatures: tuple[dns.rrset.RRset, ...]
) -> dns.rrset.RRset | None:
    """The RRSIG RRset among ``signatures`` that covers ``rrset``."""
    return next(
        (s for s in signatures if s.name == rrset.name and s.covers == rrset.rdtype), None
    )


def expanded(
    records: list[dns.rrset.RRset], signatures: tuple[dns.rrset.RRset, ...]
) -> list[dns.rrset.RRset]:
    """Those of ``records`` expanded from a wildcard: their RRSIG's Labels field
    counts fewer labels than their owner (RFC 4035 5.3.2)."""
    expanded = []
    for record in records:
        sig = covering(record, signatures)
        labels = len(record.name) - 1  # without the root label
        if (
            sig is not None
            and record.name.labels[0] != b"*"
            and any(rrsig.labels < labels for rrsig in sig)
        ):
            expanded.append(record)
    return expanded


def least_ttl(rrsets: tuple[dns.rrset.RRset, ...]) -> int:
    return min(rrset.ttl for rrset in rrsets)


def proof_of(reply: Classified) -> tuple[dns.rrset.RRset, ...]:
    """A reply's denial records (NSEC/NSEC3) and the RRSIGs of those and of its SOA."""
    records = tuple(
        r for r in reply.authority if r.rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
    )
    covered = [*records, *((reply.soa,) if reply.soa is not None else ())]
    signatures = tuple(
        sig for rrset in covered if (sig := covering(rrset, reply.signatures)) is not None
    )
    return (*records, *signatures)


class Aliases(NamedTuple):
    """Where qname's CNAME/DNAME chain through one answer section led."""

    #: The chain's records, ending with the data if present.
    records: list[dns.rrset.RRset]
    #: The name the chain stopped at.
    name: dns.name.Name
    #: Whether the data for that name was found (or the chain ended in YXDOMAIN).
    complete: bool
    #: A DNAME substitution made a name over 255 octets: YXDOMAIN (RFC 6672 2.2).
    yxdomain: bool = False


def follow_aliases(
    answer: tuple[dns.rrset.RRset, ...],
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    signatures: tuple[dns.rrset.RRset, ...] = (),
) -> Aliases:
    """Walk qname's CNAME/DNAME chain through one answer section.

    A DNAME (RFC 6672) is applied even when the server sent no synthesised
    CNAME, and before anything owned by the name below it: a CNAME there is
    the DNAME's unsigned synthesis (RFC 6672 5.3.1), also for a CNAME
    question, so it is the signed DNAME that gets validated. A substitution
    longer than 255 octets ends the chain in YXDOMAIN (RFC 6672 2.2), as a
    server would answer. For QTYPE RRSIG the data are the RRSIG RRsets the
    name owns, which the reply files among its ``signatures``. The chain is
    bounded by the section's size.
    """
    by_key = {(r.name, r.rdtype): r for r in answer}
    records: list[dns.rrset.RRset] = []
    name = qname
    for _ in range(len(answer) + 1):
        cname = by_key.get((name, dns.rdatatype.CNAME))
        dname = next(
            (
                r
                for r in answer
                if r.rdtype == dns.rdatatype.DNAME and name.is_subdomain(r.name) and name != r.name
            ),
            None,
        )
        if dname is not None:
            records.append(dname)
            try:
                target = name.relativize(dname.name).derelativize(dname[0].target)
            except dns.name.NameTooLong:
                return Aliases(records, name, True, yxdomain=True)
            records.append(_synthesis(name, target, dname, cname))
            if rdtype == dns.rdatatype.CNAME:
                return Aliases(records, name, True)
            name = target
            continue
        data = _data_at(name, rdtype, by_key, signatures)
        if data:
            records.extend(data)
            return Aliases(records, name, True)
        if cname is None:
            break
        records.append(cname)
        name = cname[0].target
    return Aliases(records, name, False)


def _synthesis(
    name: dns.name.Name,
    target: dns.name.Name,
    dname: dns.rrset.RRset,
    sent: dns.rrset.RRset | None,
) -> dns.rrset.RRset:
    """The CNAME the DNAME makes of ``name``: the server's if it is that, else ours.

    The answer carries it (RFC 6672 2.2, 3), for clients that know no
    DNAME, even when the server left it out or sent another: it needs no
    signature, the DNAME's speaks for it (RFC 6672 5.3.1). As in Unbound
    (iter_scrub.c scrub_normalize keeps a matching CNAME, else
    synth_cname_rrset) and BIND (query.c query_dname, query_addcname).
    """
    if sent is not None and len(sent) == 1 and sent[0].target == target:
        return sent
    text = target.to_text()
    return dns.rrset.from_text(name, dname.ttl, dname.rdclass, dns.rdatatype.CNAME, text)


def _data_at(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    by_key: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rrset.RRset],
    signatures: tuple[dns.rrset.RRset, ...],
) -> list[dns.rrset.RRset]:
    """The RRsets answering ``name``/``rdtype``: for RRSIG, every RRSIG RRset it owns."""
    if rdtype == dns.rdatatype.RRSIG:
        return [s for s in signatures if s.name == name]
    data = by_key.get((name, rdtype))
    return [data] if data is not None else []


def below_dname(cname: dns.rrset.RRset, records: list[dns.rrset.RRset]) -> bool:
    """Whether ``cname`` was synthesised from a DNAME in the same chain."""
    return any(
        r.rdtype == dns.rdatatype.DNAME and cname.name.is_subdomain(r.name) and cname.name != r.name
        for r in records
    )
