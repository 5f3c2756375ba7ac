"""Operator routes: parsing from ctl words and TOML tables, plans, expiry, reload."""

from __future__ import annotations

import datetime
import tomllib
from typing import Any

import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnssec.errors import HoldfastError
from resolver.clock import FakeClock
from resolver.routes import (
    MAX_DURATION,
    MAX_ROUTES,
    Route,
    RouteError,
    RouteMode,
    RouteTable,
    parse_duration,
    route_from_table,
    route_from_words,
)

COM = dns.name.from_text("com.")
NET = dns.name.from_text("net.")
A, B, C, D = "127.53.1.1", "127.53.1.2", "127.53.1.3", "127.53.1.4"
DELEGATION = (A, B, C)


def route(
    mode: RouteMode,
    *addresses: str,
    zone: dns.name.Name = COM,
    expires: float | None = None,
    origin: str = "control",
) -> Route:
    return Route(zone=zone, mode=mode, addresses=addresses, expires=expires, origin=origin)


def table_with(*routes: Route) -> tuple[RouteTable, FakeClock]:
    clock = FakeClock()
    return RouteTable(clock, routes), clock


# --- plans ---------------------------------------------------------------------------------


def test_no_route_plans_the_delegation_as_one_tier() -> None:
    table, _ = table_with()
    assert table.plan(COM, DELEGATION) == (DELEGATION,)
    table.add(route(RouteMode.AVOID, A, zone=NET))
    assert table.plan(COM, DELEGATION) == (DELEGATION,)


def test_only_asks_just_the_route_addresses_even_outside_the_delegation() -> None:
    table, _ = table_with(route(RouteMode.ONLY, D, A))
    assert table.plan(COM, DELEGATION) == ((D, A),)


def test_prefer_asks_the_route_first_then_the_other_servers() -> None:
    table, _ = table_with(route(RouteMode.PREFER, D, B))
    assert table.plan(COM, DELEGATION) == ((D, B), (A, C))


def test_prefer_drops_an_empty_second_tier() -> None:
    table, _ = table_with(route(RouteMode.PREFER, C, B, A))
    assert table.plan(COM, DELEGATION) == ((C, B, A),)


def test_avoid_never_yields_an_avoided_address() -> None:
    table, _ = table_with(route(RouteMode.AVOID, B, D))
    assert table.plan(COM, DELEGATION) == ((A, C),)


def test_avoiding_every_server_leaves_one_empty_tier() -> None:
    table, _ = table_with(route(RouteMode.AVOID, *DELEGATION))
    assert table.plan(COM, DELEGATION) == ((),)


def test_routes_match_only_their_own_zone_cut_in_any_case() -> None:
    table, _ = table_with(route(RouteMode.ONLY, D))
    assert table.plan(dns.name.from_text("CoM."), DELEGATION) == ((D,),)
    assert table.plan(dns.name.from_text("example.com."), DELEGATION) == (DELEGATION,)
    assert table.plan(dns.name.root, DELEGATION) == (DELEGATION,)


def test_delegation_addresses_are_compared_in_normal_form() -> None:
    table, _ = table_with(route(RouteMode.AVOID, "2001:DB8:0:0::1", "::ffff:1.2.3.4"))
    delegation = ("2001:db8::1", "::ffff:1.2.3.4", "2001:db8::2", "not-an-address")
    assert table.plan(COM, delegation) == (("2001:db8::2", "not-an-address"),)


# --- expiry --------------------------------------------------------------------------------


def test_an_expired_route_lapses_by_itself() -> None:
    clock = FakeClock()
    table = RouteTable(clock, [route(RouteMode.ONLY, D, expires=clock.wall() + 60)])
    assert table.plan(COM, DELEGATION) == ((D,),)
    clock.advance(59)
    assert [r.zone for r in table.routes()] == [COM]
    clock.advance(1)
    assert table.plan(COM, DELEGATION) == (DELEGATION,)
    assert table.routes() == []


def test_routes_drops_expired_routes_without_a_plan() -> None:
    clock = FakeClock()
    short = route(RouteMode.AVOID, A, expires=clock.wall() + 10)
    long = route(RouteMode.AVOID, A, zone=NET, expires=clock.wall() + 1000)
    table = RouteTable(clock, [short, long])
    clock.advance(11)
    assert table.routes() == [long]
    assert table.delete(COM) is None


