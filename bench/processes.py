"""The processes a benchmark run starts: the lab, Holdfast and Unbound.

Each is started pinned to a CPU with ``taskset`` and stopped by its own PID
(never by name). Unbound is configured only with the lab's root hints and
trust anchor, on loopback, without daemonising or dropping privileges, and
is never pointed at the real root: the harness runs inside a private network
namespace, and Unbound is told ``do-not-query-localhost: no`` so it may
query the lab's 127.53.0.0/16 servers at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query

#: Where the resolvers under test listen.
HOLDFAST_PORT = 5300
UNBOUND_PORT = 5301
LOOPBACK = "127.0.0.1"
#: The benches' split of a 2-core machine: the resolver measured (Holdfast or
#: Unbound) on one core, the lab, the authority and the load generators on
#: the other, so that neither steals the other's CPU.
RESOLVER_CPU = 0
LOAD_CPU = 1

_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def resident_bytes(pid: int | str = "self") -> int:
    """A process's resident set size: what the operating system sees it use."""
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


class ProcessError(RuntimeError):
    """A benchmark process failed to start or answer."""


@dataclass
class Started:
    """A process we started: stopped by PID, its CPU time readable from /proc."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 53
    version: str = ""

    @property
    def server(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far."""
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def rss_bytes(self) -> int:
        return resident_bytes(self.popen.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def _spawn(name: str, command: list[str], workdir: Path, cpu: int | None) -> Started:
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    log = workdir / f"{name.lower()}.log"
    with log.open("wb") as output:
        popen = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    return Started(name, popen, log)


def wait_until_answering(started: Started, name: str = "www.example.com.") -> None:
    """Ask ``name`` until an answer comes, the process dies or time runs out."""
    query = dns.message.make_query(name, "A")
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if started.popen.poll() is not None:
            raise ProcessError(f"{started.name} exited: see {started.log}")
        try:
            dns.query.udp(query, started.server[0], port=started.server[1], timeout=1.0)
        except (dns.exception.Timeout, OSError):
            time.sleep(0.1)
            continue
        return
    raise ProcessError(f"{started.name} did not answer {name} within {_READY_TIMEOUT:.0f} s")


def validates(started: Started, name: str = "www.bench.com.") -> bool:
    """Whether the resolver sets AD on a secure lab answer, i.e. validates at all.

    Reported next to the cold figures, so that a comparison of a validating
    resolver with one that does not validate yet is never mistaken for a fair one.
    """
    query = dns.message.make_query(name, "A", want_dnssec=True)
    response = dns.query.udp(query, started.server[0], port=started.server[1], timeout=5.0)
    return bool(response.flags & dns.flags.AD)


def start_lab(workdir: Path, cpu: int | None) -> Started:
    """The lab's authoritative servers on port 53 (needs the namespace's root)."""
    labdir = workdir / "lab"
    command = [sys.executable, "-m", "resolver", "lab", "--dir", str(labdir), "--port", "53"]
    lab = _spawn("lab", command, workdir, cpu)
    deadline = time.monotonic() + _READY_TIMEOUT
    while not (labdir / "trust-anchor.ds").exists():
        if lab.popen.poll() is not None or time.monotonic() > deadline:
            lab.stop()
            raise ProcessError(f"the lab did not start: see {lab.log}")
        time.sleep(0.1)
    return lab


def start_holdfast(
    workdir: Path, cpu: int | None, extra: Sequence[str] = (), *, port: int = HOLDFAST_PORT
) -> Started:
    """Holdfast over the lab; ``extra`` arguments go to ``serve`` (e.g. ``--config``)."""
    labdir = workdir / "lab"
    command = [
        sys.executable, "-m", "resolver", "serve",
        "--listen", f"{LOOPBACK}:{port}",
        "--root-hints", str(labdir / "root.hints"),
        "--trust-anchor", str(labdir / "trust-anchor.ds"),
        "--upstream-allow", "127.0.0.0/8",
        "--control", str(workdir / "holdfast.sock"),
        *extra,
    ]
    started = _spawn("Holdfast", command, workdir, cpu)
    started.port = port
    version = subprocess.run(
        [sys.executable, "-m", "resolver", "--version"], capture_output=True, text=True, check=False
    )
    started.version = version.stdout.strip()
    wait_until_answering(started)
    return started


def start_program(
    name: str, command: list[str], workdir: Path, cpu: int | None, *, port: int,
    answers: str = "www.example.com.",
) -> Started:
    """Another resolver program on ``LOOPBACK:port``, returned once it answers ``answers``."""
    started = _spawn(name, command, workdir, cpu)
    started.port = port
    try:
        wait_until_answering(started, answers)
    except ProcessError:
        started.stop()
        raise
    return started


def unbound_available() -> bool:
    return shutil.which("unbound") is not None


def unbound_config(workdir: Path) -> str:
    """Unbound, one thread, only the lab's hints and anchor; caches as large as ours."""
    labdir = workdir / "lab"
    return f"""\
server:
  verbosity: 0
  interface: {LOOPBACK}@{UNBOUND_PORT}
  port: {UNBOUND_PORT}
  num-threads: 1
  do-ip6: no
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "{workdir}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  root-hints: "{labdir / 'root.hints'}"
  trust-anchor-file: "{labdir / 'trust-anchor.ds'}"
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  msg-cache-size: 256m
  rrset-cache-size: 256m
  outgoing-range: 4096
  num-queries-per-thread: 4096
"""


def start_unbound(workdir: Path, cpu: int | None, extra_config: str = "") -> Started:
    """Unbound over the lab; ``extra_config`` lines go in its ``server:`` clause."""
    config = workdir / "unbound.conf"
    config.write_text(unbound_config(workdir) + extra_config, encoding="utf-8")
    check = subprocess.run(
        ["unbound-checkconf", str(config)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise ProcessError(f"unbound-checkconf refused our config: {check.stderr or check.stdout}")
    started = _spawn("Unbound", ["unbound", "-d", "-c", str(config)], workdir, cpu)
    started.port = UNBOUND_PORT
    version = subprocess.run(["unbound", "-V"], capture_output=True, text=True, check=False)
    started.version = version.stdout.splitlines()[0] if version.stdout else "unbound"
    wait_until_answering(started)
    return started


def isolate(argv: Sequence[str], module: str) -> None:
    """Re-run ``python -m module argv`` inside a private network namespace with loopback up.

    Nothing a benchmark sends can then leave the machine. Returns (without
    re-running) when already isolated, or when namespaces are not allowed here.
    """
    if os.environ.get("HOLDFAST_ISOLATED") or shutil.which("unshare") is None:
        return
    if subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode:
        return
    script = 'ip link set lo up && HOLDFAST_ISOLATED=1 exec "$@"'
    os.execvp("unshare", ["unshare", "-n", "--", "sh", "-c", script, module,
                          sys.executable, "-m", module, *argv])
