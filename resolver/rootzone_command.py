"""``holdfast rootzone check FILE``: would the local root use this copy, at this time?

Runs the local root's own checks on a file (parse, apex keys against the
trust anchors, every RRSIG, the ZONEMD policy, the guardrails of a first
load) and prints the verdicts and the retirement time. Kept out of
``cli.py`` so that the other commands do not import the zone machinery.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dnssec.anchors import TrustAnchors
from dnssec.errors import HoldfastError
from dnssec.files import read_text
from dnssec.signatures import utc_text
from rootzone.candidate import (
    LoadPolicy,
    build_zone,
    check_dnssec,
    check_zonemd_policy,
    load_zone,
    records_from_text,
)
from rootzone.check import ZoneCheck, check_zone
from rootzone.errors import CandidateRejected
from rootzone.lifecycle import LifetimePolicy, Retirement, retirement
from rootzone.sources import MAX_OCTETS
from rootzone.verify import Zone, ZonemdPolicy, ZonemdResult

#: Exit statuses, as ``cli.py`` documents them.
EXIT_REFUSED = 1
EXIT_UNUSABLE = 2


#: How many bogus RRsets ``holdfast rootzone check`` lists (all are counted).
ROOTZONE_SHOWN = 5


def run(args: argparse.Namespace) -> int:
    """``rootzone check``: 0 the copy would be used at ``--at``, 1 not, 2 unusable input."""
    now = int(time.time()) if args.at is None else args.at
    try:
        anchors = (
            TrustAnchors.merge(
                TrustAnchors.from_file(path) for path in args.trust_anchor
            )
            if args.trust_anchor
            else TrustAnchors.builtin()
        )
        text = read_text(args.file, limit=MAX_OCTETS)
        start = time.perf_counter()
        zone = build_zone(records_from_text(text, source=str(args.file)))
    except CandidateRejected as error:  # it does not parse, or is not one zone
        where = "" if error.kind == "parse" else f"{args.file}: "
        print(f"holdfast: error: {where}{error}", file=sys.stderr)
        return EXIT_UNUSABLE
    except HoldfastError as error:
        print(f"holdfast: error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    parsed = time.perf_counter()
    result = check_zone(zone, anchors, now)
    checked = time.perf_counter()
    verdict = _load_verdict(
        zone, str(args.file), len(text.encode()), anchors, now, ZonemdPolicy(args.zonemd)
    )
    loaded = time.perf_counter()
    timing = {
        "parse_s": round(parsed - start, 3),
        "check_s": round(checked - parsed, 3),
        "load_s": round(loaded - checked, 3),
    }
    if args.json:
        print(json.dumps({
            "zone": str(args.file),
            **result.to_json(ROOTZONE_SHOWN),
            **verdict.to_json(),
            **timing,
        }))
    else:
        _print_check(args.file, result)
        _print_verdict(verdict, now)
        print(f"time: parse {timing['parse_s']} s, check {timing['check_s']} s, "
              f"load {timing['load_s']} s")
    return 0 if verdict.used else EXIT_REFUSED


@dataclass(frozen=True, slots=True)
class _LoadVerdict:
    """What the local root would make of a zone at one time, under one ZONEMD policy."""

    at: int
    zonemd_policy: ZonemdPolicy
    #: The ZONEMD verdict, or why the policy refuses the zone.
    zonemd: ZonemdResult | CandidateRejected
    #: Why the signatures refuse the zone, or None if they pass.
    dnssec: CandidateRejected | None
    #: Why ``load_zone`` refuses it (its first failing check), or None.
    refusal: CandidateRejected | None
    #: When the copy would be retired, if it loads.
    retirement: Retirement | None

    @property
    def used(self) -> bool:
        """Loaded, and not yet past its retirement."""
        return self.retirement is not None and self.at < self.retirement.at

    def outcome(self) -> str:
        if self.refusal is not None:
            return "refused"
        return "used" if self.used else "retired"

    def to_json(self) -> dict[str, object]:
        zonemd = self.zonemd
        if isinstance(zonemd, CandidateRejected):
            status, detail = "refused", str(zonemd)
        else:
            status, detail = zonemd.status.value, zonemd.detail
        retired = self.retirement
        return {
            "dnssec_valid": self.dnssec is None,
            "dnssec_failure": None if self.dnssec is None else str(self.dnssec),
            "zonemd_policy": self.zonemd_policy.value,
            "zonemd": status,
            "zonemd_detail": detail,
            "retirement": None if retired is None else utc_text(int(retired.at)),
            "retirement_reason": None if retired is None else retired.reason,
            "verdict": self.outcome(),
            "refused_kind": None if self.refusal is None else self.refusal.kind,
            "refused_reason": None if self.refusal is None else str(self.refusal),
        }


def _load_verdict(
    zone: Zone, source: str, size: int, anchors: TrustAnchors, now: int, policy: ZonemdPolicy
) -> _LoadVerdict:
    """Run the local root's own checks (no copy in use) and its lifetime with default bounds.

    DNSSEC and ZONEMD are also judged on their own, so that a zone refused
    at one of them is still reported on the other.
    """
    try:
        zonemd: ZonemdResult | CandidateRejected = check_zonemd_policy(zone, policy)
    except CandidateRejected as error:
        zonemd = error
    dnssec: CandidateRejected | None = None
    try:
        check_dnssec(zone, anchors, now)
    except CandidateRejected as error:
        dnssec = error
    try:
        copy = load_zone(zone, source=source, size=size, anchors=anchors, now=now,
                         policy=LoadPolicy(zonemd=policy), current=None)
    except CandidateRejected as error:
        return _LoadVerdict(now, policy, zonemd, dnssec, error, None)
    retired = retirement(copy, loaded_at=now, refreshed_at=now, policy=LifetimePolicy())
    return _LoadVerdict(now, policy, zonemd, dnssec, None, retired)


def _print_check(path: Path, result: ZoneCheck) -> None:
    signed = result.secure + len(result.bogus)
    print(f"zone {result.origin} serial {result.serial} ({path}: {result.records} records, "
          f"{result.rrsets} RRsets), checked at {utc_text(result.at)}")
    if result.anchor_failure is None:
        print("apex DNSKEY: validated by the trust anchors")
    else:
        print(f"bogus: the apex DNSKEY RRset does not validate against the trust anchors, so "
              f"all {signed} signed RRsets are bogus: {result.anchor_failure}")
    print(f"secure: {result.secure}")
    kinds = ", ".join(f"{count} {kind}" for kind, count in result.bogus_kinds().items())
    print(f"bogus: {len(result.bogus)}" + (f" ({kinds})" if kinds else ""))
    if result.anchor_failure is None:
        for bogus in result.bogus[:ROOTZONE_SHOWN]:
            print(f"  {bogus.reason}")
        if len(result.bogus) > ROOTZONE_SHOWN:
            print(f"  ... and {len(result.bogus) - ROOTZONE_SHOWN} more")
    unsigned = result.unsigned_authoritative
    print(f"unsigned: {result.unsigned_delegation + len(unsigned)} "
          f"({result.unsigned_delegation} delegation NS and glue, as expected; "
          f"{len(unsigned)} authoritative without RRSIG"
          + (f", e.g. {', '.join(unsigned[:3])})" if unsigned else ")"))
    expiration = result.earliest_expiration
    if expiration is None:
        print("earliest signature expiration: none (no RRSIG)")
    else:
        more = f", and {expiration.rrsets - 1} more RRsets" if expiration.rrsets > 1 else ""
        past = " (already past)" if expiration.at < result.at else ""
        print(f"earliest signature expiration: {expiration.iso}{past}: "
              f"{expiration.rrset}{more}")


def _print_verdict(verdict: _LoadVerdict, now: int) -> None:
    dnssec = verdict.dnssec
    print("DNSSEC: valid" if dnssec is None else f"DNSSEC: refused: {dnssec}")
    zonemd = verdict.zonemd
    policy = verdict.zonemd_policy.value
    if isinstance(zonemd, CandidateRejected):
        print(f"ZONEMD (policy {policy}): refused: {zonemd}")
    else:
        print(f"ZONEMD (policy {policy}): {zonemd.status.value}: {zonemd.detail}")
    retired = verdict.retirement
    if retired is None:
        print("retirement: none, the copy is refused")
    else:
        past = " (already past)" if retired.at <= now else ""
        print(f"retirement: {utc_text(int(retired.at))}{past}, {retired.reason}")
    refusal = verdict.refusal
    if refusal is not None:
        print(f"verdict: refused ({refusal.kind}): {refusal}")
    else:
        print(f"verdict: {verdict.outcome()} at {utc_text(now)}")
