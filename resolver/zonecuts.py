"""Zone cuts an authoritative answer reveals: a child on its parent's servers (issue 23).

A server that serves both ``example.com.`` and its child
``sub.example.com.`` answers a question for ``www.sub.example.com.`` from the
child zone (AA), never with a referral; the iterator, which asked a server
of ``example.com.``, would judge the child's data with the parent's keys:
an unsigned child's answer would be bogus ("no RRSIG"), a signed child's
would fail on the signer. So an authoritative reply from a server of zone Z
for qname points at a cut C (Z < C <= qname) when:

* its RRSIGs name a signer C below Z that encloses qname (Knot Resolver
  ``lib/layer/validate.c`` ``check_signer``: "Key signer is below current
  cut, advance and refetch keys"), or
* nothing in it is signed while Z is secure: each name between Z and qname
  may be the unsigned child's apex (Knot's ``check_signer`` without a
  signer: "Server is authoritative for both parent and child, and child
  zone is not signed"; Unbound's validator walks DS queries down the same
  labels, ``validator.c`` ``processFindKey``).

A candidate is checked the way Knot Resolver finds a cut under QNAME
minimisation (``lib/layer/iterate.c``, ``lib/zonecut.c``): the *same*
server is asked ``C NS``. A referral from it (the usual parent) shows who
serves C: that delegation is followed, and the answer it gave for C's names
is not used (RFC 2181 5.4.1: only C's servers speak for C). An
authoritative NS answer shows C's apex on that server: the cut is believed
only if the server's own address is among those of C's NS names (known
from glue or the cache), so a server cannot make itself the server of a
cut it does not serve. Anything else (NODATA, NXDOMAIN) means C is no apex.

A signer below Z whose keys are secure (through its DS, signed by Z) needs
no probe: those keys judge the reply as it is, as Knot Resolver's validator
moves its cut to the signer and Unbound's walks DS down to it, neither
asking NS (``validate.c``: "Key signer is below current cut, advance and
refetch keys"; ``validator.c`` ``processFindKey``; Deckard
iter_validate_child_zone_noaddr). An unsigned reply, or a signer whose keys
are not secure, is still probed: the validator does not let a signer's
claim make data insecure (``Validator._signer_keys``), so such a child's
data is judged only once its cut is found.

Moving the cut changes whose keys judge the data, never how: C's keys come
through C's DS, signed by Z (or Z's signed proof that C has no DS, which
also proves C is a delegation, RFC 4035 5.2), so a claimed cut cannot make
secure data insecure. Unbound's ``iter_msg_from_zone`` (``iter_utils.c``)
guards the same situation the other way round: an unsigned answer is not
taken as DNSSEC-lame unless it carries the asked zone's own SOA or NS.

Pure functions over classified replies; ``resolver.iterator`` asks.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.rrset

from resolver.classify import Classified, ReplyKind

#: Candidate cuts probed for one reply. Our own bound, not a peer's (Knot
#: probes each label once per query under minimisation): an unsigned answer
#: from a signed zone, i.e. a misconfigured or bogus one, must not cost a
#: query for each of up to 127 labels. Three labels below the zone asked
#: cover ``www.child.parent.`` asked of ``parent.``.
MAX_CUT_PROBES = 3


class Verdict(enum.Enum):
    """What the server said to ``C NS``."""

    #: C's apex is on this server, which is one of C's servers: move the cut.
    SERVED = "served"
    #: The server referred C (or a zone above it) elsewhere: follow the referral.
    REFERRED = "referred"
    #: C is no apex here, or the server's claim is not believed: try the next one.
    NO_CUT = "no-cut"
    #: Nothing further down can be learnt from this server.
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Probe:
    """The verdict on one candidate, with the child's NS RRset when SERVED."""

    verdict: Verdict
    ns: dns.rrset.RRset | None = None


def candidates(
    reply: Classified, zone: dns.name.Name, qname: dns.name.Name, *, zone_secure: bool
) -> tuple[dns.name.Name, ...]:
    """Names between ``zone`` (exclusive) and ``qname`` that may be a child's apex, top down.

    ``zone_secure`` says whether ``zone``'s keys are secure; it matters only
    for a reply without any RRSIG (the caller need not find out otherwise).
    """
    signers = {
        rdata.signer
        for rrsigs in reply.signatures
        for rdata in rrsigs
        if _strictly_below(rdata.signer, zone) and qname.is_subdomain(rdata.signer)
    }
    if signers:
        return tuple(sorted(signers, key=len))[:MAX_CUT_PROBES]
    if reply.signatures or not zone_secure or not _strictly_below(qname, zone):
        return ()
    depths = range(len(zone) + 1, min(len(qname), len(zone) + MAX_CUT_PROBES) + 1)
    return tuple(qname.split(depth)[1] for depth in depths)


def signed_below(
    chain: list[dns.rrset.RRset], signatures: tuple[dns.rrset.RRset, ...], zone: dns.name.Name
) -> list[dns.rrset.RRset]:
    """The end of an alias chain from the record on that a signer below ``zone`` signed.

    A server of ``zone`` that also serves a child puts the child's part of a
    CNAME chain into one answer; the child's records are signed with the
    child's keys, which ``zone``'s cut cannot judge. The first record (the
    name asked) is left to ``candidates``: its signer encloses the name.
    """
    for index, record in enumerate(chain[1:], start=1):
        signers = (
            rdata.signer
            for rrsigs in signatures
            if rrsigs.name == record.name and rrsigs.covers == record.rdtype
            for rdata in rrsigs
        )
        if any(_strictly_below(signer, zone) for signer in signers):
            return chain[index:]
    return []


def signed_by(reply: Classified, signer: dns.name.Name) -> bool:
    """Whether one of ``reply``'s RRSIGs names ``signer``."""
    return any(rdata.signer == signer for rrsigs in reply.signatures for rdata in rrsigs)


def needs_keys(reply: Classified, zone: dns.name.Name, qname: dns.name.Name) -> bool:
    """Whether ``candidates`` depends on ``zone_secure``: a reply with no RRSIG at all."""
    return not reply.signatures and _strictly_below(qname, zone)


def judge(
    probe: Classified,
    cut: dns.name.Name,
    address: str,
    addresses_of: Callable[[dns.name.Name], tuple[str, ...]],
) -> Probe:
    """What ``address``'s reply to ``cut NS`` says about a cut there (module docstring).

    ``addresses_of`` gives the known addresses of an NS name (glue and cache).
    """
    if probe.kind is ReplyKind.REFERRAL:
        return Probe(Verdict.REFERRED)
    if probe.kind is ReplyKind.NODATA:
        return Probe(Verdict.NO_CUT)
    if probe.kind is not ReplyKind.ANSWER:
        return Probe(Verdict.STOP)
    ns = next(
        (r for r in probe.answer if r.rdtype == dns.rdatatype.NS and r.name == cut), None
    )
    if ns is None:
        return Probe(Verdict.NO_CUT)
    if any(address in addresses_of(rdata.target) for rdata in ns):
        return Probe(Verdict.SERVED, ns)
    return Probe(Verdict.STOP)  # a claim to serve C from an address C's NS do not name


def _strictly_below(name: dns.name.Name, zone: dns.name.Name) -> bool:
    return name != zone and name.is_subdomain(zone)
