"""Ready-made responses: the cache-hit fast path, in wire form.

Why it exists: parsing a query and rendering its response with dnspython
costs a few hundred microseconds, which caps a Python resolver near 4,000
cached answers per second. Most queries a resolver sees repeat a recent
question, and their response differs from the last one only in the ID, the
RD bit, the case of the question name and the TTLs. So once the server has
rendered a response the slow way, it keeps it here as a template, and the
next identical question is answered by copying the template and patching
those fields, without building a single dnspython object (Unbound's message
cache plays the same role).

Place in the query flow: ``server.DnsServer`` asks ``AnswerCache.answer``
first, for every packet, before parsing anything else; a miss (``None``)
falls through to the full path (``messages.parse_query`` -> resolver ->
``messages.render_response``), whose response is then offered to
``AnswerCache.remember``.

What it guarantees:

* **Same bytes as the slow path.** A template is the slow path's own
  rendering; only the fields above change, and TTLs count down exactly as
  the RRset cache's do. Anything unusual in a query (a compressed question
  name, an EDNS version other than 0, EDNS options other than a cookie,
  trailing bytes, a response larger than the client's limit) is a miss, so
  every error and edge case stays with the slow path.
* **Never past its lifetime.** A template lives until its smallest TTL runs
  out, never longer than the RRset cache would keep the same data: the
  server clamps every response to the cache's ``max_ttl`` and
  ``max_negative_ttl`` (``clamp_ttls``) before it is sent or kept. Flushing
  the RRset cache (``cache_generation`` changes) drops every template.
* **Bounded.** At most ``max_entries`` templates and ``max_bytes`` of them
  (``template_bytes``); the oldest is dropped first (answers are rebuilt
  from the RRset cache on a miss, so a dropped template costs one slow
  answer, and first-in-first-out needs no bookkeeping on the hit path).

Each variant of a question that changes the response bytes (EDNS or not, DO,
CD, AD asked) has its own template. Pure: no I/O; time comes from a ``Clock``.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import dns.rdatatype

from resolver.cache import Lifetimes
from resolver.clock import Clock

_HEADER = struct.Struct("!HHHHHH")
_U16 = struct.Struct("!H")
_TTL = struct.Struct("!I")
_OPT_FIXED = struct.Struct("!BHHBBHH")  # root name, type, payload, ext-rcode, version, flags, rdlen

#: Header bits of a query that rule the fast path out: QR and the opcode.
_NOT_A_PLAIN_QUERY = 0xF800
_FLAG_TC = 0x0200
#: RD in the third octet of the header, and every one-octet bytes value.
_RD_BIT = 0x01
_BYTES = tuple(bytes((value,)) for value in range(256))
_FLAG_AD = 0x0020
_FLAG_CD = 0x0010
_EDNS_DO = 0x8000
_TYPE_OPT = 41
_TYPE_SOA = 6
_CLASS_IN = 1
_OPTION_COOKIE = 10
#: Client cookie alone, or client cookie plus an 8 to 32 byte server cookie (RFC 7873 4).
_COOKIE_LENGTHS = frozenset({8, *range(16, 41)})
_MIN_UDP_SIZE = 512
_RCODE_TEXT = {0: "NOERROR", 3: "NXDOMAIN"}
_OPTION_EDE = 15
#: QTYPE mnemonics for counting; any other QTYPE counts as ``OTHER_QTYPE``, so
#: clients cannot make up label values (there are 65536 QTYPEs).
_QTYPE_LABELS = {int(rdtype): rdtype.name for rdtype in dns.rdatatype.RdataType}
OTHER_QTYPE = "other"


class ParsedQuery(NamedTuple):
    """What the fast path reads from a query packet: its template key and limits.

    A named tuple, not a dataclass: it is built for every packet, and a tuple
    is the cheapest object to build.
    """

    key: bytes
    #: End of the question name in the packet (it starts at offset 12).
    name_end: int
    #: Largest UDP response the client takes, already capped at ours.
    udp_limit: int


@dataclass(slots=True)
class _Template:
    """A response as rendered, and the same bytes with TTLs aged by whole seconds.

    ``aged`` is recomputed once per second of age, not per answer: patching
    the TTLs is the costly part, and every answer within the same second
    shares it.
    """

    wire: bytes
    ttl_offsets: tuple[int, ...]
    ttls: tuple[int, ...]
    born: float
    expires: float
    rcode_text: str
    qtype_text: str
    aged: bytes = b""
    aged_for: int = -1


@dataclass(slots=True)
class AnswerStats:
    """Counters, for ``holdfast ctl status``."""

    hits: int = 0
    misses: int = 0
    stored: int = 0
    #: Templates kept now (filled in by ``statistics``).
    entries: int = 0


class AnswerCache:
    """Templates of recent responses, answered by patching.

    Args:
        clock: time source shared with the RRset cache.
        udp_payload: the largest UDP response we ever send (our EDNS size).
        max_entries: how many templates to keep.
        max_bytes: how much memory the templates may take (``template_bytes``).
        cache_generation: returns a number that changes whenever the RRset
            cache is flushed; templates older than the change are dropped.
        lifetime_share: the share of its smallest TTL a template lives
            (below 1 when the slow path must see the question again before
            the data expires, to prefetch it).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        udp_payload: int,
        max_entries: int = 100_000,
        max_bytes: int = 1 << 62,
        cache_generation: Callable[[], int] = lambda: 0,
        lifetime_share: float = 1.0,
    ) -> None:
        self._clock = clock
        self._udp_payload = udp_payload
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        #: ``template_bytes`` summed over the templates kept.
        self.accounted_bytes = 0
        self._generation = cache_generation
        #: A reload switching prefetch changes it, for templates made from then on.
        self.lifetime_share = lifetime_share
        self._seen_generation = cache_generation()
        self._templates: dict[bytes, _Template] = {}
        #: ``parse_query`` results by query bytes after the ID: clients repeat
        #: byte-identical queries, and a dict lookup is far cheaper than
        #: walking the name. Only parsable queries are kept; cleared when full.
        self._parsed: dict[bytes, ParsedQuery] = {}
        self.stats = AnswerStats()

    def answer(self, wire: bytes, *, tcp: bool) -> tuple[bytes, str, str] | None:
        """The response to ``wire``, its rcode mnemonic and ``qtype_label``, or None.

        None: take the slow path. The two labels come ready-made with the
        template, so the server counts the answer without reading it.
        """
        parsed = self._parsed.get(wire[2:])
        if parsed is None:
            parsed = parse_query(wire, self._udp_payload)
            if parsed is None:
                return None
            if len(self._parsed) >= self._max_entries:
                self._parsed.clear()
            self._parsed[wire[2:]] = parsed
        key, name_end, udp_limit = parsed
        generation = self._generation()
        if generation != self._seen_generation:
            self._templates.clear()
            self.accounted_bytes = 0
            self._seen_generation = generation
        template = self._templates.get(key)
        if template is None:
            self.stats.misses += 1
            return None
        now = self._clock.wall()
        if now >= template.expires:
            self._drop(key)
            self.stats.misses += 1
            return None
        if not tcp and len(template.wire) > udp_limit:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return _patch(template, wire, name_end, now), template.rcode_text, template.qtype_text

    def remember(self, wire: bytes, response: bytes) -> None:
        """Keep ``response`` (the slow path's answer to ``wire``) as a template.

        Only whole (TC=0) NOERROR and NXDOMAIN responses with at least one
        record and every TTL above zero are kept; the caller passes only
        responses without Extended DNS Errors (those explain a failure or a
        stale answer, which must not be repeated from here).
        """
        parsed = parse_query(wire, self._udp_payload)
        if parsed is None:
            return
        flags = _U16.unpack_from(response, 2)[0]
        rcode_text = _RCODE_TEXT.get(flags & 0xF)
        if rcode_text is None or flags & _FLAG_TC:
            return
        offsets = ttl_offsets(response)
        if not offsets:
            return
        ttls = tuple(_TTL.unpack_from(response, offset)[0] for offset in offsets)
        lifetime = min(ttls)
        if lifetime <= 0:
            return
        if parsed.key in self._templates:
            self._drop(parsed.key)
        size = template_bytes(parsed.key, response, len(offsets))
        while self._templates and (
            len(self._templates) >= self._max_entries
            or self.accounted_bytes + size > self._max_bytes
        ):
            self._drop(next(iter(self._templates)))
        now = self._clock.wall()
        qtype = _U16.unpack_from(parsed.key, len(parsed.key) - 3)[0]
        self._templates[parsed.key] = _Template(
            response,
            offsets,
            ttls,
            now,
            now + lifetime * self.lifetime_share,
            rcode_text,
            qtype_label(qtype),
        )
        self.accounted_bytes += size
        self.stats.stored += 1

    def clear(self) -> None:
        """Forget every template: what some of them answer changed (local zones, ``reload``)."""
        self._templates.clear()
        self.accounted_bytes = 0

    def _drop(self, key: bytes) -> None:
        """Forget the template under ``key``, and its bytes."""
        template = self._templates.pop(key)
        self.accounted_bytes -= template_bytes(key, template.wire, len(template.ttls))

    def statistics(self) -> AnswerStats:
        """A snapshot of the counters."""
        return dataclasses.replace(self.stats, entries=len(self._templates))


