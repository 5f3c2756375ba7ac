"""How aggressive NSEC/NSEC3 (RFC 8198) blunts a random-subdomain flood, over the lab.

A random-subdomain ("water torture") attack asks a resolver for names that
do not exist under a victim zone, each one new, so no negative answer is
ever asked twice and every query would reach the zone's servers. With
``[dnssec] aggressive_nsec`` on, the resolver answers any name a cached
NSEC or NSEC3 covers itself (``resolver.aggressive``): once the few spans of
a small signed zone are cached, the flood stops at the resolver. A zone
with many names has many spans to learn, so the gain there grows with the
flood. In an NSEC3 zone with opt-out spans (the lab's nsec3.org has an
unsigned delegation) a name hashed into such a span is asked upstream every
time: opt-out proves nothing (RFC 8198 section 4).

For each zone, one resolver (its cache warmed with the zone's keys by one
real name) is asked N random names, in process over the in-memory lab, with
the option on and then off; the figure is the upstream queries sent for
the flood. Deterministic (fixed seed, simulated time).

    python -m bench.random_subdomain [--names 2000] [--seed 8198]
"""

from __future__ import annotations

import argparse
import random
import string

import dns.name
import dns.rcode
import dns.rdatatype
import trio
import trio.testing

from dnssec.anchors import TrustAnchors
from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.iterator import Iterator
from resolver.lab import Lab, LabTransport
from resolver.limits import Limits
from resolver.question import Question
from resolver.selection import ServerSelection
from resolver.validation import Validator
from rootzone.hints import RootHints

#: Signed zones of the lab: a small NSEC one (a dozen names), the
#: 100,000-name NSEC benchmark zone, and a small NSEC3 one with opt-out.
ZONES = ("example.com.", "bench.com.", "nsec3.org.")


def random_names(zone: str, count: int, seed: int) -> list[str]:
    """``count`` distinct random labels under ``zone``, as a flood's bot would send."""
    rng = random.Random(f"{seed}:{zone}")
    alphabet = string.ascii_lowercase + string.digits
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choices(alphabet, k=12)) + "." + zone)
    return sorted(names, key=lambda _: rng.random())


async def flood(lab: Lab, zone: str, names: list[str], *, aggressive: bool) -> dict[str, int]:
    """Ask ``names`` of one resolver; the upstream queries the flood itself caused."""
    clock = FakeClock()
    cache = Cache(clock)
    transport = LabTransport(lab)
    iterator = Iterator(
        cache=cache,
        selection=ServerSelection(clock),
        hints=RootHints.from_text(lab.root_hints_text(), source="lab"),
        limits=Limits(),
        validator=Validator(
            anchors=TrustAnchors.from_text(lab.trust_anchor_text(), source="lab"),
            cache=cache,
            clock=clock,
        ),
        aggressive_nsec=aggressive,
    )

    async def ask(name: str) -> dns.rcode.Rcode:
        question = Question(dns.name.from_text(name), dns.rdatatype.A)
        return (await run_exchange(iterator.resolve(question), transport)).rcode

    await ask("www." + zone)  # the zone's cut and keys, as any earlier client would
    before = len(transport.sent)
    nxdomain = 0
    for name in names:
        nxdomain += await ask(name) == dns.rcode.NXDOMAIN
        clock.advance(0.01)  # 100 queries a second of simulated time
    return {
        "names": len(names),
        "nxdomain": nxdomain,
        "upstream_queries": len(transport.sent) - before,
        "synthesised": iterator.synthesised,
    }


async def measure(count: int, seed: int) -> dict[str, dict[str, dict[str, int]]]:
    lab = Lab.build(FakeClock())
    figures: dict[str, dict[str, dict[str, int]]] = {}
    for zone in ZONES:
        names = random_names(zone, count, seed)
        figures[zone] = {
            "on": await flood(lab, zone, names, aggressive=True),
            "off": await flood(lab, zone, names, aggressive=False),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=8198)
    args = parser.parse_args()
    figures = trio.run(
        measure, args.names, args.seed, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    for zone, runs in figures.items():
        on, off = runs["on"], runs["off"]
        saved = 1 - on["upstream_queries"] / off["upstream_queries"]
        print(
            f"{zone} {on['names']} random names (NXDOMAIN {on['nxdomain']} on, "
            f"{off['nxdomain']} off): upstream queries {on['upstream_queries']} with "
            f"aggressive NSEC/NSEC3 ({on['synthesised']} answers synthesised) vs "
            f"{off['upstream_queries']} without: {saved:.1%} fewer"
        )


if __name__ == "__main__":
    main()
