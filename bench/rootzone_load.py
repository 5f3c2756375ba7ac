"""Root zone load time: parse and fully verify the lab root and the real 2017 root.

The issue's target is the real 2017 root zone parsed and fully verified
(apex keys, all ~2,950 RRSIGs, coverage, ZONEMD) in at most 1.0 s; dnspython
alone takes 2.6-3.0 s just to parse it. Each zone is loaded ``--runs`` times
and parse, verify and their sum are reported as median, min and max. Parse
time includes reading the file. The 2017 snapshot is read from
``../shared/testdata/rootzone/`` beside the repository and skipped, with a
message, when that folder is absent.

    python bench/rootzone_load.py            # human summary
    python bench/rootzone_load.py --json     # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import calendar
import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Spread
from dnssec.anchors import TrustAnchors
from resolver.clock import FakeClock
from resolver.lab import Lab
from rootzone.verify import ZoneVerification, verify_zone
from rootzone.zonefile import parse_zone

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT_2017 = REPO.parent / "shared" / "testdata" / "rootzone" / "root-2017082100.zone"
#: KSK-2010, the key that signed the 2017 root's DNSKEY RRset.
KSK_2010 = ". IN DS 19036 8 2 49AAC11D7B6F6446702E54A1607371607A1A41855200FD2CE1CDDE32F24E8FB5\n"
#: Inside every signature window of the 2017 snapshot.
AT_2017 = calendar.timegm((2017, 8, 22, 0, 0, 0))


@dataclass(frozen=True)
class Load:
    """One zone's verification figures and its parse/verify/total times per run."""

    zone: str
    result: ZoneVerification
    timings: dict[str, list[float]]

    def to_json(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "records": self.result.records,
            "rrsets_verified": self.result.rrsets_verified,
            "signatures": self.result.signatures_verified,
            "zonemd": self.result.zonemd.status.value,
            **{key: Spread.of(values).as_dict() for key, values in self.timings.items()},
        }

    def summary(self) -> str:
        result = self.result
        lines = [
            f"{self.zone}: {result.records} records, {result.signatures_verified} signatures "
            f"over {result.rrsets_verified} RRsets, ZONEMD {result.zonemd.status.value}"
        ]
        for key, values in self.timings.items():
            figures = Spread.of(values)
            lines.append(
                f"  {key.removesuffix('_s'):>6}: {figures.median:.3f} s "
                f"(min {figures.low:.3f}, max {figures.high:.3f}, {len(values)} runs)"
            )
        return "\n".join(lines)


def measure(
    zone: str, read: Callable[[], str], anchors: TrustAnchors, now: int, runs: int
) -> Load:
    """Read, parse and verify one zone ``runs`` times (at least once)."""
    timings: dict[str, list[float]] = {"parse_s": [], "verify_s": [], "total_s": []}
    while True:
        start = time.perf_counter()
        records = parse_zone(read(), source=zone)
        parsed = time.perf_counter()
        result = verify_zone(records, anchors, now)
        done = time.perf_counter()
        timings["parse_s"].append(parsed - start)
        timings["verify_s"].append(done - parsed)
        timings["total_s"].append(done - start)
        if len(timings["total_s"]) >= runs:
            return Load(zone, result, timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--runs", type=int, default=3, help="loads per zone (default 3)")
    args = parser.parse_args()
    clock = FakeClock()
    lab = Lab.build(clock)
    lab_anchors = TrustAnchors.from_text(lab.trust_anchor_text(), source="lab anchor")
    zones = [measure("lab root", lab.root_zone_text, lab_anchors, int(clock.wall()), args.runs)]
    skipped = []
    if SNAPSHOT_2017.is_file():
        anchors = TrustAnchors.from_text(KSK_2010, source="KSK-2010")
        read = functools.partial(SNAPSHOT_2017.read_text, encoding="utf-8")
        zones.append(measure(SNAPSHOT_2017.name, read, anchors, AT_2017, args.runs))
    else:
        skipped.append({"zone": SNAPSHOT_2017.name, "reason": f"{SNAPSHOT_2017} is absent"})
        print(f"skipping {SNAPSHOT_2017.name}: {SNAPSHOT_2017} is absent", file=sys.stderr)
    if args.json:
        loads = [load.to_json() for load in zones]
        report = {"benchmark": "rootzone_load", "runs": args.runs, "zones": loads}
        print(json.dumps({**report, "skipped": skipped}))
    else:
        print("\n".join(load.summary() for load in zones))


if __name__ == "__main__":
    main()
