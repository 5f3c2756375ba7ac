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

Across replies the same records recur: every answer from a zone carries
the zone's NS set, its glue and their signatures, byte for byte the same.
A record whose content is known from its bytes alone (no compression
pointer dnspython would refuse, names read by the reader below) is parsed
once and the immutable ``Rdata`` reused, and an RRset whose records were
all seen together before takes a copy of that set's item dict, whose
entries keep their hashes: dnspython hashes a record by re-rendering its
canonical wire form, the largest cost left after parsing. The tables are
small and cleared when full (``resolver.recent``); a record or set missing from
them is parsed and hashed by dnspython exactly as before.

Pure: bytes in, a message out. (The upstream query itself is written by
``resolver.upstream_request``.)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import dns.wire

from dnssec.signatures import RRSIG_FIXED
from resolver.canonical_names import lowered
from resolver.recent import Recent

#: dnspython's limit on compression pointers followed for one name.
_MAX_POINTERS = dns.name.MAX_COMPRESSION_POINTER_CHAIN
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QUESTION = struct.Struct("!HH")
#: ``RRSIG(rdclass, rdtype, *fields, signer, signature)``; its untyped
#: constructor is typed here as dnspython's decorators hide its arguments.
_MAKE_RRSIG = cast(Callable[..., dns.rdata.Rdata], dns.rdtypes.ANY.RRSIG.RRSIG)
_IN = dns.rdataclass.IN
_OPT = dns.rdatatype.OPT
#: Types whose place in a message is special to dnspython (TSIG, SIG(0), TKEY).
_SPECIAL = frozenset({dns.rdatatype.TSIG, dns.rdatatype.SIG, dns.rdatatype.TKEY})
_SECTIONS = (
    dns.message.MessageSection.ANSWER,
    dns.message.MessageSection.AUTHORITY,
    dns.message.MessageSection.ADDITIONAL,
)

_RT = dns.rdatatype.RdataType
#: Types dnspython reads from their RDATA bytes alone: no names in them.
_NAME_FREE = frozenset({_RT.A, _RT.AAAA, _RT.DS, _RT.CDS, _RT.DNSKEY, _RT.CDNSKEY,
                        _RT.NSEC3, _RT.NSEC3PARAM, _RT.TXT})
#: Types whose one name dnspython reads with decompression refused (so
#: their bytes alone say what they hold), by where that name starts.
_PLAIN_NAME_AT: dict[int, int] = {_RT.RRSIG: 18, _RT.NSEC: 0, _RT.DNAME: 0}
#: Types whose RDATA is one name that may be compressed (``nsbase.NSBase``).
_ONE_NAME = frozenset({_RT.NS, _RT.CNAME, _RT.PTR})
#: Larger records are not kept: the tables' memory stays a few megabytes.
_MAX_KEPT_RDATA = 600
_MAX_KEPT_SET = 8

