"""The workers' shared cache map: two workers' tiers over one LMDB map, and a full map."""

from __future__ import annotations

from pathlib import Path

import dns.name
import dns.rdatatype
import dns.rrset
import trio

from dnssec.status import Security
from resolver.cache import Cache, Lifetimes, Rank
from resolver.clock import FakeClock
from resolver.config import Config
from resolver.daemon import build, commands
from resolver.host_cache import FRONT_SHARE, HostCache, LmdbStore, cache_shares, host_cache
from resolver.lab import Lab
from resolver.lab.drill import lab_resolver
from resolver.redis_store import RedisStore
from resolver.settings import cache_bytes
from resolver.shared_tier import FLUSHED_TYPES, RedisSettings, SharedTier
from resolver.tier_format import TierKeys

WWW = dns.name.from_text("www.example.")


async def test_a_second_worker_finds_what_the_first_learned(
    autojump_clock: trio.abc.Clock
) -> None:
    """Workers are processes; here one after the other (LMDB opens a map once per process)."""
    clock = FakeClock()
    with host_cache(1 << 20) as shared:
        assert shared is not None
        first, second = (Cache(clock, lifetimes=Lifetimes()) for _ in range(2))
        async with trio.open_nursery() as nursery:
            await nursery.start(shared.tier(first, clock).run)
            await trio.sleep(1)  # the first probe finds the map open
            first.store_rrset(dns.rrset.from_text(WWW, 300, "IN", "A", "192.0.2.1"),
                              Rank.ANSWER, security=Security.SECURE)
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
        clock.advance(10)
        async with trio.open_nursery() as nursery:
            tier = shared.tier(second, clock)
            await nursery.start(tier.run)
            await trio.sleep(1)
            await tier.fill(WWW, dns.rdatatype.A)
            nursery.cancel_scope.cancel()
        found = second.lookup_rrset(WWW, dns.rdatatype.A)
        assert found is not None
        assert found.rrset.ttl == 290
        assert found.security is Security.SECURE


async def test_a_full_map_is_emptied_and_takes_the_new_record() -> None:
    with host_cache(1 << 20) as shared:
        assert shared is not None
        store = LmdbStore(Path(shared.path), shared.map_size)
        async with store.connected():
            for index in range(400):
                await store.put(b"k%d" % index, bytes(4_000), 1_000)
            assert store.clears >= 1
            last = b"k399"
            assert await store.get_many([last, b"absent"]) == [bytes(4_000), None]
            await store.delete(last)
            assert await store.get_many([last]) == [None]


def test_a_map_the_host_cannot_hold_is_refused() -> None:
    with host_cache(1 << 50) as shared:  # a petabyte: fallocate fails
        assert shared is None


def test_the_map_is_private_and_removed_afterwards() -> None:
    with host_cache(1 << 20) as shared:
        assert shared is not None
        assert Path(shared.path).stat().st_mode & 0o077 == 0
    assert not Path(shared.path).exists()


async def test_ctl_flush_removes_the_maps_records_as_well(
    lab: Lab, clock: FakeClock, tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """Else the next miss adopts from the map what the operator just flushed."""
    with host_cache(1 << 20) as shared:
        assert shared is not None
        resolver = lab_resolver(lab, clock, tmp_path)
        tier = resolver.recursor.tier = shared.tier(resolver.cache, clock)
        handle = commands(resolver)
        async with trio.open_nursery() as nursery:
            await nursery.start(tier.run)
            await trio.sleep(1)
            for owner in ("www.example.", "a.b.example.", "www.example.org."):
                resolver.cache.store_rrset(
                    dns.rrset.from_text(owner, 300, "IN", "A", "192.0.2.1"), Rank.ANSWER)
            await trio.sleep(0.1)
            assert handle({"command": ["flush", "www.example."]})["shared_cache_removed"] == 1
            await tier.fill(WWW, dns.rdatatype.A)
            assert resolver.cache.lookup_rrset(WWW, dns.rdatatype.A) is None
            reply = handle({"command": ["flush", "zone", "example."]})
            assert reply["shared_cache_removed"] == 1  # a.b.example., not www.example.org.
            assert handle({"command": ["flush", "all"]})["shared_cache_removed"] == 1
            nursery.cancel_scope.cancel()


async def test_a_redis_tier_is_flushed_by_computed_keys_but_not_emptied(
    lab: Lab, clock: FakeClock, tmp_path: Path
) -> None:
    resolver = lab_resolver(lab, clock, tmp_path)
    assert "shared_cache_removed" not in commands(resolver)({"command": ["flush", "all"]})
    resolver.recursor.tier = SharedTier(resolver.cache, TierKeys(b"s" * 16, "t"),
                                        RedisStore(RedisSettings((("127.0.0.1", 9),)), 0.05),
                                        clock)
    reply = commands(resolver)({"command": ["flush", "www.example."]})
    assert reply["shared_cache_removed"].startswith(f"{len(FLUSHED_TYPES)} copies queued")
    reply = commands(resolver)({"command": ["flush", "all"]})
    assert reply["shared_cache_removed"].startswith("not flushed")


def test_with_the_map_the_workers_rrset_fronts_split_a_share_of_the_budget() -> None:
    """The map holds the host's RRsets: the fronts take FRONT_SHARE of their part together.

    The ready-made answers are not in the map: the workers split their part
    as one process's.
    """
    config = Config.defaults().with_overrides({"workers.count": 4}, source="test")
    shared = HostCache("/nonexistent", bytes(32), 1 << 20)
    assert cache_shares(config, shared) == (FRONT_SHARE / 4, 1 / 4)
    assert FRONT_SHARE < 1 / 2  # the fronts and the map do not hold the data twice over
    assert cache_shares(config, None) == (1, 1)  # no map: each worker is a whole cache


def test_a_front_keeps_its_share_of_max_bytes() -> None:
    """Filled with more than its share holds, a worker's RRset cache stays within the share."""
    total = 8 << 20
    config = Config.defaults().with_overrides({"cache.max_bytes": total}, source="test")
    held = {}
    front = FRONT_SHARE / 4
    for share in (1.0, front):
        resolver = build(config, FakeClock(), cache_shares=(share, 1.0))
        for index in range(10_000):  # about 2.5 MiB accounted
            owner = dns.name.from_text(f"n{index}.example.")
            resolver.cache.store_rrset(dns.rrset.from_text(owner, 300, "IN", "A", "192.0.2.1"),
                                       Rank.ANSWER, security=Security.INSECURE)
        held[share] = resolver.cache.accounted_bytes
    rrset_bytes, _ = cache_bytes(config)
    assert held[front] <= rrset_bytes * front
    assert held[1.0] > rrset_bytes * front  # whole, it would have kept more
