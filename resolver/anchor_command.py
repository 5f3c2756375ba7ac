"""``holdfast anchor``: make or check the RFC 5011 state file (``[dnssec] trust_anchor_file``).

Like ``unbound-anchor``, but it never fetches anything: a missing file is
made from the built-in IANA root anchors, or from ``--from FILE`` (DS or
DNSKEY records, e.g. a copy checked out of band), with every key Valid; the
running resolver then keeps it current (``anchor_refresh``). An existing
file is read and its trust points and keys are printed. Exit status: 0 the
file is usable, 1 it needs attention (missing with ``--check``, a trust
point with no trusted key, or refreshes failing), 2 it is unusable (does
not parse, not a regular file, cannot be written).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import dns.rdatatype

from dnssec.anchors import TrustAnchors
from dnssec.anchorstate import read_state, render, write_atomically
from dnssec.errors import HoldfastError
from dnssec.rfc5011 import KeyState, ManagedKey, TrustPoint
from dnssec.signatures import utc_text

#: Where the state file goes when ``--file`` is not given (Unbound: root.key).
DEFAULT_FILE = Path("/var/lib/holdfast/root.key")
EXIT_ATTENTION = 1
EXIT_UNUSABLE = 2


def run(args: argparse.Namespace) -> int:
    """``holdfast anchor [--file PATH] [--check] [--from FILE]``."""
    path: Path = args.file
    try:
        if not os.path.lexists(path):
            if args.check:
                print(f"{path}: missing; create it with holdfast anchor --file {path}")
                return EXIT_ATTENTION
            points = bootstrap(args.source)
            write_atomically(path, render(points))
            print(f"{path}: created from {args.source or 'the built-in IANA root anchors'}")
        else:
            points = read_state(path)
    except (HoldfastError, OSError) as error:
        print(f"holdfast: error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    attention = False
    for point in points:
        attention |= _show(point, int(time.time()))
    return EXIT_ATTENTION if attention else 0


def bootstrap(source: Path | None) -> tuple[TrustPoint, ...]:
    """Trust points from ``source`` (DS/DNSKEY zone-file text) or the IANA anchors, all Valid.

    Raises:
        FileRefused, RecordFileError: ``source`` is unusable.
    """
    anchors = TrustAnchors.builtin() if source is None else TrustAnchors.from_file(source)
    points = []
    for zone in anchors.zones():
        keys = tuple(
            ManagedKey(rrset.rdtype, rdata.to_digestable(), KeyState.VALID, ttl=rrset.ttl)
            for rrset in anchors.rrsets
            if rrset.name == zone
            for rdata in rrset
        )
        points.append(TrustPoint(zone, keys))
    return tuple(points)


def _show(point: TrustPoint, now: int) -> bool:
    """Print one trust point; True if it needs attention."""
    success = utc_text(point.last_success) if point.last_success else "never"
    probe = utc_text(point.next_probe) if point.next_probe else "at start"
    print(f"{point.zone}: last refresh {success}, next {probe}, "
          f"{point.query_failed} failed since")
    for key in point.keys:
        since = f" since {utc_text(key.changed)}" if key.changed else ""
        print(f"  {_kind(key)} {key.tag}: {key.state.value}{since}")
    problems = []
    if not point.trusted():
        problems.append("no trusted key: every key is revoked or removed")
    if point.query_failed and now - point.last_success > 2 * point.query_interval:
        problems.append(f"{point.query_failed} refreshes failed in a row")
    for problem in problems:
        print(f"  needs attention: {problem}")
    return bool(problems)


def _kind(key: ManagedKey) -> str:
    return "DS for key" if key.rdtype == dns.rdatatype.DS else "DNSKEY"
