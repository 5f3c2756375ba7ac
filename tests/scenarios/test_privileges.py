"""End to end: bind port 53 as root, then serve as ``nobody`` (``--user``), with and
without ``--workers``.

The privileged cases need root, the user ``nobody``, and run-isolated's
network namespace (where port 53 of 127.0.0.1 is ours to take). With
workers, ``nobody`` must also be able to run this Python and read the lab's
files, since the supervisor starts its workers after dropping privileges.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from resolver.control import request
from tests.scenarios.processes import (
    ISOLATED,
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    dig,
    free_port,
    holdfast,
    serving,
)

pytestmark = [
    pytest.mark.integration,
    NEEDS_DIG,
]

REPOSITORY = Path(__file__).resolve().parents[2]
USER = "nobody"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


privileged = pytest.mark.skipif(
    os.geteuid() != 0 or not ISOLATED or not _user_exists(USER),
    reason="needs root, the user nobody, and run-isolated's namespace (port 53)",
)


@pytest.fixture(scope="module")
def lab() -> Iterator[LabProcess]:
    """The lab in a directory ``nobody`` may read (pytest's own temporary ones are 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="holdfast-privileges-"))
    try:
        directory.chmod(0o755)
        with serving(LabProcess.start(directory)) as lab:
            yield lab
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def uid_of(pid: int) -> int:
    """The real uid of a process, from the ``Uid:`` line of /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            real, effective, saved, filesystem = (int(uid) for uid in line.split()[1:])
            assert real == effective == saved == filesystem, line
            return real
    raise AssertionError(f"no Uid line for {pid}")


def can_start_workers_as(user: str, lab: LabProcess) -> bool:
    """Whether ``user`` can run this Python, import Holdfast and read the lab's files."""
    check = (f"import resolver; open({str(lab.directory / 'root.hints')!r}).read(); "
             f"open({str(lab.directory / 'trust-anchor.ds')!r}).read()")
    try:
        result = subprocess.run([sys.executable, "-c", check], user=user, cwd=REPOSITORY,
                                capture_output=True, timeout=60, check=False)
    except PermissionError:  # not even the interpreter
        return False
    return result.returncode == 0


def serve_on_53(lab: LabProcess, workdir: Path, *extra: str) -> ResolverProcess:
    return ResolverProcess.start(
        lab, workdir, "--user", USER, "--listen", "127.0.0.1:53", "--metrics", "off", *extra
    )


@privileged
def test_binds_port_53_as_root_then_serves_as_nobody(lab: LabProcess, tmp_path: Path) -> None:
    nobody = pwd.getpwnam(USER).pw_uid
    with serving(serve_on_53(lab, tmp_path)) as resolver:
        assert uid_of(resolver.process.pid) == nobody
        reply = dig("127.0.0.1", 53, "www.example.com", "A")
        assert reply.status == "NOERROR", reply.output
        assert reply.answers("A") == ["192.0.2.1"]
        status = request(resolver.control, {"command": ["status"]})
        assert status["workers"] == 1
        assert "[privileges_dropped]" in resolver.log.read_text()


@privileged
def test_with_workers_the_supervisor_and_every_worker_are_nobody(
    lab: LabProcess, tmp_path: Path
) -> None:
    if not can_start_workers_as(USER, lab):
        pytest.skip(f"{USER} cannot run {sys.executable} or read the lab's files here")
    nobody = pwd.getpwnam(USER).pw_uid
    with serving(serve_on_53(lab, tmp_path, "--workers", "2")) as resolver:
        status = request(resolver.control, {"command": ["status"]})
        pids = [worker["pid"] for worker in status["worker_processes"]]
        assert len(pids) == 2
        assert [uid_of(pid) for pid in [resolver.process.pid, *pids]] == [nobody] * 3
        reply = dig("127.0.0.1", 53, "www.example.com", "A")
        assert reply.status == "NOERROR", reply.output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_unknown_user_stops_serve_before_anything_is_bound(
    tmp_path: Path, workers: str
) -> None:
    control = tmp_path / "control.sock"
    log = tmp_path / "serve.log"
    process = holdfast(
        "serve", "--user", "no-such-user", "--workers", workers, "--metrics", "off",
        "--listen", f"127.0.0.1:{free_port()}", "--control", str(control), log=log,
    )
    assert process.wait(timeout=30) == 2
    output = log.read_text()
    assert "holdfast: error: server.user: no user named 'no-such-user'" in output
    assert "[started]" not in output
    assert not control.exists()
