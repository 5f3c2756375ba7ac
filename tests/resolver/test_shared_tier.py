"""The shared cache tier without Redis: sealed records, adoption rules, deadline and breaker.

A dict stands in for the store (``DictStore``); the Redis store itself is
exercised with a real ``redis-server`` in tests/scenarios/test_shared_cache.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.rrset
import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from dnssec.status import ExtendedError, Security
from resolver.breaker import CircuitBreaker
from resolver.cache import Cache, Lifetimes, Rank, _key
from resolver.clock import FakeClock
from resolver.commands import Commands
from resolver.lab import Lab
from resolver.lab.drill import lab_resolver
from resolver.metrics import collect, exposition, merge
from resolver.routes import RouteTable
from resolver.selection import ServerSelection
from resolver.shared_tier import FLUSHED_TYPES, SharedTier
from resolver.tier_format import TierFormatError, TierKeys
from rootzone.lifecycle import LocalRoot

A = dns.rdatatype.A
SECRET = b"sixteen byte secret, at least"
KEY = _key(dns.name.from_text("www.example."), A)


def a_rrset(owner: str = "www.example.", ttl: int = 300) -> dns.rrset.RRset:
    return dns.rrset.from_text(owner, ttl, "IN", "A", "192.0.2.1")


def rrsig_rrset(owner: str, covers: str, ttl: int = 300) -> dns.rrset.RRset:
    return dns.rrset.from_text(
        owner, ttl, "IN", "RRSIG",
        f"{covers} 13 2 300 20300101000000 20200101000000 12345 example. "
        "dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",
    )


def soa_rrset() -> dns.rrset.RRset:
    return dns.rrset.from_text(
        "example.", 3600, "IN", "SOA", "ns.example. admin.example. 1 7200 900 1209600 300"
    )


class DictStore:
    """A store in a dict, with a switch that makes every call hang (a SIGSTOPped Redis)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.hang = False
        self.calls = 0

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        yield

    async def _enter(self) -> None:
        self.calls += 1
        if self.hang:
            await trio.sleep_forever()

    async def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        await self._enter()
        return [self.data.get(key) for key in keys]

    async def put(self, key: bytes, value: bytes, lifetime_ms: int) -> None:
        await self._enter()
        self.data[key] = value

    async def delete(self, key: bytes) -> None:
        await self._enter()
        self.data.pop(key, None)

    async def ping(self) -> None:
        await self._enter()

    def forget(self, selects: Callable[[bytes], bool] | None) -> None:
        return None  # as Redis: the keys hide the names


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def cache_on(clock: FakeClock) -> Cache:
    return Cache(clock, lifetimes=Lifetimes(stale_window=600))


# --- the record format and keys ---------------------------------------------


def stored(cache: Cache, key: bytes) -> object:
    return cache._entries[key]


def test_a_sealed_record_opens_to_the_same_entry(clock: FakeClock) -> None:
    cache = cache_on(clock)
    cache.store_rrset(a_rrset(), Rank.ANSWER, security=Security.SECURE, source="192.0.2.53",
                      rrsigs=rrsig_rrset("www.example.", "A"),
                      error=ExtendedError(3, "stale"))
    cache.store_negative(dns.name.from_text("nx.example."), A, nxdomain=True, soa=soa_rrset(),
                         proof=[rrsig_rrset("example.", "SOA")], security=Security.INSECURE)
    keys = TierKeys(SECRET, "test")
    for key in (KEY, _key(dns.name.from_text("nx.example."), 0)):
        entry = stored(cache, key)
        assert keys.open(key, keys.seal(key, entry)) == entry  # type: ignore[arg-type]


def test_records_of_another_secret_or_moved_to_another_name_are_refused(clock: FakeClock) -> None:
    cache = cache_on(clock)
    cache.store_rrset(a_rrset(), Rank.ANSWER, security=Security.SECURE)
    entry = stored(cache, KEY)
    record = TierKeys(SECRET, "test").seal(KEY, entry)  # type: ignore[arg-type]
    with pytest.raises(TierFormatError, match="tag"):
        TierKeys(b"another deployment's secret", "test").open(KEY, record)
    other = _key(dns.name.from_text("bank.example."), A)
    with pytest.raises(TierFormatError, match="tag"):
        TierKeys(SECRET, "test").open(other, record)


