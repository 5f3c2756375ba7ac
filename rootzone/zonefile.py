r"""Reading a whole zone file fast, straight into canonical wire form.

A local root copy (RFC 8806) is about 22,000 records that are hashed (ZONEMD),
verified (RRSIG) and then served. dnspython's zone reader builds a ``Name``
and an ``Rdata`` object for each of them and takes about 3 s for the root;
this reader turns each line directly into the bytes that DNSSEC and ZONEMD
hash: the owner as lowercase wire, type, class, TTL and the RDATA in canonical
form (RFC 4034 section 6.2; names in NSEC RDATA keep their case, RFC 6840
section 5.1).

The types of the root zone (SOA, NS, A, AAAA, DS, DNSKEY, RRSIG, NSEC and
ZONEMD) are encoded here, for the field shapes IANA and dnspython write. Any
other type, and any field these encoders do not take (a mnemonic algorithm,
``1h`` as a TTL, the RFC 3597 form ``\# len hex``), goes to dnspython's
``dns.rdata.from_text``, which encodes it exactly as dnspython would or says
what is wrong with it. So an encoder here only has to be right when it
succeeds, and the reader accepts exactly what dnspython accepts.

Syntax: one record per line with absolute names, as dumped by IANA or
dnspython; also ``$ORIGIN`` and ``$TTL``, comments, blank lines, an omitted
owner, TTL or class, parentheses spanning lines, and quoted strings.
"""

from __future__ import annotations

import binascii
import functools
import re
import socket
import struct
from collections.abc import Callable, Iterator
from typing import NamedTuple, TypeAlias

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.ttl
from dns.rdtypes.rrsigbase import sigtime_to_posixtime

from dnssec.errors import RecordFileError
from dnssec.signatures import RRSIG_FIXED

IN: int = dns.rdataclass.IN.value

#: Every mnemonic dnspython knows, as written in upper case (RRSIG, NSEC bitmaps).
_TYPE_CODES: dict[str, int] = {rdtype.name: rdtype.value for rdtype in dns.rdatatype.RdataType}
#: Those a zone may hold: not the query types (AXFR, ANY, OPT...).
_RECORD_TYPES = {
    mnemonic: code
    for mnemonic, code in _TYPE_CODES.items()
    if not dns.rdatatype.is_metatype(dns.rdatatype.RdataType(code))
}
#: DS digest lengths dnspython checks (RFC 3658, 4509, 5933, 6605).
_DS_DIGEST_LENGTHS = {1: 20, 2: 32, 3: 32, 4: 48}
#: ZONEMD digest lengths dnspython checks (RFC 8976 section 2.2.3).
_ZONEMD_DIGEST_LENGTHS = {1: 48, 2: 64}
_ZONEMD_MIN_DIGEST = 12

#: A line without these takes the fast path: ``str.split`` gives its tokens.
_SPECIAL = re.compile(r"[^\t !#-'*-:<-\[\]-~]")
#: The tokens of any other line (RFC 1035 section 5.1).
_LEXEME = re.compile(
    r"""(?P<space>[ \t]+)
      | (?P<comment>;.*)
      | (?P<open>\()
      | (?P<close>\))
      | (?P<quoted>"(?:[^"\\]|\\.)*")
      | (?P<word>(?:[^ \t;()"\\]|\\.)+)""",
    re.VERBOSE,
)

#: What the encoders raise for input they leave to dnspython.
_UNFIT = (ValueError, OSError, KeyError, dns.exception.DNSException)

_SOA_NUMBERS = struct.Struct("!5I")


class Record(NamedTuple):
    """One resource record in canonical wire form, and the line it starts on."""

    owner: bytes
    rdtype: int
    rdclass: int
    ttl: int
    rdata: bytes
    line: int


class ZoneFileError(RecordFileError):
    """A line of a zone file does not parse.

    The message names the source, the line and the offending token, which is
    also kept in ``token``.
    """

    def __init__(self, message: str, *, source: str, line: int | None, token: str) -> None:
        super().__init__(message, source=source, line=line)
        self.token = token


