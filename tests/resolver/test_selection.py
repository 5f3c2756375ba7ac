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
    HoldDown,
    ServerSelection,
)

FAST, MEDIUM, SLOW = "127.53.0.1", "127.53.0.2", "127.53.0.3"


def make(seed: int = 7, **kwargs: float) -> tuple[ServerSelection, FakeClock]:
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


def test_max_rto_is_the_ceiling_of_measured_and_backed_off_timeouts() -> None:
    """``[upstream] max_timeout``: a server slower than 2 s can still be waited for."""
    patient, _ = make(max_rto=8.0)
    patient.report_rtt(SLOW, 1.5)
    assert patient.timeout_for(SLOW) == pytest.approx(4.5)  # 1.5 + 4 * 0.75: past 2 s
    for _ in range(2):
        patient.report_timeout(SLOW)
    assert patient.timeout_for(SLOW) == 8.0
    hasty, _ = make(max_rto=0.2)
    assert hasty.timeout_for(FAST) == 0.2  # even an unknown server's 376 ms is capped
    hasty.report_timeout(FAST)
    assert hasty.timeout_for(FAST) == 0.2


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
    # Each repeat once the hold-down in force has ended doubles it, up to the cap.
    clock.advance(2 * HOLDDOWN)
    assert selection.report_bogus(FAST, "com.", "again") == 4 * HOLDDOWN
    duration = 4 * HOLDDOWN
    for _ in range(10):
        clock.advance(duration)
        duration = selection.report_bogus(FAST, "com.", "again")
    assert duration == MAX_HOLDDOWN
    [held] = selection.holddowns()
    assert held.strikes == 13


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


# --- hold-downs: listing, expiry, strikes, clearing, and broken marks around them ----------


def usable(selection: ServerSelection, address: str, zone: str) -> bool:
    """Whether ``address`` would be chosen for ``zone`` without falling back to avoided ones."""
    return selection.choose([address], zone=zone, usable_only=True) == address


def test_holddowns_list_each_held_down_server_with_reason_until_and_strikes() -> None:
    selection, clock = make()
    start = clock.wall()
    selection.report_bogus(SLOW, "com.", "no signature")
    selection.report_bogus(FAST, "NET", "bad DS")
    selection.report_bogus(FAST, "Com.", "signature expired")
    assert selection.holddowns() == [
        HoldDown(FAST, "com.", "bogus: signature expired", start + HOLDDOWN, 1),
        HoldDown(FAST, "net.", "bogus: bad DS", start + HOLDDOWN, 1),
        HoldDown(SLOW, "com.", "bogus: no signature", start + HOLDDOWN, 1),
    ]
    clock.advance(HOLDDOWN + 10)
    assert selection.holddowns() == []
    selection.report_bogus(FAST, "com.", "signature expired again")
    assert selection.holddowns() == [
        HoldDown(
            FAST, "com.", "bogus: signature expired again", start + HOLDDOWN + 10 + 2 * HOLDDOWN, 2
        )
    ]


def test_a_broken_mark_is_not_listed_as_a_holddown() -> None:
    selection, _ = make()
    selection.report_broken(FAST, "com.", "lame")
    selection.report_broken(MEDIUM, "com.", "SERVFAIL")
    assert not usable(selection, FAST, "com.")
    assert selection.holddowns() == []


def test_a_holddown_expires_after_its_duration_and_the_server_is_probed_again() -> None:
    selection, clock = make()
    selection.report_bogus(FAST, "com.", "signature expired")
    clock.advance(HOLDDOWN - 1)
    assert [h.address for h in selection.holddowns()] == [FAST]
    assert {selection.choose([FAST, MEDIUM], zone="com.") for _ in range(50)} == {MEDIUM}
    clock.advance(2)
    assert selection.holddowns() == []
    assert usable(selection, FAST, "com.")
    assert FAST in {selection.choose([FAST, MEDIUM], zone="com.") for _ in range(50)}


