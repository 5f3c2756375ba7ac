"""Stub and forward zones: the table, ``[[stub_zone]]``/``[[forward_zone]]`` in
``check-config``, and ``holdfast ctl stub|forward`` as plain calls."""

from __future__ import annotations

from pathlib import Path

import dns.name
import pytest

from resolver import cli
from resolver.clock import FakeClock
from resolver.config import FORWARD_ZONE, STUB_ZONE, load_config
from resolver.control import ControlError
from resolver.forwarding import (
    MAX_SERVERS,
    ForwardingError,
    ForwardingTable,
    Kind,
    ZonePolicy,
    configured_table,
    parse_server,
    policy,
)
from resolver.lab import Lab
from tests.resolver.test_commands import Ctl
from tests.resolver.test_reload import Reloading


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def entry(
    zone: str, kind: Kind = Kind.FORWARD, *servers: str, origin: str = "config"
) -> ZonePolicy:
    return policy(name(zone), kind, list(servers or ["192.0.2.1"]), origin=origin)


def test_the_longest_matching_zone_decides() -> None:
    table = ForwardingTable([entry("."), entry("corp.", Kind.STUB), entry("a.corp.")])
    found = [table.lookup(name(n)) for n in ("www.example.com.", "x.corp.", "x.a.corp.")]
    assert [(str(e.zone), e.kind) for e in found if e is not None] == [
        (".", Kind.FORWARD), ("corp.", Kind.STUB), ("a.corp.", Kind.FORWARD)
    ]
    assert ForwardingTable([entry("corp.")]).lookup(name("example.com.")) is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("192.0.2.1", ("192.0.2.1", None)),
        ("192.0.2.1@5353", ("192.0.2.1", 5353)),
        ("2001:DB8::1@853", ("2001:db8::1", 853)),
    ],
)
def test_a_server_is_an_address_with_an_optional_port(
    text: str, parsed: tuple[str, int | None]
) -> None:
    assert parse_server(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dns.example", "is not an IP address (write ADDR or ADDR@PORT"),
        ("192.0.2.1@0", "port '0' in '192.0.2.1@0' is not a number from 1 to 65535"),
        ("192.0.2.1@x", "is not a number from 1 to 65535"),
        ("192.0.2.1:53", "is not an IP address"),
    ],
)
def test_a_bad_server_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(ForwardingError) as info:
        parse_server(text)
    assert message in str(info.value)


def test_a_reload_replaces_configured_entries_and_keeps_ctl_ones() -> None:
    table = ForwardingTable([entry("a."), entry("b.")])
    table.add(entry("b.", Kind.STUB, origin="control"))
    table.replace_configured([entry("b."), entry("c.")])
    assert [(str(e.zone), e.kind, e.origin) for e in table.entries()] == [
        ("b.", Kind.STUB, "control"),
        ("c.", Kind.FORWARD, "config"),
    ]


# --- the configuration -------------------------------------------------------------------


