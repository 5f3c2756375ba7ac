"""The floor program's steps without dnspython: the wire read and written by hand.

The variant of ``bench.floor`` that shows what the libraries cost: the same
work as ``bench.floor_steps`` (read the client's question, write the
upstream query, read the answer and its RRSIGs out of the reply, verify,
write the response) on bytes and ``struct`` alone. It reads only what an A
or AAAA answer needs: the reply's answer section, never its authority or
additional records, which a resolver would still have to scrub.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bench.floor_steps import PAYLOAD, ZoneTrust, ecdsa_verifies, signature_usable, signed_data

_HEADER = struct.Struct("!6H")
_RECORD = struct.Struct("!HHIH")
_RRSIG_FIELDS = struct.Struct("!HBBIIIH")
_QR, _OPCODE, _RD, _RA, _AD = 0x8000, 0x7800, 0x0100, 0x0080, 0x0020
_SERVFAIL = 2
_DO = 0x8000
_OPT, _RRSIG = 41, 46
_A, _AAAA = 1, 28
_POINTER = 0xC0
_MAX_NAME = 255
#: A pointer to the question's name, which always starts at offset 12.
_QUESTION_NAME = b"\xc0\x0c"


class WireError(ValueError):
    """A message the floor's hand-written reader does not take."""


@dataclass(frozen=True, slots=True)
class WireQuery:
    """A client's question as the floor needs it."""

    ident: int
    flags: int
    #: The question section as sent (name, type, class).
    question: bytes
    #: The name in canonical form (lower case): how answers are matched.
    owner: bytes
    owner_labels: int
    qtype: int
    edns: bool
    dnssec_ok: bool


@dataclass(frozen=True, slots=True)
class WireAnswer:
    """The answer RRset's TTL and RDATAs, and each RRSIG over it (fields, signer, signature)."""

    ttl: int
    rdatas: list[bytes]
    signatures: list[tuple[bytes, bytes, bytes]]


def _name(wire: bytes, offset: int) -> tuple[bytes, int, int]:
    """The name at ``offset`` in canonical form, its label count, and the offset after it."""
    labels: list[bytes] = []
    end = -1
    size = 1
    for _ in range(_MAX_NAME):
        length = wire[offset]
        if length >= _POINTER:
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            continue
        if length == 0:
            break
        label = wire[offset + 1:offset + 1 + length]
        size += length + 1
        if len(label) != length or length > 63 or size > _MAX_NAME:
            raise WireError("a bad label")
        labels.append(bytes([length]) + label.lower())
        offset += length + 1
    else:
        raise WireError("a name with a pointer loop")
    return b"".join(labels) + b"\x00", len(labels), end if end >= 0 else offset + 1


def read_query(wire: bytes) -> WireQuery:
    """A standard query with one A or AAAA question and at most an OPT record.

    Raises:
        WireError: anything else, or a truncated message.
    """
    try:
        ident, flags, questions, answers, authority, additional = _HEADER.unpack_from(wire)
        if flags & (_QR | _OPCODE) or questions != 1 or answers or authority or additional > 1:
            raise WireError("not a standard query with one question")
        owner, labels, offset = _name(wire, 12)
        if offset != 12 + len(owner):
            raise WireError("a compressed question")
        qtype, qclass = struct.unpack_from("!HH", wire, offset)
        question = wire[12:offset + 4]
        edns = dnssec_ok = False
        if additional:
            root, rdtype, _, _, _, ttl_flags, _ = struct.unpack_from("!BHHBBHH", wire, offset + 4)
            if root or rdtype != _OPT:
                raise WireError("an additional record that is not OPT")
            edns, dnssec_ok = True, bool(ttl_flags & _DO)
    except (struct.error, IndexError) as error:
        raise WireError("a truncated query") from error
    if qtype not in (_A, _AAAA) or qclass != 1:
        raise WireError("the floor answers A and AAAA in class IN only")
    return WireQuery(ident, flags, question, owner, labels, qtype, edns, dnssec_ok)


def upstream_query(query: WireQuery, ident: int) -> bytes:
    """The question to the zone's server: no RD, EDNS with DO, the given ID."""
    opt = b"\x00" + _RECORD.pack(_OPT, PAYLOAD, _DO, 0)
    return _HEADER.pack(ident, 0, 1, 0, 0, 1) + query.question + opt


def read_reply(wire: bytes, query: WireQuery) -> WireAnswer | None:
    """The answer to ``query``'s question in ``wire``: None for an error or no answer.

    Raises:
        WireError: a malformed or truncated reply.
    """
    try:
        _, flags, questions, answers, _, _ = _HEADER.unpack_from(wire)
        if not flags & _QR or flags & 0x000F or questions != 1:
            return None
        owner, _, offset = _name(wire, 12)
        if owner != query.owner or wire[offset:offset + 4] != query.question[-4:]:
            return None
        offset += 4
        ttl, rdatas, signatures = 0, [], []
        for _ in range(answers):
            name, _, offset = _name(wire, offset)
            rdtype, _, record_ttl, length = _RECORD.unpack_from(wire, offset)
            offset += _RECORD.size
            rdata = wire[offset:offset + length]
            offset += length
            if len(rdata) != length:
                raise WireError("a truncated record")
            if name != query.owner:
                continue
            if rdtype == query.qtype:
                ttl = record_ttl
                rdatas.append(rdata)
            elif rdtype == _RRSIG and rdata[:2] == query.question[-4:-2]:
                signer, _, end = _name(rdata, _RRSIG_FIELDS.size)
                signatures.append((rdata[:_RRSIG_FIELDS.size], signer, rdata[end:]))
    except (struct.error, IndexError) as error:
        raise WireError("a truncated reply") from error
    return WireAnswer(ttl, rdatas, signatures) if rdatas and signatures else None


def verify(answer: WireAnswer, query: WireQuery, trust: ZoneTrust, now: float) -> bool:
    """Whether one usable RRSIG over the answer verifies with the zone's key."""
    for fields, signer, signature in answer.signatures:
        unpacked = _RRSIG_FIELDS.unpack(fields)
        if not signature_usable(unpacked, query.owner_labels, trust, signer, now):
            continue
        data = signed_data(fields, signer, query.owner, query.qtype, unpacked[3], answer.rdatas)
        if ecdsa_verifies(trust.public, data, signature):
            return True
    return False


def render(query: WireQuery, answer: WireAnswer | None, secure: bool) -> bytes:
    """The client's response, as ``bench.floor_steps.render`` writes it (names compressed)."""
    flags = _QR | _RA | (query.flags & _RD)
    records = []
    if answer is None:
        flags |= _SERVFAIL
    else:
        records = [_QUESTION_NAME + _RECORD.pack(query.qtype, 1, answer.ttl, len(rdata)) + rdata
                   for rdata in answer.rdatas]
        if query.dnssec_ok:
            for fields, signer, signature in answer.signatures:
                body = fields + signer + signature
                records.append(_QUESTION_NAME + _RECORD.pack(_RRSIG, 1, answer.ttl, len(body))
                               + body)
        if secure and (query.dnssec_ok or query.flags & _AD):
            flags |= _AD
    opt = b"\x00" + _RECORD.pack(_OPT, PAYLOAD, _DO if query.dnssec_ok else 0, 0)
    header = _HEADER.pack(query.ident, flags, 1, len(records), 0, int(query.edns))
    return header + query.question + b"".join(records) + (opt if query.edns else b"")