def parse_zone(text: str, *, source: str = "<zone>", origin: str | None = None) -> list[Record]:
    """Parse zone-file text into records, in file order.

    Args:
        text: the zone file's content.
        source: the file name, for error messages.
        origin: the initial ``$ORIGIN``; without one, relative names and
            ``@`` are errors until the file sets ``$ORIGIN``.

    Raises:
        ZoneFileError: a line does not parse.
    """
    return _Reader(source, origin).read(text)


class _Bad(Exception):
    """A line is wrong; the reader adds the source and line number."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.message = message
        self.token = token


class _Names:
    """Owner and RDATA names to wire form, cached per ``$ORIGIN``."""

    def __init__(self) -> None:
        self.origin: bytes | None = None
        #: The origin for dnspython, which reads the names and data left to it.
        self.origin_name: dns.name.Name | None = None
        self._canonical: dict[str, bytes] = {}

    def set_origin(self, text: str) -> None:
        """Make ``text`` the origin of relative names (itself relative to the current one)."""
        self.origin = self.exact(text)
        self.origin_name = dns.name.from_wire(self.origin, 0)[0]
        self._canonical.clear()

    def canonical(self, text: str) -> bytes:
        """The lowercase wire form, as owners and most RDATA names are hashed."""
        wire = self._canonical.get(text)
        if wire is None:
            wire = self.exact(text).lower()
            self._canonical[text] = wire
        return wire

    def exact(self, text: str) -> bytes:
        """The wire form, case kept.

        Plain ASCII names are converted here; escapes, ``@`` and
        internationalised names go to dnspython.
        """
        if text == ".":
            return b"\x00"
        if text[0] == '"':
            raise _Bad(f"a quoted string {text!r} where a name was expected", text)
        if not text.isascii() or "\\" in text or text == "@":
            name = self._dnspython(text)
            if not name.is_absolute():
                raise _Bad(f"relative name {text!r} and no $ORIGIN", text)
            wire = name.to_wire()
            assert wire is not None  # None only when writing to a file
            return wire
        absolute = text[-1] == "."
        parts = []
        for label in (text[:-1] if absolute else text).split("."):
            if not 0 < len(label) < 64:
                raise _Bad(f"name {text!r} has an empty label or one over 63 octets", text)
            parts.append(len(label).to_bytes(1) + label.encode())
        if absolute:
            parts.append(b"\x00")
        elif self.origin is None:
            raise _Bad(f"relative name {text!r} and no $ORIGIN", text)
        else:
            parts.append(self.origin)
        wire = b"".join(parts)
        if len(wire) > 255:
            raise _Bad(f"name {text!r} is longer than 255 octets", text)
        return wire

    def _dnspython(self, text: str) -> dns.name.Name:
        """dnspython's reading of a name with escapes, ``@`` or non-ASCII labels."""
        try:
            return dns.name.from_text(text, self.origin_name)
        except (dns.exception.DNSException, ValueError) as error:
            raise _Bad(f"bad name {text!r}: {error}", text) from error


Encoder: TypeAlias = Callable[[list[str], _Names], bytes]


