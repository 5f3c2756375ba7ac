"""The lab's zones served by a real authoritative server: NSD from Debian.

The Python lab answers a few thousand queries a second on one core, so a
cold benchmark against it measures the lab as much as the resolver (issue
19). Here the zones a cold ``bench.com`` resolution needs (the root,
``com.``/``net.``, ``org.`` and ``bench.com.`` with as many generated names
as the run asks for) are signed by the lab's own code
(``StaticZone.records``, ``BenchZone.records``), written as zone files, and
served by NSD on the lab's addresses. Each group of lab servers that share
their zones gets its own ``nsd`` process bound to just those addresses, so
that the hierarchy stays a hierarchy (one NSD serving every zone on every
address would answer ``com.`` authoritatively from a root address). The
processes run in the foreground (``-d``), with one server child each, pinned
to one CPU with ``taskset``, and are stopped by their own PIDs. The
resolvers get ``root.hints`` and ``trust-anchor.ds`` from ``Lab`` as the
Python lab publishes them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query

from bench.processes import ProcessError, Started
from resolver.clock import SystemClock
from resolver.lab.bench import BenchZone
from resolver.lab.catalogue import LabServer, plan
from resolver.lab.lab import Lab, LabZone
from resolver.lab.zones import StaticZone

#: The zones a cold bench.com resolution passes through.
ZONES = (".", "com.", "net.", "org.", "bench.com.")
_READY_TIMEOUT = 30.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def nsd_available() -> bool:
    return shutil.which("nsd") is not None


@dataclass
class NsdProcesses:
    """The NSD processes of one run: CPU counted over each process tree."""

    started: list[Started]

    def cpu_seconds(self) -> float:
        """User plus system CPU of every NSD process and its children (the server child works)."""
        return sum(_tree_cpu_seconds(one.popen.pid) for one in self.started)

    def stop(self) -> None:
        for one in self.started:
            one.stop()


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid``'s threads and, recursively, of its live children."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        for child in (task / "children").read_text().split():
            total += _tree_cpu_seconds(int(child))
    return total


def write_lab(labdir: Path, bench_names: int) -> list[LabServer]:
    """Sign the zones, write them with the resolvers' files; the servers to start.

    ``bench_names``: ``n0`` .. ``n{bench_names - 1}.bench.com`` are generated
    (a few thousand names are signed a second).
    """
    catalogue = plan()
    clock = SystemClock()
    wanted = {dns.name.from_text(zone) for zone in ZONES}
    zones: dict[dns.name.Name, StaticZone | BenchZone] = {}
    for source in catalogue.sources:
        if source.origin not in wanted:
            continue
        window = catalogue.windows[source.origin](clock.wall())
        zone: StaticZone | BenchZone
        if source.origin == catalogue.bench:
            zone = BenchZone(source, window, count=bench_names)
        else:
            zone = StaticZone.build(source, window)
        zones[source.origin] = zone
    servers = tuple(
        server for server in catalogue.servers
        if all(dns.name.from_text(origin) in zones for origin in server.zones)
    )
    lab = Lab(clock, servers, dict[dns.name.Name, LabZone](zones), {})
    labdir.mkdir(parents=True, exist_ok=True)
    (labdir / "root.hints").write_text(lab.root_hints_text(), encoding="ascii")
    (labdir / "trust-anchor.ds").write_text(lab.trust_anchor_text(), encoding="ascii")
    for origin, zone in zones.items():
        with _zone_path(labdir, origin).open("w", encoding="ascii") as output:
            for rrset in zone.records():
                output.write(rrset.to_text() + "\n")
    return list(servers)


def _zone_path(labdir: Path, origin: dns.name.Name) -> Path:
    label = "root" if origin == dns.name.root else origin.to_text(omit_final_dot=True)
    return labdir / f"{label}.zone"


def nsd_config(labdir: Path, servers: list[LabServer], zones: tuple[str, ...], name: str) -> str:
    """One NSD on the addresses of ``servers``, serving ``zones``; no database, no control."""
    lines = [
        "server:",
        "  port: 53",
        "  server-count: 1",
        "  verbosity: 0",
        '  username: ""',
        '  chroot: ""',
        '  database: ""',
        f'  zonesdir: "{labdir}"',
        f'  pidfile: "{labdir / (name + ".pid")}"',
        f'  xfrdfile: "{labdir / (name + ".xfrd")}"',
        f'  zonelistfile: "{labdir / (name + ".zonelist")}"',
        "  do-ip6: no",
        "  hide-version: yes",
        "  refuse-any: yes",
        *(f"  ip-address: {server.address}" for server in servers),
        "remote-control:",
        "  control-enable: no",
    ]
    for zone in zones:
        origin = dns.name.from_text(zone)
        lines += ["zone:", f'  name: "{zone}"', f'  zonefile: "{_zone_path(labdir, origin)}"']
    return "\n".join(lines) + "\n"


def start_nsd(workdir: Path, bench_names: int, cpu: int | None) -> NsdProcesses:
    """Write and serve the lab's zones with NSD; returns once every group answers."""
    labdir = workdir / "lab"
    servers = write_lab(labdir, bench_names)
    groups: dict[tuple[str, ...], list[LabServer]] = {}
    for server in servers:
        groups.setdefault(server.zones, []).append(server)
    started: list[Started] = []
    processes = NsdProcesses(started)
    try:
        for number, (zones, members) in enumerate(groups.items()):
            name = f"nsd{number}"
            config = labdir / f"{name}.conf"
            config.write_text(nsd_config(labdir, members, zones, name), encoding="utf-8")
            check = subprocess.run(["nsd-checkconf", str(config)], capture_output=True,
                                   text=True, check=False)
            if check.returncode != 0:
                raise ProcessError(f"nsd-checkconf refused {config}: {check.stderr}")
            command = ["nsd", "-d", "-c", str(config)]
            if cpu is not None:
                command = ["taskset", "-c", str(cpu), *command]
            log = workdir / f"{name}.log"
            with log.open("wb") as output:
                popen = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
            started.append(Started(f"NSD {', '.join(zones)}", popen, log))
            _wait_until_serving(started[-1], members[0].address, zones[0])
    except BaseException:
        processes.stop()
        raise
    return processes


def _wait_until_serving(started: Started, address: str, zone: str) -> None:
    query = dns.message.make_query(zone, "SOA")
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if started.popen.poll() is not None:
            raise ProcessError(f"{started.name} exited: see {started.log}")
        try:
            dns.query.udp(query, address, port=53, timeout=1.0)
        except (dns.exception.Timeout, OSError):
            time.sleep(0.1)
            continue
        return
    raise ProcessError(f"{started.name} did not answer on {address} in {_READY_TIMEOUT:.0f} s")