def test_check_config_reads_stub_and_forward_zones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text(
        '[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1", "192.0.2.2@5353"]\n'
        "forward_first = true\n"
        '[[stub_zone]]\nname = "corp"\naddresses = ["10.0.0.53"]\n'
    )
    assert cli.main(["check-config", str(path)]) == 0
    assert "0 route(s), 1 stub zone(s), 1 forward zone(s)" in capsys.readouterr().out
    config = load_config(path)
    (forward,) = config[FORWARD_ZONE]
    assert forward.servers == (("192.0.2.1", None), ("192.0.2.2", 5353))
    assert forward.first
    (stub,) = config[STUB_ZONE]
    assert (stub.zone, stub.recursive, stub.first) == (name("corp."), False, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[forward_zone]\nname = "."\n', "forward_zone must be an array of tables, written "
         "[[forward_zone]]"),
        ('[[forward_zone]]\naddresses = ["192.0.2.1"]\n', '[[forward_zone]] #1: needs name = '),
        ('[[stub_zone]]\nname = "corp"\n', '[[stub_zone]] #1 (corp): needs addresses = '),
        ('[[stub_zone]]\nname = "corp"\naddresses = []\n',
         "[[stub_zone]] #1 (corp): stub zone corp. needs at least one server address"),
        ('[[forward_zone]]\nname = "."\naddresses = ["resolver.example"]\n',
         "[[forward_zone]] #1 (.): 'resolver.example' is not an IP address"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1@99999"]\n',
         "port '99999'"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1", "192.0.2.1@53"]\n',
         "lists 192.0.2.1 twice"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1"]\nstub_first = true\n',
         "[[forward_zone]] #1: unknown key stub_first; it takes name, addresses, "
         "forward_first, forward_tls, tls_auth_name, tls_ca_file"),
        ('[[stub_zone]]\nname = "corp"\naddresses = ["10.0.0.1"]\nforward_tls = true\n',
         "[[stub_zone]] #1: unknown key forward_tls; it takes name, addresses, stub_first"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1"]\nforward_first = "yes"\n',
         "forward_first must be true or false"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1"]\nforward_tls = true\n',
         "[[forward_zone]] #1 (.): forward_tls = true needs tls_auth_name"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1"]\ntls_auth_name = "dns.example"\n',
         "tls_auth_name needs forward_tls = true"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1"]\nforward_tls = true\n'
         'tls_auth_name = "dns example"\n', "tls_auth_name 'dns example' is not a host name"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1"]\nforward_tls = true\n'
         'tls_auth_name = "dns.example"\ntls_ca_file = "ca.pem"\n',
         "tls_ca_file must be an absolute path"),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1"]\nforward_tls = true\n'
         'tls_auth_name = "dns.example"\ntls_ca_file = "/nonexistent/ca.pem"\n',
         "tls_ca_file /nonexistent/ca.pem: "),
        ('[[forward_zone]]\nname = "."\naddresses = ["192.0.2.1"]\nforward_tls = true\n'
         'tls_auth_name = "dns.example"\ntls_ca_file = "/dev/null"\n',
         "tls_ca_file /dev/null: "),
        ('[[forward_zone]]\nname = "a b"\naddresses = ["192.0.2.1"]\n',
         "[[forward_zone]] #1 (a b): 'a b' is not a zone name"),
        ('[[stub_zone]]\nname = "corp"\naddresses = ["10.0.0.1"]\n'
         '[[stub_zone]]\nname = "CORP."\naddresses = ["10.0.0.2"]\n',
         "[[stub_zone]] #2: a second [[stub_zone]] for corp."),
        ('[[stub_zone]]\nname = "corp"\naddresses = ["10.0.0.1"]\n'
         '[[forward_zone]]\nname = "corp"\naddresses = ["10.0.0.2"]\n',
         "corp. is both a [[stub_zone]] and a [[forward_zone]]; keep one of them"),
        ('[[forward_zones]]\nname = "."\n', "unknown section [forward_zones] (did you mean "
         "forward_zone?)"),
    ],
)
def test_check_config_refuses_a_bad_zone_saying_which_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text(text)
    assert cli.main(["check-config", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_too_many_servers_are_refused() -> None:
    servers = [f"192.0.2.{n}" for n in range(MAX_SERVERS + 1)]
    with pytest.raises(ForwardingError, match=f"at most {MAX_SERVERS}"):
        policy(name("corp."), Kind.STUB, servers)
    assert configured_table([], [policy(name("corp."), Kind.STUB, servers[:MAX_SERVERS])])


# --- ctl ------------------------------------------------------------------------------------


@pytest.fixture
def ctl() -> Ctl:
    ctl = Ctl()
    ctl.commands.forwarding = ForwardingTable([entry("corp.", Kind.STUB, "10.0.0.53")])
    return ctl


def test_ctl_forward_add_list_and_remove(ctl: Ctl) -> None:
    added = ctl("forward", "add", "example", "192.0.2.1@5353", "192.0.2.2", "--first")
    expected = {
        "zone": "example.",
        "kind": "forward",
        "servers": ["192.0.2.1@5353", "192.0.2.2"],
        "first": True,
        "origin": "control",
        "tls_auth_name": None,
    }
    assert added == {"added": expected, "replaced": None}
    assert ctl("forward", "list") == [expected]
    assert ctl("stub", "list") == [
        {"zone": "corp.", "kind": "stub", "servers": ["10.0.0.53"], "first": False,
         "origin": "config", "tls_auth_name": None}
    ]
    assert ctl("forward", "remove", "EXAMPLE.") == {"removed": expected}
    assert ctl("forward", "list") == []


def test_ctl_forward_add_with_tls_asks_port_853_unless_given(ctl: Ctl) -> None:
    added = ctl("forward", "add", ".", "192.0.2.1", "192.0.2.2@8853", "--tls", "dns.example")
    assert added["added"]["tls_auth_name"] == "dns.example"
    assert ctl.commands.forwarding is not None
    entry = ctl.commands.forwarding.lookup(name("."))
    assert entry is not None
    assert [entry.port_of(a) for a in entry.addresses] == [853, 8853]


def test_ctl_stub_add_replaces_what_the_zone_had(ctl: Ctl) -> None:
    replaced = ctl("stub", "add", "corp", "10.0.0.54")["replaced"]
    assert replaced["servers"] == ["10.0.0.53"]
    assert ctl("stub", "list")[0]["servers"] == ["10.0.0.54"]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["forward", "add"], "missing zone: forward add ZONE ADDR[@PORT]... [--first]"),
        (["forward", "add", "x"], "forward zone x. needs at least one server address"),
        (["stub", "add", "x", "10.0.0.1", "--last"], "unknown flag '--last'"),
        (["forward", "add", "x", "10.0.0.1", "--tls"], "--tls needs the name"),
        (["forward", "add", "x", "10.0.0.1", "--tls", "a b"], "'a b' is not a host name"),
        (["stub", "add", "x", "10.0.0.1", "--tls", "dns.example"], "unknown flag '--tls'"),
        (["stub", "add", "x", "host.example"], "'host.example' is not an IP address"),
        (["forward", "remove", "corp"], "no forward zone 'corp'; see: holdfast ctl forward list"),
        (["stub", "remove", "nothing"], "no stub zone 'nothing'"),
        (["stub", "drop", "corp"], "usage: stub add ZONE ADDR[@PORT]... [--first] | stub remove"),
    ],
)
def test_ctl_refuses_a_bad_stub_or_forward_command(
    ctl: Ctl, words: list[str], message: str
) -> None:
    assert message in ctl.refused(*words)