def test_strikes_are_forgotten_max_holddown_after_the_last_holddown_ended() -> None:
    selection, clock = make(holddown=900, max_holddown=3600)
    assert selection.report_bogus(FAST, "com.", "expired") == 900
    assert selection.report_bogus(MEDIUM, "com.", "expired") == 900
    clock.advance(900)
    assert selection.report_bogus(FAST, "com.", "expired") == 1800
    assert selection.report_bogus(MEDIUM, "com.", "expired") == 1800
    clock.advance(1800 + 3600)
    # Exactly max_holddown after the last hold-down ended, it still counts...
    assert selection.report_bogus(MEDIUM, "com.", "expired") == 3600
    clock.advance(1)
    # ...one second more and it is forgotten: the first hold-down again.
    assert selection.report_bogus(FAST, "com.", "expired") == 900
    assert [(h.address, h.strikes) for h in selection.holddowns()] == [(FAST, 1), (MEDIUM, 3)]


def test_strikes_are_counted_per_zone() -> None:
    selection, clock = make()
    assert selection.report_bogus(FAST, "com.", "expired") == HOLDDOWN
    clock.advance(HOLDDOWN)
    assert selection.report_bogus(FAST, "com.", "expired") == 2 * HOLDDOWN
    assert selection.report_bogus(FAST, "net.", "expired") == HOLDDOWN
    assert selection.report_bogus(MEDIUM, "com.", "expired") == HOLDDOWN


def test_max_holddown_caps_the_doubling_at_the_configured_value() -> None:
    selection, clock = make(holddown=100, max_holddown=250)
    durations = [selection.report_bogus(FAST, "com.", "expired")]
    for _ in range(4):
        # Repeated the instant the hold-down in force ends (a moment later, see below).
        clock.advance(durations[-1])
        durations.append(selection.report_bogus(FAST, "com.", "expired"))
    assert durations == [100, 200, 250, 250, 250]
    [held] = selection.holddowns()
    assert (held.until, held.strikes) == (clock.wall() + 250, 5)


def test_a_bogus_report_while_held_down_neither_adds_a_strike_nor_extends_the_holddown() -> None:
    selection, clock = make()
    start = clock.wall()
    assert selection.report_bogus(FAST, "com.", "signature expired") == HOLDDOWN
    clock.advance(100)
    # Asked as a last resort while held down: it returns the time left, nothing else changes.
    for _ in range(5):
        assert selection.report_bogus(FAST, "com.", "signature expired again") == HOLDDOWN - 100
    assert selection.holddowns() == [
        HoldDown(FAST, "com.", "bogus: signature expired", start + HOLDDOWN, 1)
    ]
    clock.advance(HOLDDOWN - 101)
    assert selection.report_bogus(FAST, "com.", "expired") == 1
    assert not usable(selection, FAST, "com.")
    clock.advance(1)
    assert usable(selection, FAST, "com.")
    # The first report once it ended is only the second strike.
    assert selection.report_bogus(FAST, "com.", "expired") == 2 * HOLDDOWN
    assert [h.strikes for h in selection.holddowns()] == [2]


def test_a_holddown_in_force_for_one_zone_does_not_stop_strikes_for_another() -> None:
    selection, clock = make()
    selection.report_bogus(FAST, "com.", "expired")
    selection.report_bogus(FAST, "net.", "expired")
    clock.advance(HOLDDOWN)
    # Both are over. While com.'s second hold-down is in force, net. still gets its strike.
    assert selection.report_bogus(FAST, "com.", "expired") == 2 * HOLDDOWN
    assert selection.report_bogus(FAST, "com.", "expired") == 2 * HOLDDOWN
    assert selection.report_bogus(FAST, "net.", "expired") == 2 * HOLDDOWN
    assert [(h.zone, h.strikes) for h in selection.holddowns()] == [("com.", 2), ("net.", 2)]


def test_a_server_that_keeps_failing_stays_at_the_max_holddown() -> None:
    selection, clock = make(holddown=100, max_holddown=250)
    durations = [selection.report_bogus(FAST, "com.", "expired")]
    for _ in range(4):
        # Probed again one second after each hold-down ended, and bogus again.
        clock.advance(durations[-1] + 1)
        durations.append(selection.report_bogus(FAST, "com.", "expired"))
    assert durations == [100, 200, 250, 250, 250]


def test_max_holddown_is_never_below_the_first_holddown() -> None:
    selection, _ = make(holddown=500, max_holddown=100)
    assert selection.report_bogus(FAST, "com.", "expired") == 500
    assert selection.report_bogus(FAST, "com.", "expired") == 500