def test_store_keys_are_namespaced_and_keyed(clock: FakeClock) -> None:
    ours, theirs = TierKeys(SECRET, "site-a"), TierKeys(b"x" * 16, "site-a")
    assert ours.store_key(KEY).startswith(b"site-a:")
    assert ours.store_key(KEY) != theirs.store_key(KEY)
    assert b"example" not in ours.store_key(KEY)
    with pytest.raises(ValueError, match="16 bytes"):
        TierKeys(b"short", "site-a")


@pytest.mark.parametrize("cut", [1, 5, 20, -17])
def test_truncated_or_altered_records_are_refused(clock: FakeClock, cut: int) -> None:
    cache = cache_on(clock)
    cache.store_rrset(a_rrset(), Rank.ANSWER)
    keys = TierKeys(SECRET, "test")
    record = keys.seal(KEY, stored(cache, KEY))  # type: ignore[arg-type]
    with pytest.raises(TierFormatError):
        keys.open(KEY, record[:cut])
    flipped = bytearray(record)
    flipped[cut] ^= 1
    with pytest.raises(TierFormatError):
        keys.open(KEY, bytes(flipped))


# --- adoption ----------------------------------------------------------------


def test_adopted_entries_keep_their_absolute_expiry_and_verdict(clock: FakeClock) -> None:
    writer, reader = cache_on(clock), cache_on(clock)
    writer.store_rrset(a_rrset(ttl=300), Rank.ANSWER, security=Security.INDETERMINATE)
    clock.advance(100)
    assert reader.adopt(KEY, stored(writer, KEY))  # type: ignore[arg-type]
    mine = writer.lookup_rrset(dns.name.from_text("www.example."), A)
    theirs = reader.lookup_rrset(dns.name.from_text("www.example."), A)
    assert mine is not None
    assert theirs is not None
    assert theirs.rrset.ttl == mine.rrset.ttl == 200
    assert theirs.security is Security.INDETERMINATE  # never promoted


def test_a_local_bogus_verdict_is_never_replaced_from_the_tier(clock: FakeClock) -> None:
    writer, reader = cache_on(clock), cache_on(clock)
    writer.store_rrset(a_rrset(), Rank.ANSWER, security=Security.SECURE)
    reader.store_rrset(a_rrset(), Rank.ANSWER, security=Security.BOGUS)
    assert not reader.adopt(KEY, stored(writer, KEY))  # type: ignore[arg-type]
    found = reader.lookup_rrset(dns.name.from_text("www.example."), A)
    assert found is not None
    assert found.security is Security.BOGUS


def test_fresh_local_data_wins_stale_local_data_gives_way(clock: FakeClock) -> None:
    writer, reader = cache_on(clock), cache_on(clock)
    reader.store_rrset(a_rrset(ttl=60), Rank.ANSWER, security=Security.SECURE)
    clock.advance(30)
    writer.store_rrset(a_rrset(ttl=300), Rank.ANSWER, security=Security.SECURE)
    entry = stored(writer, KEY)
    assert not reader.adopt(KEY, entry)  # type: ignore[arg-type]
    clock.advance(60)
    assert reader.adopt(KEY, entry)  # type: ignore[arg-type]


def test_bogus_and_dead_entries_are_not_adopted(clock: FakeClock) -> None:
    writer, reader = cache_on(clock), cache_on(clock)
    writer.store_rrset(a_rrset(), Rank.ANSWER, security=Security.BOGUS)
    assert not reader.adopt(KEY, stored(writer, KEY))  # type: ignore[arg-type]
    writer.store_rrset(a_rrset(ttl=60), Rank.ANSWER, security=Security.SECURE)
    entry = stored(writer, KEY)
    clock.advance(60 + 600)
    assert not reader.adopt(KEY, entry)  # type: ignore[arg-type]


