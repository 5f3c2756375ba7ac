"""End to end: the lab and ``holdfast serve`` as real processes, asked with dig.

One lab and one resolver serve the whole module (starting them signs every
lab zone); tests that break a lab server clear the fault before they end.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.processes import (
    ISOLATED,
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    serving_config,
)

pytestmark = [
    pytest.mark.integration,
    NEEDS_DIG,
]


@pytest.fixture(scope="module")
def resolver(
    lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResolverProcess]:
    workdir = tmp_path_factory.mktemp("resolver")
    # Only 127.0.0.1 may ask: dig from 127.0.0.2 must be refused.
    config = '[server]\nallow = ["127.0.0.1/32", "::1/128"]\n'
    with serving_config(lab, workdir, config) as resolver:
        yield resolver


def test_www_example_com(resolver: ResolverProcess) -> None:
    reply = resolver.dig("www.example.com", "A")
    assert reply.status == "NOERROR"
    assert reply.answers("A") == ["192.0.2.1"]
    assert "ra" in reply.flags
    assert "aa" not in reply.flags


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        ("www.example.com", "AAAA", "2001:db8::1"),
        ("foo.wild.example.com", "A", "192.0.2.2"),
        ("alias.example.com", "A", "192.0.2.3"),
        ("www.example.net", "A", "192.0.2.3"),
        ("ttl2.example.com", "A", "192.0.2.5"),
    ],
)
def test_catalogue_addresses(
    resolver: ResolverProcess, name: str, rdtype: str, expected: str
) -> None:
    reply = resolver.dig(name, rdtype)
    assert reply.status == "NOERROR"
    assert expected in reply.answers(rdtype)


@pytest.mark.parametrize("rdtype", ["MX", "TXT"])
def test_example_com_mx_and_txt(resolver: ResolverProcess, rdtype: str) -> None:
    reply = resolver.dig("example.com", rdtype)
    assert reply.status == "NOERROR"
    assert reply.answers(rdtype)


@pytest.mark.parametrize(
    "zone",
    ["example.org", "nsec3.org", "optout.nsec3.org", "insecure.com", "noglue.com", "lame.com",
     "slow.com", "tcponly.com", "rsa.org", "ecdsa.org", "ed25519.org"],
)
def test_every_catalogue_zone_has_www(resolver: ResolverProcess, zone: str) -> None:
    reply = resolver.dig(f"www.{zone}", "A")
    assert reply.status == "NOERROR", reply.output
    assert [a for a in reply.answers("A") if a.startswith("192.0.2.")]


def test_cname_chain_across_zones(resolver: ResolverProcess) -> None:
    reply = resolver.dig("alias.example.com", "A")
    assert reply.answers("CNAME") == ["www.example.net."]
    assert reply.answers("A") == ["192.0.2.3"]


def test_dname(resolver: ResolverProcess) -> None:
    reply = resolver.dig("www.sub.example.com", "A")
    assert reply.answers("DNAME") == ["example.org."]
    assert reply.answers("CNAME") == ["www.example.org."]
    assert reply.answers("A")


def test_nxdomain_carries_the_soa(resolver: ResolverProcess) -> None:
    reply = resolver.dig("nx.example.com", "A")
    assert reply.status == "NXDOMAIN"
    assert [fields[3] for fields in reply.section("AUTHORITY")] == ["SOA"]


def test_nodata_carries_the_soa(resolver: ResolverProcess) -> None:
    reply = resolver.dig("www.example.com", "MX")
    assert reply.status == "NOERROR"
    assert reply.answers() == []
    assert [fields[3] for fields in reply.section("AUTHORITY")] == ["SOA"]


def test_tcp_client(resolver: ResolverProcess) -> None:
    reply = resolver.dig("+tcp", "www.example.com", "A")
    assert reply.answers("A") == ["192.0.2.1"]


def test_client_without_edns(resolver: ResolverProcess) -> None:
    reply = resolver.dig("+noedns", "www.example.com", "A")
    assert reply.answers("A") == ["192.0.2.1"]
    assert "OPT PSEUDOSECTION" not in reply.output


def test_edns_version_1_is_badvers(resolver: ResolverProcess) -> None:
    reply = resolver.dig("+edns=1", "+noednsneg", "www.example.com", "A")
    assert reply.status == "BADVERS"


def test_any_gets_the_rfc8482_answer(resolver: ResolverProcess) -> None:
    reply = resolver.dig("example.com", "ANY")
    assert reply.status == "NOERROR"
    assert reply.answers("HINFO") == ['"RFC8482" ""']


def test_client_outside_the_acl_is_refused(resolver: ResolverProcess) -> None:
    reply = resolver.dig("-b", "127.0.0.2", "www.example.com", "A")
    assert reply.status == "REFUSED"


def test_malformed_packets_never_disturb_the_server(resolver: ResolverProcess) -> None:
    header = bytes.fromhex("abcd01000001000000000000")
    query = header + b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"
    unanswered = [b"", b"\x00", b"\xff" * 11, b"\xff" * 300]  # too short, or a response (QR=1)
    formerr = [
        query[:4] + b"\x00\x02" + query[6:],  # two questions
        query[:-3],  # question cut short
        bytes(range(256)) * 2,  # a query header followed by nonsense
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        for packet in unanswered:
            sock.sendto(packet, (resolver.host, resolver.port))
        for packet in formerr:
            sock.sendto(packet, (resolver.host, resolver.port))
            reply, _ = sock.recvfrom(4096)
            assert reply[:2] == packet[:2]
            assert reply[3] & 0x0F == 1  # FORMERR
    assert resolver.dig("www.example.com", "A").answers("A") == ["192.0.2.1"]


def test_tcp_pipelining(resolver: ResolverProcess) -> None:
    names = [b"\x03www\x07example\x03com\x00", b"\x03www\x07example\x03net\x00",
             b"\x02nx\x07example\x03com\x00"]
    queries = [struct.pack("!HHHHHH", 100 + i, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"
               for i, name in enumerate(names)]
    with socket.create_connection((resolver.host, resolver.port), timeout=10) as sock:
        sock.sendall(b"".join(struct.pack("!H", len(q)) + q for q in queries))
        ids = set()
        for _ in queries:
            length = struct.unpack("!H", _read(sock, 2))[0]
            ids.add(struct.unpack("!H", _read(sock, length)[:2])[0])
    assert ids == {100, 101, 102}


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_a_broken_instance_is_routed_around(lab: LabProcess, resolver: ResolverProcess) -> None:
    servers = [a for a, zones in lab.zones_by_address().items() if "example.com." in zones]
    assert len(servers) >= 2
    lab.fault(servers[0], "servfail")
    try:
        # Unique wildcard names: each one is a fresh question to example.com's servers.
        for i in range(8):
            reply = resolver.dig(f"x{i}.wild.example.com", "A")
            assert reply.status == "NOERROR", reply.output
            assert reply.answers("A") == ["192.0.2.2"]
    finally:
        lab.fault(servers[0], "clear")


def test_ctl_status(resolver: ResolverProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "resolver", "ctl", "--control", str(resolver.control), "status"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    status = json.loads(result.stdout)
    assert status["version"]
    assert status["upstream_allow"] == ["127.0.0.0/8"]


@pytest.mark.skipif(not ISOLATED, reason="queries outside.com only inside a private namespace")
def test_egress_allow_list_refuses_without_sending(resolver: ResolverProcess) -> None:
    reply = resolver.dig("www.outside.com", "A")
    assert reply.status == "SERVFAIL"
    assert "outside.com" in reply.ede
    assert "192.0.2.53" in Path(resolver.log).read_text()


def test_bad_config_exits_2_and_names_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nlisten = ["127.0.0.1:53"]\nalow = []\n')
    result = subprocess.run(
        [sys.executable, "-m", "resolver", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 2
    assert "server.alow" in result.stderr
    assert "server.allow" in result.stderr