def hold_three(selection: ServerSelection) -> None:
    """Hold FAST down for com. and net., MEDIUM for com."""
    selection.report_bogus(FAST, "com.", "expired")
    selection.report_bogus(FAST, "net.", "expired")
    selection.report_bogus(MEDIUM, "com.", "expired")


def test_clear_holddowns_without_arguments_lifts_all_and_counts_those_in_force() -> None:
    selection, clock = make()
    selection.report_bogus(SLOW, "org.", "expired")
    clock.advance(HOLDDOWN + 1)  # SLOW's hold-down is over: not counted
    hold_three(selection)
    assert selection.clear_holddowns() == 3
    assert selection.holddowns() == []
    assert usable(selection, FAST, "com.")
    assert usable(selection, FAST, "net.")
    assert usable(selection, MEDIUM, "com.")
    assert selection.clear_holddowns() == 0


def test_clear_holddowns_for_one_address_lifts_only_that_servers() -> None:
    selection, _ = make()
    hold_three(selection)
    assert selection.clear_holddowns(FAST) == 2
    assert [(h.address, h.zone) for h in selection.holddowns()] == [(MEDIUM, "com.")]
    assert selection.clear_holddowns("127.53.9.9") == 0


def test_clear_holddowns_for_one_zone_lifts_only_that_zones() -> None:
    selection, _ = make()
    hold_three(selection)
    assert selection.clear_holddowns(zone="COM") == 2
    assert [(h.address, h.zone) for h in selection.holddowns()] == [(FAST, "net.")]


def test_clear_holddowns_for_an_address_and_a_zone_lifts_just_that_one() -> None:
    selection, _ = make()
    hold_three(selection)
    assert selection.clear_holddowns(FAST, "com.") == 1
    assert [(h.address, h.zone) for h in selection.holddowns()] == [
        (FAST, "net."),
        (MEDIUM, "com."),
    ]


def test_after_clear_holddowns_strikes_restart_at_one() -> None:
    selection, clock = make()
    for wait in (0, HOLDDOWN, 2 * HOLDDOWN):  # three strikes, each after the last hold-down
        clock.advance(wait)
        selection.report_bogus(FAST, "com.", "expired")
        selection.report_bogus(FAST, "net.", "expired")
    assert selection.clear_holddowns(FAST, "com.") == 1
    assert selection.report_bogus(FAST, "com.", "expired") == HOLDDOWN
    clock.advance(4 * HOLDDOWN)  # net.'s third hold-down is over
    assert selection.report_bogus(FAST, "net.", "expired") == 8 * HOLDDOWN
    # A hold-down already over is not counted, but its strikes are forgotten too
    # (without the clear, net.'s fifth strike would give the longest hold-down).
    clock.advance(8 * HOLDDOWN + 1)
    assert selection.clear_holddowns(FAST) == 0
    assert selection.report_bogus(FAST, "net.", "expired") == HOLDDOWN


def test_clear_holddowns_keeps_plain_broken_marks() -> None:
    selection, _ = make()
    selection.report_broken(MEDIUM, "com.", "lame")
    selection.report_bogus(FAST, "com.", "expired")
    assert selection.clear_holddowns() == 1
    assert usable(selection, FAST, "com.")
    assert not usable(selection, MEDIUM, "com.")
    [medium] = [s for s in selection.statistics().servers if s.address == MEDIUM]
    assert [(mark.zone, mark.reason) for mark in medium.broken] == [("com.", "lame")]


def test_a_broken_report_does_not_cut_a_longer_holddown_short() -> None:
    selection, clock = make()
    selection.report_bogus(FAST, "com.", "signature expired")
    selection.report_broken(FAST, "com.", "SERVFAIL")
    selection.report_broken(FAST, "net.", "lame")
    clock.advance(BROKEN_TTL + 1)
    assert not usable(selection, FAST, "com.")
    assert usable(selection, FAST, "net.")
    [held] = selection.holddowns()
    assert (held.zone, held.reason) == ("com.", "bogus: signature expired")
    clock.advance(HOLDDOWN - BROKEN_TTL)
    assert usable(selection, FAST, "com.")


def test_a_broken_report_applies_over_an_expired_holddown() -> None:
    selection, clock = make()
    selection.report_bogus(FAST, "com.", "signature expired")
    clock.advance(HOLDDOWN + 1)
    selection.report_broken(FAST, "com.", "lame")
    assert not usable(selection, FAST, "com.")
    clock.advance(BROKEN_TTL - 1)
    assert not usable(selection, FAST, "com.")
    clock.advance(2)
    assert usable(selection, FAST, "com.")


