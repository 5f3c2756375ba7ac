"""The NSD cold bench's pure parts: the zone files it writes, NSD's config, the report."""

from __future__ import annotations

from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdatatype
import dns.zone

from bench.cold_nsd import ColdFigures, report
from bench.dnsperf import DnsperfRun
from bench.nsd import nsd_config, write_lab
from resolver.lab.catalogue import LabServer


def test_the_written_bench_zone_is_whole_signed_and_chained(tmp_path: Path) -> None:
    servers = write_lab(tmp_path, 5)
    assert {server.zones for server in servers} == {
        (".",), ("com.", "net."), ("org.",), ("bench.com.",)}
    origin = dns.name.from_text("bench.com.")
    zone = dns.zone.from_file(str(tmp_path / "bench.com.zone"), origin, relativize=False)
    keys = {origin: zone.get_rrset(origin, dns.rdatatype.DNSKEY)}
    owners = []
    for name, node in zone.nodes.items():
        owners.append(name)
        for rdataset in node.rdatasets:
            if rdataset.rdtype == dns.rdatatype.RRSIG:
                continue
            rrset = zone.get_rrset(name, rdataset.rdtype)
            signature = zone.get_rrset(name, dns.rdatatype.RRSIG, rdataset.rdtype)
            dns.dnssec.validate(rrset, signature, keys)  # raises if any is not signed right
    nexts = {name: zone.get_rrset(name, dns.rdatatype.NSEC)[0].next for name in owners}
    assert sorted(nexts.values()) == sorted(owners)  # one closed chain over every owner
    assert dns.name.from_text("n4.bench.com.") in owners
    assert (tmp_path / "root.zone").read_text().startswith(". 3600 IN SOA")
    assert (tmp_path / "root.hints").read_text().startswith(". ")
    assert "DS" in (tmp_path / "trust-anchor.ds").read_text()


def test_one_nsd_per_server_group_on_its_addresses_only(tmp_path: Path) -> None:
    servers = [LabServer("127.53.1.1", "a.gtld-servers.net.", ("com.", "net.")),
               LabServer("127.53.1.2", "b.gtld-servers.net.", ("com.", "net."))]
    config = nsd_config(tmp_path, servers, ("com.", "net."), "nsd1")
    assert config.count("ip-address:") == 2
    assert "ip-address: 127.53.1.2" in config
    assert 'name: "com."' in config
    assert f'zonefile: "{tmp_path / "com.zone"}"' in config
    assert "control-enable: no" in config


def _figures(name: str, qps: float, share: float) -> ColdFigures:
    run = DnsperfRun(sent=1000, completed=1000, lost=0, qps=qps, elapsed=1000 / qps,
                     latencies=[0.01, 0.02])
    return ColdFigures(name, "", True, [run] * 3, [share] * 3, [0.05] * 3)


def test_the_report_gives_the_ratios_to_unbound_and_the_cpu_per_answer() -> None:
    text = report([_figures("Holdfast", 500, 1.0), _figures("Unbound", 2000, 0.4)], 1000, "abc")
    assert "| answers/s / Unbound's | **0.25x** | 1 |" in text
    assert "| Unbound's CPU per answer / this | **0.10x** | 1 |" in text
    assert "| resolver CPU per answer (ms) | 2.00 (2.00-2.00) | 0.20 (0.20-0.20) |" in text
    assert "| NSD CPU (share of one core) | 5% (5%-5%) | 5% (5%-5%) |" in text
