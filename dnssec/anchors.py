"""Trust anchors: where the chain of trust starts.

Built in are the IANA root KSK DS records for KSK-2017 (20326) and KSK-2024
(38696). ``--trust-anchor FILE`` (repeatable) replaces them entirely with DS
or DNSKEY records from zone-file text; anchors may sit at any name (islands
of trust), several at once. Validation against them arrives with the DNSSEC
issue; here they are read, checked and kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.rrset

from dnssec.errors import RecordFileError
from dnssec.files import MAX_RECORD_FILE_BYTES, read_text
from dnssec.records import read_records

#: The IANA root trust anchors (https://data.iana.org/root-anchors/).
IANA_ROOT_ANCHORS = """\
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
"""

_ANCHOR_TYPES = (dns.rdatatype.DS, dns.rdatatype.DNSKEY)


@dataclass(frozen=True, slots=True)
class TrustAnchors:
    """DS and DNSKEY anchors, each an RRset owned by the anchored zone."""

    rrsets: tuple[dns.rrset.RRset, ...]

    @classmethod
    def from_text(cls, text: str, *, source: str) -> TrustAnchors:
        """Read anchors from zone-file text.

        Raises:
            RecordFileError: the text does not parse, holds a record that is
                not DS or DNSKEY, or holds no anchor at all.
        """
        rrsets = read_records(text, source=source)
        for rrset in rrsets:
            if rrset.rdtype not in _ANCHOR_TYPES:
                raise RecordFileError(
                    f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: "
                    "a trust anchor must be a DS or DNSKEY record",
                    source=source,
                )
        if not rrsets:
            raise RecordFileError("no DS or DNSKEY record in the file", source=source)
        return cls(tuple(rrsets))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TrustAnchors:
        """Read anchors from a file: a regular file of at most ``MAX_RECORD_FILE_BYTES``.

        Blocking: async callers run it in a thread.

        Raises:
            FileRefused: the file is missing, not a regular file, too large,
                or not UTF-8.
            RecordFileError: see ``from_text``.
        """
        return cls.from_text(read_text(path, limit=MAX_RECORD_FILE_BYTES), source=os.fspath(path))

    @classmethod
    def builtin(cls) -> TrustAnchors:
        """The IANA root anchors."""
        return cls.from_text(IANA_ROOT_ANCHORS, source="<built-in root anchors>")

    @classmethod
    def merge(cls, parts: Iterable[TrustAnchors]) -> TrustAnchors:
        """Combine anchors read from several files."""
        return cls(tuple(rrset for part in parts for rrset in part.rrsets))

    def zones(self) -> tuple[dns.name.Name, ...]:
        """The names that have an anchor, deepest first."""
        names = {rrset.name for rrset in self.rrsets}
        return tuple(sorted(names, key=len, reverse=True))
