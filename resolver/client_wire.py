"""Client messages in wire form, fast for the common case, as dnspython for the rest.

Profiling a cold validated resolution against NSD (``bench/cold_nsd.py``,
issue 19) showed the client's side of each answer costing about 7% of the
resolver's CPU: ``dns.message.from_wire`` on the client's query (30-50
us for one question and an OPT record) and ``Message.to_wire`` on the
response (40-70 us for one A record), mostly in building a ``Message``, its
OPT ``RRset`` and flag enums, and in the ``Renderer``'s size bookkeeping.

``read_query`` reads what nearly every client sends (one uncompressed
question and at most an option-less OPT record, nothing else) into the
values ``messages.parse_query`` takes from dnspython's message; for
anything else it returns None and ``parse_query`` hands the packet to
dnspython, so odd and broken queries are accepted or refused exactly as
before. ``render_response`` writes the bytes ``Message.to_wire`` writes
for a response of one question, answer and authority RRsets, and at most an
OPT record: names are compressed as dnspython compresses them (against
every suffix written before, ignoring ASCII case, the table keyed by wire
bytes instead of ``Name`` objects), records go in the same random order,
and RDATA without compressible names is still written by dnspython. A
response over ``max_size``, or with a record of another type, is left to
dnspython. ``resolver.upstream_wire`` does the same
for upstream queries and replies.

Pure: bytes in, values out, and back.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from typing import NamedTuple

import dns.edns
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.SOA
import dns.rdtypes.nsbase
import dns.rrset

_HEADER = struct.Struct("!HHHHHH")
_QUESTION = struct.Struct("!HH")
#: An OPT record after its root owner: TYPE, CLASS (the UDP payload), TTL
#: (extended rcode, version, flags), RDLENGTH.
_OPT = struct.Struct("!HHIH")
_OPT_TYPE = dns.rdatatype.OPT
_OPTION = struct.Struct("!HH")
#: A record after its owner, up to RDLENGTH: TYPE, CLASS, TTL.
_RR = struct.Struct("!HHI")
_LENGTH = struct.Struct("!H")
_POINTER = struct.Struct("!H")
#: Highest offset a compression pointer reaches (RFC 1035 4.1.4: 14 bits).
_MAX_POINTER = 0x3FFF
#: Types whose RDATA dnspython never compresses against the message's
#: table: their names (RRSIG's signer, NSEC's next name) go out in full, as
#: RFC 3597 section 4 and RFC 4034 require; the rest may point into it.
_UNCOMPRESSED = frozenset(
    {
        dns.rdatatype.A,
        dns.rdatatype.AAAA,
        dns.rdatatype.TXT,
        dns.rdatatype.HINFO,
        dns.rdatatype.RRSIG,
        dns.rdatatype.NSEC,
        dns.rdatatype.NSEC3,
        dns.rdatatype.NSEC3PARAM,
        dns.rdatatype.DS,
        dns.rdatatype.DNSKEY,
        dns.rdatatype.TLSA,
        dns.rdatatype.SSHFP,
        dns.rdatatype.CAA,
        dns.rdatatype.DNAME,
        dns.rdatatype.SRV,
    }
)
#: Types whose RDATA names dnspython compresses against the message's table
#: (RFC 1035 4.1.4 allows it for the types RFC 1035 defines).
_COMPRESSED = frozenset(
    {dns.rdatatype.NS, dns.rdatatype.CNAME, dns.rdatatype.PTR, dns.rdatatype.MX,
     dns.rdatatype.SOA}
)
_SOA_TIMERS = struct.Struct("!IIIII")
#: The enum members dnspython's ``make`` returns for known values, without its
#: checks (the unknown ones it makes up are left to it).
_TYPES = {int(member): member for member in dns.rdatatype.RdataType}
_CLASSES = {int(member): member for member in dns.rdataclass.RdataClass}
#: Longest name in wire form (RFC 1035 3.1); dnspython refuses longer ones.
_MAX_NAME = 255
#: ``Message.to_wire``'s bounds on ``max_size``.
_MIN_SIZE = 512
_MAX_SIZE = 65535


class _RelativeName(Exception):
    """A relative name, which dnspython refuses to write without an origin: it says so."""


class ReadQuery(NamedTuple):
    """What ``parse_query`` needs of a query's question and OPT record.

    ``opt_ttl`` is the OPT record's TTL field (extended rcode, EDNS version,
    flags; dnspython's ``Message.ednsflags``), None without one; ``payload``
    is its CLASS (the client's UDP size), 0 without one; ``tsig`` the
    query's TSIG record, which only dnspython's reading finds.
    """

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    rdclass: dns.rdataclass.RdataClass
    opt_ttl: int | None
    payload: int
    tsig: dns.rrset.RRset | None = None


def read_query(wire: bytes) -> ReadQuery | None:
    """The question and OPT record of a plain query, or None for dnspython to read it.

    Plain: QDCOUNT 1, ANCOUNT and NSCOUNT 0, ARCOUNT 0 or 1 and then an OPT
    record owned by the root without options; the question name
    uncompressed; nothing after the last record. The caller has checked the
    header (at least 12 octets, QR clear, opcode QUERY).
    """
    _, _, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if qdcount != 1 or ancount or nscount or arcount > 1:
        return None
    labels: list[bytes] = []
    position = 12
    length = wire[position] if position < len(wire) else -1
    while length > 0:
        if length > 63 or position + 1 + length > len(wire):
            return None
        labels.append(wire[position + 1 : position + 1 + length])
        position += 1 + length
        length = wire[position] if position < len(wire) else -1
    if length < 0 or position + 1 - 12 > _MAX_NAME:
        return None
    labels.append(b"")
    position += 1
    if position + _QUESTION.size > len(wire):
        return None
    rdtype, rdclass = _QUESTION.unpack_from(wire, position)
    position += _QUESTION.size
    opt_ttl: int | None = None
    payload = 0
    if arcount:
        if wire[position : position + 1] != b"\x00" or position + 1 + _OPT.size > len(wire):
            return None
        kind, payload, opt_ttl, rdlength = _OPT.unpack_from(wire, position + 1)
        if kind != _OPT_TYPE or rdlength:
            return None
        position += 1 + _OPT.size
    if position != len(wire):
        return None
    known_type = _TYPES.get(rdtype)
    known_class = _CLASSES.get(rdclass)
    return ReadQuery(
        dns.name.Name(labels),
        dns.rdatatype.RdataType.make(rdtype) if known_type is None else known_type,
        dns.rdataclass.RdataClass.make(rdclass) if known_class is None else known_class,
        opt_ttl,
        payload,
    )


def render_response(
    header: tuple[int, int],
    question: tuple[dns.name.Name, int, int],
    answer: Sequence[dns.rrset.RRset],
    authority: Sequence[dns.rrset.RRset],
    opt: tuple[int, int, list[dns.edns.Option]] | None,
    *,
    max_size: int,
) -> bytes | None:
    """``Message.to_wire(max_size=max_size)`` of a response, or None for dnspython to write it.

    ``header`` is the ID and the flags (rcode included); ``opt`` the OPT
    record's payload, TTL and options, None for none. None when the
    response is too big (dnspython truncates it), has a record of a type
    not known here (``_UNCOMPRESSED``, ``_COMPRESSED``) or a relative name.
    """
    if not all(
        rrset.rdtype in _UNCOMPRESSED or rrset.rdtype in _COMPRESSED
        for rrsets in (answer, authority)
        for rrset in rrsets
    ):
        return None
    name, rdtype, rdclass = question
    out = bytearray(_HEADER.size)
    table: dict[bytes, int] = {}
    try:
        _write_name(out, table, name)
        out += _QUESTION.pack(rdtype, rdclass)
        answers = sum(_write_rrset(out, table, rrset) for rrset in answer)
        authorities = sum(_write_rrset(out, table, rrset) for rrset in authority)
    except _RelativeName:
        return None
    if opt is not None:
        payload, ttl, options = opt
        data = b"".join(_option(option) for option in options)
        out += b"\x00" + _OPT.pack(_OPT_TYPE, payload, ttl, len(data)) + data
    if len(out) > min(max(max_size, _MIN_SIZE), _MAX_SIZE):
        return None
    identity, flags = header
    _HEADER.pack_into(out, 0, identity, flags, 1, answers, authorities, opt is not None)
    return bytes(out)


def _write_rrset(out: bytearray, table: dict[bytes, int], rrset: dns.rrset.RRset) -> int:
    """``rrset.to_wire(out, compress)``: the records written.

    The records go in a random order, drawn as ``Rdataset.to_wire`` draws it
    (one ``random.shuffle`` of the list), and the owner is written per record
    (the second and later ones are a pointer to the first).
    """
    if not rrset:
        _write_name(out, table, rrset.name)
        out += _RR.pack(rrset.rdtype, rrset.rdclass, 0) + b"\x00\x00"
        return 1
    records = list(rrset)
    random.shuffle(records)
    fixed = _RR.pack(rrset.rdtype, rrset.rdclass, rrset.ttl)
    compressed = rrset.rdtype in _COMPRESSED
    for record in records:
        _write_name(out, table, rrset.name)
        out += fixed
        if compressed:
            start = len(out)
            out += b"\x00\x00"
            _write_compressed(out, table, record)
            _LENGTH.pack_into(out, start, len(out) - start - _LENGTH.size)
        else:
            data = record.to_wire()
            assert data is not None  # to_wire without a file returns the bytes
            out += _LENGTH.pack(len(data)) + data
    return len(records)


def _write_compressed(out: bytearray, table: dict[bytes, int], record: dns.rdata.Rdata) -> None:
    """The RDATA of an NS, CNAME, PTR, MX or SOA record, its names compressed as dnspython does."""
    if isinstance(record, dns.rdtypes.ANY.SOA.SOA):
        _write_name(out, table, record.mname)
        _write_name(out, table, record.rname)
        out += _SOA_TIMERS.pack(
            record.serial, record.refresh, record.retry, record.expire, record.minimum
        )
    elif isinstance(record, dns.rdtypes.ANY.MX.MX):
        out += _LENGTH.pack(record.preference)
        _write_name(out, table, record.exchange)
    else:
        assert isinstance(record, dns.rdtypes.nsbase.NSBase)  # NS, CNAME, PTR
        _write_name(out, table, record.target)


def _write_name(out: bytearray, table: dict[bytes, int], name: dns.name.Name) -> None:
    """``name.to_wire(out, compress)``, ``table`` keyed by wire suffix.

    As dnspython: the longest suffix written before (compared ignoring ASCII
    case) becomes a pointer; each suffix written out, the root aside, is
    remembered at its offset while offsets fit a pointer's 14 bits.
    """
    labels = name.labels
    if not name.is_absolute():
        raise _RelativeName
    key = b"".join(bytes((len(label),)) + label.lower() for label in labels)
    start = 0
    for index, label in enumerate(labels):
        suffix = key[start:]
        pointer = table.get(suffix)
        if pointer is not None:
            out += _POINTER.pack(0xC000 + pointer)
            return
        if index < len(labels) - 1 and len(out) <= _MAX_POINTER:
            table[suffix] = len(out)
        out.append(len(label))
        out += label
        start += 1 + len(label)


def _option(option: dns.edns.Option) -> bytes:
    """An EDNS option as the OPT record's RDATA carries it: code, length, value."""
    value = option.to_wire()
    assert value is not None  # to_wire without a file returns the bytes
    return _OPTION.pack(option.otype, len(value)) + value
