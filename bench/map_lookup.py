"""What a miss in a worker's front costs when the host's map holds the entry (issue 22).

With ``--workers N`` a worker's in-process RRset cache is only the front of
the host's LMDB map (``resolver.host_cache.cache_shares``): an RRset it does
not hold is looked up in the map (``SharedTier.fill``: one LMDB read of
three keys, the record opened and checked, ``Cache.adopt``) before the
resolution goes on from the cache. This bench times that step alone, in
process time, against a lookup the front answers (``Cache.lookup_rrset``),
over signed-sized RRsets (an A record with an ECDSA-sized RRSIG, as the
lab's bench.com serves).

    python -m bench.map_lookup [--names 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import dns.name
import dns.rdatatype
import dns.rrset
import trio

from dnssec.status import Security
from resolver.cache import Cache, Lifetimes, Rank
from resolver.clock import FakeClock
from resolver.host_cache import host_cache

#: An RRSIG of the size the lab's ECDSA P-256 signatures have (64 bytes of signature).
_RRSIG = ("A 13 3 300 20370101000000 20260101000000 12345 bench.com. "
          + "A" * 86 + "==")


def _rrsets(index: int) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    owner = dns.name.from_text(f"n{index}.bench.com.")
    return (dns.rrset.from_text(owner, 300, "IN", "A", "192.0.2.1"),
            dns.rrset.from_text(owner, 300, "IN", "RRSIG", _RRSIG))


async def _measure(names: int) -> dict[str, Any]:
    clock = FakeClock()
    with host_cache(256 << 20) as shared:
        if shared is None:
            raise RuntimeError("no map could be made here")
        writer, reader = (Cache(clock, lifetimes=Lifetimes()) for _ in range(2))
        owners = [dns.name.from_text(f"n{index}.bench.com.") for index in range(names)]
        # LMDB opens a map once per process: the writer's tier is closed
        # before the reader's opens (workers are separate processes).
        async with trio.open_nursery() as nursery:
            publisher = shared.tier(writer, clock)
            await nursery.start(publisher.run)
            await trio.sleep(1.1)  # the first probe finds the map open
            for index in range(names):
                rrset, rrsigs = _rrsets(index)
                writer.store_rrset(rrset, Rank.ANSWER, security=Security.SECURE, rrsigs=rrsigs)
                if index % 1_000 == 999:
                    await trio.sleep(0.1)  # the publishing task drains its queue
            await trio.sleep(0.5)
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            tier = shared.tier(reader, clock)
            await nursery.start(tier.run)
            await trio.sleep(1.1)
            began = time.process_time()
            for owner in owners:
                await tier.fill(owner, dns.rdatatype.A)
            from_map = time.process_time() - began
            began = time.process_time()
            for owner in owners:
                reader.lookup_rrset(owner, dns.rdatatype.A)
            from_front = time.process_time() - began
            nursery.cancel_scope.cancel()
    return {"names": names, "published": publisher.stats.published,
            "adopted": tier.stats.adopted,
            "map_fill_us": round(from_map / names * 1e6, 1),
            "front_lookup_us": round(from_front / names * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = trio.run(_measure, args.names)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['adopted']} of {result['names']} RRsets adopted from the map: "
              f"{result['map_fill_us']} us of process time each; a front hit "
              f"{result['front_lookup_us']} us")


if __name__ == "__main__":
    main()