class _Reader:
    """The state carried from line to line: origin, TTLs, the last owner."""

    def __init__(self, source: str, origin: str | None) -> None:
        self.source = source
        self.names = _Names()
        self.default_ttl: int | None = None
        self.default_from_soa = False
        self.last_ttl: int | None = None
        self.records: list[Record] = []
        if origin is not None:
            try:
                self.names.set_origin(origin)
            except _Bad as bad:
                raise ZoneFileError(
                    bad.message, source=source, line=None, token=bad.token
                ) from bad.__cause__
        #: The owner of a record whose line starts with a blank: the last one, at first the origin.
        self.owner: bytes | None = None if self.names.origin is None else self.names.origin.lower()

    def read(self, text: str) -> list[Record]:
        if "\r" in text:  # CR LF or a lone CR ends a line, as in dnspython
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = enumerate(text.split("\n"), start=1)
        special = _SPECIAL.search
        entry = self._entry
        for number, line in lines:
            try:
                fields = line.split() if special(line) is None else _continued(line, lines)
                if fields:
                    entry(fields, line[0] not in " \t", number)
            except _Bad as bad:
                raise ZoneFileError(
                    bad.message, source=self.source, line=number, token=bad.token
                ) from bad.__cause__
        return self.records

    def _entry(self, fields: list[str], owner_given: bool, number: int) -> None:
        """One record or directive; ``owner_given`` is False after leading blanks."""
        position = 0
        if owner_given:
            if fields[0][0] == "$":
                self._directive(fields)
                return
            self.owner = self.names.canonical(fields[0])
            position = 1
        elif self.owner is None:
            raise _Bad("a record without owner name, and no earlier owner", fields[0])
        owner = self.owner
        ttl: int | None = None
        classed = False
        while True:  # [TTL] [class] or [class] [TTL] (RFC 1035 section 5.1)
            if position >= len(fields):
                raise _Bad(f"no type after {fields[-1]!r}", fields[-1])
            token = fields[position]
            if ttl is None and (ttl := _ttl(token)) is not None:
                self.last_ttl = ttl
            elif not classed and _class(token) is not None:
                classed = True
            else:
                break
            position += 1
        rdtype = _RECORD_TYPES.get(token)
        if rdtype is None:
            rdtype = _type(token)
        rdata = self._rdata(rdtype, fields[position + 1 :])
        if ttl is None:
            ttl = self._implicit_ttl()
        if rdtype == dns.rdatatype.SOA and self.default_ttl is None:
            # As dnspython: with no $TTL before it, the SOA minimum becomes a default.
            self.default_ttl = int.from_bytes(rdata[-4:])
            self.default_from_soa = True
            if ttl is None:
                ttl = self._implicit_ttl()
        if ttl is None:
            raise _Bad("no TTL, and neither $TTL nor an earlier TTL to use", token)
        self.records.append(Record(owner, rdtype, IN, ttl, rdata, number))

    def _implicit_ttl(self) -> int | None:
        """The TTL of a record that states none (RFC 2308 section 4, as dnspython).

        ``$TTL`` wins; otherwise the last stated TTL (RFC 1035 section 5.1);
        otherwise a default taken from the SOA minimum.
        """
        if self.last_ttl is not None and (self.default_ttl is None or self.default_from_soa):
            return self.last_ttl
        return self.default_ttl

    def _rdata(self, rdtype: int, tokens: list[str]) -> bytes:
        encoder = _ENCODERS.get(rdtype)
        if encoder is not None and not (tokens and tokens[0] == "\\#"):
            try:
                return encoder(tokens, self.names)
            except _UNFIT:
                pass
        text = " ".join(tokens)
        origin = self.names.origin_name
        kind = dns.rdatatype.RdataType.make(rdtype)
        try:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, kind, text, origin=origin, relativize=False
            )
            return rdata.to_digestable(origin)
        except dns.exception.DNSException as error:
            mnemonic = dns.rdatatype.to_text(kind)
            raise _Bad(f"bad {mnemonic} data {text!r}: {error}", text) from error

    def _directive(self, fields: list[str]) -> None:
        directive = fields[0].upper()
        if directive in ("$ORIGIN", "$TTL"):
            if len(fields) != 2:
                raise _Bad(f"{directive} takes exactly one value", fields[0])
            if directive == "$ORIGIN":
                self.names.set_origin(fields[1])
            else:
                try:
                    self.default_ttl = dns.ttl.from_text(fields[1])
                    self.default_from_soa = False
                except dns.exception.DNSException as error:
                    raise _Bad(f"bad $TTL {fields[1]!r}: {error}", fields[1]) from error
        elif directive in ("$INCLUDE", "$GENERATE"):
            raise _Bad(f"{directive} is not supported: a zone is one whole file", fields[0])
        else:
            raise _Bad(f"unknown directive {fields[0]!r}", fields[0])