def test_replacing_or_deleting_an_expired_route_returns_nothing() -> None:
    clock = FakeClock()
    table = RouteTable(clock, [route(RouteMode.AVOID, A, expires=clock.wall() + 10)])
    clock.advance(10)
    assert table.add(route(RouteMode.AVOID, B)) is None
    table.add(route(RouteMode.AVOID, A, zone=NET, expires=clock.wall() + 10))
    clock.advance(10)
    assert table.delete(NET) is None


# --- add, delete, list ---------------------------------------------------------------------


def test_add_replaces_the_route_for_the_same_zone() -> None:
    table, _ = table_with()
    first = route(RouteMode.AVOID, A)
    assert table.add(first) is None
    assert table.add(route(RouteMode.ONLY, D, zone=dns.name.from_text("COM."))) == first
    assert table.plan(COM, DELEGATION) == ((D,),)
    assert len(table.routes()) == 1


def test_delete_removes_and_returns_the_route() -> None:
    table, _ = table_with(route(RouteMode.AVOID, A), route(RouteMode.AVOID, B, zone=NET))
    assert table.delete(COM) == route(RouteMode.AVOID, A)
    assert table.delete(COM) is None
    assert table.plan(COM, DELEGATION) == (DELEGATION,)
    assert [r.zone for r in table.routes()] == [NET]


def test_routes_are_listed_sorted_by_zone() -> None:
    zones = ["org.", "com.", ".", "example.com.", "net."]
    table, _ = table_with(*(route(RouteMode.AVOID, A, zone=dns.name.from_text(z)) for z in zones))
    assert [r.zone.to_text() for r in table.routes()] == [
        ".",
        "com.",
        "example.com.",
        "net.",
        "org.",
    ]


def test_the_table_is_bounded() -> None:
    routes = [
        route(RouteMode.AVOID, A, zone=dns.name.from_text(f"z{i}.test.")) for i in range(MAX_ROUTES)
    ]
    table, _ = table_with(*routes)
    with pytest.raises(RouteError, match="too many routes"):
        table.add(route(RouteMode.AVOID, A, zone=dns.name.from_text("one-more.test.")))
    assert table.add(route(RouteMode.ONLY, B, zone=dns.name.from_text("z0.test."))) is not None


def test_a_full_table_makes_room_by_dropping_expired_routes() -> None:
    clock = FakeClock()
    routes = [
        route(RouteMode.AVOID, A, zone=dns.name.from_text(f"z{i}.test."), expires=clock.wall() + 5)
        for i in range(MAX_ROUTES)
    ]
    table = RouteTable(clock, routes)
    clock.advance(5)
    table.add(route(RouteMode.AVOID, A))
    assert [r.zone for r in table.routes()] == [COM]


# --- configuration reload ------------------------------------------------------------------


def test_replace_configured_keeps_control_routes_and_drops_old_config_ones() -> None:
    control = route(RouteMode.AVOID, A, zone=NET)
    old = route(RouteMode.ONLY, D, zone=dns.name.from_text("org."), origin="config")
    table, _ = table_with(control, old)
    new = route(RouteMode.PREFER, B, origin="config")
    table.replace_configured([new])
    assert table.routes() == [new, control]


def test_a_control_route_wins_over_a_config_route_for_the_same_zone() -> None:
    control = route(RouteMode.AVOID, A)
    table, _ = table_with(route(RouteMode.ONLY, D, origin="config"))
    assert table.add(control) is not None
    table.replace_configured([route(RouteMode.ONLY, D, origin="config")])
    assert table.routes() == [control]
    assert table.plan(COM, DELEGATION) == ((B, C),)


def test_an_expired_control_route_does_not_shadow_the_config_route() -> None:
    clock = FakeClock()
    table = RouteTable(clock, [route(RouteMode.AVOID, A, expires=clock.wall() + 5)])
    clock.advance(5)
    configured = route(RouteMode.ONLY, D, origin="config")
    table.replace_configured([configured])
    assert table.routes() == [configured]


