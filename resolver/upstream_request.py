"""One upstream query in wire form: its random ID, its name's random case, its bytes.

The transport sends each query once per leg and matches replies against
it by ID, name (as sent, case included) and type. Profiling a cold
validated resolution against NSD (``bench/cold_nsd.py``, issue 19) showed
building it through dnspython (``make_query``, a ``Name`` per 0x20 draw,
``to_wire``) and reading each reply's question back with
``dns.message.from_wire`` costing about 7% of the resolver's CPU, the case
put back afterwards included. A query is one header, one question and at
most an option-less OPT record, so it is written here directly, as
``Message.to_wire`` writes it (``tests/resolver/test_upstream_request.py``
compares the bytes), and the reply's question is compared with the bytes
sent.

Pure: the caller draws the random ID; the case bits come from ``secrets``.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

import dns.flags
import dns.name
import dns.rdataclass
import dns.rdatatype

_HEADER = struct.Struct("!HHHHHH")
_QUESTION = struct.Struct("!HH")
#: The OPT record after its root owner: TYPE, CLASS (our UDP payload), TTL
#: (extended rcode 0, version 0, the DO bit), RDLENGTH 0.
_OPT = struct.Struct("!HHIH")
#: Offset of the question name in a DNS message: right after the header.
QUESTION_OFFSET = 12
#: For each octet, 0x20 where it is an ASCII letter (whose case 0x20 flips;
#: RFC 4343: DNS names compare case-insensitively in ASCII only), else 0.
_LETTER_BITS = bytes(
    0x20 if chr(octet).isascii() and chr(octet).isalpha() else 0 for octet in range(256)
)


def name_wire(name: dns.name.Name) -> bytes:
    """``name`` (absolute) in uncompressed wire form, its case kept."""
    return b"".join(bytes((len(label),)) + label for label in name.labels)


def randomise_case(wire: bytes) -> bytes:
    """The name in ``wire`` with the case of each ASCII letter set by a random bit (0x20).

    Each octet of ``secrets.token_bytes`` gives its 0x20 bit to the octet at
    its place; only letters take it (length octets are at most 63, never a
    letter). The bits come from ``secrets``: an attacker who could predict
    them would gain nothing from them.
    """
    letters = wire.translate(_LETTER_BITS)
    flips = int.from_bytes(secrets.token_bytes(len(wire))) & int.from_bytes(letters)
    return (int.from_bytes(wire) ^ flips).to_bytes(len(wire))


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """A query as sent: ``id``, the question ``name`` in wire form (case as sent), the bytes."""

    id: int
    name: bytes
    rdtype: int
    wire: bytes

    @classmethod
    def build(
        cls,
        id: int,
        name: bytes,
        rdtype: int,
        *,
        recursion_desired: bool,
        payload: int | None,
        dnssec_ok: bool,
    ) -> UpstreamRequest:
        """``make_query(name, rdtype, ...)``'s bytes; ``payload`` None for a query without EDNS."""
        parts = [
            _HEADER.pack(id, dns.flags.RD if recursion_desired else 0, 1, 0, 0,
                         0 if payload is None else 1),
            name,
            _QUESTION.pack(rdtype, dns.rdataclass.IN),
        ]
        if payload is not None:
            ttl = dns.flags.DO if dnssec_ok else 0
            parts.append(b"\x00" + _OPT.pack(dns.rdatatype.OPT, payload, ttl, 0))
        return cls(id, name, rdtype, b"".join(parts))

    def echoed_by(self, wire: bytes) -> bool:
        """Whether ``wire`` is a QUERY-opcode message whose one question is ours, in any case.

        Only an uncompressed question is recognised here; the caller reads
        any other reply with dnspython.
        """
        end = QUESTION_OFFSET + len(self.name)
        return (
            len(wire) >= end + _QUESTION.size
            and wire[2] & 0x78 == 0  # opcode QUERY
            and wire[4:6] == b"\x00\x01"
            and wire[QUESTION_OFFSET:end].lower() == self.name.lower()
            and _QUESTION.unpack_from(wire, end) == (self.rdtype, dns.rdataclass.IN)
        )
