"""Behaviour of server selection: RTT band, back-off, down/broken marks, EDNS memory."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resolver.clock import FakeClock
from resolver.selection import (
    BROKEN_TTL,
    DOWN_TIME,
    HOLDDOWN,
    MAX_HOLDDOWN,
    MAX_RTO,
    MIN_RTO,
    NO_EDNS_TIME,
    UNKNOWN_RTO,
    ServerSelection,
)

FAST, MEDIUM, SLOW = "127.53.0.1", "127.53.0.2", "127.53.0.3"


def make(seed: int = 7, **kwargs: int) -> tuple[ServerSelection, FakeClock]:
    clock = FakeClock()
    return ServerSelection(clock, rng=random.Random(seed), **kwargs), clock


def measure(selection: ServerSelection, address: str, rtt: float, times: int = 10) -> None:
    for _ in range(times):
        selection.report_rtt(address, rtt)


def test_unknown_server_gets_unbound_niceness_timeout() -> None:
    selection, _ = make()
    assert selection.timeout_for(FAST) == pytest.approx(UNKNOWN_RTO)


def test_rto_follows_jacobson_karels_and_is_clamped() -> None:
    selection, _ = make()
    selection.report_rtt(FAST, 0.1)  # srtt 0.1, rttvar 0.05
    assert selection.timeout_for(FAST) == pytest.approx(0.3)
    selection.report_rtt(FAST, 0.1)  # rttvar 0.0375
    assert selection.timeout_for(FAST) == pytest.approx(0.25)
    measure(selection, MEDIUM, 0.001, times=50)
    assert selection.timeout_for(MEDIUM) == pytest.approx(0.05)
    selection.report_rtt(SLOW, 5.0)
    assert selection.timeout_for(SLOW) == MAX_RTO


def test_fastest_in_band_servers_share_load_and_slow_one_is_left_alone() -> None:
    selection, _ = make()
    measure(selection, FAST, 0.02)
    measure(selection, SLOW, 1.2)
    unknown = "127.53.0.9"
    picks = Counter(selection.choose([FAST, SLOW, unknown]) for _ in range(1000))
    assert picks[SLOW] == 0
    # The unknown server is within 400 ms of the best, so it gets probed.
    assert picks[FAST] > 350
    assert picks[unknown] > 350


def test_exclude_is_honoured() -> None:
    selection, _ = make()
    measure(selection, FAST, 0.02)
    measure(selection, SLOW, 1.2)
    assert {selection.choose([FAST, SLOW], exclude={FAST}) for _ in range(50)} == {SLOW}
    assert selection.choose([FAST, SLOW], exclude=[FAST, SLOW]) is None
    assert selection.choose([]) is None


def test_consecutive_timeouts_double_the_timeout_up_to_the_cap() -> None:
    selection, _ = make()
    measure(selection, FAST, 0.1)
    base = selection.timeout_for(FAST)
    selection.report_timeout(FAST)
    assert selection.timeout_for(FAST) == pytest.approx(2 * base)
    selection.report_timeout(FAST)
    assert selection.timeout_for(FAST) == pytest.approx(4 * base)
    for _ in range(10):
        selection.report_timeout(FAST)
    assert selection.timeout_for(FAST) == MAX_RTO


def test_a_reply_clears_the_back_off() -> None:
    selection, _ = make()
    selection.report_timeout(FAST)
    selection.report_timeout(FAST)
    selection.report_rtt(FAST, 0.1)
    assert selection.timeout_for(FAST) == pytest.approx(0.3)


def test_three_timeouts_mark_down_until_the_down_time_passes() -> None:
    selection, clock = make()
    for _ in range(3):
        selection.report_timeout(FAST)
    assert {selection.choose([FAST, MEDIUM]) for _ in range(50)} == {MEDIUM}
    assert selection.statistics().servers[0].down

    clock.advance(DOWN_TIME + 1)
    assert FAST in {selection.choose([FAST, MEDIUM]) for _ in range(50)}
    assert selection.timeout_for(FAST) == pytest.approx(UNKNOWN_RTO)
    # The probe times out too: down again at once.
    selection.report_timeout(FAST)
    assert {selection.choose([FAST, MEDIUM]) for _ in range(50)} == {MEDIUM}


def test_a_reply_from_a_probed_server_restores_it() -> None:
    selection, clock = make()
    for _ in range(3):
        selection.report_timeout(FAST)
    clock.advance(DOWN_TIME + 1)
    selection.report_rtt(FAST, 0.02)
    selection.report_timeout(FAST)
    assert not selection.statistics().servers[0].down
    assert selection.timeout_for(FAST) == pytest.approx(2 * 0.06)


def test_two_timeouts_do_not_mark_down() -> None:
    selection, _ = make()
    selection.report_timeout(FAST)
    selection.report_timeout(FAST)
    assert selection.choose([FAST]) == FAST
    assert not selection.statistics().servers[0].down


def test_broken_server_is_avoided_for_that_zone_only() -> None:
    selection, clock = make()
    selection.report_broken(FAST, "Example.", "lame")
    for _ in range(50):
        assert selection.choose([FAST, MEDIUM], zone="example") == MEDIUM
    assert {selection.choose([FAST, MEDIUM], zone="other.") for _ in range(50)} == {FAST, MEDIUM}
    assert {selection.choose([FAST, MEDIUM]) for _ in range(50)} == {FAST, MEDIUM}

    clock.advance(BROKEN_TTL + 1)
    assert FAST in {selection.choose([FAST, MEDIUM], zone="example.") for _ in range(50)}


def test_broken_ttl_is_configurable() -> None:
    selection, clock = make(broken_ttl=10)
    selection.report_broken(FAST, "example.", "REFUSED")
    clock.advance(11)
    assert selection.choose([FAST], exclude=(), zone="example.") == FAST
    assert selection.statistics().servers[0].broken == ()


def test_a_server_that_sent_bogus_data_is_held_down_for_that_zone_doubling_on_repeat() -> None:
    selection, clock = make()
    assert selection.report_bogus(FAST, "com.", "signature expired") == HOLDDOWN
    assert {selection.choose([FAST, MEDIUM], zone="com.") for _ in range(50)} == {MEDIUM}
    assert FAST in {selection.choose([FAST, MEDIUM], zone="net.") for _ in range(50)}
    [stats] = [s for s in selection.statistics().servers if s.address == FAST]
    assert [(mark.zone, mark.reason) for mark in stats.broken] == [
        ("com.", "bogus: signature expired")
    ]
    clock.advance(HOLDDOWN + 1)
    assert FAST in {selection.choose([FAST, MEDIUM], zone="com.") for _ in range(50)}
    assert selection.report_bogus(FAST, "com.", "again") == 2 * HOLDDOWN
    assert selection.report_bogus(FAST, "com.", "again") == 4 * HOLDDOWN
    for _ in range(10):
        selection.report_bogus(FAST, "com.", "again")
    assert selection.report_bogus(FAST, "com.", "again") == MAX_HOLDDOWN


def test_when_all_are_bad_the_least_bad_is_still_probed() -> None:
    selection, clock = make()
    selection.report_broken(MEDIUM, "example.", "SERVFAIL")  # avoided until 120
    clock.advance(70)
    for _ in range(3):
        selection.report_timeout(FAST)  # down until 130
    assert selection.choose([FAST, MEDIUM], zone="example.") == MEDIUM
    clock.advance(20)
    for _ in range(3):
        selection.report_timeout(SLOW)  # down until 150
    assert selection.choose([FAST, SLOW]) == FAST
    assert selection.choose([FAST, SLOW], exclude={FAST}) == SLOW


def test_edns_is_skipped_for_a_while_after_rejection_then_tried_again() -> None:
    selection, clock = make()
    assert selection.uses_edns(FAST)
    selection.report_no_edns(FAST)
    assert not selection.uses_edns(FAST)
    assert selection.uses_edns(MEDIUM)
    clock.advance(NO_EDNS_TIME - 1)
    assert not selection.uses_edns(FAST)
    clock.advance(2)
    assert selection.uses_edns(FAST)


def test_memory_is_bounded() -> None:
    selection, _ = make(max_entries=3)
    for i in range(10):
        selection.report_rtt(f"127.53.1.{i}", 0.01)
    assert selection.statistics().entries == 3


def test_statistics_snapshot() -> None:
    selection, _ = make()
    selection.report_rtt(FAST, 0.1)
    selection.report_broken(FAST, "example.", "lame")
    selection.report_no_edns(MEDIUM)
    stats = selection.statistics()
    assert stats.entries == 2
    fast, medium = stats.servers
    assert (fast.address, fast.down, fast.edns) == (FAST, False, True)
    assert fast.srtt == pytest.approx(0.1)
    assert fast.rto == pytest.approx(0.3)
    assert [(mark.zone, mark.reason) for mark in fast.broken] == [("example.", "lame")]
    assert (medium.srtt, medium.edns) == (None, False)


ADDRESSES = st.sampled_from([f"127.53.2.{i}" for i in range(6)])
REPORTS = st.one_of(
    st.tuples(st.just("rtt"), ADDRESSES, st.floats(0, 10)),
    st.tuples(st.just("timeout"), ADDRESSES, st.none()),
    st.tuples(st.just("broken"), ADDRESSES, st.none()),
    st.tuples(st.just("advance"), ADDRESSES, st.floats(0, 200)),
)


@given(
    reports=st.lists(REPORTS, max_size=40),
    candidates=st.lists(ADDRESSES, max_size=6),
    exclude=st.sets(ADDRESSES),
    seed=st.integers(0, 2**32),
)
def test_choose_only_returns_allowed_candidates(
    reports: list[tuple[str, str, float | None]],
    candidates: list[str],
    exclude: set[str],
    seed: int,
) -> None:
    selection, clock = make(seed, max_entries=4)
    for kind, address, value in reports:
        if kind == "rtt":
            assert value is not None
            selection.report_rtt(address, value)
        elif kind == "timeout":
            selection.report_timeout(address)
        elif kind == "broken":
            selection.report_broken(address, "example.", "lame")
        else:
            assert value is not None
            clock.advance(value)
    allowed = set(candidates) - exclude
    for zone in (None, "example."):
        chosen = selection.choose(candidates, exclude, zone=zone)
        if allowed:
            assert chosen in allowed
        else:
            assert chosen is None
        assert MIN_RTO <= selection.timeout_for(chosen or FAST) <= MAX_RTO
