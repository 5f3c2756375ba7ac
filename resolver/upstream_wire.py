"""Upstream messages in wire form, fast for the common case, as dnspython for the rest.

Profiling a cold validated resolution against NSD (``bench/cold_nsd.py``,
issue 19) showed ``dns.message.from_wire`` taking a third or more of the
resolver's CPU: a typical authoritative answer (the data, the zone's NS and
their glue, each with its RRSIG: ten records in 550 bytes) cost about half a
millisecond, mostly in building a ``Name`` per compression step, in
looking every record's RRset up by a fresh hash of its owner and in hashing
each record twice. Rendering each query with ``Message.to_wire`` cost a
tenth of that again.

``read_reply`` builds the very same ``dns.message.Message`` for the replies
a resolver normally gets: opcode QUERY, class IN, at most one OPT (in the
additional section, owned by the root), no TSIG/SIG(0), nothing after the
last record. Each distinct name is made once per message (names are
remembered by the offset they start at, which is what compression points
to: an owner that is a bare pointer to a name read before is that name)
and records are grouped into RRsets in a plain dict before the message is
filled. RDATA is still parsed by dnspython (``dns.rdata.from_wire_parser``);
RRsets get ``RRset.add``'s deduplication and TTL rule (the lowest) with one
hash of each record instead of two, and section order, the message's RRset
index and the TTL clamp (above 2^31-1 read as 0, RFC 2181 section 8)
follow ``_WireReader``. Anything outside that case, and any malformation at
all, is handed to ``dns.message.from_wire`` itself, so odd and broken
replies are accepted or refused exactly as before, with the same exceptions.

``render_query`` writes the bytes ``Message.to_wire`` writes for a query
of one absolute question and at most an option-less OPT (what the
transport sends); anything else is rendered by ``to_wire``.

Pure: bytes in, a message out, and back.
"""

from __future__ import annotations

import struct

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.wire

#: dnspython's limit on compression pointers followed for one name.
_MAX_POINTERS = dns.name.MAX_COMPRESSION_POINTER_CHAIN
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QUESTION = struct.Struct("!HH")
_IN = dns.rdataclass.IN
_OPT = dns.rdatatype.OPT
#: Types whose place in a message is special to dnspython (TSIG, SIG(0), TKEY).
_SPECIAL = frozenset({dns.rdatatype.TSIG, dns.rdatatype.SIG, dns.rdatatype.TKEY})
_SECTIONS = (
    dns.message.MessageSection.ANSWER,
    dns.message.MessageSection.AUTHORITY,
    dns.message.MessageSection.ADDITIONAL,
)


class _Unusual(Exception):
    """The fast reader does not handle this message: dnspython decides."""


#: Everything the fast path may stop on: short data, bad RDATA, a bad name.
FAST_PATH_STOPS = (_Unusual, dns.exception.DNSException, ValueError, IndexError, struct.error)


def read_reply(wire: bytes) -> dns.message.Message:
    """``dns.message.from_wire(wire)``, the same message, made faster for the common case.

    Raises:
        dns.exception.DNSException, ValueError: as ``dns.message.from_wire``.
    """
    try:
        return _Reader(wire).read()
    except FAST_PATH_STOPS:
        return dns.message.from_wire(wire)


