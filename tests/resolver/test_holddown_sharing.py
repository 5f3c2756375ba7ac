"""Hold-downs shared by the workers of a host: the supervisor's orders and a worker imposing one."""

from __future__ import annotations

import pytest

from resolver.clock import FakeClock
from resolver.commands import Commands
from resolver.control import ControlError
from resolver.holddown_sharing import HoldDownOrder, HoldDownOrderError, orders, parse_order
from resolver.selection import ServerSelection


def listed(address: str, seconds: float, strikes: int = 1, zone: str = "com.") -> dict[str, object]:
    return {"address": address, "zone": zone, "reason": "bogus: expired", "until": "-",
            "remaining_seconds": seconds, "strikes": strikes}


def test_a_hold_down_one_worker_learned_goes_to_the_others() -> None:
    wanted = orders({0: [listed("192.0.2.1", 900)], 1: [], 2: [listed("192.0.2.1", 899)]})
    assert wanted == {1: [HoldDownOrder("192.0.2.1", "com.", 900, 1, "bogus: expired")]}


def test_the_longest_hold_down_wins_and_its_strikes_go_with_it() -> None:
    wanted = orders({0: [listed("192.0.2.1", 900)], 1: [listed("192.0.2.1", 1800, strikes=2)]})
    assert wanted == {0: [HoldDownOrder("192.0.2.1", "com.", 1800, 2, "bogus: expired")]}


def test_nothing_to_do_when_every_worker_holds_the_same() -> None:
    assert orders({0: [listed("192.0.2.1", 900)], 1: [listed("192.0.2.1", 900)]}) == {}
    assert orders({0: [{"address": "192.0.2.1"}], 1: []}) == {}  # malformed: ignored


def test_an_order_round_trips_through_its_words() -> None:
    order = HoldDownOrder("2001:db8::1", "example.", 12.5, 3, "bogus: two words")
    assert parse_order(order.words()[2:]) == order
    for words in (["192.0.2.1", "com."], ["192.0.2.1", "com.", "--strikes", "2"],
                  ["192.0.2.1", "com.", "--expires", "soon"],
                  ["192.0.2.1", "com.", "--expires", "60", "--strikes", "0"],
                  ["192.0.2.1", "com.", "--expires", "60", "--bogus", "x"]):
        with pytest.raises(HoldDownOrderError):
            parse_order(words)


def test_an_imposed_hold_down_keeps_the_strikes_but_starts_none() -> None:
    clock = FakeClock()
    selection = ServerSelection(clock, holddown=900)
    assert selection.impose_holddown("192.0.2.1", "com.", "from worker 0", 1800, strikes=2)
    assert selection.choose(["192.0.2.1", "192.0.2.2"], zone="com.") == "192.0.2.2"
    assert selection.holddowns_started == 0
    [held] = selection.holddowns()
    assert (held.strikes, held.until - clock.wall()) == (2, 1800)
    assert not selection.impose_holddown("192.0.2.1", "com.", "shorter", 60)  # longer kept
    clock.advance(1801)
    assert selection.report_bogus("192.0.2.1", "com.", "again") == 900 * 4  # strike 3


def test_ctl_holddown_add(clock: FakeClock) -> None:
    selection = ServerSelection(clock)
    handle = Commands(status=dict, routes=None, selection=selection, clock=clock,  # type: ignore[arg-type]
                      local_root=None, cache=None)  # type: ignore[arg-type]
    words = ["holddown", "add", "192.0.2.1", "com", "--expires", "10m"]
    assert handle({"command": words}) == {"added": 1}
    [held] = handle({"command": ["holddown", "list"]})
    assert (held["zone"], held["remaining_seconds"]) == ("com.", 600)
    with pytest.raises(ControlError, match="not an IP address"):
        handle({"command": ["holddown", "add", "ns.com", "com", "--expires", "10m"]})