def test_an_unknown_command_names_stub_and_forward(ctl: Ctl) -> None:
    with pytest.raises(ControlError, match="forward add ZONE ADDR"):
        ctl.commands({"command": ["forwards"]})


def test_a_reload_replaces_configured_zones_and_keeps_ctl_ones(
    lab: Lab, clock: FakeClock, tmp_path: Path
) -> None:
    harness = Reloading(lab, clock, tmp_path)
    zone = '[[{kind}_zone]]\nname = "{name}"\naddresses = ["127.53.2.1"]\n'
    harness.write({}, zone.format(kind="stub", name="org") + zone.format(kind="forward", name="."))
    assert harness.reload()["applied"] == [FORWARD_ZONE, STUB_ZONE]
    harness.ctl({"command": ["forward", "add", "net", "127.53.1.1"]})
    harness.ctl({"command": ["stub", "add", "org", "127.53.2.2"]})
    harness.write({}, zone.format(kind="stub", name="example.org"))

    assert harness.reload()["applied"] == [FORWARD_ZONE, STUB_ZONE]

    table = harness.resolver.iterator.forwarding
    assert [(str(e.zone), e.kind, e.origin) for e in table.entries()] == [
        ("net.", Kind.FORWARD, "control"),
        ("org.", Kind.STUB, "control"),
        ("example.org.", Kind.STUB, "config"),
    ]
    assert harness.resolver.status()["stub_zones"] == 2