def test_replace_configured_refuses_control_routes_and_changes_nothing() -> None:
    before = route(RouteMode.AVOID, A, origin="config")
    table, _ = table_with(before)
    with pytest.raises(RouteError, match="not config"):
        table.replace_configured(
            [
                route(RouteMode.ONLY, D, zone=NET, origin="config"),
                route(RouteMode.ONLY, D, zone=NET),
            ]
        )
    assert table.routes() == [before]


# --- Route ---------------------------------------------------------------------------------


def test_route_normalises_zone_and_addresses() -> None:
    made = Route(
        zone=dns.name.from_text("Example.COM."),
        mode=RouteMode.ONLY,
        addresses=("2001:DB8:0::1", "127.0.0.1", "2001:db8::1"),
        expires=None,
        origin="config",
    )
    assert made.zone.to_text() == "example.com."
    assert made.addresses == ("2001:db8::1", "127.0.0.1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"zone": dns.name.from_text("com", origin=None)}, "not absolute"),
        ({"addresses": ()}, "no address"),
        ({"addresses": ("localhost",)}, "'localhost' is not an IP address"),
        ({"origin": "cli"}, "origin 'cli'"),
        ({"expires": float("nan")}, "expiry"),
    ],
)
def test_route_refuses_bad_fields(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "zone": COM,
        "mode": RouteMode.AVOID,
        "addresses": (A,),
        "expires": None,
        "origin": "control",
    }
    with pytest.raises(RouteError, match=message):
        Route(**(fields | kwargs))


def test_describe() -> None:
    expires = datetime.datetime(2026, 11, 22, 10, 0, tzinfo=datetime.UTC).timestamp()
    made = route(RouteMode.AVOID, B, A, expires=expires, origin="config")
    assert made.describe(expires - 90.4) == {
        "zone": "com.",
        "mode": "avoid",
        "addresses": [B, A],
        "origin": "config",
        "expires": "2026-11-22T10:00:00Z",
        "expires_in": 90,
    }
    assert made.describe(expires + 5)["expires_in"] == 0
    forever = route(RouteMode.ONLY, A, zone=dns.name.root).describe(expires)
    assert forever["zone"] == "."
    assert forever["expires"] is None
    assert forever["expires_in"] is None


def test_route_error_is_a_holdfast_error() -> None:
    assert issubclass(RouteError, HoldfastError)


# --- parse_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("0.5", 0.5),
        (".5m", 30),
        ("1d2h3m4s", 93784),
        (" 2H ", 7200),
        ("30d", MAX_DURATION),
    ],
)
def test_parse_duration_accepts(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a duration"),
        ("0", "more than zero"),
        ("0s", "more than zero"),
        ("0h0m", "more than zero"),
        ("-5", "is not a duration"),
        ("31d", "longer than 30 days"),
        ("720h1s", "longer than 30 days"),
        ("1" + "0" * 400, "longer than 30 days"),
        ("5x", "is not a duration"),
        ("1h30", "is not a duration"),
        ("h", "is not a duration"),
        ("1.h", "is not a duration"),
        ("1 h", "is not a duration"),
        ("inf", "is not a duration"),
        ("nan", "is not a duration"),
        ("1e3", "is not a duration"),
        ("1_000", "is not a duration"),
        ("\N{ARABIC-INDIC DIGIT FIVE}s", "is not a duration"),
    ],
)
def test_parse_duration_refuses(text: str, message: str) -> None:
    with pytest.raises(RouteError, match=message) as caught:
        parse_duration(text)
    assert repr(text[:64]).strip("'") in str(caught.value)


def test_parse_duration_cuts_long_text_short_in_messages() -> None:
    with pytest.raises(RouteError) as caught:
        parse_duration("x" * 10_000)
    assert len(str(caught.value)) < 300


# --- route_from_words ----------------------------------------------------------------------

NOW = 1_700_000_000.0


def test_words_make_a_control_route() -> None:
    made = route_from_words(["com", "--avoid", A, B, "--expires", "30m"], now=NOW)
    assert made == Route(
        zone=COM, mode=RouteMode.AVOID, addresses=(A, B), expires=NOW + 1800, origin="control"
    )