def test_an_adopted_secure_nsec_serves_aggressive_denial(clock: FakeClock) -> None:
    writer, reader = cache_on(clock), cache_on(clock)
    nsec = dns.rrset.from_text("a.example.", 300, "IN", "NSEC", "d.example. A NSEC RRSIG")
    writer.store_rrset(nsec, Rank.AUTHORITY, security=Security.SECURE,
                       rrsigs=rrsig_rrset("a.example.", "NSEC"))
    key = _key(nsec.name, dns.rdatatype.NSEC)
    assert reader.adopt(key, stored(writer, key))  # type: ignore[arg-type]
    zone = dns.name.from_text("example.")
    assert reader.secure_nsec_zone(dns.name.from_text("b.example.")) == zone
    assert reader.secure_nsec_at_or_before(zone, dns.name.from_text("b.example.")) is not None


# --- the tier in front of a store ------------------------------------------------


async def started(tier: SharedTier, nursery: trio.Nursery) -> None:
    await nursery.start(tier.run)
    await trio.sleep(0.1)  # the first probe closes the breaker
    assert tier.breaker.closed


async def test_a_second_resolver_adopts_what_the_first_published(
    clock: FakeClock, autojump_clock: trio.abc.Clock
) -> None:
    store = DictStore()
    first, second = cache_on(clock), cache_on(clock)
    keys = TierKeys(SECRET, "test")
    async with trio.open_nursery() as nursery:
        tiers = [SharedTier(cache, keys, store, clock) for cache in (first, second)]
        for tier in tiers:
            await started(tier, nursery)
        first.store_rrset(
            dns.rrset.from_text("www.example.", 300, "IN", "CNAME", "web.example."),
            Rank.ANSWER, security=Security.SECURE,
        )
        first.store_rrset(a_rrset("web.example."), Rank.ANSWER, security=Security.SECURE)
        await trio.sleep(0.1)
        tier = tiers[1]
        await tier.fill(dns.name.from_text("www.example."), A)
        assert tier.stats.adopted == 2  # the CNAME and where it points
        found = second.lookup_rrset(dns.name.from_text("web.example."), A)
        assert found is not None
        assert found.security is Security.SECURE
        nursery.cancel_scope.cancel()


async def test_data_under_a_negative_trust_anchor_is_not_published(
    clock: FakeClock, autojump_clock: trio.abc.Clock
) -> None:
    """Insecure only because of this resolver's own NTA: another resolver,
    without that NTA, must validate the zone itself, not adopt the verdict."""
    store = DictStore()
    cache = cache_on(clock)
    keys = TierKeys(SECRET, "test")
    under = dns.name.from_text("example.")
    async with trio.open_nursery() as nursery:
        tier = SharedTier(
            cache, keys, store, clock, withheld=lambda name: name.is_subdomain(under)
        )
        await started(tier, nursery)
        cache.store_rrset(a_rrset("www.example."), Rank.ANSWER, security=Security.INSECURE)
        cache.store_rrset(a_rrset("www.other."), Rank.ANSWER, security=Security.INSECURE)
        await trio.sleep(0.1)
        published = set(store.data)
        assert keys.store_key(_key(dns.name.from_text("www.example."), A)) not in published
        assert keys.store_key(_key(dns.name.from_text("www.other."), A)) in published
        assert tier.stats.withheld == 1
        nursery.cancel_scope.cancel()


async def test_a_bogus_verdict_deletes_the_tiers_copy(
    clock: FakeClock, autojump_clock: trio.abc.Clock
) -> None:
    store = DictStore()
    cache = cache_on(clock)
    keys = TierKeys(SECRET, "test")
    async with trio.open_nursery() as nursery:
        tier = SharedTier(cache, keys, store, clock)
        await started(tier, nursery)
        cache.store_rrset(a_rrset(), Rank.ANSWER, security=Security.INDETERMINATE)
        await trio.sleep(0.1)
        assert keys.store_key(KEY) in store.data
        clock.advance(301)  # the cache takes the verdict in place of expired data
        assert cache.store_rrset(a_rrset(), Rank.ANSWER, security=Security.BOGUS)
        await trio.sleep(0.1)
        assert keys.store_key(KEY) not in store.data
        assert tier.stats.deleted == 1
        nursery.cancel_scope.cancel()


