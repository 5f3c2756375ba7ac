"""RSS with the caches full of 64 KB RRsets under ``[cache] max_bytes`` (issue 16).

Counting entries let 63 KB TXT RRsets take about 70 GB under the default
caps; the byte cap must hold what the operating system sees. This fills the
RRset cache and the ready-made responses, split as the daemon splits them
(``settings.cache_bytes``), with half again as many ~64 KB TXT RRsets (and
responses) as the cap holds, then prints the process's RSS (``VmRSS`` in
``/proc/self/status``) and the bytes each cache accounts for.

    python -m bench.cache_bytes                    # the default cap
    python -m bench.cache_bytes --max-bytes 64MiB  # a smaller one, quicker
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import dns.message
import dns.rcode
import dns.rrset

from resolver.answers import AnswerCache
from resolver.cache import Cache, Rank
from resolver.clock import SystemClock
from resolver.config import Config
from resolver.messages import OUR_UDP_PAYLOAD, TCP_SIZE_LIMIT, parse_query, render_response
from resolver.question import Outcome
from resolver.settings import cache_bytes

#: 255 distinct 250-octet strings: a 64 KB TXT RRset (64,005 octets of RDATA).
_RDATAS = list(
    dns.rrset.from_text(
        "big.example.", 300, "IN", "TXT", *(f'"{n:03d}{"x" * 247}"' for n in range(255))
    )
)
#: Fewer strings for the ready-made responses: the whole response must fit 64 KiB.
_RESPONSE_RDATAS = _RDATAS[:240]
#: How many times more than the cap holds is stored.
OVERFILL = 1.5


def vm_rss() -> int:
    """This process's resident set, bytes (``VmRSS`` in ``/proc/self/status``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def fill(max_bytes: int) -> dict[str, float]:
    """Fill both caches past their share of ``max_bytes``; the figures."""
    config = Config.defaults().with_overrides({"cache.max_bytes": max_bytes}, source="bench")
    rrset_bytes, answer_bytes = cache_bytes(config)
    clock = SystemClock()
    cache = Cache(clock, max_entries=config["cache.max_entries"], max_bytes=rrset_bytes)
    answers = AnswerCache(
        clock,
        udp_payload=OUR_UDP_PAYLOAD,
        max_entries=config["cache.max_answers"],
        max_bytes=answer_bytes,
    )
    gc.collect()
    before = vm_rss()
    start = time.perf_counter()
    rrsets = int(rrset_bytes / 64_000 * OVERFILL)
    for index in range(rrsets):
        cache.store_rrset(
            dns.rrset.from_rdata_list(f"big{index}.example.", 300, _RDATAS), Rank.ANSWER
        )
    outcome = Outcome(
        rcode=dns.rcode.NOERROR,
        answer=(dns.rrset.from_rdata_list("big.example.", 300, _RESPONSE_RDATAS),),
    )
    first = dns.message.make_query("big.example.", "TXT").to_wire()
    response = render_response(parse_query(first), outcome, max_size=TCP_SIZE_LIMIT)
    templates = int(answer_bytes / (2 * len(response)) * OVERFILL)
    for index in range(templates):
        wire = dns.message.make_query(f"big{index}.example.", "TXT").to_wire()
        answers.remember(wire, bytes(response))  # a copy each, as the server renders anew
    gc.collect()
    after = vm_rss()
    return {
        "max_bytes": max_bytes,
        "rrsets_stored": rrsets,
        "rrsets_kept": cache.statistics().entries,
        "rrset_accounted_bytes": cache.accounted_bytes,
        "templates_stored": templates,
        "templates_kept": answers.statistics().entries,
        "template_accounted_bytes": answers.accounted_bytes,
        "accounted_bytes": cache.accounted_bytes + answers.accounted_bytes,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "rss_growth_bytes": after - before,
        "seconds": round(time.perf_counter() - start, 1),
    }


def _size(text: str) -> int:
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cache_bytes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-bytes", type=_size,
                        default=Config.defaults()["cache.max_bytes"],
                        help="the cap, bytes or with KiB/MiB/GiB (default: the default cap)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    result = fill(args.max_bytes)
    if args.json:
        print(json.dumps(result))
        return
    mib = 1 << 20
    print(f"cap {result['max_bytes'] / mib:.0f} MiB: "
          f"{result['rrsets_kept']:,} of {result['rrsets_stored']:,} 64 KB RRsets kept, "
          f"{result['templates_kept']:,} of {result['templates_stored']:,} responses kept")
    print(f"accounted {result['accounted_bytes'] / mib:.1f} MiB "
          f"(RRsets {result['rrset_accounted_bytes'] / mib:.1f}, "
          f"responses {result['template_accounted_bytes'] / mib:.1f}); "
          f"VmRSS {result['rss_after_bytes'] / mib:.1f} MiB "
          f"(+{result['rss_growth_bytes'] / mib:.1f} MiB) in {result['seconds']} s")


if __name__ == "__main__":
    main()