@pytest.mark.parametrize(
    ("words", "zone", "mode", "addresses", "expires"),
    [
        (["com.", "--only", A], "com.", RouteMode.ONLY, (A,), None),
        (["COM", "--prefer", B, A, B], "com.", RouteMode.PREFER, (B, A), None),
        ([".", "--avoid", "::1"], ".", RouteMode.AVOID, ("::1",), None),
        (["net", "--expires", "2h", "--only", A], "net.", RouteMode.ONLY, (A,), NOW + 7200),
        (["net", "--only", A, "--expires", "90", B], "net.", RouteMode.ONLY, (A, B), NOW + 90),
        (["net", "--only", "2001:DB8::0:1"], "net.", RouteMode.ONLY, ("2001:db8::1",), None),
    ],
)
def test_words_accept(
    words: list[str],
    zone: str,
    mode: RouteMode,
    addresses: tuple[str, ...],
    expires: float | None,
) -> None:
    made = route_from_words(words, now=NOW)
    assert made.zone.to_text() == zone
    assert (made.mode, made.addresses, made.expires, made.origin) == (
        mode,
        addresses,
        expires,
        "control",
    )


@pytest.mark.parametrize(
    ("words", "needles"),
    [
        ([], ["missing zone", "route add ZONE"]),
        (["--avoid", A], ["missing zone"]),
        (["com"], ["needs a mode"]),
        (["com", "--expires", "1h"], ["needs a mode"]),
        ([A, B], ["unexpected '127.53.1.2' before --only"]),
        (["com", A, "--avoid", B], ["unexpected '127.53.1.1'"]),
        (["com", "net", "--avoid", A], ["unexpected 'net'"]),
        (["com", "--avoid", A, "--only", B], ["--avoid and --only", "one mode"]),
        (["com", "--avoid", A, "--avoid", B], ["--avoid and --avoid"]),
        (["com", "--avoid"], ["--avoid needs at least one address"]),
        (["com", "--prefer", "--expires", "1h"], ["--prefer needs at least one address"]),
        (["com", "--avoid", "x"], ["'x' is not an IP address"]),
        (["com", "--avoid", A, "256.1.1.1"], ["'256.1.1.1' is not an IP address"]),
        (["com", "--avoid", "127.0.0.01"], ["'127.0.0.01' is not an IP address"]),
        (["com", "--aviod", A], ["unknown flag '--aviod'", "did you mean --avoid?"]),
        (["com", "--force", A], ["unknown flag '--force'"]),
        (["com", "--avoid", A, "--expires"], ["--expires needs a duration"]),
        (["com", "--avoid", A, "--expires", "soon"], ["'soon' is not a duration"]),
        (["com", "--avoid", A, "--expires", "0"], ["'0' must be more than zero"]),
        (["com", "--avoid", A, "--expires", "31d"], ["longer than 30 days"]),
        (["com", "--avoid", A, "--expires", "1h", "--expires", "2h"], ["--expires given twice"]),
        (["a..b", "--avoid", A], ["'a..b' is not a valid DNS name"]),
        (["x" * 64 + ".com", "--avoid", A], ["is not a valid DNS name"]),
        (["", "--avoid", A], ["is not a zone name"]),
        (["co m", "--avoid", A], ["'co m' is not a zone name"]),
    ],
)
def test_words_refuse(words: list[str], needles: list[str]) -> None:
    with pytest.raises(RouteError) as caught:
        route_from_words(words, now=NOW)
    for needle in needles:
        assert needle in str(caught.value)


# --- route_from_table ----------------------------------------------------------------------


def test_table_makes_a_config_route_with_an_absolute_expiry() -> None:
    moment = datetime.datetime(2026, 11, 22, 10, 0, tzinfo=datetime.UTC)
    made = route_from_table({"zone": "com", "avoid": [A, B], "expires": moment}, now=NOW)
    assert made == Route(
        zone=COM,
        mode=RouteMode.AVOID,
        addresses=(A, B),
        expires=moment.timestamp(),
        origin="config",
    )


def test_table_expiry_honours_the_utc_offset() -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=plus_two)
    made = route_from_table({"zone": "com", "only": [A], "expires": moment}, now=NOW)
    assert made.describe(NOW)["expires"] == "2026-11-22T10:00:00Z"


def test_table_expiry_may_be_a_duration_from_now() -> None:
    made = route_from_table({"zone": "net.", "prefer": [A], "expires": "1h30m"}, now=NOW)
    assert (made.zone, made.mode, made.expires) == (NET, RouteMode.PREFER, NOW + 5400)


