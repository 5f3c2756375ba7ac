"""CHAOS identity and version (``resolver/identity.py``), the server's use of it, and
check-config on the local-data and identity options."""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest
import trio

from resolver import cli
from resolver.identity import Identity
from resolver.localzones import LocalZones, parse_record, parse_zone
from resolver.messages import ClientQuery
from resolver.question import Outcome
from resolver.server import DnsServer

CH, IN = dns.rdataclass.CH, dns.rdataclass.IN
TXT = dns.rdatatype.TXT


def record_text(identity: Identity, name: str, rdclass: dns.rdataclass.RdataClass = CH,
                rdtype: dns.rdatatype.RdataType = TXT) -> str | None:
    rrset = identity.record(dns.name.from_text(name), rdtype, rdclass)
    return None if rrset is None else rrset[0].to_text()


def test_hidden_by_default() -> None:
    hidden = Identity(identity="", hide_identity=True, version="", hide_version=True)
    for name in ("id.server", "hostname.bind", "version.bind", "version.server"):
        assert record_text(hidden, name) is None


def test_shown_names_and_defaults() -> None:
    shown = Identity(identity="ns1.lab", hide_identity=False, version="",
                                hide_version=False)
    assert record_text(shown, "id.server") == '"ns1.lab"'
    assert record_text(shown, "HOSTNAME.BIND") == '"ns1.lab"'
    assert record_text(shown, "version.server", rdtype=dns.rdatatype.ANY) is not None
    assert (record_text(shown, "version.bind") or "").startswith('"holdfast ')
    assert record_text(shown, "version.bind", rdclass=IN) is None
    assert record_text(shown, "version.bind", rdtype=dns.rdatatype.A) is None
    assert record_text(shown, "authors.bind") is None


async def _never(query: ClientQuery) -> Outcome:
    raise AssertionError(f"{query.question} reached the resolver")


def server(identity: Identity | None, zones: LocalZones | None = None) -> DnsServer:
    dns_server = DnsServer([("127.0.0.1", 0)], _never)
    dns_server.identity = identity
    dns_server.local_zones = zones
    return dns_server


def exchange(dns_server: DnsServer, name: str, rdtype: str, rdclass: str = "IN"
             ) -> dns.message.Message | None:
    query = dns.message.make_query(name, rdtype, rdclass, use_edns=0)
    wire = trio.run(lambda: dns_server.answer(query.to_wire(), "127.0.0.1", tcp=False))
    return None if wire is None else dns.message.from_wire(wire)


def test_server_answers_chaos_only_when_shown() -> None:
    shown = Identity(identity="ns1", version="v1", hide_identity=False, hide_version=False)
    reply = exchange(server(shown), "version.bind", "TXT", "CH")
    assert reply is not None
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer[0].rdclass == CH
    assert reply.answer[0][0].to_text() == '"v1"'
    hidden = exchange(server(Identity()), "version.bind", "TXT", "CH")
    assert hidden is not None
    assert hidden.rcode() == dns.rcode.REFUSED


def test_server_answers_local_data_before_resolving_without_ad() -> None:
    zones = LocalZones.from_settings([parse_zone("bad.example", "deny")],
                                     [parse_record("printer.corp A 10.1.2.3")])
    dns_server = server(None, zones)
    query = dns.message.make_query("printer.corp", "A", want_dnssec=True)
    query.flags |= dns.flags.AD
    wire = trio.run(lambda: dns_server.answer(query.to_wire(), "127.0.0.1", tcp=False))
    assert wire is not None
    reply = dns.message.from_wire(wire)
    assert reply.answer[0][0].to_text() == "10.1.2.3"
    assert not reply.flags & dns.flags.AD
    localhost = exchange(dns_server, "localhost", "ANY")
    assert localhost is not None
    assert {r.rdtype for r in localhost.answer} >= {
        dns.rdatatype.A, dns.rdatatype.AAAA}
    assert exchange(dns_server, "x.bad.example", "A") is None  # deny: dropped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[local_data]]\nrecord = "ok.corp A 10.0.0.1"\n[[local_data]]\nrecord = "b.corp A x"\n',
         "[[local_data]] #2: 'b.corp A x'"),
        ('[[local_zone]]\nname = "corp"\ntype = "stattic"\n',
         "[[local_zone]] #1 (corp): type must be one of static"),
        ('[local_zones]\nnodefault = ["example.com"]\n', "is not a default local zone"),
        ('[server]\nversion = "caf\\u00e9"\n', "server.version: printable ASCII only"),
        ('[server]\nidentity = "' + "x" * 256 + '"\n', "at most 255 bytes"),
    ],
)
def test_check_config_names_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text(text)
    assert cli.main(["check-config", str(path)]) == 2
    assert message in capsys.readouterr().err
