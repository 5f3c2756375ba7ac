"""Start the lab and a resolver as real processes, and ask them with dig.

Used by the end-to-end scenarios. Every address is on loopback: the lab on
127.53.0.0/16, the resolver on 127.0.0.1, and the resolver's egress limited
to 127.0.0.0/8, so nothing can leave the machine even outside a namespace.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from resolver.control import ControlError, request
from resolver.lab import send_lab_command

#: Seconds a process gets to become ready, and dig to answer.
STARTUP_DEADLINE = 30.0
DIG_TIMEOUT = 30.0

ISOLATED = os.environ.get("HOLDFAST_ISOLATED") == "1"


#: Listening ports come from below the kernel's ephemeral range (32768 and up
#: on Linux): a port the kernel handed out once can be handed out again to an
#: outgoing connection before our listener binds it.
_LISTEN_PORTS = range(20_000, 32_000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free on loopback for both UDP and TCP, never given twice in this process."""
    rng = random.Random()
    for _ in range(1_000):
        port = rng.choice(_LISTEN_PORTS)
        if port in _handed_out:
            continue
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def holdfast(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``holdfast ARGS`` (as ``python -m resolver``), logging to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "resolver", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )


def wait_until(
    ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    """Poll ``ready()`` until it is true; fail with the process's log if it dies."""
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}):\n{log.read_text()}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {STARTUP_DEADLINE} s:\n{log.read_text()}")


class Running(Protocol):
    """A process we started, with its log."""

    process: subprocess.Popen[bytes]
    log: Path


P = TypeVar("P", bound=Running)


@contextmanager
def serving(started: P) -> Iterator[P]:
    """Hand out ``started``; then stop it and require a clean exit (its log if not)."""
    try:
        yield started
    finally:
        assert stop(started.process) == 0, started.log.read_text()


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM a process we started and return its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class LabProcess:
    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, directory: Path) -> LabProcess:
        port = 53 if ISOLATED else free_port()
        log = directory / "lab.log"
        process = holdfast("lab", "--dir", str(directory), "--port", str(port), log=log)
        lab = cls(directory, port, process, log)
        wait_until(lambda: (directory / "lab.json").exists() and (directory / "lab.sock").exists(),
                   "the lab", process, log)
        return lab

    def zones_by_address(self) -> dict[str, list[str]]:
        """Each lab server address and the zones it serves, from lab.json."""
        servers = json.loads((self.directory / "lab.json").read_text())["servers"]
        return {str(server["address"]): [str(z) for z in server["zones"]] for server in servers}

    def fault(self, address: str, kind: str, *extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "resolver", "lab-fault", "--dir", str(self.directory),
             *extra, address, kind],
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@dataclass
class ResolverProcess:
    host: str
    port: int
    control: Path
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, lab: LabProcess, workdir: Path, *extra: str, lab_anchor: bool = True
    ) -> ResolverProcess:
        """``serve`` over ``lab``; ``lab_anchor=False`` leaves out ``--trust-anchor`` (for a
        configuration that anchors the lab root itself, e.g. in ``trust_anchor_file``)."""
        port = free_port()
        control = workdir / "control.sock"
        log = workdir / "resolver.log"
        process = holdfast(
            "serve",
            "--listen", f"127.0.0.1:{port}",
            "--root-hints", str(lab.directory / "root.hints"),
            *(["--trust-anchor", str(lab.directory / "trust-anchor.ds")] if lab_anchor else []),
            "--upstream-allow", "127.0.0.0/8",
            "--upstream-port", str(lab.port),
            "--control", str(control),
            # Parallel resolvers must not all bind the default 127.0.0.1:9153.
            *([] if "--metrics" in extra else ["--metrics", "off"]),
            *extra,
            log=log,
        )
        resolver = cls("127.0.0.1", port, control, process, log)
        wait_until(resolver.is_ready, "the resolver", process, log)
        return resolver

    def is_ready(self) -> bool:
        try:
            request(self.control, {"command": ["status"]}, timeout=1)
        except ControlError:
            return False
        return True

    def dig(self, *args: str) -> Dig:
        return dig(self.host, self.port, *args)

    def ctl(self, *words: str) -> subprocess.CompletedProcess[str]:
        """Run ``holdfast ctl --control SOCKET WORDS...`` as an operator would."""
        return subprocess.run(
            [sys.executable, "-m", "resolver", "ctl", "--control", str(self.control), *words],
            capture_output=True, text=True, timeout=30, check=False,
            cwd=Path(__file__).resolve().parents[2],
        )


@contextmanager
def serving_config(lab: LabProcess, workdir: Path, config: str) -> Iterator[ResolverProcess]:
    """``serve`` over ``lab`` with ``config`` (TOML text) as its file, stopped cleanly after."""
    path = workdir / "holdfast.toml"
    path.write_text(config)
    with serving(ResolverProcess.start(lab, workdir, "--config", str(path))) as resolver:
        yield resolver


@dataclass(frozen=True)
class Dig:
    """dig's output, with the parts tests look at."""

    output: str

    @property
    def status(self) -> str:
        match = re.search(r"status: ([A-Z]+)", self.output)
        assert match, self.output
        return match.group(1)

    @property
    def flags(self) -> set[str]:
        match = re.search(r";; flags: ([a-z ]*);", self.output)
        assert match, self.output
        return set(match.group(1).split())

    def section(self, name: str) -> list[list[str]]:
        """Records of the ANSWER/AUTHORITY/ADDITIONAL section, split into fields."""
        match = re.search(rf";; {name} SECTION:\n(.*?)(?:\n\n|\Z)", self.output, re.S)
        if match is None:
            return []
        return [line.split() for line in match.group(1).splitlines() if line.strip()]

    def answers(self, rdtype: str | None = None) -> list[str]:
        """The data of the answer records (of one type, if given)."""
        return [
            " ".join(fields[4:])
            for fields in self.section("ANSWER")
            if rdtype is None or fields[3] == rdtype
        ]

    @property
    def ede(self) -> str:
        match = re.search(r"; EDE: (.*)", self.output)
        return match.group(1) if match else ""


def dig_available() -> bool:
    return shutil.which("dig") is not None


#: For the scenarios that ask with dig: skipped where it is not installed.
NEEDS_DIG = pytest.mark.skipif(not dig_available(), reason="dig (bind9-dnsutils) is not installed")


def dig(host: str, port: int, *args: str, extra: Sequence[str] = ()) -> Dig:
    result = subprocess.run(
        ["dig", f"@{host}", "-p", str(port), "+time=10", "+tries=1", *extra, *args],
        capture_output=True, text=True, timeout=DIG_TIMEOUT, check=False,
    )
    return Dig(result.stdout + result.stderr)


@contextmanager
def zone_delayed(lab: LabProcess, zone: str, milliseconds: int) -> Iterator[list[str]]:
    """``zone``'s lab servers answer ``milliseconds`` late; cleared afterwards. Their addresses."""
    servers = [address for address, zones in lab.zones_by_address().items() if zone in zones]
    assert servers, f"no lab server for {zone}"
    try:
        for address in servers:
            send_lab_command(lab.directory, {"op": "fault", "address": address,
                                             "kind": f"delay:{milliseconds}"})
        yield servers
    finally:
        for address in servers:
            send_lab_command(lab.directory, {"op": "clear", "address": address})