#: Bytes a template costs beyond its key and two copies of the response (as
#: rendered, and aged): the dict slot, the ``_Template``, its tuples of
#: offsets and TTLs (``TEMPLATE_PER_RECORD`` each record), and the query's
#: memo in ``_parsed``. Measured with tracemalloc over 20,000 one-record
#: templates, each answered once: 659 bytes each, of which 450 overhead.
TEMPLATE_OVERHEAD = 450
TEMPLATE_PER_RECORD = 72


def template_bytes(key: bytes, response: bytes, records: int) -> int:
    """The memory a template is accounted for (``[cache] max_bytes``): an estimate."""
    return len(key) + 2 * len(response) + TEMPLATE_OVERHEAD + TEMPLATE_PER_RECORD * records


def _patch(template: _Template, wire: bytes, name_end: int, now: float) -> bytes:
    """The template with the query's ID, RD bit and name case, and TTLs counted down."""
    elapsed = int(now - template.born)
    if elapsed != template.aged_for:
        aged = bytearray(template.wire)
        for offset, ttl in zip(template.ttl_offsets, template.ttls, strict=True):
            _TTL.pack_into(aged, offset, ttl - elapsed)
        template.aged = bytes(aged)
        template.aged_for = elapsed
    aged_wire = template.aged
    flags = _BYTES[(aged_wire[2] & ~_RD_BIT) | (wire[2] & _RD_BIT)]
    return wire[:2] + flags + aged_wire[3:12] + wire[12:name_end] + aged_wire[name_end:]