def _continued(line: str, lines: Iterator[tuple[int, str]]) -> list[str]:
    """The tokens of a line that needs the full lexer, joining ``( ... )`` lines."""
    tokens, depth = _lex(line, 0)
    while depth:
        following = next(lines, None)
        if following is None:
            raise _Bad("'(' is never closed", "(")
        more, depth = _lex(following[1], depth)
        tokens.extend(more)
    return tokens


def _lex(line: str, depth: int) -> tuple[list[str], int]:
    """Tokens of one line, quotes and escapes kept so that dnspython reads them alike."""
    tokens: list[str] = []
    position = 0
    while position < len(line):
        match = _LEXEME.match(line, position)
        if match is None:
            rest = line[position:]
            raise _Bad(f"unterminated quoted string or lone backslash at {rest!r}", rest)
        kind = match.lastgroup
        if kind == "open":
            depth += 1
        elif kind == "close":
            if depth == 0:
                raise _Bad("')' without '('", ")")
            depth -= 1
        elif kind in ("quoted", "word"):
            tokens.append(match.group())
        position = match.end()
    return tokens, depth


def _ttl(token: str) -> int | None:
    """The TTL ``token`` spells (``3600`` or BIND's ``1h``), or None if it is no TTL."""
    if token.isdigit() and token.isascii():
        value = int(token)
        if value > dns.ttl.MAX_TTL:
            raise _Bad(f"TTL {token} is over 2**32 - 1", token)
        return value
    if not token[0].isdigit():
        return None
    try:
        return dns.ttl.from_text(token)
    except dns.exception.DNSException:
        return None


@functools.lru_cache(maxsize=64)
def _class(token: str) -> int | None:
    """IN if ``token`` names it, None if it names no class.

    Raises:
        _Bad: another class: a zone is read as class IN.
    """
    try:
        rdclass = dns.rdataclass.from_text(token)
    except (dns.exception.DNSException, ValueError):
        return None
    if rdclass != IN:
        raise _Bad(f"class {token} is not supported: zones are read as class IN", token)
    return rdclass


@functools.lru_cache(maxsize=256)
def _type(token: str) -> int:
    """The type a mnemonic not spelled as in ``_TYPE_CODES`` names (``TYPE99``, ``txt``)."""
    try:
        rdtype = dns.rdatatype.from_text(token)
    except (dns.exception.DNSException, ValueError):
        raise _Bad(f"unknown type {token!r}", token) from None
    if dns.rdatatype.is_metatype(rdtype):
        raise _Bad(f"type {token} is a query type, not one a zone holds", token)
    return rdtype


def _uint(token: str, maximum: int) -> int:
    """A decimal number no larger than ``maximum`` (ValueError otherwise)."""
    if token.isdigit() and token.isascii():
        value = int(token)
        if value <= maximum:
            return value
    raise ValueError(token)


def _base64(tokens: list[str]) -> bytes:
    """A key or signature: one base64 token at least, as dnspython requires (a
    comment right after an RRSIG's signer name leaves none)."""
    if not tokens:
        raise ValueError("base64 data expected")
    return binascii.a2b_base64("".join(tokens), strict_mode=True)


@functools.lru_cache(maxsize=256)
def _sigtime(token: str) -> int:
    """An RRSIG time, ``YYYYMMDDHHmmSS`` or seconds; a zone has a handful of them."""
    value: int = sigtime_to_posixtime(token)  # type: ignore[no-untyped-call]
    if value > 0xFFFFFFFF:
        raise ValueError(token)
    return value