#: What a record's content is known by: its type and bytes, or names read.
_Content = tuple[object, ...]
#: Records parsed before, by content.
_RECORDS: Recent[_Content, dns.rdata.Rdata] = Recent(2048)
#: Item dicts of RRsets made before, by type, covered type and contents in order.
_SETS: Recent[tuple[object, ...], dict[dns.rdata.Rdata, None]] = Recent(512)
#: Names made before, by their labels (case kept).
_NAMES: Recent[tuple[bytes, ...], dns.name.Name] = Recent(2048)


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
        # Per RRset: the set, its records in order and their contents. Keyed
        # by the owner's lowercase labels: the same RRsets as dnspython's
        # (``Name`` equality ignores case), without hashing a ``Name`` per record.
        grouped: dict[
            tuple[tuple[bytes, ...], int, dns.rdatatype.RdataType],
            tuple[dns.rrset.RRset, list[dns.rdata.Rdata], list[_Content | None]],
        ] = {}
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
                # Its class is the payload size; its options are plain bytes.
                options = (rdtype, rdclass, wire[start:end]) if length <= _MAX_KEPT_RDATA else None
                rdata = self.record(parser, rdclass, rdtype, start, end, options)
                message.opt = dns.rrset.from_rdata(name, ttl, rdata)
                self.position = end
                continue
            if rdclass != _IN:
                raise _Unusual
            content = self.content(rdtype, start, end)
            rdata = self.record(parser, rdclass, rdtype, start, end, content)
            self.position = end
            covers = rdata.covers()
            key = (lowered(name), rdtype, covers)
            ttl = 0 if ttl > 0x7FFFFFFF else ttl
            group = grouped.get(key)
            if group is None:
                rrset = dns.rrset.RRset(name, _IN, rdata.rdtype, covers)
                rrset.ttl = ttl
                group = grouped[key] = (rrset, [], [])
            elif ttl < group[0].ttl:
                group[0].ttl = ttl
            group[1].append(rdata)
            group[2].append(content)
        section = message.sections[number]
        for (_, _, covered), (rrset, records, contents) in grouped.items():
            _fill(rrset, rrset.rdtype, covered, records, contents)
            section.append(rrset)
            message.index[(number, rrset.name, _IN, rrset.rdtype, covered, None)] = rrset

    def record(
        self,
        parser: dns.wire.Parser,
        rdclass: dns.rdataclass.RdataClass,
        rdtype: dns.rdatatype.RdataType,
        start: int,
        end: int,
        content: _Content | None,
    ) -> dns.rdata.Rdata:
        """The record at ``start:end``: the one read before with ``content``, or dnspython's."""
        known = None if content is None else _RECORDS.entries.get(content)
        if known is not None:
            return known
        if rdtype == _RT.RRSIG and content is not None:
            rdata = self.rrsig(start, end)
        else:
            parser.seek(start)
            with parser.restrict_to(end - start):
                rdata = dns.rdata.from_wire_parser(rdclass, rdtype, parser, None)
        if content is not None:
            _RECORDS.put(content, rdata)
        return rdata

    def rrsig(self, start: int, end: int) -> dns.rdata.Rdata:
        """The RRSIG at ``start:end``, its signer uncompressed (``content`` checked it).

        What ``rrsigbase.from_wire_parser`` makes, without its parser and
        with the signer read as the reader reads names: every answer brings
        an RRSIG never seen before.
        """
        wire = self.wire
        fields = RRSIG_FIXED.unpack_from(wire, start)
        saved = self.position
        self.position = start + RRSIG_FIXED.size
        signer = self.name(end)
        signature = wire[self.position : end]
        self.position = saved
        try:
            return _MAKE_RRSIG(_IN, _RT.RRSIG, *fields, signer, signature)
        except Exception as error:
            # dnspython wraps whatever a record's constructor raises into a
            # FormError; the message is then dnspython's to read or refuse.
            raise _Unusual from error

    def content(self, rdtype: int, start: int, end: int) -> _Content | None:
        """What the RDATA at ``start:end`` holds, if that alone decides how it reads.

        ``None`` for a type dnspython reads with the message around it (a
        compressed name in a type that refuses compression, which it
        rejects), for unlisted types and for large records.
        """
        if end - start > _MAX_KEPT_RDATA:
            return None
        wire = self.wire
        if rdtype in _NAME_FREE:
            return (rdtype, wire[start:end])
        offset = _PLAIN_NAME_AT.get(rdtype)
        if offset is not None:
            name_end = _plain_name_end(wire, start + offset, end)
            if name_end < 0 or (rdtype == _RT.DNAME and name_end != end):
                return None
            return (rdtype, wire[start:end])
        if rdtype in _ONE_NAME or rdtype == _RT.SOA:
            saved = self.position
            self.position = start
            names = [self.name(end).labels]
            if rdtype == _RT.SOA:
                names.append(self.name(end).labels)
            rest = wire[self.position:end]
            self.position = saved
            if len(rest) != (20 if rdtype == _RT.SOA else 0):
                raise _Unusual
            return (rdtype, *names, rest)
        return None

    def name(self, limit: int = -1) -> dns.name.Name:
        """The (possibly compressed) name at the current position; moves past it.

        ``limit``, if given, is where the record's RDATA ends: the name's
        first segment must lie before it, as dnspython's parser restricted
        to the RDATA requires.
        """
        wire = self.wire
        start = self.position
        if limit < 0:
            limit = len(wire)
        if wire[start] >= 192 and start + 1 < limit:
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
        made = tuple(labels)
        name = _NAMES.entries.get(made)
        if name is None:
            name = dns.name.Name(made)
            _NAMES.put(made, name)
        self.names[start] = (name, pointers)
        return name


def _plain_name_end(wire: bytes, position: int, end: int) -> int:
    """Where the uncompressed name at ``position`` ends, or -1 (a pointer, past ``end``)."""
    while position < end:
        length = wire[position]
        if length == 0:
            return position + 1
        if length >= 64:
            return -1
        position += 1 + length
    return -1


def _fill(
    rrset: dns.rrset.RRset,
    rdtype: dns.rdatatype.RdataType,
    covered: dns.rdatatype.RdataType,
    records: list[dns.rdata.Rdata],
    contents: list[_Content | None],
) -> None:
    """Put ``records`` into ``rrset`` as ``RRset.add`` would, reusing a set made before."""
    key = None
    if len(records) <= _MAX_KEPT_SET and None not in contents:
        key = (rdtype, covered, *contents)
        items = _SETS.entries.get(key)
        if items is not None:
            rrset.items = items.copy()
            return
    singleton = dns.rdatatype.is_singleton(rdtype)
    for rdata in records:
        if singleton:
            rrset.add(rdata)
        else:
            # ``Set.add`` without its membership test: one hash of the
            # record (its canonical wire form, which dnspython recomputes
            # on every hash) instead of two; a duplicate keeps the first.
            rrset.items.setdefault(rdata, None)
    if key is not None:
        _SETS.put(key, rrset.items.copy())

