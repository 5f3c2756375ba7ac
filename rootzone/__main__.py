"""``python -m rootzone verify ZONEFILE``: check a root zone file before trusting it.

    python -m rootzone verify root.zone [--anchor FILE]... [--at TIME]

Parses the file, validates its apex keys against the trust anchors (the IANA
root anchors unless ``--anchor`` files are given), verifies every RRSIG and
the ZONEMD digest at ``--at`` (ISO 8601, UTC unless an offset is given, or
POSIX seconds; default: now), and prints one JSON line with the figures and
how long parsing and verifying took. A zone that fails prints the reason on
stderr and exits 1; an unverifiable ZONEMD (unsupported hash) is a warning.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from dnssec.anchors import TrustAnchors
from dnssec.errors import HoldfastError
from dnssec.files import read_text
from rootzone.check import validation_time
from rootzone.sources import MAX_OCTETS
from rootzone.verify import ZonemdStatus, verify_zone
from rootzone.zonefile import parse_zone

__all__ = ["main", "validation_time"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rootzone", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="parse and verify a zone file")
    verify.add_argument("zonefile", type=Path)
    verify.add_argument(
        "--anchor",
        type=Path,
        action="append",
        default=[],
        help="DS or DNSKEY trust anchors, zone-file text (repeatable; default: IANA root)",
    )
    verify.add_argument(
        "--at",
        type=validation_time,
        default=None,
        help="validation time: ISO 8601 (UTC unless an offset is given) or POSIX seconds",
    )
    args = parser.parse_args(argv)
    now = int(time.time()) if args.at is None else args.at
    try:
        anchors = (
            TrustAnchors.merge(
                TrustAnchors.from_file(path) for path in args.anchor
            )
            if args.anchor
            else TrustAnchors.builtin()
        )
        start = time.perf_counter()
        text = read_text(args.zonefile, limit=MAX_OCTETS)
        records = parse_zone(text, source=str(args.zonefile))
        parsed = time.perf_counter()
        result = verify_zone(records, anchors, now)
        done = time.perf_counter()
    except HoldfastError as error:  # FileRefused too: missing, not regular, too large, not UTF-8
        print(f"rootzone: {args.zonefile}: {error}", file=sys.stderr)
        return 1
    if result.zonemd.status is ZonemdStatus.UNVERIFIED:
        print(f"rootzone: warning: ZONEMD not verified: {result.zonemd.detail}", file=sys.stderr)
    report = {
        "zone": str(args.zonefile),
        **result.to_json(),
        "at": datetime.datetime.fromtimestamp(now, tz=datetime.UTC).isoformat(),
        "parse_s": round(parsed - start, 4),
        "verify_s": round(done - parsed, 4),
        "total_s": round(done - start, 4),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