def parse_query(wire: bytes, our_payload: int) -> ParsedQuery | None:
    """Read a plain query's question and EDNS, or None if it is anything else.

    The key is the lowercase question name in wire form, the QTYPE, and one
    byte of the bits that change the response: EDNS present, DO, CD and AD.
    """
    size = len(wire)
    if size < 17:
        return None
    _, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if flags & _NOT_A_PLAIN_QUERY or qdcount != 1 or ancount or nscount or arcount > 1:
        return None
    pos = 12
    while True:
        length = wire[pos]
        if length == 0:
            break
        if length & 0xC0:
            return None
        pos += length + 1
        if pos >= size:
            return None
    name_end = pos + 1
    end = name_end + 4
    if end > size or wire[end - 2] != 0 or wire[end - 1] != _CLASS_IN:
        return None
    variant = (flags & (_FLAG_CD | _FLAG_AD)) >> 2
    udp_limit = _MIN_UDP_SIZE
    if arcount:
        if end + _OPT_FIXED.size > size:
            return None
        root, rdtype, payload, _, version, edns_flags, rdlen = _OPT_FIXED.unpack_from(wire, end)
        if root or rdtype != _TYPE_OPT or version or end + _OPT_FIXED.size + rdlen != size:
            return None
        if rdlen and not _only_cookie(wire, end + _OPT_FIXED.size, size):
            return None
        variant |= 1 | (2 if edns_flags & _EDNS_DO else 0)
        udp_limit = max(_MIN_UDP_SIZE, min(payload, our_payload))
    elif end != size:
        return None
    key = wire[12:name_end].lower() + wire[name_end : name_end + 2] + bytes((variant,))
    return ParsedQuery(key, name_end, udp_limit)


def _only_cookie(wire: bytes, start: int, end: int) -> bool:
    """Whether the EDNS options are exactly one well-formed COOKIE (what dig sends)."""
    if end - start < 4:
        return False
    code, length = struct.unpack_from("!HH", wire, start)
    return code == _OPTION_COOKIE and length in _COOKIE_LENGTHS and start + 4 + length == end


