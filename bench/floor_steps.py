"""The steps of the floor program (``bench.floor``) with dnspython, sans-I/O.

One cold ``n<i>.bench.com A`` answer, when the zone's server and key are
already known, needs: the client's query read, one query to the zone's
server written, its reply read, the answer RRset's RRSIG verified, and the
response written. Each step is a plain function here, so that
``bench.cold_floor`` can time them one by one and the tests can run them
over the in-memory lab. Verification comes twice: with
``dns.dnssec.validate`` (what a dnspython program would call), and with the
RFC 4034 section 3.1.8.1 signed data built here and handed to
cryptography, which is all that verification needs for an A RRset (no
names in the RDATA, hence no canonical RDATA rewriting), to show what
dnspython's general path costs.

Only ECDSAP256SHA256 is handled: the lab's bench.com key (flags 257,
algorithm 13) signs everything in that zone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

#: The EDNS payload size the floor advertises upstream (as Holdfast does).
PAYLOAD = 1232
ECDSAP256SHA256 = 13
_SIGNATURE_HALF = 32
_ECDSA = ec.ECDSA(hashes.SHA256())

#: The answer RRset and the RRSIG RRset over it.
Answer = tuple[dns.rrset.RRset, dns.rrset.RRset]


@dataclass(frozen=True, slots=True)
class ZoneTrust:
    """The one zone the floor answers for, and its key, fetched once at start."""

    zone: dns.name.Name
    dnskey: dns.rrset.RRset
    tag: int
    public: ec.EllipticCurvePublicKey

    @classmethod
    def of(cls, dnskey: dns.rrset.RRset) -> ZoneTrust:
        """From the zone's DNSKEY RRset: its ECDSAP256SHA256 key."""
        key = next(k for k in dnskey if k.algorithm == ECDSAP256SHA256)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + key.key)
        return cls(dnskey.name, dnskey, dns.dnssec.key_id(key), public)

    @property
    def signer(self) -> bytes:
        """The zone's name as RRSIGs carry it: uncompressed, lower case."""
        return self.zone.to_digestable()


def ecdsa_verifies(public: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (RFC 6605: r then s, 32 bytes each) signs ``data``."""
    if len(signature) != 2 * _SIGNATURE_HALF:
        return False
    r = int.from_bytes(signature[:_SIGNATURE_HALF], "big")
    s = int.from_bytes(signature[_SIGNATURE_HALF:], "big")
    try:
        public.verify(encode_dss_signature(r, s), data, _ECDSA)
    except InvalidSignature:
        return False
    return True


def signature_usable(fields: tuple[int, ...], owner_labels: int, trust: ZoneTrust,
                     signer: bytes, now: float) -> bool:
    """The RFC 4035 section 5.3.1 checks a validator makes before any cryptography.

    ``fields`` are the RRSIG's fixed fields (type covered, algorithm, labels,
    original TTL, expiration, inception, key tag). Wildcard expansions
    (fewer labels than the owner) are refused: no bench.com answer is one.
    """
    _, algorithm, labels, _, expiration, inception, tag = fields
    return (algorithm == ECDSAP256SHA256 and tag == trust.tag and labels == owner_labels
            and signer == trust.signer and inception <= now <= expiration)


def signed_data(rrsig_fields: bytes, signer: bytes, owner: bytes, rdtype: int,
                original_ttl: int, rdatas: list[bytes]) -> bytes:
    """RFC 4034 section 3.1.8.1: the RRSIG's RDATA less the signature, then the RRset.

    ``owner`` and ``signer`` are canonical (uncompressed, lower case); the
    records are in canonical order (by RDATA) with the original TTL, class IN.
    """
    head = owner + struct.pack("!HHI", rdtype, dns.rdataclass.IN, original_ttl)
    return rrsig_fields + signer + b"".join(
        head + struct.pack("!H", len(rdata)) + rdata for rdata in sorted(rdatas))


def read_query(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(wire)


def upstream_query(query: dns.message.Message, ident: int) -> bytes:
    """The question to the zone's server: no RD, EDNS with DO, the given ID."""
    question = query.question[0]
    upstream = dns.message.make_query(question.name, question.rdtype, use_edns=0,
                                      payload=PAYLOAD, want_dnssec=True, id=ident)
    upstream.flags = 0
    return upstream.to_wire()


def read_reply(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(wire)


def answer_of(query: dns.message.Message, reply: dns.message.Message) -> Answer | None:
    """The answer RRset and its RRSIGs, when ``reply`` answers ``query``'s question."""
    question = query.question[0]
    if reply.rcode() != dns.rcode.NOERROR or reply.question != query.question:
        return None
    rrset = reply.get_rrset(reply.answer, question.name, question.rdclass, question.rdtype)
    signatures = reply.get_rrset(reply.answer, question.name, question.rdclass,
                                 dns.rdatatype.RRSIG, question.rdtype)
    if rrset is None or signatures is None:
        return None
    return rrset, signatures


def verify_with_dnspython(answer: Answer, trust: ZoneTrust, now: float) -> bool:
    """``dns.dnssec.validate``, as a dnspython program would verify."""
    rrset, signatures = answer
    try:
        dns.dnssec.validate(rrset, signatures, {trust.zone: trust.dnskey}, now=now)
    except dns.exception.ValidationFailure:
        return False
    return True


def verify_by_hand(answer: Answer, trust: ZoneTrust, now: float) -> bool:
    """The signed data built here from dnspython's objects, verified by cryptography."""
    rrset, signatures = answer
    owner = rrset.name.to_digestable()
    owner_labels = len(rrset.name) - 1
    rdatas = [rdata.to_digestable() for rdata in rrset]
    for rrsig in signatures:
        fields = (rrsig.type_covered, rrsig.algorithm, rrsig.labels, rrsig.original_ttl,
                  rrsig.expiration, rrsig.inception, rrsig.key_tag)
        signer = rrsig.signer.to_digestable()
        if not signature_usable(fields, owner_labels, trust, signer, now):
            continue
        data = signed_data(struct.pack("!HBBIIIH", *fields), signer, owner, rrset.rdtype,
                           rrsig.original_ttl, rdatas)
        if ecdsa_verifies(trust.public, data, rrsig.signature):
            return True
    return False


def render(query: dns.message.Message, answer: Answer | None, secure: bool) -> bytes:
    """The client's response: the answer (with its RRSIGs when DO), AD when secure.

    ``answer`` None (no answer, or, when validating, not secure) is SERVFAIL.
    AD is set only for a client that asked with DO or AD (RFC 6840 section 5.8).
    """
    response = dns.message.make_response(query, our_payload=PAYLOAD)
    response.flags |= dns.flags.RA
    dnssec_ok = bool(query.ednsflags & dns.flags.DO)
    if dnssec_ok:
        response.ednsflags |= dns.flags.DO  # copied from the query (RFC 3225 section 3)
    if answer is None:
        response.set_rcode(dns.rcode.SERVFAIL)
        return response.to_wire()
    rrset, signatures = answer
    response.answer.append(rrset)
    if dnssec_ok:
        response.answer.append(signatures)
    if secure and (dnssec_ok or query.flags & dns.flags.AD):
        response.flags |= dns.flags.AD
    return response.to_wire()
