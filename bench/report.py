"""The Markdown results page of a benchmark run: targets first, then every figure.

It reads only the JSON the harness writes (``latest.json``), so a page can be
regenerated from saved figures: ``python -m bench.report bench/results/latest.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The issue's targets: (what, limit); ratios are Holdfast / Unbound in the same run.
CACHED_QPS_RATIO = 0.6
CACHED_P99_MS = 1.0
COLD_QPS_RATIO = 0.25
ROOT_2017_SECONDS = 1.0
RELOAD_P99_MS = 2.0
BYTES_PER_RRSET = 500
ROOT_2017 = "root-2017082100"

Figures = Mapping[str, Any]


def _spread(value: Mapping[str, float] | None, scale: float = 1.0, digits: int = 0) -> str:
    if not value:
        return "n/a"
    median, low, high = (value[key] * scale for key in ("median", "min", "max"))
    return f"{median:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"


def _ratio(ours: Mapping[str, float] | None, theirs: Mapping[str, float] | None) -> float | None:
    if not ours or not theirs or not theirs["median"]:
        return None
    return ours["median"] / theirs["median"]


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def _ms(latency: Figures, name: str) -> Mapping[str, float] | None:
    value: Mapping[str, float] | None = latency.get(name) if latency else None
    return value


def _root_2017(rootzone: Any) -> Figures | None:
    zones: Sequence[Figures] = rootzone.get("zones", []) if isinstance(rootzone, Mapping) else []
    return next((zone for zone in zones if ROOT_2017 in str(zone.get("zone", ""))), None)


Row = tuple[str, str, str, str]


def _ratio_row(
    ours: Figures, theirs: Figures | None, key: str, label: str, least: float, caveat: str = ""
) -> Row:
    """A throughput target: Holdfast's figure and its ratio to Unbound's, at least ``least``."""
    ratio = _ratio(ours[key], theirs[key]) if theirs else None
    comparison = "n/a"
    if theirs and ratio:
        comparison = f"Unbound {_spread(theirs[key])}: **{ratio:.2f}x**{caveat}"
    return (label, _spread(ours[key]), comparison,
            _verdict(None if ratio is None else ratio >= least))


def _p99_row(
    ours: Figures, theirs: Figures | None, key: str, label: str, most_ms: float, where: str = ""
) -> Row:
    """A latency target: Holdfast's p99 in ms, at most ``most_ms``, beside Unbound's."""
    p99 = _ms(ours[key], "p99")
    comparison = f"Unbound {_spread(_ms(theirs[key], 'p99'), 1000, 3)} ms" if theirs else ""
    return (label, f"{_spread(p99, 1000, 3)} ms{where}", comparison,
            _verdict(None if p99 is None else p99["median"] * 1000 <= most_ms))


def targets(results: Figures) -> list[Row]:
    """(target, measured, comparison, verdict) for each of the issue's targets."""
    ours: Figures = results["resolvers"][0]
    theirs: Figures | None = results["resolvers"][1] if len(results["resolvers"]) > 1 else None
    caveat = "" if ours["validates"] else " (Holdfast does not validate yet: not like for like)"
    rows = [
        _ratio_row(ours, theirs, "cached_qps", f"cached QPS >= {CACHED_QPS_RATIO}x Unbound",
                   CACHED_QPS_RATIO),
        _p99_row(ours, theirs, "cached_latency", f"cached p99 <= {CACHED_P99_MS:g} ms at half load",
                 CACHED_P99_MS, f" at {ours['cached_rate']:,.0f} q/s"),
        _ratio_row(ours, theirs, "cold_qps",
                   f"cold validated resolutions/s >= {COLD_QPS_RATIO}x Unbound", COLD_QPS_RATIO,
                   caveat),
    ]
    root = _root_2017(results.get("rootzone"))
    total = root.get("total_s") if root else None
    rows.append((
        f"real 2017 root zone parsed and verified <= {ROOT_2017_SECONDS:g} s",
        f"{_spread(total, 1, 3)} s" if total else "n/a (../shared absent)",
        "",
        _verdict(None if not total else total["median"] <= ROOT_2017_SECONDS),
    ))
    rows.append(_p99_row(ours, theirs, "reload_latency",
                         f"cached p99 during a root zone reload <= {RELOAD_P99_MS:g} ms",
                         RELOAD_P99_MS))
    sizes = (results.get("memory") or {}).get("sizes", [])
    largest = max(sizes, key=lambda size: size["entries"], default=None)
    rows.append((
        f"<= {BYTES_PER_RRSET} bytes per cached RRset at 1M entries",
        f"{largest['bytes_per_rrset']:,.0f} B at {largest['entries']:,}" if largest else "n/a",
        "",
        _verdict(None if not largest or largest["entries"] < 1_000_000
                 else largest["bytes_per_rrset"] <= BYTES_PER_RRSET),
    ))
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def render(results: Figures) -> str:
    machine = results["machine"]
    resolvers: Sequence[Figures] = results["resolvers"]
    names = [resolver["name"] for resolver in resolvers]
    lines = [
        f"# Benchmark results, {machine['date']}",
        "",
        f"Holdfast commit `{machine['commit']}` on {machine['cpus']} x {machine['cpu']}, "
        f"Linux {machine['kernel']}; Python {machine['python']}, dnspython {machine['dnspython']}, "
        f"Trio {machine['trio']}; dnsperf {machine['dnsperf']}; "
        + "; ".join(f"{r['name']}: {r['version']}" for r in resolvers) + ".",
        "",
        f"Each figure is the median of {results['settings']['runs']} runs, with the min-max of "
        "those runs in brackets. The resolver under test ran alone on CPU 0, dnsperf and the lab "
        "on CPU 1, inside a private network namespace. Regenerate with `make bench`.",
        "",
        "## Targets",
        "",
        *_table(("target", "Holdfast", "same run", "verdict"), targets(results)),
        "## Throughput (queries/s answered)",
        "",
        *_table(
            ("workload", *names, *(["Holdfast / Unbound"] if len(resolvers) > 1 else [])),
            [
                (label, *(_spread(r[key]) for r in resolvers),
                 *([f"{_ratio(resolvers[0][key], resolvers[1][key]) or 0:.2f}x"]
                   if len(resolvers) > 1 else []))
                for label, key in (("cached (1,000 names, maximum rate)", "cached_qps"),
                                   ("cold validated (never-asked bench.com names)", "cold_qps"),
                                   ("mixed (Zipf, 5% NXDOMAIN)", "mixed_qps"))
            ],
        ),
        "## Latency (ms)",
        "",
        *_table(
            ("workload", "percentile", *names),
            [
                (label, pct, *(_spread(_ms(r[key], pct), 1000, 3) for r in resolvers))
                for label, key in (
                    (f"cached at {resolvers[0]['cached_rate']:,.0f} q/s", "cached_latency"),
                    ("cold validated", "cold_latency"),
                    ("cached during a root zone parse+verify", "reload_latency"),
                )
                for pct in ("p50", "p95", "p99", "max")
            ],
        ),
        "![latency CDF](latency-cdf.svg)",
        "",
        "During the reload runs, worker processes parse and verify the lab root and the real "
        "2017 root back to back under SCHED_IDLE on the resolver's CPU, the way a local-root "
        "reload runs beside the server.",
        "",
        "## Cold runs and resources in detail",
        "",
        *_table(
            ("", *names),
            [
                ("lab CPU (share of one core)", *(_spread(r["cold_lab_cpu"], 100, 0) + " %"
                                                 for r in resolvers)),
                ("resolver CPU (share of one core)",
                 *(_spread(r["cold_resolver_cpu"], 100, 0) + " %" for r in resolvers)),
                ("validates (AD on a secure answer)",
                 *("yes" if r["validates"] else "**no**" for r in resolvers)),
                ("queries lost (all runs)", *(str(r["cold_lost"]) for r in resolvers)),
                ("rcodes (all runs)", *(", ".join(f"{k} {v}" for k, v in r["cold_rcodes"].items())
                                        for r in resolvers)),
                ("reload workers finished during the reload latency runs",
                 *(str(r.get("reload_workers", 0)) for r in resolvers)),
                ("resident memory at the end (MB)",
                 *(f"{r['rss_bytes'] / 1e6:,.0f}" for r in resolvers)),
            ],
        ),
    ]
    lines += _rootzone_section(results.get("rootzone"))
    lines += _memory_section(results.get("memory"))
    return "\n".join(lines)