async def test_a_flush_deletes_the_copies_whose_keys_can_be_computed(
    clock: FakeClock, autojump_clock: trio.abc.Clock
) -> None:
    """Redis keys hide the names: a flush deletes the copies of what this cache held
    there and, for a name, of its common types (another host's AAAA here)."""
    store = DictStore()
    ours, theirs = cache_on(clock), cache_on(clock)
    keys = TierKeys(SECRET, "test")
    www, deep, far = (dns.name.from_text(text) for text in
                      ("www.example.", "a.b.example.", "c.example."))
    async with trio.open_nursery() as nursery:
        tier = SharedTier(ours, keys, store, clock)
        await started(tier, nursery)
        await started(SharedTier(theirs, keys, store, clock), nursery)
        for cache, owner in ((ours, "www.example."), (ours, "a.b.example."),
                             (theirs, "c.example.")):
            cache.store_rrset(a_rrset(owner), Rank.ANSWER, security=Security.SECURE)
        theirs.store_rrset(dns.rrset.from_text("www.example.", 300, "IN", "AAAA", "2001:db8::1"),
                           Rank.ANSWER, security=Security.SECURE)
        await trio.sleep(0.1)
        assert len(store.data) == 4
        handle = Commands(lambda: {}, RouteTable(clock, []), ServerSelection(clock), clock,
                          LocalRoot(clock.wall), ours, shared_tier=lambda: tier)

        reply = handle({"command": ["flush", "www.example."]})
        assert reply["shared_cache_removed"].endswith("queued for deletion in Redis "
                                                      "(Redis keys hide the names)")
        await trio.sleep(0.1)
        assert keys.store_key(_key(www, A)) not in store.data  # held here
        assert keys.store_key(_key(www, dns.rdatatype.AAAA)) not in store.data  # a common type
        handle({"command": ["flush", "zone", "example."]})
        await trio.sleep(0.1)
        assert keys.store_key(_key(deep, A)) not in store.data  # held here
        assert keys.store_key(_key(far, A)) in store.data  # below the zone, never held here
        # Deletions sent: the common types at www and at the apex, and a.b.example.'s A.
        assert tier.stats.flushed == 2 * len(FLUSHED_TYPES) + 1
        assert handle({"command": ["flush", "all"]})["shared_cache_removed"].startswith(
            "not flushed")
        await trio.sleep(0.1)
        assert keys.store_key(_key(far, A)) in store.data
        nursery.cancel_scope.cancel()


async def test_a_hung_store_costs_one_deadline_then_nothing_until_a_probe(
    clock: FakeClock, autojump_clock: trio.abc.Clock
) -> None:
    store = DictStore()
    cache = cache_on(clock)
    async with trio.open_nursery() as nursery:
        tier = SharedTier(cache, TierKeys(SECRET, "t"), store, clock, timeout=0.05,
                          retry_after=5.0)
        await started(tier, nursery)
        store.hang = True
        start = trio.current_time()
        await tier.fill(dns.name.from_text("www.example."), A)
        assert trio.current_time() - start == pytest.approx(0.05)
        assert not tier.breaker.closed
        calls = store.calls
        start = trio.current_time()
        for _ in range(100):
            await tier.fill(dns.name.from_text("www.example."), A)
            cache.store_rrset(a_rrset(), Rank.ANSWER)
        assert trio.current_time() == start  # no waiting at all
        assert store.calls == calls  # and no calls
        store.hang = False
        await trio.sleep(6)  # a probe (every 5 s, checked every 0.25 s) sees it back
        assert tier.breaker.closed
        nursery.cancel_scope.cancel()


