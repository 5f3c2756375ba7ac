"""Root hints: where iteration starts when nothing better is known.

The hints name the root servers and their addresses. They are the fallback
that is always there: before the local root copy loads, after it is retired,
and whenever it is disabled. ``--root-hints FILE`` replaces the built-in IANA
hints (the lab writes its own).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.rrset

from dnssec.errors import RecordFileError
from dnssec.files import MAX_RECORD_FILE_BYTES, read_text
from dnssec.records import read_records

#: The IANA root hints (named.root), A and AAAA for the 13 root servers.
IANA_ROOT_HINTS = "\n".join(
    f". 3600000 NS {letter}.root-servers.net.\n"
    f"{letter}.root-servers.net. 3600000 A {v4}\n"
    f"{letter}.root-servers.net. 3600000 AAAA {v6}"
    for letter, v4, v6 in (
        ("a", "198.41.0.4", "2001:503:ba3e::2:30"),
        ("b", "170.247.170.2", "2801:1b8:10::b"),
        ("c", "192.33.4.12", "2001:500:2::c"),
        ("d", "199.7.91.13", "2001:500:2d::d"),
        ("e", "192.203.230.10", "2001:500:a8::e"),
        ("f", "192.5.5.241", "2001:500:2f::f"),
        ("g", "192.112.36.4", "2001:500:12::d0d"),
        ("h", "198.97.190.53", "2001:500:1::53"),
        ("i", "192.36.148.17", "2001:7fe::53"),
        ("j", "192.58.128.30", "2001:503:c27::2:30"),
        ("k", "193.0.14.129", "2001:7fd::1"),
        ("l", "199.7.83.42", "2001:500:9f::42"),
        ("m", "202.12.27.33", "2001:dc3::35"),
    )
)


@dataclass(frozen=True, slots=True)
class RootHints:
    """The root's NS names and the addresses known for each."""

    ns: tuple[dns.name.Name, ...]
    addresses: dict[dns.name.Name, tuple[str, ...]]

    @classmethod
    def from_text(cls, text: str, *, source: str) -> RootHints:
        """Read hints from zone-file text (TTL and class optional).

        Raises:
            RecordFileError: the text does not parse, has no root NS record,
                has a record other than NS/A/AAAA, or an NS without address.
        """
        ns: list[dns.name.Name] = []
        addresses: dict[dns.name.Name, list[str]] = {}
        for rrset in read_records(text, source=source):
            if rrset.rdtype == dns.rdatatype.NS and rrset.name == dns.name.root:
                ns.extend(rdata.target for rdata in rrset)
            elif rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                addresses.setdefault(rrset.name, []).extend(rdata.address for rdata in rrset)
            else:
                raise RecordFileError(
                    f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: root hints hold "
                    "only the root's NS records and their A/AAAA addresses",
                    source=source,
                )
        if not ns:
            raise RecordFileError("no NS record for the root '.'", source=source)
        missing = [str(name) for name in ns if name not in addresses]
        if missing:
            raise RecordFileError(f"no address for {', '.join(missing)}", source=source)
        return cls(tuple(ns), {name: tuple(addresses[name]) for name in ns})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RootHints:
        """Read hints from a file: a regular file of at most ``MAX_RECORD_FILE_BYTES``.

        Blocking: async callers run it in a thread.

        Raises:
            FileRefused: the file is missing, not a regular file, too large,
                or not UTF-8.
            RecordFileError: see ``from_text``.
        """
        return cls.from_text(read_text(path, limit=MAX_RECORD_FILE_BYTES), source=os.fspath(path))

    @classmethod
    def builtin(cls) -> RootHints:
        """The IANA root hints."""
        return cls.from_text(IANA_ROOT_HINTS, source="<built-in root hints>")

    def all_addresses(self) -> tuple[str, ...]:
        """Every root server address, in hint order."""
        return tuple(address for name in self.ns for address in self.addresses[name])
