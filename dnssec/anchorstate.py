"""The RFC 5011 state file (``[dnssec] trust_anchor_file``): its text, and writing it safely.

Why a file: a key's add hold-down lasts 30 days, longer than a process
lives; if the states were lost at a restart, a pending key would start over
and a revoked one could be trusted again. The format is Unbound's
auto-trust-anchor-file, so an operator reads it the same way: zone-file
lines, each followed by a comment holding the key's state, and ``;;``
lines holding the trust point's timers::

    ; autotrust trust anchor file, maintained by holdfast (RFC 5011)
    ;;id: . 1
    ;;last_queried: 1700000000 ;;2023-11-14T22:13:20Z
    ;;last_success: 1700000000 ;;2023-11-14T22:13:20Z
    ;;next_probe_time: 1700003600 ;;2023-11-14T23:13:20Z
    ;;query_failed: 0
    ;;query_interval: 3600
    ;;retry_time: 3600
    . 3600 IN DNSKEY 257 3 8 AwEAAa... ;{id = 20326 (ksk)} ;;state=VALID ;;count=0
        ;;lastchange=1700000000 ;;2023-11-14T22:13:20Z   (one line in the file)

Several trust points may share a file, each opened by its ``;;id:`` line.
A file written by ``holdfast anchor`` from DS records has DS lines in state
VALID with ``lastchange=0``. Lines without a state comment are anchors in
state VALID, so a hand-written DS/DNSKEY file works as a start.

It is read with ``dnssec.files`` (a regular file, at most
``MAX_RECORD_FILE_BYTES``) and written by ``write_atomically``: a temporary
file in the same directory, fsync, rename, fsync of the directory, so a
crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from dnssec.anchors import TrustAnchors
from dnssec.errors import RecordFileError
from dnssec.files import MAX_RECORD_FILE_BYTES, read_text
from dnssec.rfc5011 import KeyState, ManagedKey, TrustPoint
from dnssec.signatures import utc_text

_HEADER = "; autotrust trust anchor file, maintained by holdfast (RFC 5011); edit with care"
_RECORD = re.compile(r"^(\S+)\s+(?:(\d+)\s+)?(?:IN\s+)?(DS|DNSKEY)\s+([^;]+?)\s*(;.*)?$", re.I)
_FIELD = re.compile(r";;(\w+)=(\S+)")
#: Trust point header fields: ``;;name: value``, the attribute each sets.
_TIMERS = {
    "last_queried": "last_queried",
    "last_success": "last_success",
    "next_probe_time": "next_probe",
    "query_failed": "query_failed",
    "query_interval": "query_interval",
    "retry_time": "retry_time",
}
_STAMPED = frozenset({"last_queried", "last_success", "next_probe_time"})


class AnchorStateError(RecordFileError):
    """The state file does not parse; the message names the file and line."""


def render(points: Iterable[TrustPoint]) -> str:
    """The file's text for ``points``."""
    lines = [_HEADER]
    for point in points:
        lines.append(f";;id: {point.zone} 1")
        for name, attribute in _TIMERS.items():
            value = getattr(point, attribute)
            stamp = f" ;;{utc_text(value)}" if name in _STAMPED and value else ""
            lines.append(f";;{name}: {value}{stamp}")
        for key in point.keys:
            lines.append(_key_line(point.zone, key))
    return "\n".join(lines) + "\n"


def _key_line(zone: dns.name.Name, key: ManagedKey) -> str:
    rdtype = dns.rdatatype.to_text(key.rdtype)
    what = f";{{id = {key.tag} ({_role(key)})}} " if key.rdtype == dns.rdatatype.DNSKEY else ""
    stamp = f" ;;{utc_text(key.changed)}" if key.changed else ""
    return (
        f"{zone} {key.ttl} IN {rdtype} {key.to_rdata().to_text()} {what}"
        f";;state={key.state.value} ;;count={key.count} ;;lastchange={key.changed}{stamp}"
    )


def _role(key: ManagedKey) -> str:
    flags = int.from_bytes(key.rdata[:2])
    return "ksk" if flags & 0x0001 else "zsk"


def parse(text: str, *, source: str) -> tuple[TrustPoint, ...]:
    """The trust points in a state file's ``text``.

    Raises:
        AnchorStateError: a line does not parse, a state or timer is not
            known, a key sits outside its trust point, or there is no key.
    """
    points: list[TrustPoint] = []
    zone: dns.name.Name | None = None
    timers: dict[str, int] = {}
    keys: list[ManagedKey] = []
    bare = True  # until a ";;id:" line: keys open trust points by their owner

    def close() -> None:
        if zone is not None:
            points.append(TrustPoint(zone, tuple(keys), **timers))

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        try:
            if line.startswith(";;id:"):
                bare = False
                close()
                zone, timers, keys = dns.name.from_text(line[5:].split()[0]), {}, []
            elif line.startswith(";;") and ":" in line.split()[0]:
                name, _, rest = line[2:].partition(":")
                if name not in _TIMERS or zone is None:
                    raise ValueError(f"unknown or misplaced line ;;{name}:")
                timers[_TIMERS[name]] = int(rest.split()[0])
            elif line and not line.startswith(";"):
                owner, key = _parse_key(line)
                if owner != zone and not bare:
                    raise ValueError(f"{owner} is not in trust point {zone}")
                if owner != zone:  # a hand-written DS/DNSKEY file: a point per owner
                    close()
                    zone, timers, keys = owner, {}, []
                keys.append(key)
        except (ValueError, IndexError, dns.exception.DNSException) as error:
            raise AnchorStateError(str(error), source=source, line=number) from None
    close()
    if not any(point.keys for point in points):
        raise AnchorStateError("no DS or DNSKEY record in the file", source=source)
    return tuple(points)


def _parse_key(line: str) -> tuple[dns.name.Name, ManagedKey]:
    """One key line: the record and its ``;;state=`` comment."""
    match = _RECORD.match(line)
    if match is None:
        raise ValueError("not a DS or DNSKEY record")
    owner, ttl, rdtype_text, rdata_text, comment = match.groups()
    rdtype = dns.rdatatype.from_text(rdtype_text.upper())
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, rdata_text)
    fields = dict(_FIELD.findall(comment or ""))
    try:
        state = KeyState(fields.get("state", "VALID").upper())
    except ValueError:
        raise ValueError(f"unknown state {fields['state']!r}") from None
    key = ManagedKey(
        rdtype,
        rdata.to_digestable(),
        state,
        changed=int(fields.get("lastchange", 0)),
        ttl=int(ttl or 0),
        count=int(fields.get("count", 0)),
    )
    return dns.name.from_text(owner), key


def read_state(path: str | os.PathLike[str]) -> tuple[TrustPoint, ...]:
    """The trust points in the state file at ``path`` (blocking; bounded read).

    Raises:
        FileRefused: missing, not a regular file, too large, not UTF-8.
        AnchorStateError: see ``parse``.
    """
    return parse(read_text(path, limit=MAX_RECORD_FILE_BYTES), source=os.fspath(path))


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Replace the file at ``path`` with ``text``: old or new after a crash, never a mix.

    Blocking: async callers run it in a thread.

    Raises:
        OSError: the directory cannot be written (the old file stays).
    """
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)




def anchors_of(points: Iterable[TrustPoint]) -> TrustAnchors:
    """The trust anchors the managed keys make now (Valid and Missing keys)."""
    return TrustAnchors(tuple(rrset for point in points for rrset in point.anchor_rrsets()))
