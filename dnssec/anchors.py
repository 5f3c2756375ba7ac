"""Trust anchors: where the chain of trust starts.

Built in are the IANA root KSK DS records for KSK-2017 (20326) and KSK-2024
(38696). ``--trust-anchor FILE`` (repeatable) replaces them entirely with DS
or DNSKEY records from zone-file text; anchors may sit at any name (islands
of trust), several at once. Validation against them arrives with the DNSSEC
issue; here they are read, checked and kept.

A DS whose digest length disagrees with its digest type is kept, not fatal:
dnspython refuses it, so it is built here as opaque RDATA and the validator
judges the zone under it bogus (SERVFAIL, EDE 9: no DNSKEY matches it), as
Unbound does with such an anchor (validator/val_sigcrypt.c,
ds_digest_match_dnskey: a digest of the wrong size matches no key). One
broken anchor must not stop the resolver from serving every other zone;
failing closed under it keeps it safe.

An anchor whose every DS or DNSKEY uses an algorithm or digest type we do
not validate (DSA, RFC 8624: MUST NOT; an unknown one) vouches for no key:
its zone is insecure, exactly as under a parent's DS set of only such
records (RFC 4035 5.2, RFC 6840 5.2; ``dnssec.validator.zone_keys``). That
is kept, with a warning naming the zone when the anchor is read, because
the operator configured it to be signed: Unbound does the same
(validator/val_anchor.c anchors_assemble_rrsets: "trust anchor ... has no
supported algorithms, the anchor is ignored"), and Knot Resolver goes
insecure under it (lib/layer/validate.c, kr_ds_algo_support).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnssec.errors import RecordFileError
from dnssec.files import MAX_RECORD_FILE_BYTES, read_text
from dnssec.records import DEFAULT_TTL, read_records
from dnssec.signatures import MalformedData
from dnssec.validator import usable_vouchers

log = logging.getLogger("holdfast.anchors")

#: The IANA root trust anchors (https://data.iana.org/root-anchors/).
IANA_ROOT_ANCHORS = """\
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
"""

_ANCHOR_TYPES = (dns.rdatatype.DS, dns.rdatatype.DNSKEY)

#: One DS record on one line: owner, optional TTL and class (either order),
#: then key tag, algorithm, digest type and a hex digest (which may be split
#: by blanks, as ``dig`` prints it). Only used to rescue a DS that dnspython
#: refuses; everything else goes through the ordinary zone-file parser.
_DS_LINE = re.compile(
    r"^(?P<owner>\S+)(?:\s+(?:\d+|IN)){0,2}\s+DS\s+(?P<tag>\d{1,5})\s+(?P<alg>\d{1,3})"
    r"\s+(?P<type>\d{1,3})\s+(?P<digest>[0-9A-Fa-f][0-9A-Fa-f\s]*)$",
    re.IGNORECASE,
)
_TTL = re.compile(r"\s(\d+)\s")


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
        text, unusable = _set_aside_unusable_ds(text, source=source)
        rrsets = read_records(text, source=source)
        for rrset in unusable:
            _add(rrsets, rrset)
        for rrset in rrsets:
            if rrset.rdtype not in _ANCHOR_TYPES:
                raise RecordFileError(
                    f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: "
                    "a trust anchor must be a DS or DNSKEY record",
                    source=source,
                )
        if not rrsets:
            raise RecordFileError("no DS or DNSKEY record in the file", source=source)
        for zone in _zones_without_usable_anchor(rrsets):
            log.warning("%s: trust anchor %s has no supported algorithm or digest type; "
                        "names under it are answered insecure", source, zone)
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


def _set_aside_unusable_ds(text: str, *, source: str) -> tuple[str, list[dns.rrset.RRset]]:
    """Take out the DS records dnspython refuses for their digest length.

    Returns the text with those lines blanked (so that line numbers in
    later errors stay right) and the records, as opaque RDATA of type DS.
    Each is logged once, naming the file and the record.
    """
    lines = text.splitlines()
    kept: list[dns.rrset.RRset] = []
    for number, line in enumerate(lines):
        record = " ".join(line.split(";", 1)[0].split())
        rrset = _unusable_ds(record)
        if rrset is None:
            continue
        log.warning("%s:%d: trust anchor %r kept but unusable: DS digest length does not "
                    "match its digest type; names under %s will fail validation (SERVFAIL)",
                    source, number + 1, record, rrset.name)
        lines[number] = ""
        kept.append(rrset)
    return "\n".join(lines) + "\n", kept


def _unusable_ds(record: str) -> dns.rrset.RRset | None:
    """The DS on this line as opaque RDATA, if it is well formed but dnspython refuses it."""
    match = _DS_LINE.match(record)
    if match is None:
        return None
    tag, algorithm, digest_type = (int(match[key]) for key in ("tag", "alg", "type"))
    digest = "".join(match["digest"].split())
    if tag > 0xFFFF or algorithm > 0xFF or digest_type > 0xFF or len(digest) % 2:
        return None
    try:
        dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DS, record[match.start("tag"):])
    except dns.exception.SyntaxError:
        pass  # the only thing left to refuse is the digest's length
    else:
        return None
    wire = tag.to_bytes(2) + bytes((algorithm, digest_type)) + bytes.fromhex(digest)
    owner = dns.name.from_text(match["owner"], origin=dns.name.root)
    ttl = _TTL.search(record[: match.start("tag")])
    rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, dns.rdatatype.DS)
    rrset.add(dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.DS, wire),
              int(ttl[1]) if ttl else DEFAULT_TTL)
    return rrset


def _zones_without_usable_anchor(rrsets: Iterable[dns.rrset.RRset]) -> list[dns.name.Name]:
    """The anchored zones none of whose records the validator can use.

    A zone with a malformed DS is left out: the validator judges it bogus.
    """
    by_zone: dict[dns.name.Name, list[dns.rrset.RRset]] = {}
    for rrset in rrsets:
        by_zone.setdefault(rrset.name, []).append(rrset)
    unusable = []
    for zone, vouchers in by_zone.items():
        try:
            ds_records, key_anchors, _ = usable_vouchers(vouchers)
        except MalformedData:
            continue
        if not ds_records and not key_anchors:
            unusable.append(zone)
    return unusable


def _add(rrsets: list[dns.rrset.RRset], extra: dns.rrset.RRset) -> None:
    """Add ``extra`` to the RRset of its name and type in ``rrsets``, or append it."""
    for rrset in rrsets:
        if (rrset.name, rrset.rdtype) == (extra.name, extra.rdtype):
            for rdata in extra:
                rrset.add(rdata, extra.ttl)
            return
    rrsets.append(extra)
