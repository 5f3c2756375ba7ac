"""The validator stage: every reply is judged before it is cached or served.

Place in the query flow: the iterator gets an authoritative reply from a
server of zone Z and, before caching it, asks ``Validator.check`` for a
``Verdict``. The checks themselves are the pure functions of
``dnssec.validator`` and ``dnssec.denial``; this module finds the keys they
need, walking the chain of trust down from the closest trust anchor:

    anchor for .       vouches for   DNSKEY .            -> keys of .
    DS com             signed by .,  vouches for DNSKEY com -> keys of com
    DS example.com     signed by com, vouches for DNSKEY example.com

A zone's parent is read from its DS RRset (the RRSIG's signer), or from the
SOA of the proof that there is no DS, so the walk needs no map of zone cuts.
DNSKEY and DS records are asked for as an ``EvidenceRequest`` through
``Fetch``, which ``resolver.evidence`` answers with a resolution that does
not validate: the validator judges them itself (a DNSKEY RRset is
trusted through the DS, not through its own zone) and caches them with their
verdict. Each zone's verdict (``ZoneKeys``) is kept in the ``KeyCache`` for
the DNSKEY/DS TTL, a bogus one for ``bogus_ttl`` seconds, so that a broken
zone is not fetched again for every query.

A zone with no trust anchor above it is insecure; so is everything below a
zone whose parent proves (with NSEC/NSEC3) that it has no DS. Any other
break is bogus: the ``Bogus`` subclass raised on the way is the Extended DNS
Error the client sees, its text naming the zone, the RRset and the server.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.edns
import dns.name
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.RRSIG import RRSIG

from dnssec.anchors import TrustAnchors
from dnssec.denial import (
    Denial,
    prove_no_ds,
    prove_nodata,
    prove_nxdomain,
    prove_wildcard_answer,
)
from dnssec.errors import Bogus, BogusNoDenial, BogusNoKey, HoldfastError
from dnssec.status import ExtendedError, Security
from dnssec.validator import Signed, ZoneKeys, validate_rrset, zone_keys
from dnssec.work import ValidationWork
from resolver.cache import Cache, Rank
from resolver.clock import Clock
from resolver.counters import ServerTable
from resolver.exchange import Exchange
from resolver.nta import NegativeTrustAnchors

#: Seconds an "insecure: no trust anchor above it" verdict is kept.
UNANCHORED_TTL = 3600
#: The TTL of an "insecure: under a negative trust anchor" verdict, which caps
#: how long data judged under it is cached (as ``bogus_ttl`` does for bogus data).
NTA_TTL = 60
_DENIAL_TYPES = (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
_RANK = {Security.BOGUS: 0, Security.INDETERMINATE: 1, Security.INSECURE: 2, Security.SECURE: 3}

#: Signature RRsets of a reply, by the (owner, type) they cover.
Signatures = dict[tuple[dns.name.Name, int], dns.rrset.RRset]


def worse(a: Security, b: Security) -> Security:
    """The worse of two statuses: BOGUS, then INDETERMINATE, INSECURE, SECURE."""
    return a if _RANK[a] <= _RANK[b] else b


@dataclass(frozen=True, slots=True)
class Evidence:
    """Records for one name and type, fetched for the validator and not yet judged.

    Attributes:
        zone: The zone whose server answered, or the closest known cut.
        rrset: The data, for a positive answer.
        rrsigs: Its RRSIGs.
        soa: The SOA of a negative answer.
        proof: A negative answer's NSEC/NSEC3 records and every RRSIG that
            came with it (the SOA's included).
        nxdomain: Whether the negative answer was NXDOMAIN.
        source: The server address, when known.
    """

    zone: dns.name.Name
    rrset: dns.rrset.RRset | None = None
    rrsigs: dns.rrset.RRset | None = None
    soa: dns.rrset.RRset | None = None
    proof: tuple[dns.rrset.RRset, ...] = ()
    nxdomain: bool = False
    source: str | None = None


@dataclass(frozen=True, slots=True)
class EvidenceRequest:
    """The DS or DNSKEY records the validator needs, as it asks the evidence stage.

    The servers in ``avoid`` are not asked (they sent bogus data); with any
    given, the cache is bypassed, and no server left gives empty ``Evidence``
    (``resolver.evidence``, which answers the request, says how).
    """

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    avoid: frozenset[str] = frozenset()


#: How the validator gets DNSKEY and DS records: a resolution it judges itself,
#: asked for as data so that the validator never calls back into the iterator.
Fetch = Callable[[EvidenceRequest], Exchange[Evidence]]
#: Told of a server that sent bogus data: (address, zone, reason).
HoldDown = Callable[[str, str, str], object]


class _SentBogus(HoldfastError):
    """Key material that failed validation, and the server that sent it."""

    def __init__(self, failure: Bogus, evidence: Evidence, source: str) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.zone = evidence.zone
        self.source = source


@dataclass(frozen=True, slots=True)
class Denied:
    """The negative part of a reply, to be proven: ``name``/``rdtype`` does not exist."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    nxdomain: bool


@dataclass(frozen=True, slots=True)
class Reply:
    """The parts of one authoritative reply the validator judges.

    Attributes:
        zone: The zone whose server sent it.
        source: That server's address.
        answer: RRsets that must each validate (not the CNAMEs synthesised
            from a DNAME, which carry no signature, RFC 6672 section 5.3.1).
        soa: The SOA of a negative answer.
        authority: The other authority RRsets (NSEC, NSEC3, ...).
        signatures: Every RRSIG RRset of the reply.
        denied: What the reply says does not exist, if anything.
        unvalidatable: Answer RRsets that cannot be validated by nature: the
            RRSIG RRsets answering QTYPE RRSIG (signatures are not signed,
            RFC 4034 3). They make the reply INSECURE at best, never bogus:
            Unbound's validator.c (needs_validation) likewise leaves a
            positive RRSIG answer unvalidated, while negative ones are judged.
    """

    zone: dns.name.Name
    source: str
    answer: tuple[dns.rrset.RRset, ...] = ()
    soa: dns.rrset.RRset | None = None
    authority: tuple[dns.rrset.RRset, ...] = ()
    signatures: tuple[dns.rrset.RRset, ...] = ()
    denied: Denied | None = None
    unvalidatable: tuple[dns.rrset.RRset, ...] = ()


@dataclass(slots=True)
class Verdict:
    """The security of one reply.

    Attributes:
        security: The worst status of anything in the reply.
        errors: Extended DNS Errors worth telling a client: why it is bogus,
            or why it is insecure (e.g. 27 for NSEC3 iterations).
        ttls: TTL caps, by (owner, type), for the RRsets that validated.
        blame: The server whose reply itself failed (not its zone's keys):
            asking another server of the zone may give a secure answer.
    """

    security: Security = Security.SECURE
    errors: tuple[ExtendedError, ...] = ()
    ttls: dict[tuple[dns.name.Name, int], int] = field(default_factory=dict)
    blame: str | None = None

    def downgrade(self, security: Security, error: ExtendedError | None = None) -> None:
        """Lower the status to ``security`` if that is worse, and note ``error``."""
        self.security = worse(self.security, security)
        if error is not None and error not in self.errors:
            self.errors = (*self.errors, error)


class KeyCache:
    """Zone -> ``ZoneKeys`` verdicts, each kept for its TTL, least recently used evicted.

    A flush of the RRset cache (its ``generation`` changes) empties it too.
    """

    def __init__(self, clock: Clock, cache: Cache, *, max_zones: int = 10_000) -> None:
        self._clock = clock
        self._cache = cache
        self._max_zones = max_zones
        self._generation = cache.generation
        self._entries: collections.OrderedDict[dns.name.Name, tuple[ZoneKeys, float]] = (
            collections.OrderedDict()
        )

    def get(self, zone: dns.name.Name) -> ZoneKeys | None:
        """The verdict for ``zone``, while it holds."""
        if self._generation != self._cache.generation:
            self._entries.clear()
            self._generation = self._cache.generation
        found = self._entries.get(zone)
        if found is None:
            return None
        if self._clock.wall() >= found[1]:
            del self._entries[zone]
            return None
        self._entries.move_to_end(zone)
        return found[0]

    def put(self, keys: ZoneKeys, ttl: int) -> None:
        """Remember the verdict for ``keys.zone`` for ``ttl`` seconds."""
        if ttl <= 0:
            return
        self._entries[keys.zone] = (keys, self._clock.wall() + ttl)
        self._entries.move_to_end(keys.zone)
        while len(self._entries) > self._max_zones:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class Validator:
    """Judges replies, and finds the zone keys to do it, for one resolver."""

    def __init__(
        self,
        *,
        anchors: TrustAnchors,
        cache: Cache,
        clock: Clock,
        bogus_ttl: int = 60,
        hold_down: HoldDown | None = None,
        negative_anchors: NegativeTrustAnchors | None = None,
    ) -> None:
        self.anchors = anchors
        #: Zones whose DNSSEC the operator set aside (RFC 7646, ``resolver.nta``).
        self.negative_anchors = negative_anchors
        self.cache = cache
        self.clock = clock
        self.bogus_ttl = bogus_ttl
        self.hold_down = hold_down
        self.keys = KeyCache(clock, cache)
        #: Verdicts on authoritative replies, by ``Security`` value (for metrics).
        self.verdicts: collections.Counter[str] = collections.Counter()
        #: Replies (and DS/DNSKEY records) that failed validation, per server.
        self.bogus_servers = ServerTable(("bogus",))

    def with_cache(self, cache: Cache, hold_down: HoldDown | None) -> Validator:
        """A validator like this one (anchors, negative anchors, clock, bogus
        TTL) over ``cache``, holding down through ``hold_down``
        (``Iterator.with_cache``). Kept beside ``__init__`` for the same reason."""
        return Validator(
            anchors=self.anchors,
            cache=cache,
            clock=self.clock,
            bogus_ttl=self.bogus_ttl,
            hold_down=hold_down,
            negative_anchors=self.negative_anchors,
        )

    def now(self) -> int:
        """The validation time: the wall clock, in whole seconds."""
        return int(self.clock.wall())

    # -- replies -----------------------------------------------------------

    def check(self, reply: Reply, work: ValidationWork, fetch: Fetch) -> Exchange[Verdict]:
        """Judge one authoritative reply.

        Every ``answer`` RRset and the SOA must validate with the keys of
        the zone that signed it; a wildcard expansion also needs the proof
        that the name asked for does not exist (RFC 4035 5.3.4), and
        ``denied`` needs its NSEC/NSEC3 proof (RFC 4035 5.4, RFC 5155 8).
        """
        work.start_response()
        verdict = Verdict()
        if reply.unvalidatable:
            verdict.downgrade(Security.INSECURE)
        signatures = _by_covered(reply.signatures)
        soa = (reply.soa,) if reply.soa is not None else ()
        try:
            for rrset in (*reply.answer, *soa):
                keys = yield from self._signer_keys(rrset, signatures, reply.zone, work, fetch)
                if keys.security is not Security.SECURE:
                    verdict.downgrade(keys.security, _told(keys))
                    continue
                signed = validate_rrset(
                    rrset,
                    signatures.get((rrset.name, rrset.rdtype)),
                    keys.for_rrset(rrset),
                    self.now(),
                    work,
                )
                verdict.ttls[(rrset.name, rrset.rdtype)] = signed.ttl
                if signed.wildcard is not None:
                    records = self._denial_records(keys, reply, signatures, work)
                    denial = prove_wildcard_answer(
                        rrset.name, signed.wildcard, keys.zone, records, work
                    )
                    verdict.downgrade(denial.security, denial.error)
            if reply.denied is not None and verdict.security is Security.SECURE:
                if reply.soa is not None:
                    keys = yield from self._signer_keys(
                        reply.soa, signatures, reply.zone, work, fetch
                    )
                else:
                    keys = yield from self.zone_keys(reply.zone, work, fetch)
                denial = self._prove_denied(keys, reply, reply.denied, signatures, work)
                verdict.downgrade(denial.security, denial.error)
        except Bogus as failure:
            verdict.downgrade(Security.BOGUS, _sent_by(failure, reply.source).error())
            verdict.blame = reply.source
            self.bogus_servers.row(reply.source)[0] += 1
        self.verdicts[verdict.security.value] += 1
        return verdict

    def _prove_denied(
        self,
        keys: ZoneKeys,
        reply: Reply,
        denied: Denied,
        signatures: Signatures,
        work: ValidationWork,
    ) -> Denial:
        """Prove ``denied`` with the reply's NSEC/NSEC3 records, if its zone is signed."""
        if keys.security is not Security.SECURE:
            return Denial(keys.security, _told(keys))
        records = self._denial_records(keys, reply, signatures, work)
        if denied.nxdomain:
            return prove_nxdomain(denied.name, keys.zone, records, work)
        return prove_nodata(denied.name, denied.rdtype, keys.zone, records, work)

    def _denial_records(
        self, keys: ZoneKeys, reply: Reply, signatures: Signatures, work: ValidationWork
    ) -> list[dns.rrset.RRset]:
        """The reply's NSEC/NSEC3 records of ``keys.zone``, each validated.

        Raises:
            Bogus: one of them does not validate.
        """
        return _validated(reply.authority, signatures, keys, self.now(), work)

    def _signer_keys(
        self,
        rrset: dns.rrset.RRset,
        signatures: Signatures,
        zone: dns.name.Name,
        work: ValidationWork,
        fetch: Fetch,
    ) -> Exchange[ZoneKeys]:
        """The keys to check ``rrset`` with: those of ``zone``, whose server sent it.

        An RRSIG's signer field is the sender's claim, and never picks the
        chain of trust by itself (issue 17: a com server's extra record
        signed "by insecure.com." was judged insecure through the proof
        that insecure.com has no DS). Another signer that encloses the
        owner is used only when its keys are secure: the signature then has
        to verify with them, and the claim can never make data insecure
        (an island of trust below an insecure parent stays what its anchor
        says). That signer may be an ancestor of ``zone`` (a server may
        serve the parent too), or a child of it whose cut the iterator
        could not find (its server answers the child's data but not
        ``child NS``, Deckard iter_validate_child_zone_noaddr): the child's
        keys are then secure only through a DS that ``zone`` signed, as
        Unbound's validator walks to the signer (``validator.c``
        ``processFindKey``). Knot Resolver validates with the keys of the
        zone cut it asked and treats another signer as a mismatch that
        sends it to find the cut again (``lib/layer/validate.c``,
        ``KR_VLDRANK_MISMATCH``).
        """
        for rdata in signatures.get((rrset.name, rrset.rdtype), ()):
            signer = rdata.signer
            if signer != zone and rrset.name.is_subdomain(signer) and (
                zone.is_subdomain(signer) or signer.is_subdomain(zone)
            ):
                other = yield from self.zone_keys(signer, work, fetch)
                if other.security is Security.SECURE:
                    return other
                break
        return (yield from self.zone_keys(zone, work, fetch))

    # -- the chain of trust --------------------------------------------------

    def zone_keys(
        self, zone: dns.name.Name, work: ValidationWork, fetch: Fetch
    ) -> Exchange[ZoneKeys]:
        """The trusted keys of ``zone`` (or why there are none), from the cache or the chain.

        A zone under a negative trust anchor is insecure before anything else
        (RFC 7646); that verdict is not kept, so deleting the anchor counts at once.
        """
        if self.negative_anchors is not None and self.negative_anchors.covering(zone):
            self.negative_anchors.applied += 1
            return ZoneKeys.insecure(zone, NTA_TTL)
        cached = self.keys.get(zone)
        if cached is not None:
            return cached
        anchor = self._anchor_for(zone)
        if anchor is None:
            keys = ZoneKeys.insecure(zone, UNANCHORED_TTL)
            self.keys.put(keys, UNANCHORED_TTL)
            return keys
        keys = yield from self._keys_from_healthy_servers(zone, anchor, work, fetch)
        self.keys.put(keys, self.bogus_ttl if keys.security is Security.BOGUS else keys.ttl)
        return keys

    def _keys_from_healthy_servers(
        self, zone: dns.name.Name, anchor: dns.name.Name, work: ValidationWork, fetch: Fetch
    ) -> Exchange[ZoneKeys]:
        """Find ``zone``'s keys; a server that sends bogus DS or DNSKEY records is held
        down and the records are fetched again from the others (R11), until one
        set validates or no server is left: one bad instance must not poison the
        key cache for everyone.
        """
        avoid: set[str] = set()
        sent: _SentBogus | None = None
        while True:
            try:
                with work.other_response():
                    if zone == anchor:
                        vouchers = [r for r in self.anchors.rrsets if r.name == zone]
                        found = self._keys_vouched(zone, vouchers, work, fetch, frozenset(avoid))
                    else:
                        found = self._keys_below(zone, anchor, work, fetch, frozenset(avoid))
                    return (yield from found)
            except _SentBogus as bogus:
                if bogus.source in avoid:
                    return ZoneKeys.bogus(zone, self.bogus_ttl, bogus.failure)
                sent = bogus
                self.bogus_servers.row(bogus.source)[0] += 1
                if self.hold_down is not None:
                    self.hold_down(bogus.source, str(bogus.zone), str(bogus.failure))
                avoid.add(bogus.source)
            except Bogus as failure:
                # With servers avoided, "nothing fetched" means none is left:
                # the reason to tell is the last server's.
                return ZoneKeys.bogus(zone, self.bogus_ttl, sent.failure if sent else failure)

    def _keys_below(
        self,
        zone: dns.name.Name,
        anchor: dns.name.Name,
        work: ValidationWork,
        fetch: Fetch,
        avoid: frozenset[str],
    ) -> Exchange[ZoneKeys]:
        """Keys of a zone below its anchor: through the parent's DS, or its proven absence.

        Raises:
            _SentBogus: the DS (or its denial), or the DNSKEY RRset, failed.
            Bogus: nothing usable was fetched.
        """
        evidence = yield from fetch(EvidenceRequest(zone, dns.rdatatype.DS, avoid))
        if evidence.rrset is not None:
            parent = _parent_of(zone, evidence.rrsigs, evidence.zone, anchor)
            parent_keys = yield from self.zone_keys(parent, work, fetch)
            if parent_keys.security is not Security.SECURE:
                return _inherit(zone, parent_keys)
            with _blaming(evidence):
                signed = validate_rrset(
                    evidence.rrset, evidence.rrsigs, parent_keys, self.now(), work
                )
            self._remember(evidence.rrset, evidence.rrsigs, Security.SECURE, signed, evidence)
            keys = yield from self._keys_vouched(zone, [evidence.rrset], work, fetch, avoid)
            return keys
        signatures = _by_covered(r for r in evidence.proof if r.rdtype == dns.rdatatype.RRSIG)
        if evidence.soa is not None:
            parent = evidence.soa.name
        elif any(r.rdtype in _DENIAL_TYPES for r in evidence.proof):
            # A DS NODATA without its SOA still proves itself: RFC 4035 5.2 and
            # RFC 5155 8.9 need only the NSEC/NSEC3, and Unbound accepts it
            # (validator.c process_ds_response; Deckard val_nsec3_noopt_ref).
            # The parent is then the proof's signer.
            signers = [rdata for rrsigs in signatures.values() for rdata in rrsigs]
            parent = _parent_of(zone, signers, evidence.zone, anchor)
        else:
            raise BogusNoDenial(f"{zone}: the parent neither has nor denies a DS")
        if not (zone.is_subdomain(parent) and zone != parent and parent.is_subdomain(anchor)):
            raise BogusNoDenial(f"{zone}: DS denied by {parent}, which is not its parent")
        parent_keys = yield from self.zone_keys(parent, work, fetch)
        if parent_keys.security is not Security.SECURE:
            return _inherit(zone, parent_keys)
        with _blaming(evidence):
            if evidence.soa is not None:
                validate_rrset(
                    evidence.soa, signatures.get((parent, dns.rdatatype.SOA)), parent_keys,
                    self.now(), work,
                )
            records = _validated(evidence.proof, signatures, parent_keys, self.now(), work)
            if evidence.nxdomain:
                raise Bogus(f"{parent}: says {zone} does not exist, but it serves data")
            denial = prove_no_ds(zone, parent, records, work)
        soa_ttl = (evidence.soa.ttl,) if evidence.soa is not None else ()
        ttl = min([*soa_ttl, *(r.ttl for r in records)])
        return ZoneKeys.insecure(zone, ttl, denial.error)

    def _keys_vouched(
        self,
        zone: dns.name.Name,
        vouchers: list[dns.rrset.RRset],
        work: ValidationWork,
        fetch: Fetch,
        avoid: frozenset[str],
    ) -> Exchange[ZoneKeys]:
        """Fetch ``zone``'s DNSKEY RRset and judge it against DS or anchor ``vouchers``.

        Raises:
            _SentBogus: the DNSKEY RRset failed.
            BogusNoKey: there is none.
        """
        evidence = yield from fetch(EvidenceRequest(zone, dns.rdatatype.DNSKEY, avoid))
        if evidence.rrset is None:
            raise BogusNoKey(
                f"{zone}: no DNSKEY RRset (from {evidence.source or 'cache'}), but it is signed"
            )
        with _blaming(evidence):
            keys = zone_keys(zone, evidence.rrset, evidence.rrsigs, vouchers, self.now(), work)
        if keys.security is Security.SECURE:
            ttl = min([keys.ttl, *(v.ttl for v in vouchers if v.rdtype == dns.rdatatype.DS)])
            keys = ZoneKeys(
                zone, Security.SECURE, keys.keys, ttl=ttl, entry_keys=keys.entry_keys
            )
            self._remember(
                evidence.rrset, evidence.rrsigs, Security.SECURE, Signed(ttl), evidence
            )
        return keys

    def _remember(
        self,
        rrset: dns.rrset.RRset,
        rrsigs: dns.rrset.RRset | None,
        security: Security,
        signed: Signed,
        evidence: Evidence,
    ) -> None:
        """Cache a DS or DNSKEY RRset with its verdict, so clients asking get it validated."""
        rrset = with_ttl(rrset, min(rrset.ttl, signed.ttl))
        self.cache.store_rrset(
            rrset, Rank.ANSWER, security=security, source=evidence.source, rrsigs=rrsigs
        )

    def _anchor_for(self, zone: dns.name.Name) -> dns.name.Name | None:
        """The deepest trust anchor at or above ``zone``."""
        for anchored in self.anchors.zones():
            if zone.is_subdomain(anchored):
                return anchored
        return None


def with_ttl(rrset: dns.rrset.RRset, ttl: int) -> dns.rrset.RRset:
    """A copy of ``rrset`` with ``ttl`` (the input is left alone)."""
    return dns.rrset.from_rdata_list(rrset.name, ttl, list(rrset))


def _parent_of(
    zone: dns.name.Name,
    rrsigs: Iterable[RRSIG] | None,
    fallback: dns.name.Name,
    anchor: dns.name.Name,
) -> dns.name.Name:
    """The zone that signed ``zone``'s DS (or its denial): the RRSIGs' signer, if it can be.

    Raises:
        Bogus: the signer is not an ancestor of ``zone`` below the anchor.
    """
    signers: set[dns.name.Name] = {rdata.signer for rdata in rrsigs or ()}
    if not signers:
        return fallback
    for signer in signers:
        if zone.is_subdomain(signer) and zone != signer and signer.is_subdomain(anchor):
            return signer
    raise Bogus(f"{zone}: DS signed by {', '.join(map(str, signers))}, not by a parent zone")


#: Why a zone can be insecure that a client is told (RFC 8914 4.2, 4.3): it is
#: signed, but only with what we will not validate (an unknown or refused
#: algorithm, an RSA key past the bounds of ``dnssec.signatures``, a digest
#: type we lack). BIND 9.19 and later say the same. A plain insecure
#: delegation (no DS) carries no error.
_TOLD_WHEN_INSECURE = frozenset(
    {dns.edns.EDECode.UNSUPPORTED_DNSKEY_ALGORITHM, dns.edns.EDECode.UNSUPPORTED_DS_DIGEST_TYPE}
)


def _told(keys: ZoneKeys) -> ExtendedError | None:
    """What a client hears about a zone that is not secure: why it is bogus, or
    that it is signed with an algorithm or digest we do not validate."""
    if keys.error is None:
        return None
    if keys.security is Security.BOGUS or keys.error.code in _TOLD_WHEN_INSECURE:
        return keys.error
    return None


def _inherit(zone: dns.name.Name, parent: ZoneKeys) -> ZoneKeys:
    """A zone below an insecure or bogus parent is the same."""
    return ZoneKeys(zone, parent.security, ttl=parent.ttl, error=parent.error)


def _validated(
    rrsets: Iterable[dns.rrset.RRset],
    signatures: Signatures,
    keys: ZoneKeys,
    now: int,
    work: ValidationWork,
) -> list[dns.rrset.RRset]:
    """The NSEC/NSEC3 records among ``rrsets`` owned by ``keys.zone``, each validated.

    Raises:
        Bogus: one of them does not validate.
    """
    records = [
        rrset
        for rrset in rrsets
        if rrset.rdtype in _DENIAL_TYPES and rrset.name.is_subdomain(keys.zone)
    ]
    for rrset in records:
        validate_rrset(rrset, signatures.get((rrset.name, rrset.rdtype)), keys, now, work)
    return records


def _by_covered(signatures: Iterable[dns.rrset.RRset]) -> Signatures:
    return {(rrsigs.name, rrsigs.covers): rrsigs for rrsigs in signatures}


@contextmanager
def _blaming(evidence: Evidence) -> Iterator[None]:
    """Turn a ``Bogus`` raised while judging ``evidence`` into one naming its server."""
    try:
        yield
    except Bogus as failure:
        if evidence.source is None:
            raise
        raise _SentBogus(_sent_by(failure, evidence.source), evidence, evidence.source) from None


def _sent_by(failure: Bogus, source: str | None) -> Bogus:
    """``failure`` again, its text naming the server that sent the data (R16)."""
    if source is None or "(from " in str(failure):
        return failure
    return type(failure)(f"{failure} (from {source})")

