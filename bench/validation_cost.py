"""What DNSSEC validation costs per cold answer, over the lab catalogue.

For each secure name of the lab, a fresh resolver (empty cache, empty key
cache) resolves it over the in-memory lab, so every answer pays for its
whole chain: the root's DNSKEY against the anchor, each DS and DNSKEY down
to the zone, the answer, and the denial proof where there is one. The time
spent in the validator's checks (signatures, key matching, NSEC/NSEC3
proofs) is summed per answer; the figure is the median. The resolution's
total time with and without a trust anchor (everything insecure, no key
fetches) is printed next to it, in-memory and so without network time.

    python -m bench.validation_cost [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dns.name
import dns.rdatatype
import trio
import trio.testing

import resolver.validation as validation
from dnssec import signatures
from dnssec.anchors import TrustAnchors
from dnssec.status import Security
from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.iterator import Iterator as DnsIterator
from resolver.lab import Lab, LabTransport
from resolver.limits import Limits
from resolver.question import Outcome, Question
from resolver.selection import ServerSelection
from rootzone.hints import RootHints

#: Secure names of the lab catalogue: every signing algorithm, NSEC and NSEC3
#: denials, wildcards, an alias across zones.
NAMES = (
    ("www.example.com.", "A"),
    ("nx.example.com.", "A"),
    ("foo.wild.example.com.", "A"),
    ("www.example.com.", "MX"),
    ("alias.example.com.", "A"),
    ("www.example.net.", "A"),
    ("www.example.org.", "A"),
    ("www.nsec3.org.", "A"),
    ("nx.nsec3.org.", "A"),
    ("a.wild.nsec3.org.", "A"),
    ("www.rsa.org.", "A"),
    ("www.ecdsa.org.", "A"),
    ("www.ed25519.org.", "A"),
    ("www.rsasha1.org.", "A"),
    ("www.nsec3rsasha1.org.", "A"),
    ("www.rsasha512.org.", "A"),
    ("www.ecdsa384.org.", "A"),
    ("www.ed448.org.", "A"),
    ("www.noglue.com.", "A"),
)

#: The validator's checking functions, as ``resolver.validation`` calls them.
_CHECKS = (
    "validate_rrset",
    "zone_keys",
    "prove_nxdomain",
    "prove_nodata",
    "prove_wildcard_answer",
    "prove_no_ds",
)


@contextmanager
def timed_checks() -> Iterator[list[float]]:
    """Sum the time spent in the validator's checks into the yielded one-item list."""
    spent = [0.0]
    originals = {name: getattr(validation, name) for name in _CHECKS}

    def timed(check: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return check(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started

        return wrapper

    for name, check in originals.items():
        setattr(validation, name, timed(check))
    try:
        yield spent
    finally:
        for name, check in originals.items():
            setattr(validation, name, check)


async def resolve_cold(
    lab: Lab, clock: FakeClock, name: str, rdtype: str, *, anchored: bool
) -> Outcome:
    """Resolve one question with a fresh resolver over the in-memory lab."""
    cache = Cache(clock)
    anchors = (
        TrustAnchors.from_text(lab.trust_anchor_text(), source="lab")
        if anchored
        else TrustAnchors(())
    )
    iterator = DnsIterator(
        cache=cache,
        selection=ServerSelection(clock),
        hints=RootHints.from_text(lab.root_hints_text(), source="lab"),
        limits=Limits(),
        validator=validation.Validator(anchors=anchors, cache=cache, clock=clock),
    )
    question = Question(dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
    return await run_exchange(iterator.resolve(question), LabTransport(lab))


async def measure(rounds: int) -> dict[str, float]:
    clock = FakeClock()
    lab = Lab.build(clock)
    costs: list[float] = []
    with_anchor: list[float] = []
    without_anchor: list[float] = []
    for _ in range(rounds):
        for name, rdtype in NAMES:
            # Cold means cold: no public key parsed by an earlier answer.
            signatures.parsed_keys_clear()
            with timed_checks() as spent:
                started = time.perf_counter()
                outcome = await resolve_cold(lab, clock, name, rdtype, anchored=True)
                with_anchor.append(time.perf_counter() - started)
            if outcome.security is not Security.SECURE:
                raise SystemExit(f"{name} {rdtype} is {outcome.security.value}, not secure")
            costs.append(spent[0])
            started = time.perf_counter()
            await resolve_cold(lab, clock, name, rdtype, anchored=False)
            without_anchor.append(time.perf_counter() - started)
    return {
        "answers": len(costs),
        "validation_ms_median": statistics.median(costs) * 1000,
        "validation_ms_p90": statistics.quantiles(costs, n=10)[-1] * 1000,
        "resolution_ms_median_validating": statistics.median(with_anchor) * 1000,
        "resolution_ms_median_not_validating": statistics.median(without_anchor) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = trio.run(measure, args.rounds, clock=trio.testing.MockClock(autojump_threshold=0))
    print(
        f"{figures['answers']:.0f} cold secure answers ({len(NAMES)} names x {args.rounds}): "
        f"validation {figures['validation_ms_median']:.2f} ms median "
        f"(p90 {figures['validation_ms_p90']:.2f} ms) per answer; whole in-memory resolution "
        f"{figures['resolution_ms_median_validating']:.2f} ms validating vs "
        f"{figures['resolution_ms_median_not_validating']:.2f} ms without a trust anchor"
    )


if __name__ == "__main__":
    main()
