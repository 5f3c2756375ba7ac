"""Behaviour of the RRset and negative cache: lifetimes, trust, staleness, bounds."""

from __future__ import annotations

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from dnssec.status import Security
from resolver.cache import Cache, Lifetimes, Rank
from resolver.clock import FakeClock
from resolver.errors import ConfigError

A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
MX = dns.rdatatype.MX
SERVER = "127.53.0.1"


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def a_rrset(owner: str = "www.example.", ttl: int = 300, *addresses: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(owner, ttl, "IN", "A", *(addresses or ("192.0.2.1",)))


def soa_rrset(ttl: int = 3600, minimum: int = 300) -> dns.rrset.RRset:
    return dns.rrset.from_text(
        "example.", ttl, "IN", "SOA", f"ns.example. admin.example. 1 7200 900 1209600 {minimum}"
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> Cache:
    return Cache(clock, lifetimes=Lifetimes(stale_window=600))


def test_remaining_ttl_counts_down_with_the_clock(cache: Cache, clock: FakeClock) -> None:
    assert cache.store_rrset(a_rrset(ttl=300), Rank.ANSWER, source=SERVER)
    clock.advance(100.5)
    hit = cache.lookup_rrset(name("www.example."), A)
    assert hit is not None
    assert hit.rrset.ttl == 199
    assert not hit.stale
    assert (hit.rank, hit.security, hit.source) == (Rank.ANSWER, Security.INDETERMINATE, SERVER)


def test_lookup_returns_all_records_and_a_copy_the_caller_cannot_alter_the_cache_through(
    cache: Cache,
) -> None:
    cache.store_rrset(a_rrset("www.example.", 300, "192.0.2.1", "192.0.2.2"), Rank.ANSWER)
    first = cache.lookup_rrset(name("www.example."), A)
    assert first is not None
    assert first.rrset == a_rrset("www.example.", 300, "192.0.2.1", "192.0.2.2")
    first.rrset.add(a_rrset("www.example.", 300, "203.0.113.7")[0])
    first.rrset.ttl = 5
    second = cache.lookup_rrset(name("www.example."), A)
    assert second is not None
    assert second.rrset == a_rrset("www.example.", 300, "192.0.2.1", "192.0.2.2")
    assert second.rrset.ttl == 300


def test_names_match_case_insensitively_and_come_back_lowercase(cache: Cache) -> None:
    cache.store_rrset(a_rrset("WWW.Example."), Rank.ANSWER)
    hit = cache.lookup_rrset(name("www.EXAMPLE."), A)
    assert hit is not None
    assert hit.rrset.name.labels == (b"www", b"example", b"")


def test_lookup_misses_other_types_and_names(cache: Cache) -> None:
    cache.store_rrset(a_rrset(), Rank.ANSWER)
    assert cache.lookup_rrset(name("www.example."), AAAA) is None
    assert cache.lookup_rrset(name("ftp.example."), A) is None


@pytest.mark.parametrize(
    ("ttl", "expected"), [(1, 60), (100, 100), (999_999, 3_600)], ids=["min", "inside", "max"]
)
def test_ttl_is_clamped_into_min_and_max(clock: FakeClock, ttl: int, expected: int) -> None:
    cache = Cache(clock, lifetimes=Lifetimes(min_ttl=60, max_ttl=3_600))
    cache.store_rrset(a_rrset(ttl=ttl), Rank.ANSWER)
    hit = cache.lookup_rrset(name("www.example."), A)
    assert hit is not None
    assert hit.rrset.ttl == expected


def test_ttl_zero_records_are_not_cached_without_a_min_ttl(clock: FakeClock) -> None:
    cache = Cache(clock)
    assert not cache.store_rrset(a_rrset(ttl=0), Rank.ANSWER)
    assert cache.lookup_rrset(name("www.example."), A) is None
    assert cache.statistics().refused_stores == 0


def test_ttl_zero_records_are_kept_for_the_min_ttl(clock: FakeClock) -> None:
    """The operator's floor applies to TTL 0 too, as Unbound's ``cache-min-ttl``
    (util/data/msgreply.c) and Knot's ``cache.min_ttl`` do (Deckard iter_minmaxttl);
    this test used to assert the opposite."""
    cache = Cache(clock, lifetimes=Lifetimes(min_ttl=60))
    assert cache.store_rrset(a_rrset(ttl=0), Rank.ANSWER)
    clock.advance(59)
    hit = cache.lookup_rrset(name("www.example."), A)
    assert hit is not None
    assert hit.rrset.ttl == 1


def test_rrsigs_share_the_rrset_lifetime_which_is_the_lesser_ttl(
    cache: Cache, clock: FakeClock
) -> None:
    rrsig = dns.rrset.from_text(
        "www.example.",
        100,
        "IN",
        "RRSIG",
        "A 13 2 300 20300101000000 20200101000000 12345 example. "
        "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8=",
    )
    cache.store_rrset(a_rrset(ttl=300), Rank.ANSWER, rrsigs=rrsig, security=Security.SECURE)
    clock.advance(40)
    hit = cache.lookup_rrset(name("www.example."), A)
    assert hit is not None
    assert hit.rrsigs is not None
    assert hit.rrsigs == rrsig
    assert hit.rrset.ttl == hit.rrsigs.ttl == 60
    assert hit.security is Security.SECURE


def test_rfc2181_lower_rank_is_refused_while_the_entry_is_fresh(cache: Cache) -> None:
    cache.store_rrset(a_rrset(), Rank.ANSWER)
    assert not cache.store_rrset(a_rrset("www.example.", 300, "198.51.100.9"), Rank.ADDITIONAL)
    hit = cache.lookup_rrset(name("www.example."), A)
    assert hit is not None
    assert hit.rrset == a_rrset("www.example.", 300, "192.0.2.1")
    assert cache.statistics().refused_stores == 1


@pytest.mark.parametrize("rank", [Rank.REFERRAL, Rank.AUTHORITY])
def test_rfc2181_equal_or_higher_rank_replaces(cache: Cache, rank: Rank) -> None:
    cache.store_rrset(a_rrset(), Rank.REFERRAL)
    assert cache.store_rrset(a_rrset("www.example.", 300, "198.51.100.9"), rank)
    hit = cache.lookup_rrset(name("www.example."), A)
    assert hit is not None
    assert (hit.rank, hit.rrset[0].to_text()) == (rank, "198.51.100.9")


def test_rfc2181_expired_entry_is_replaceable_by_any_rank(cache: Cache, clock: FakeClock) -> None:
    cache.store_rrset(a_rrset(ttl=60), Rank.ANSWER)
    clock.advance(60)
    assert cache.store_rrset(a_rrset(ttl=60), Rank.ADDITIONAL)
    hit = cache.lookup_rrset(name("www.example."), A)
    assert hit is not None
    assert (hit.rank, hit.stale) == (Rank.ADDITIONAL, False)


def test_rfc2308_negative_ttl_is_the_lesser_of_soa_ttl_and_minimum(cache: Cache) -> None:
    cache.store_negative(name("nx.example."), A, nxdomain=True, soa=soa_rrset(3600, 300))
    cache.store_negative(name("www.example."), MX, nxdomain=False, soa=soa_rrset(120, 300))
    nx = cache.lookup_negative(name("nx.example."), A)
    nodata = cache.lookup_negative(name("www.example."), MX)
    assert nx is not None
    assert nodata is not None
    assert (nx.nxdomain, nx.soa.ttl) == (True, 300)
    assert (nodata.nxdomain, nodata.soa.ttl) == (False, 120)
    assert nx.soa == soa_rrset(300, 300)


def test_negative_ttl_is_clamped_to_max_negative_ttl(clock: FakeClock) -> None:
    cache = Cache(clock, lifetimes=Lifetimes(max_negative_ttl=30))
    cache.store_negative(name("nx.example."), A, nxdomain=True, soa=soa_rrset())
    hit = cache.lookup_negative(name("nx.example."), A)
    assert hit is not None
    assert hit.soa.ttl == 30


def test_rfc9077_proof_records_bound_the_negative_ttl_and_are_returned(cache: Cache) -> None:
    nsec = dns.rrset.from_text("nx.example.", 50, "IN", "NSEC", "www.example. A RRSIG NSEC")
    cache.store_negative(name("nx.example."), A, nxdomain=True, soa=soa_rrset(), proof=[nsec])
    hit = cache.lookup_negative(name("nx.example."), A)
    assert hit is not None
    assert hit.proof == (nsec,)
    assert hit.soa.ttl == hit.proof[0].ttl == 50


def test_nxdomain_answers_every_type_of_the_name(cache: Cache) -> None:
    cache.store_negative(name("nx.example."), A, nxdomain=True, soa=soa_rrset(), source=SERVER)
    for rdtype in (A, AAAA, MX):
        hit = cache.lookup_negative(name("NX.example."), rdtype)
        assert hit is not None
        assert (hit.nxdomain, hit.source) == (True, SERVER)
    assert cache.lookup_negative(name("sub.nx.example."), A) is None


def test_nodata_answers_only_its_type(cache: Cache) -> None:
    cache.store_negative(name("www.example."), MX, nxdomain=False, soa=soa_rrset())
    assert cache.lookup_negative(name("www.example."), MX) is not None
    assert cache.lookup_negative(name("www.example."), AAAA) is None
    assert cache.lookup_rrset(name("www.example."), MX) is None


def test_positive_store_removes_nxdomain_and_nodata_of_its_type(cache: Cache) -> None:
    cache.store_negative(name("www.example."), A, nxdomain=True, soa=soa_rrset())
    cache.store_negative(name("www.example."), A, nxdomain=False, soa=soa_rrset())
    cache.store_negative(name("www.example."), MX, nxdomain=False, soa=soa_rrset())
    cache.store_rrset(a_rrset(), Rank.ANSWER)
    assert cache.lookup_negative(name("www.example."), A) is None
    assert cache.lookup_negative(name("www.example."), AAAA) is None
    assert cache.lookup_negative(name("www.example."), MX) is not None


def test_the_later_of_nxdomain_and_nodata_wins(cache: Cache, clock: FakeClock) -> None:
    cache.store_negative(name("www.example."), MX, nxdomain=False, soa=soa_rrset())
    clock.advance(10)
    cache.store_negative(name("www.example."), A, nxdomain=True, soa=soa_rrset())
    hit = cache.lookup_negative(name("www.example."), MX)
    assert hit is not None
    assert hit.nxdomain


def test_rfc8767_stale_data_is_returned_only_when_allowed(cache: Cache, clock: FakeClock) -> None:
    cache.store_rrset(a_rrset(ttl=60), Rank.ANSWER)
    cache.store_negative(name("nx.example."), A, nxdomain=True, soa=soa_rrset(60, 60))
    clock.advance(60)
    assert cache.lookup_rrset(name("www.example."), A) is None
    assert cache.lookup_negative(name("nx.example."), A) is None
    stale = cache.lookup_rrset(name("www.example."), A, allow_stale=True)
    stale_negative = cache.lookup_negative(name("nx.example."), A, allow_stale=True)
    assert stale is not None
    assert stale_negative is not None
    assert (stale.stale, stale.rrset.ttl) == (True, 0)
    assert (stale_negative.stale, stale_negative.soa.ttl) == (True, 0)


def test_rfc8767_stale_data_is_gone_after_the_stale_window(cache: Cache, clock: FakeClock) -> None:
    cache.store_rrset(a_rrset(ttl=60), Rank.ANSWER)
    clock.advance(60 + 599)
    assert cache.lookup_rrset(name("www.example."), A, allow_stale=True) is not None
    clock.advance(1)
    assert cache.lookup_rrset(name("www.example."), A, allow_stale=True) is None
    assert cache.statistics().entries == 0


def test_without_a_stale_window_expired_data_is_never_returned(clock: FakeClock) -> None:
    cache = Cache(clock)
    cache.store_rrset(a_rrset(ttl=60), Rank.ANSWER)
    clock.advance(60)
    assert cache.lookup_rrset(name("www.example."), A, allow_stale=True) is None


def test_bogus_data_is_kept_only_bogus_ttl_and_never_served_stale(
    cache: Cache, clock: FakeClock
) -> None:
    cache.store_rrset(a_rrset(ttl=3600), Rank.ANSWER, security=Security.BOGUS)
    cache.store_negative(
        name("nx.example."), A, nxdomain=True, soa=soa_rrset(), security=Security.BOGUS
    )
    hit = cache.lookup_rrset(name("www.example."), A)
    negative = cache.lookup_negative(name("nx.example."), A)
    assert hit is not None
    assert negative is not None
    assert (hit.rrset.ttl, hit.security) == (60, Security.BOGUS)
    assert negative.soa.ttl == 60
    clock.advance(60)
    assert cache.lookup_rrset(name("www.example."), A, allow_stale=True) is None
    assert cache.lookup_negative(name("nx.example."), A, allow_stale=True) is None


def test_flush_name_removes_every_entry_of_exactly_that_name(cache: Cache) -> None:
    cache.store_rrset(a_rrset("www.example."), Rank.ANSWER)
    cache.store_negative(name("www.example."), MX, nxdomain=False, soa=soa_rrset())
    cache.store_rrset(a_rrset("sub.www.example."), Rank.ANSWER)
    assert cache.flush_name(name("WWW.example.")) == 2
    assert cache.lookup_rrset(name("www.example."), A) is None
    assert cache.lookup_negative(name("www.example."), MX) is None
    assert cache.lookup_rrset(name("sub.www.example."), A) is not None


def test_flush_zone_removes_the_apex_and_names_below_on_label_boundaries(cache: Cache) -> None:
    for owner in ("example.", "a.example.", "b.c.example.", "notexample.", "example.org."):
        cache.store_rrset(a_rrset(owner), Rank.ANSWER)
    cache.store_negative(name("nx.example."), A, nxdomain=True, soa=soa_rrset())
    assert cache.flush_zone(name("Example.")) == 4
    remaining = [
        owner
        for owner in ("example.", "a.example.", "b.c.example.", "notexample.", "example.org.")
        if cache.lookup_rrset(name(owner), A) is not None
    ]
    assert remaining == ["notexample.", "example.org."]


def test_flush_all_empties_the_cache(cache: Cache) -> None:
    cache.store_rrset(a_rrset("a.example."), Rank.ANSWER)
    cache.store_negative(name("nx.example."), A, nxdomain=True, soa=soa_rrset())
    assert cache.flush_all() == 2
    assert cache.statistics().entries == 0
    assert cache.flush_zone(dns.name.root) == 0


def test_every_flush_changes_the_generation(cache: Cache) -> None:
    cache.store_rrset(a_rrset("a.example."), Rank.ANSWER)
    start = cache.generation
    # Nothing cached for b.example. any more, but a ready-made response
    # made from it may still be around: it must go too.
    assert cache.flush_name(name("b.example.")) == 0
    assert cache.generation > start
    cache.flush_name(name("a.example."))
    after_name = cache.generation
    cache.store_rrset(a_rrset("a.example."), Rank.ANSWER)
    cache.flush_zone(name("example."))
    after_zone = cache.generation
    cache.flush_all()
    assert start < after_name < after_zone < cache.generation


def test_size_bound_evicts_the_least_recently_used_entry(clock: FakeClock) -> None:
    cache = Cache(clock, max_entries=3)
    for owner in ("a.example.", "b.example.", "c.example."):
        cache.store_rrset(a_rrset(owner), Rank.ANSWER)
    assert cache.lookup_rrset(name("a.example."), A) is not None
    cache.store_negative(name("nx.example."), A, nxdomain=True, soa=soa_rrset())
    assert cache.lookup_rrset(name("b.example."), A) is None
    assert cache.lookup_rrset(name("a.example."), A) is not None
    assert cache.lookup_rrset(name("c.example."), A) is not None
    assert cache.statistics().entries == 3
    assert cache.statistics().evictions == 1


def test_stores_sweep_dead_entries_from_the_least_recently_used_end(clock: FakeClock) -> None:
    cache = Cache(clock)
    cache.store_rrset(a_rrset("short.example.", 10), Rank.ANSWER)
    cache.store_rrset(a_rrset("long.example.", 1000), Rank.ANSWER)
    clock.advance(10)
    cache.store_rrset(a_rrset("new.example."), Rank.ANSWER)
    stats = cache.statistics()
    assert (stats.entries, stats.evictions) == (2, 0)


def test_counters_count_hits_stale_hits_misses_and_refusals(cache: Cache, clock: FakeClock) -> None:
    cache.store_rrset(a_rrset(ttl=60), Rank.ANSWER)
    cache.store_rrset(a_rrset(ttl=60), Rank.ADDITIONAL)
    cache.lookup_rrset(name("www.example."), A)
    cache.lookup_negative(name("www.example."), A)
    clock.advance(60)
    cache.lookup_rrset(name("www.example."), A)
    cache.lookup_rrset(name("www.example."), A, allow_stale=True)
    stats = cache.statistics()
    assert (stats.hits, stats.stale_hits, stats.misses, stats.refused_stores) == (1, 1, 2, 1)


def test_no_room_is_a_config_error(clock: FakeClock) -> None:
    with pytest.raises(ConfigError):
        Cache(clock, max_entries=0)


@pytest.mark.parametrize(
    "limits",
    [{"min_ttl": 100, "max_negative_ttl": 50}, {"stale_window": -1}],
    ids=["min-above-max", "negative-window"],
)
def test_impossible_lifetimes_are_a_config_error(limits: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        Lifetimes(**limits)


def test_uncacheable_input_is_rejected(cache: Cache) -> None:
    empty = dns.rrset.RRset(name("www.example."), dns.rdataclass.IN, A)
    with pytest.raises(ValueError, match="non-empty"):
        cache.store_rrset(empty, Rank.ANSWER)
    with pytest.raises(ValueError, match="does not cover"):
        cache.store_rrset(a_rrset(), Rank.ANSWER, rrsigs=a_rrset())
    with pytest.raises(ValueError, match="SOA"):
        cache.store_negative(name("nx.example."), A, nxdomain=True, soa=a_rrset())


NAMES = ("a.example.", "B.example.", "c.d.example.")
STALE_WINDOW = 100.0
MAX_TTL = 300


class CacheLifetimes(RuleBasedStateMachine):
    """Random stores, clock moves and lookups never break the lifetime rules."""

    @initialize()
    def start(self) -> None:
        self.clock = FakeClock()
        self.cache = Cache(
            self.clock,
            lifetimes=Lifetimes(max_ttl=MAX_TTL, stale_window=STALE_WINDOW, bogus_ttl=30),
        )
        # (name, type) -> (expires_at, stored ttl, dead_at, rank, bogus) of the last accepted store
        self.model: dict[tuple[str, int], tuple[float, int, float, Rank, bool]] = {}

    @rule(
        owner=st.sampled_from(NAMES),
        rdtype=st.sampled_from([A, AAAA]),
        ttl=st.integers(0, 600),
        rank=st.sampled_from(Rank),
        bogus=st.booleans(),
    )
    def store(
        self, owner: str, rdtype: dns.rdatatype.RdataType, ttl: int, rank: Rank, bogus: bool
    ) -> None:
        rdata = "192.0.2.1" if rdtype == A else "2001:db8::1"
        rrset = dns.rrset.from_text(owner, ttl, "IN", dns.rdatatype.to_text(rdtype), rdata)
        security = Security.BOGUS if bogus else Security.SECURE
        stored = self.cache.store_rrset(rrset, rank, security=security)
        key = (owner.lower(), rdtype)
        now = self.clock.wall()
        previous = self.model.get(key)
        refused = previous is not None and (
            # A fresh entry yields to equal or higher rank; a bogus one to anything.
            (now < previous[0] and rank < previous[3] and not previous[4])
            # Bogus data never displaces good data that can still be served.
            or (bogus and not previous[4] and now < previous[2])
        )
        assert stored == (ttl > 0 and not refused)
        if stored:
            lifetime = min(ttl, MAX_TTL, 30 if bogus else MAX_TTL)
            window = 0.0 if bogus else STALE_WINDOW
            self.model[key] = (now + lifetime, lifetime, now + lifetime + window, rank, bogus)

    @rule(seconds=st.floats(0, 400, allow_nan=False))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(owner=st.sampled_from(NAMES), rdtype=st.sampled_from([A, AAAA]), allow=st.booleans())
    def lookup(self, owner: str, rdtype: dns.rdatatype.RdataType, allow: bool) -> None:
        hit = self.cache.lookup_rrset(name(owner), rdtype, allow_stale=allow)
        now = self.clock.wall()
        expected = self.model.get((owner.lower(), rdtype))
        if expected is None or now >= expected[2] or (now >= expected[0] and not allow):
            assert hit is None
            return
        expires_at, ttl, _, rank, _ = expected
        assert hit is not None
        assert hit.rank == rank
        assert hit.stale == (now >= expires_at)
        assert hit.rrset.ttl <= ttl
        assert hit.rrset.ttl == (0 if hit.stale else int(expires_at - now))


TestCacheLifetimes = CacheLifetimes.TestCase
TestCacheLifetimes.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