@functools.lru_cache(maxsize=256)
def _type_bitmap(mnemonics: tuple[str, ...]) -> bytes:
    """An NSEC type bitmap (RFC 4034 section 4.1.2); a zone has a few dozen distinct ones."""
    codes = sorted({_TYPE_CODES[mnemonic] for mnemonic in mnemonics})
    if codes and codes[0] == 0:
        raise ValueError("type 0 in a type bitmap")
    windows: dict[int, bytearray] = {}
    for code in codes:
        window, low = divmod(code, 256)
        bitmap = windows.setdefault(window, bytearray())
        if len(bitmap) <= low // 8:
            bitmap.extend(bytes(low // 8 + 1 - len(bitmap)))
        bitmap[low // 8] |= 0x80 >> (low % 8)
    return b"".join(bytes((window, len(bitmap))) + bitmap for window, bitmap in windows.items())


def _a(tokens: list[str], names: _Names) -> bytes:
    (address,) = tokens
    return socket.inet_pton(socket.AF_INET, address)


def _aaaa(tokens: list[str], names: _Names) -> bytes:
    (address,) = tokens
    return socket.inet_pton(socket.AF_INET6, address)


def _ns(tokens: list[str], names: _Names) -> bytes:
    (target,) = tokens
    return names.canonical(target)


def _soa(tokens: list[str], names: _Names) -> bytes:
    mname, rname, *numbers = tokens
    if len(numbers) != 5:
        raise ValueError("an SOA has five numbers")
    values = [_uint(number, 0xFFFFFFFF) for number in numbers]
    return names.canonical(mname) + names.canonical(rname) + _SOA_NUMBERS.pack(*values)


def _ds(tokens: list[str], names: _Names) -> bytes:
    key_tag, algorithm, digest_type, *digest = tokens
    kind = _uint(digest_type, 0xFF)
    value = binascii.unhexlify("".join(digest))
    if kind == 0 or _DS_DIGEST_LENGTHS.get(kind, len(value)) != len(value):
        raise ValueError("DS digest type 0 or digest of the wrong length")
    return struct.pack("!HBB", _uint(key_tag, 0xFFFF), _uint(algorithm, 0xFF), kind) + value


def _dnskey(tokens: list[str], names: _Names) -> bytes:
    flags, protocol, algorithm, *key = tokens
    fixed = struct.pack("!HBB", _uint(flags, 0xFFFF), _uint(protocol, 0xFF), _uint(algorithm, 0xFF))
    return fixed + _base64(key)


def _rrsig(tokens: list[str], names: _Names) -> bytes:
    covered, algorithm, labels, original_ttl, expiration, inception, key_tag, signer, *sig = tokens
    fixed = RRSIG_FIXED.pack(
        _TYPE_CODES[covered],
        _uint(algorithm, 0xFF),
        _uint(labels, 0xFF),
        _uint(original_ttl, dns.ttl.MAX_TTL),
        _sigtime(expiration),
        _sigtime(inception),
        _uint(key_tag, 0xFFFF),
    )
    return fixed + names.canonical(signer) + _base64(sig)


def _nsec(tokens: list[str], names: _Names) -> bytes:
    following, *mnemonics = tokens
    return names.exact(following) + _type_bitmap(tuple(mnemonics))


def _zonemd(tokens: list[str], names: _Names) -> bytes:
    serial, scheme, hash_algorithm, *digest = tokens
    fixed = struct.pack(
        "!IBB", _uint(serial, 0xFFFFFFFF), _uint(scheme, 0xFF), _uint(hash_algorithm, 0xFF)
    )
    value = binascii.unhexlify("".join(digest))
    expected = _ZONEMD_DIGEST_LENGTHS.get(fixed[5], len(value))
    if 0 in fixed[4:6] or len(value) < _ZONEMD_MIN_DIGEST or len(value) != expected:
        raise ValueError("reserved ZONEMD scheme or hash, or digest of the wrong length")
    return fixed + value


_ENCODERS: dict[int, Encoder] = {
    dns.rdatatype.A: _a,
    dns.rdatatype.AAAA: _aaaa,
    dns.rdatatype.NS: _ns,
    dns.rdatatype.SOA: _soa,
    dns.rdatatype.DS: _ds,
    dns.rdatatype.DNSKEY: _dnskey,
    dns.rdatatype.RRSIG: _rrsig,
    dns.rdatatype.NSEC: _nsec,
    dns.rdatatype.ZONEMD: _zonemd,
}