def test_a_broken_report_applies_over_a_holddown_about_to_end() -> None:
    selection, clock = make()
    selection.report_bogus(FAST, "com.", "signature expired")
    clock.advance(HOLDDOWN - 60)
    selection.report_broken(FAST, "com.", "lame")
    clock.advance(61)  # the hold-down alone would be over
    assert not usable(selection, FAST, "com.")
    clock.advance(BROKEN_TTL - 61)
    assert usable(selection, FAST, "com.")


def test_a_repeated_broken_report_extends_the_broken_mark() -> None:
    selection, clock = make()
    selection.report_broken(FAST, "com.", "lame")
    clock.advance(BROKEN_TTL - 20)
    selection.report_broken(FAST, "com.", "lame")
    clock.advance(BROKEN_TTL - 1)
    assert not usable(selection, FAST, "com.")
    clock.advance(2)
    assert usable(selection, FAST, "com.")


def test_usable_only_returns_none_when_every_candidate_is_down_or_held_down() -> None:
    selection, _ = make()
    selection.report_bogus(FAST, "com.", "expired")  # held down for 900 s
    for _ in range(3):
        selection.report_timeout(MEDIUM)  # down for 60 s
    selection.report_broken(SLOW, "com.", "lame")  # avoided for 120 s
    servers = [FAST, MEDIUM, SLOW]
    assert selection.choose(servers, zone="com.", usable_only=True) is None
    # Without usable_only, the one usable soonest is still probed.
    assert selection.choose(servers, zone="com.") == MEDIUM
    assert selection.choose(servers, exclude={MEDIUM}, zone="com.") == SLOW
    # For another zone only MEDIUM is down.
    assert {selection.choose(servers, zone="net.", usable_only=True) for _ in range(50)} == {
        FAST,
        SLOW,
    }
    assert selection.choose([MEDIUM], usable_only=True) is None
    assert selection.choose([FAST, SLOW], exclude={FAST, SLOW}, usable_only=True) is None


HOLD_REPORTS = st.one_of(
    st.tuples(st.just("bogus"), ADDRESSES, st.sampled_from(["com.", "net."])),
    st.tuples(st.just("broken"), ADDRESSES, st.sampled_from(["com.", "net."])),
    st.tuples(st.just("timeout"), ADDRESSES, st.none()),
    st.tuples(st.just("rtt"), ADDRESSES, st.none()),
    st.tuples(st.just("clear"), st.one_of(st.none(), ADDRESSES), st.none()),
    st.tuples(st.just("advance"), st.sampled_from(["30", "130", "1000", "5000"]), st.none()),
)


@given(
    reports=st.lists(HOLD_REPORTS, max_size=40),
    candidates=st.lists(ADDRESSES, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_usable_only_never_returns_a_held_down_broken_or_down_server(
    reports: list[tuple[str, str | None, str | None]],
    candidates: list[str],
    seed: int,
) -> None:
    selection, clock = make(seed)
    for kind, word, zone in reports:
        if kind == "advance":
            assert word is not None
            clock.advance(float(word))
        elif kind == "clear":
            selection.clear_holddowns(word)
        else:
            assert word is not None
            if kind == "bogus":
                assert zone is not None
                selection.report_bogus(word, zone, "expired")
            elif kind == "broken":
                assert zone is not None
                selection.report_broken(word, zone, "lame")
            elif kind == "timeout":
                selection.report_timeout(word)
            else:
                selection.report_rtt(word, 0.05)
    now = clock.wall()
    for held in selection.holddowns():
        assert held.until > now
        assert held.reason.startswith("bogus: ")
        assert held.strikes >= 1
    stats = {s.address: s for s in selection.statistics().servers}
    avoided = {
        address
        for address, s in stats.items()
        if s.down or any(mark.zone == "com." for mark in s.broken)
    }
    assert {h.address for h in selection.holddowns() if h.zone == "com."} <= avoided
    chosen = selection.choose(candidates, zone="com.", usable_only=True)
    if set(candidates) - avoided:
        assert chosen in set(candidates) - avoided
    else:
        assert chosen is None
