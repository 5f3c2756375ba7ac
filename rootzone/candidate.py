"""Turning a fetched root zone into a copy that may be used, or refusing it whole.

The refresh task hands a candidate -- zone-file text, or the RRsets of a
zone transfer -- to ``load_copy`` in a worker thread (nothing here does I/O
or touches Trio) and gets back a ``RootCopy``, or a ``CandidateRejected``
whose ``kind`` says which check stopped it. The checks, in this order:

1. ``parse``: every record parses (``records_from_text``,
   ``records_from_rrsets``); one bad line refuses the whole copy, never
   half of it;
2. ``structure``: the records form one zone, the root (``build_zone``);
3. ``guardrail``: no duplicate records, not more than ``max_growth`` times
   the size of the copy in use, not more than ``max_delegation_change`` of
   its TLDs added or dropped (``check_guardrails``): the 18 November 2025
   outage was a data file that doubled in size;
4. ``serial``: newer than the copy in use, in RFC 1982 arithmetic
   (``check_serial``);
5. ``dnssec``: the apex DNSKEY RRset validates against the trust anchors,
   every RRSIG verifies at ``now`` and every authoritative RRset is signed
   (``check_dnssec``): the iterator will validate what the copy says, so a
   copy it would find bogus is no use;
6. ``zonemd``: the ZONEMD verdict under the operator's policy
   (``check_zonemd_policy``).

Each check is a public function so that a test (or ``holdfast rootzone
check``) can run it on its own, e.g. on archived zones whose RRSIGs were
stripped. Whatever the input, only ``CandidateRejected`` comes out: a loader
that can be crashed by its data is how one bad file takes a fleet down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dns.exception
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnssec.anchors import TrustAnchors
from rootzone.check import earliest_expiration
from rootzone.errors import CandidateRejected
from rootzone.lookup import RootAnswers
from rootzone.model import Baseline, RootCopy, delegation_owners
from rootzone.verify import (
    SOA,
    Zone,
    ZonemdFailure,
    ZonemdPolicy,
    ZonemdResult,
    ZoneStructureError,
    ZoneVerificationError,
    apply_zonemd_policy,
    name_text,
    require_signatures,
    trusted_keys,
    verify_signatures,
)
from rootzone.zonefile import IN, Record, ZoneFileError, parse_zone

#: RFC 1982 serial number arithmetic on 32 bits.
_SERIAL_MODULUS = 2**32
_SERIAL_HALF = 2**31
#: The root's name, wire format.
_ROOT = b"\x00"
#: How many names a guardrail message gives as examples.
_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class LoadPolicy:
    """The operator's demands on a candidate (``[local_root]`` options).

    Attributes:
        zonemd: what the ZONEMD RRset must say.
        max_growth: refuse a candidate more than this many times the size
            (octets as fetched) of the copy in use.
        max_delegation_change: refuse a candidate whose TLD delegations,
            added plus dropped, exceed this share of the copy in use's.
    """

    zonemd: ZonemdPolicy = ZonemdPolicy.VERIFY
    max_growth: float = 2.0
    max_delegation_change: float = 0.10


def records_from_text(text: str, *, source: str) -> list[Record]:
    """The records of zone-file ``text`` (``source`` names it in messages).

    Raises:
        CandidateRejected: ``parse``, naming the file, the line and the token.
    """
    try:
        return parse_zone(text, source=source)
    except ZoneFileError as error:
        raise CandidateRejected("parse", parse_error_text(error)) from error


def parse_error_text(error: ZoneFileError) -> str:
    """``file:line: message``, with the offending token when the message does not quote it."""
    token = "" if repr(error.token) in str(error) else f" (at {error.token!r})"
    return f"{error}{token}"


def records_from_rrsets(rrsets: Iterable[dns.rrset.RRset]) -> list[Record]:
    """The records of a zone transfer, in canonical form, as ``parse_zone`` gives them.

    The owner is lowercase wire; the RDATA is canonical (RFC 4034 section
    6.2, names in NSEC keep their case as RFC 6840 section 5.1 says); a type
    dnspython does not know stays opaque (RFC 3597). An AXFR stream ends
    with the SOA it began with (RFC 5936 section 2.2); that closing copy is
    dropped. A record's ``line`` is its position in the transfer.

    Raises:
        CandidateRejected: ``parse``: a class other than IN, a query type,
            or a relative name.
    """
    stream = list(rrsets)
    if len(stream) > 1 and stream[-1].rdtype == SOA and stream[-1] == stream[0]:
        stream.pop()
    records: list[Record] = []
    for rrset in stream:
        records.extend(_wire_records(rrset, len(records) + 1))
    return records


def _wire_records(rrset: dns.rrset.RRset, position: int) -> list[Record]:
    """The records of one transferred RRset, numbered from ``position``."""
    if rrset.rdclass != dns.rdataclass.IN:
        rdclass = dns.rdataclass.to_text(rrset.rdclass)
        raise CandidateRejected("parse", f"{_where(rrset, position)}: class {rdclass}, not IN")
    if dns.rdatatype.is_metatype(rrset.rdtype):
        raise CandidateRejected("parse", f"{_where(rrset, position)}: a query type")
    try:
        owner = rrset.name.to_digestable()
        rdtype, ttl = int(rrset.rdtype), rrset.ttl
        return [
            Record(owner, rdtype, IN, ttl, rdata.to_digestable(), number)
            for number, rdata in enumerate(rrset, start=position)
        ]
    except dns.exception.DNSException as error:
        reason = " ".join(str(error).split())  # dnspython's messages may span lines
        raise CandidateRejected("parse", f"{_where(rrset, position)}: {reason}") from error


def _where(rrset: dns.rrset.RRset, position: int) -> str:
    rdtype = dns.rdatatype.to_text(rrset.rdtype)
    return f"record {position} of the transfer ({rrset.name} {rdtype})"


def serial_newer(candidate: int, current: int) -> bool:
    """Whether SOA serial ``candidate`` is after ``current`` (RFC 1982 section 3.2).

    Serials are 32-bit and wrap; a distance of exactly 2**31 is undefined,
    and counts as not newer.
    """
    return 0 < (candidate - current) % _SERIAL_MODULUS < _SERIAL_HALF


def build_zone(records: Iterable[Record]) -> Zone:
    """Group the records into a zone.

    Raises:
        CandidateRejected: ``structure``: not exactly one SOA, or data outside the zone.
    """
    try:
        return Zone(records)
    except ZoneStructureError as error:
        raise CandidateRejected("structure", str(error)) from error


def check_guardrails(
    zone: Zone, size: int, current: Baseline | None, policy: LoadPolicy
) -> None:
    """Refuse an absurd candidate before spending any work on its signatures.

    ``size`` is the candidate's octets as fetched. Duplicates are refused
    even without a copy in use; size and delegations are compared with
    ``current``.

    Raises:
        CandidateRejected: ``guardrail``, with the figures.
    """
    if zone.duplicates:
        examples = ", ".join(zone.where(key) for key in zone.duplicated[:_EXAMPLES])
        raise CandidateRejected(
            "guardrail", f"{zone.duplicates} duplicate records, in {examples}"
        )
    if current is None:
        return
    if size > policy.max_growth * current.size:
        raise CandidateRejected(
            "guardrail",
            f"{size} octets, more than {policy.max_growth:g} times the {current.size} "
            f"of the copy in use (serial {current.serial})",
        )
    _check_delegations(zone, current, policy.max_delegation_change)


def _check_delegations(zone: Zone, current: Baseline, limit: float) -> None:
    before = current.delegations
    after = delegation_owners(zone)
    added, dropped = after - before, before - after
    changed = len(added) + len(dropped)
    if changed <= limit * len(before):
        return
    share = f"{changed / len(before):.1%}" if before else "all"
    raise CandidateRejected(
        "guardrail",
        f"adds {len(added)} and drops {len(dropped)} of the {len(before)} delegations of "
        f"the copy in use (serial {current.serial}): {share}, more than {limit:.0%}"
        + _names(", e.g. added", added)
        + _names(", e.g. dropped", dropped),
    )


def _names(label: str, names: frozenset[bytes]) -> str:
    if not names:
        return ""
    return f"{label} " + " ".join(sorted(name_text(name) for name in names)[:_EXAMPLES])


def check_serial(zone: Zone, current: Baseline | None) -> None:
    """Refuse a candidate that is not newer than the copy in use.

    Raises:
        CandidateRejected: ``serial``.
    """
    if current is not None and not serial_newer(zone.serial, current.serial):
        raise CandidateRejected(
            "serial",
            f"serial {zone.serial} is not newer than {current.serial}, the copy in use",
        )


def check_dnssec(zone: Zone, anchors: TrustAnchors, now: int) -> None:
    """The apex keys against ``anchors``, then every RRSIG at ``now``, and nothing unsigned.

    Raises:
        CandidateRejected: ``dnssec``, naming the RRset.
    """
    try:
        keys = trusted_keys(zone, anchors, now)
        count = verify_signatures(zone, keys, now)
        require_signatures(zone, count.verified)
    except ZoneVerificationError as error:
        raise CandidateRejected("dnssec", str(error)) from error


def check_zonemd_policy(zone: Zone, policy: ZonemdPolicy) -> ZonemdResult:
    """The ZONEMD verdict under ``policy`` (``rootzone.verify.apply_zonemd_policy``).

    Raises:
        CandidateRejected: ``zonemd``.
    """
    try:
        return apply_zonemd_policy(zone, policy)
    except ZonemdFailure as error:
        raise CandidateRejected("zonemd", str(error)) from error


def load_zone(
    zone: Zone,
    *,
    source: str,
    size: int,
    anchors: TrustAnchors,
    now: int,
    policy: LoadPolicy,
    current: Baseline | None,
) -> RootCopy:
    """Every check after parsing, in order; the copy if ``zone`` passes them all.

    Raises:
        CandidateRejected: the first check that fails.
    """
    if zone.origin != _ROOT:
        raise CandidateRejected(
            "structure", f"the zone is {name_text(zone.origin)}, not the root zone"
        )
    check_guardrails(zone, size, current, policy)
    check_serial(zone, current)
    check_dnssec(zone, anchors, now)
    zonemd = check_zonemd_policy(zone, policy.zonemd)
    expiration = earliest_expiration(zone, now)
    return RootCopy(
        zone=zone,
        source=source,
        size=size,
        zonemd=zonemd,
        earliest_expiration=None if expiration is None else expiration.at,
        answers=RootAnswers(zone),
    )


def load_copy(
    records: Iterable[Record],
    *,
    source: str,
    size: int,
    anchors: TrustAnchors,
    now: int,
    policy: LoadPolicy,
    current: Baseline | None,
) -> RootCopy:
    """The copy made of ``records``, if it may replace ``current`` at ``now`` (POSIX seconds).

    Args:
        records: the parsed candidate (``records_from_text``, ``records_from_rrsets``).
        source: where it came from, kept in the copy.
        size: its octets as fetched, for the size guardrail.
        anchors: the root trust anchors.
        now: the time signatures are checked at.
        policy: the operator's demands.
        current: the copy in use, or None.

    Raises:
        CandidateRejected: the first check that fails; ``current`` stays as it is.
    """
    zone = build_zone(records)
    return load_zone(
        zone,
        source=source,
        size=size,
        anchors=anchors,
        now=now,
        policy=policy,
        current=current,
    )


def check_candidate(
    parse: Callable[[], list[Record]],
    *,
    source: str,
    size: int,
    anchors: TrustAnchors,
    now: int,
    policy: LoadPolicy,
    current: Baseline | None,
) -> RootCopy | None:
    """Parse a fetched candidate and run every check: the refresh task's whole job.

    Module-level and given only picklable arguments, so that it can run in
    a worker process. None when the candidate has the serial in use: a
    source that has nothing newer (RFC 1996), not a refusal.

    Raises:
        CandidateRejected: the first check that fails.
    """
    zone = build_zone(parse())
    if current is not None and zone.serial == current.serial:
        return None
    return load_zone(
        zone, source=source, size=size, anchors=anchors, now=now, policy=policy, current=current
    )