class _Reader:
    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        self.position = 0
        #: Names read so far by where they start, with the pointers each followed.
        self.names: dict[int, tuple[dns.name.Name, int]] = {}

    def read(self) -> dns.message.Message:
        wire = self.wire
        if len(wire) < _HEADER.size:
            raise _Unusual
        ident, flags, questions, *counts = _HEADER.unpack_from(wire)
        if dns.opcode.from_flags(flags) != dns.opcode.QUERY:
            raise _Unusual
        message = dns.message.QueryMessage(id=ident)
        message.flags = dns.flags.Flag(flags)
        message.wire = wire
        message.request_mac = b""
        message.xfr = False
        message.origin = None
        message.tsig_ctx = None
        self.position = _HEADER.size
        for _ in range(questions):
            name = self.name()
            rdtype, rdclass = _QUESTION.unpack_from(wire, self.position)
            self.position += _QUESTION.size
            message.find_rrset(message.question, name, rdclass, rdtype,
                               create=True, force_unique=True)
        parser = dns.wire.Parser(wire)
        for section_number, count in zip(_SECTIONS, counts, strict=True):
            self.section(message, section_number, count, parser)
        if self.position != len(wire):
            raise _Unusual
        return message

    def section(
        self,
        message: dns.message.Message,
        number: dns.message.MessageSection,
        count: int,
        parser: dns.wire.Parser,
    ) -> None:
        """Read ``count`` records into section ``number``, RRsets in order of first sight."""
        wire = self.wire
        grouped: dict[tuple[dns.name.Name, int, dns.rdatatype.RdataType], dns.rrset.RRset] = {}
        for _ in range(count):
            name = self.name()
            rdtype, rdclass, ttl, length = _RR.unpack_from(wire, self.position)
            start = self.position + _RR.size
            end = start + length
            if end > len(wire) or rdtype in _SPECIAL:
                raise _Unusual
            if rdtype == _OPT:
                if (number != dns.message.MessageSection.ADDITIONAL or message.opt is not None
                        or name != dns.name.root):
                    raise _Unusual
                parser.seek(start)
                with parser.restrict_to(length):
                    rdata = dns.rdata.from_wire_parser(rdclass, rdtype, parser, None)
                message.opt = dns.rrset.from_rdata(name, ttl, rdata)
                self.position = end
                continue
            if rdclass != _IN:
                raise _Unusual
            parser.seek(start)
            with parser.restrict_to(length):
                rdata = dns.rdata.from_wire_parser(rdclass, rdtype, parser, None)
            self.position = end
            covers = rdata.covers()
            key = (name, rdtype, covers)
            ttl = 0 if ttl > 0x7FFFFFFF else ttl
            rrset = grouped.get(key)
            if rrset is None:
                rrset = grouped[key] = dns.rrset.RRset(name, _IN, rdata.rdtype, covers)
                rrset.ttl = ttl
            elif ttl < rrset.ttl:
                rrset.ttl = ttl
            if dns.rdatatype.is_singleton(rdtype):
                rrset.add(rdata)
            else:
                # ``Set.add`` without its membership test: one hash of the
                # record (its canonical wire form, which dnspython recomputes
                # on every hash) instead of two; a duplicate keeps the first.
                rrset.items.setdefault(rdata, None)
        section = message.sections[number]
        for (owner, _, covered), kept in grouped.items():
            section.append(kept)
            message.index[(number, owner, _IN, kept.rdtype, covered, None)] = kept

    def name(self) -> dns.name.Name:
        """The (possibly compressed) name at the current position; moves past it."""
        wire = self.wire
        start = self.position
        if wire[start] >= 192 and start + 1 < len(wire):
            # A bare pointer to a name read before (the usual owner of a
            # record): that name, one pointer further. Its first segment
            # lies before ``start``, as dnspython requires.
            known = self.names.get((wire[start] & 0x3F) << 8 | wire[start + 1])
            if known is not None and known[1] < _MAX_POINTERS:
                self.position = start + 2
                return known[0]
        labels: list[bytes] = []
        position = start
        # As dnspython's from_wire_parser: after a pointer, the name may not
        # reach the segment it left, so each pointer goes strictly back.
        segment = start
        limit = len(wire)
        pointers = 0
        end = -1
        while True:
            if position >= limit:
                raise _Unusual
            length = wire[position]
            if length == 0:
                break
            if length < 64:
                if position + 1 + length > limit:
                    raise _Unusual
                labels.append(wire[position + 1 : position + 1 + length])
                position += 1 + length
            elif length >= 192:
                if position + 1 >= limit:
                    raise _Unusual
                target = (length & 0x3F) << 8 | wire[position + 1]
                pointers += 1
                if pointers > _MAX_POINTERS:
                    raise _Unusual
                if end < 0:
                    end = position + 2
                limit = segment
                segment = position = target
            else:
                raise _Unusual
        labels.append(b"")
        self.position = position + 1 if end < 0 else end
        name = dns.name.Name(labels)
        self.names[start] = (name, pointers)
        return name


def render_query(request: dns.message.Message) -> bytes:
    """``request.to_wire()``, written directly for a plain query."""
    opt = request.opt
    if (
        len(request.question) != 1
        or request.answer or request.authority or request.additional
        or request.tsig is not None
        or (opt is not None and opt[0].options)
        or not request.question[0].name.is_absolute()
    ):
        return request.to_wire()
    (question,) = request.question
    parts = [
        _HEADER.pack(request.id, request.flags, 1, 0, 0, 0 if opt is None else 1),
        *(bytes((len(label),)) + label for label in question.name.labels),
        _QUESTION.pack(question.rdtype, question.rdclass),
    ]
    if opt is not None:
        parts.append(b"\x00" + _RR.pack(_OPT, opt.rdclass, opt.ttl, 0))
    return b"".join(parts)