def test_the_breaker_probes_once_per_interval() -> None:
    breaker = CircuitBreaker(retry_after=5.0)
    assert breaker.allows()
    assert not breaker.probe_due(0.0)
    breaker.failed(10.0)
    assert not breaker.allows()
    assert breaker.skipped == 1
    assert not breaker.probe_due(14.0)
    assert breaker.probe_due(15.0)
    breaker.failed(15.0)
    assert breaker.trips == 1
    assert not breaker.probe_due(19.0)
    breaker.succeeded()
    assert breaker.closed
    assert breaker.allows()



# --- the metrics ----------------------------------------------------------------------


async def test_the_metrics_show_lookups_by_result_publishes_and_the_breaker(
    lab: Lab, clock: FakeClock, tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    resolver = lab_resolver(lab, clock, tmp_path)
    store = DictStore()
    keys = TierKeys(SECRET, "test")
    tier = resolver.recursor.tier = SharedTier(resolver.cache, keys, store, clock, timeout=0.05)
    writer = cache_on(clock)
    async with trio.open_nursery() as nursery:
        await started(SharedTier(writer, keys, store, clock), nursery)
        await started(tier, nursery)
        writer.store_rrset(a_rrset(), Rank.ANSWER, security=Security.SECURE)
        await trio.sleep(0.1)
        await tier.fill(dns.name.from_text("www.example."), A)  # hit
        await tier.fill(dns.name.from_text("absent.example."), A)  # miss
        store.hang = True
        await tier.fill(dns.name.from_text("other.example."), A)  # failed: the deadline
        await tier.fill(dns.name.from_text("other.example."), A)  # skipped: the breaker
        nursery.cancel_scope.cancel()
    snapshot = collect(resolver)
    assert snapshot["shared_cache"]["lookups"] == {"hit": 1, "miss": 1, "failed": 1,
                                                   "skipped": 1}
    shown = {family.name: family for family in
             text_string_to_metric_families(exposition(merge([snapshot, snapshot])).decode())}

    def value(name: str, **labels: str) -> float:
        [found] = [s.value for s in shown[name].samples if s.labels == labels]
        return found

    assert value("holdfast_shared_cache_lookups", result="hit") == 2
    assert value("holdfast_shared_cache_lookups", result="skipped") == 2
    assert value("holdfast_shared_cache_store", store="redis") == 2  # workers using it
    assert value("holdfast_shared_cache_store", store="host") == 0
    assert value("holdfast_shared_cache_breaker_open") == 2
    assert value("holdfast_shared_cache_breaker_openings") == 2
    assert value("holdfast_shared_cache_adopted") == 2
    assert value("holdfast_shared_cache_call_failures", reason="timeout") == 2
    assert value("holdfast_shared_cache_call_failures", reason="error") == 0
    # Each call that ran is timed, the one out of time too (the skipped one never ran).
    durations = "holdfast_shared_cache_call_duration_seconds"

    def timed(suffix: str, **labels: str) -> float:
        [found] = [s.value for s in shown[durations].samples
                   if s.name == durations + suffix and s.labels == labels]
        return found

    assert timed("_count", call="get") == 2 * 3
    assert timed("_bucket", call="get", le="0.025") == 2 * 2  # at once (a dict)
    assert timed("_bucket", call="get", le="0.05") == 2 * 3  # the deadline, 50 ms
    assert timed("_sum", call="get") == pytest.approx(2 * 0.05)
    assert timed("_count", call="put") == 0  # this tier published nothing


def test_without_a_tier_the_shared_cache_series_are_zero(
    lab: Lab, clock: FakeClock, tmp_path: Path
) -> None:
    shown = {family.name: family for family in
             text_string_to_metric_families(exposition(collect(
                 lab_resolver(lab, clock, tmp_path))).decode())}
    assert {sample.value for sample in shown["holdfast_shared_cache_store"].samples} == {0}
    assert [sample.value for sample in shown["holdfast_shared_cache_lookups"].samples] == [0] * 4