def test_table_without_expiry_never_expires() -> None:
    assert route_from_table({"zone": ".", "only": ["::1"]}, now=NOW).expires is None


def test_table_expiry_in_the_past_is_kept_and_never_applies() -> None:
    moment = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    made = route_from_table({"zone": "com", "only": [D], "expires": moment}, now=NOW)
    table, _ = table_with(made)
    assert table.plan(COM, DELEGATION) == (DELEGATION,)


def test_table_parsed_from_toml() -> None:
    document = tomllib.loads(
        """
        [[route]]
        zone = "com"
        avoid = ["127.53.1.1"]
        expires = 2026-11-22T10:00:00Z

        [[route]]
        zone = "net"
        prefer = ["127.53.1.2", "::1"]
        expires = "2h"
        """
    )
    made = [route_from_table(table, now=NOW) for table in document["route"]]
    assert made[0].describe(NOW)["expires"] == "2026-11-22T10:00:00Z"
    assert made[1].expires == NOW + 7200


@pytest.mark.parametrize(
    ("table", "needles"),
    [
        ({"avoid": [A]}, ["missing zone"]),
        ({"zone": 5, "avoid": [A]}, ["zone must be a string, not int"]),
        ({"zone": "a..b", "avoid": [A]}, ["'a..b' is not a valid DNS name"]),
        ({"zone": "com", "aviod": [A]}, ["unknown key 'aviod'", "did you mean avoid?"]),
        ({"zone": "com", "avoid": [A], "expire": "1h"}, ["'expire'", "did you mean expires?"]),
        ({"zone": "com", "avoid": [A], "weight": 3}, ["unknown key 'weight'", "known keys"]),
        ({"zone": "com"}, ["[[route]] for com.", "give exactly one of only, prefer, avoid"]),
        ({"zone": "com", "only": [A], "avoid": [B]}, ["only and avoid given together"]),
        ({"zone": "com", "avoid": []}, ["avoid is empty"]),
        ({"zone": "com", "avoid": A}, ["avoid must be a list of addresses, not str"]),
        ({"zone": "com", "prefer": [A, 7]}, ["items must be address strings, not int (7)"]),
        ({"zone": "com", "only": ["x"]}, ["'x' is not an IP address"]),
        (
            {"zone": "com", "only": [A], "expires": datetime.datetime(2026, 11, 22, 10)},
            ["2026-11-22T10:00:00 has no UTC offset", "2026-11-22T10:00:00Z"],
        ),
        (
            {"zone": "com", "only": [A], "expires": datetime.date(2026, 11, 22)},
            ["expires must be a date-time with a UTC offset", "not date"],
        ),
        ({"zone": "com", "only": [A], "expires": 3600}, ["duration string", "not int"]),
        ({"zone": "com", "only": [A], "expires": "soon"}, ["expires: 'soon' is not a duration"]),
        ({"zone": "com", "only": [A], "expires": "40d"}, ["longer than 30 days"]),
    ],
)
def test_table_refuses(table: dict[str, Any], needles: list[str]) -> None:
    with pytest.raises(RouteError) as caught:
        route_from_table(table, now=NOW)
    for needle in needles:
        assert needle in str(caught.value)


# --- properties ----------------------------------------------------------------------------

addresses = st.lists(
    st.sampled_from(["127.53.1.1", "127.53.1.2", "127.53.1.3", "::1", "2001:db8::1", "10.0.0.1"]),
    max_size=6,
)


@given(
    mode=st.sampled_from(RouteMode),
    routed=addresses.filter(bool),
    delegation=addresses,
)
def test_plan_only_yields_allowed_addresses(
    mode: RouteMode, routed: list[str], delegation: list[str]
) -> None:
    table, _ = table_with(route(mode, *routed))
    tiers = table.plan(COM, delegation)
    assert tiers
    planned = [address for tier in tiers for address in tier]
    if mode is RouteMode.ONLY:
        assert set(planned) == set(routed)
    elif mode is RouteMode.PREFER:
        assert set(planned) == set(routed) | set(delegation)
        assert all(tiers)
        assert set(tiers[0]) == set(routed)
    else:
        assert planned == [a for a in delegation if a not in routed]
    assert table.plan(NET, delegation) == (tuple(delegation),)