def ttl_offsets(response: bytes) -> tuple[int, ...]:
    """Offsets of the TTL field of every record in a response, OPT excepted.

    The response is one we rendered, so it is well formed; names are skipped
    label by label or at their first compression pointer.
    """
    return tuple(offset for _, _, offset in _records(response))


def clamp_ttls(response: bytes, lifetimes: Lifetimes) -> bytes:
    """``response`` with no TTL above what the RRset cache would keep the data for.

    Every path renders into this (fresh replies, cached and stale data), and
    the template a response becomes lives no longer than its smallest TTL:
    so a TTL of 2^31-1 from upstream can no longer make a template, or a
    client, keep data for 68 years when ``max_ttl`` says a day. Unbound caps
    the TTLs it hands out the same way (cache-max-ttl, cache-max-negative-ttl
    in util/data/msgreply.c). The authority section of a negative answer (one
    with an SOA there: NXDOMAIN, NODATA, NODATA after a CNAME) is negative
    data and gets ``max_negative_ttl``; every other record gets ``max_ttl``.
    ``min_ttl`` is not applied: raising a TTL is the cache's business, and a
    TTL of 0 must stay 0.
    """
    records = _records(response)
    negative = any(section == 1 and rdtype == _TYPE_SOA for section, rdtype, _ in records)
    clamped: bytearray | None = None
    for section, _, offset in records:
        ceiling = (
            lifetimes.max_negative_ttl if negative and section == 1 else lifetimes.max_ttl
        )
        if _TTL.unpack_from(response, offset)[0] > ceiling:
            clamped = bytearray(response) if clamped is None else clamped
            _TTL.pack_into(clamped, offset, ceiling)
    return response if clamped is None else bytes(clamped)


def _records(response: bytes) -> list[tuple[int, int, int]]:
    """Each record's section (0 answer, 1 authority, 2 additional), type and TTL offset.

    OPT is left out: its "TTL" holds the extended rcode and flags.
    """
    _, _, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(response)
    pos = 12
    for _ in range(qdcount):
        pos = _skip_name(response, pos) + 4
    records = []
    for index in range(ancount + nscount + arcount):
        pos = _skip_name(response, pos)
        rdtype = _U16.unpack_from(response, pos)[0]
        if rdtype != _TYPE_OPT:
            section = 0 if index < ancount else 1 if index < ancount + nscount else 2
            records.append((section, rdtype, pos + 4))
        pos += 10 + _U16.unpack_from(response, pos + 8)[0]
    return records


def _skip_name(wire: bytes, pos: int) -> int:
    while True:
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0:
            return pos + 2
        pos += length + 1


def qtype_label(qtype: int) -> str:
    """The QTYPE's mnemonic for counting, or ``OTHER_QTYPE`` for one without a name."""
    return _QTYPE_LABELS.get(qtype, OTHER_QTYPE)


def question_type(wire: bytes) -> int | None:
    """The QTYPE of a query packet's question, or None if there is no readable one.

    For counting the queries the full path answers, malformed ones included.
    """
    if len(wire) < 12 or _HEADER.unpack_from(wire)[2] < 1:
        return None
    try:
        return int(_U16.unpack_from(wire, _skip_name(wire, 12))[0])
    except (IndexError, struct.error):
        return None


def extended_errors(response: bytes) -> tuple[int, ...]:
    """The INFO-CODE of every Extended DNS Error (RFC 8914) in a response we rendered.

    Read from the wire so that every path that renders a response is
    counted the same way. Only for counting: a packet cut short gives the
    codes read so far, never an exception.
    """
    codes: list[int] = []
    try:
        _, _, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(response)
        if not arcount:
            return ()
        pos = 12
        for _ in range(qdcount):
            pos = _skip_name(response, pos) + 4
        for index in range(ancount + nscount + arcount):
            pos = _skip_name(response, pos)
            rdtype = _U16.unpack_from(response, pos)[0]
            start, pos = pos + 10, pos + 10 + _U16.unpack_from(response, pos + 8)[0]
            if rdtype == _TYPE_OPT and index >= ancount + nscount:
                while start + 4 <= pos:
                    code, length = struct.unpack_from("!HH", response, start)
                    if code == _OPTION_EDE and length >= 2:
                        codes.append(_U16.unpack_from(response, start + 4)[0])
                    start += 4 + length
    except (IndexError, struct.error):
        pass
    return tuple(codes)
