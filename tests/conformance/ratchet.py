"""Hold a Deckard run to the list of expected failures (a ratchet).

``expected-failures.txt`` names, one per line, each scenario Holdfast is known
to fail, then a tab and the reason. A run passes only when the scenarios that
failed are exactly those: a new failure is a regression, and a scenario on
the list that now passes must be taken off it, so the list only shrinks.
A scenario that did not run at all (skipped by Deckard) is neither, and so
is one whose reason starts with ``FLAKY``: it passed and failed in repeated
runs of the same tree, so neither outcome says anything (the reason says why).

Usage:
    python tests/conformance/ratchet.py RESULTS.tsv EXPECTED.txt
    python tests/conformance/ratchet.py --record RESULTS.tsv EXPECTED.txt

``--record`` rewrites the list from a run, keeping the reasons already
written and marking new entries with the harness's own label for a human to
replace. Exit status: 0 as expected, 1 otherwise, 2 when the results are
missing or empty.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HEADER = """\
# Deckard scenarios (../shared/conformance/deckard/sets/resolver) that Holdfast
# fails, each with the reason. tests/conformance/run fails on any failure not
# listed here AND on any listed scenario that passes: remove it then.
# Format: scenario<TAB>reason. Regenerate with tests/conformance/run --record OUT.
# A reason that starts with FLAKY: the scenario passed and failed in repeated
# runs of the same tree; the ratchet accepts either outcome for it.
# "not investigated yet" marks a failure whose cause is still to be found
# (issue 18): the harness's own words follow.
"""


def read_results(path: Path) -> dict[str, tuple[str, str]]:
    """Scenario name -> (verdict, the harness's reason and detail)."""
    with path.open(encoding="utf-8", newline="") as rows:
        return {
            row["scenario"]: (row["verdict"], f"{row['reason']}: {row['detail']}".strip(": "))
            for row in csv.DictReader(rows, delimiter="\t")
        }


def read_expected(path: Path) -> dict[str, str]:
    """Scenario name -> the reason it is expected to fail."""
    expected: dict[str, str] = {}
    if not path.exists():
        return expected
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, reason = line.partition("\t")
        expected[name.strip()] = reason.strip()
    return expected


def record(results: dict[str, tuple[str, str]], expected: dict[str, str], path: Path) -> None:
    lines = [HEADER]
    for name, (verdict, why) in sorted(results.items()):
        reason = expected.get(name, "")
        if verdict == "failed" or reason.startswith("FLAKY"):
            lines.append(f"{name}\t{reason or 'NEW: ' + why}\n")
    path.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true")
    parser.add_argument("results", type=Path)
    parser.add_argument("expected", type=Path)
    args = parser.parse_args(argv)
    try:
        results = read_results(args.results)
    except FileNotFoundError:
        print(f"conformance: no results at {args.results}", file=sys.stderr)
        return 2
    if not results:
        print(f"conformance: {args.results} holds no scenario", file=sys.stderr)
        return 2
    expected = read_expected(args.expected)
    if args.record:
        record(results, expected, args.expected)
        return 0
    flaky = {name for name, reason in expected.items() if reason.startswith("FLAKY")}
    failed = {name for name, (verdict, _) in results.items() if verdict == "failed"}
    ran = {name for name, (verdict, _) in results.items() if verdict != "skipped"}
    regressions = sorted(failed - set(expected))
    fixed = sorted((set(expected) & ran) - failed - flaky)
    for name in regressions:
        print(f"conformance: UNEXPECTED FAILURE {name}: {results[name][1]}")
    for name in fixed:
        print(f"conformance: UNEXPECTED PASS {name}: take it off {args.expected}")
    print(
        f"conformance: {len(ran) - len(failed)} of {len(results)} scenarios pass, "
        f"{len(failed & set(expected))} known failures, {len(regressions)} regressions, "
        f"{len(fixed)} newly passing"
    )
    return 1 if regressions or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