def _rootzone_section(rootzone: Any) -> list[str]:
    lines = ["## Root zone parse + verify (ZONEMD and every RRSIG)", ""]
    zones: Sequence[Figures] = rootzone.get("zones", []) if isinstance(rootzone, Mapping) else []
    if not zones:
        return [*lines, "Not measured (see the harness output).", ""]
    rows = [
        (str(zone.get("zone")), f"{zone.get('records', 0):,}", f"{zone.get('signatures', 0):,}",
         str(zone.get("zonemd")), _spread(zone.get("parse_s"), 1, 3),
         _spread(zone.get("verify_s"), 1, 3), _spread(zone.get("total_s"), 1, 3))
        for zone in zones
    ]
    header = ("zone", "records", "signatures", "ZONEMD", "parse s", "verify s", "total s")
    return lines + _table(header, rows)


def _memory_section(memory: Any) -> list[str]:
    lines = ["## Cache memory", ""]
    sizes = memory.get("sizes", []) if isinstance(memory, Mapping) else []
    if not sizes:
        return [*lines, "Not measured (see the harness output).", ""]
    rows = [(f"{size['entries']:,}", f"{size['rss_bytes'] / 1e6:,.1f}",
             f"{size['bytes_per_rrset']:,.0f}") for size in sizes]
    return lines + _table(("RRsets cached", "RSS growth (MB)", "bytes per RRset"), rows)


def write_report(path: Path, results: Figures) -> str:
    text = render(results)
    path.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    source = Path(sys.argv[1])
    print(write_report(source.with_suffix(".md"), json.loads(source.read_text())))
