"""What a new user meets first: one line and a documented exit status, never a traceback.

Issue 15: a taken port or a missing CAP_NET_BIND_SERVICE printed a 41-line
ExceptionGroup, Ctrl-C in the first second a KeyboardInterrupt traceback,
and a second ``serve`` took the control socket from the first. Each case
runs ``holdfast`` as a process (as ``python -m resolver``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from resolver.control import request
from tests.scenarios.processes import ISOLATED, free_port, holdfast, stop, wait_until

REPO = Path(__file__).resolve().parents[2]
HOLDFAST = [sys.executable, "-m", "resolver"]


def run(*args: str, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *HOLDFAST, *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, check=False)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("holdfast: error: "), result.stderr
    return lines[0]


@pytest.fixture
def taken_udp() -> Iterator[tuple[str, int]]:
    """127.0.0.1:PORT held by someone else (UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield "127.0.0.1", sock.getsockname()[1]


@pytest.mark.parametrize("args", [
    ["--version"],
    ["check-config", "contrib/holdfast.toml"],
    ["ctl", "--control", "/nonexistent/holdfast.sock", "status"],
])
def test_the_first_commands_print_no_traceback_and_no_warning(args: list[str]) -> None:
    result = run(*args)
    assert "Traceback" not in result.stderr
    assert "Warning" not in result.stderr
    if args[0] == "ctl":
        assert result.returncode == 1
        assert "no control socket answers" in one_line(result)
    else:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""


def test_lab_on_a_taken_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.53.0.1", 0))
        port = sock.getsockname()[1]
        result = run("lab", "--dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 1
    line = one_line(result)
    assert f"127.53.0.1:{port}: Address already in use" in line
    assert "stop that one, or choose another" in line


def _without_bind_privilege() -> list[str]:
    """A command prefix under which port 53 cannot be bound, or skip."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop CAP_NET_BIND_SERVICE")
        return ["setpriv", "--inh-caps=-all", "--bounding-set=-net_bind_service"]
    start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text().strip()
    if int(start) <= 53:
        pytest.skip("port 53 is open to every user on this host")
    return []


def test_lab_without_cap_net_bind_service(tmp_path: Path) -> None:
    result = run("lab", "--dir", str(tmp_path), "--port", "53",
                 prefix=_without_bind_privilege())
    assert result.returncode == 1
    line = one_line(result)
    assert "the lab cannot listen on UDP 127.53." in line
    assert ":53: Permission denied" in line
    assert "run as root or grant CAP_NET_BIND_SERVICE" in line


@pytest.mark.skipif(not ISOLATED, reason="the demo's lab needs 127.53/16 to itself")
def test_demo_on_a_taken_port(taken_udp: tuple[str, int]) -> None:
    host, port = taken_udp
    result = run("demo", "--listen", f"{host}:{port}", "--metrics", "off")
    assert result.returncode == 1
    assert f"cannot listen on UDP {host}:{port}: Address already in use" in one_line(result)


@pytest.mark.skipif(not ISOLATED, reason="the demo's lab needs 127.53/16 to itself")
def test_demo_metrics_can_move_and_a_taken_one_is_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = run("demo", "--listen", f"127.0.0.1:{free_port()}",
                     "--metrics", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"metrics on 127.0.0.1:{port}" in one_line(result)


def _serve(tmp_path: Path, control: Path, name: str, *extra: str) -> subprocess.Popen[bytes]:
    return holdfast("serve", "--listen", f"127.0.0.1:{free_port()}", "--metrics", "off",
                    "--control", str(control), *extra, log=tmp_path / f"{name}.log")


def test_a_second_serve_on_the_same_control_socket_exits_1(tmp_path: Path) -> None:
    control = tmp_path / "control.sock"
    first = _serve(tmp_path, control, "first")
    try:
        wait_until(lambda: _answers(control), "the first server", first, tmp_path / "first.log")
        second = run("serve", "--listen", f"127.0.0.1:{free_port()}", "--metrics", "off",
                     "--control", str(control))
        assert second.returncode == 1
        assert f"another server answers on the control socket {control}" in one_line(second)
        assert request(control, {"command": ["status"]})["workers"] == 1
    finally:
        assert stop(first) == 0


def test_a_stale_control_socket_is_replaced(tmp_path: Path) -> None:
    control = tmp_path / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(control))
    process = _serve(tmp_path, control, "serve")
    try:
        wait_until(lambda: _answers(control), "the server", process, tmp_path / "serve.log")
    finally:
        assert stop(process) == 0
    assert not control.exists()


def _answers(control: Path) -> bool:
    try:
        request(control, {"command": ["status"]}, timeout=1)
    except Exception:
        return False
    return True


def _catches_sigint(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def test_ctrl_c_before_and_after_serve_is_up(tmp_path: Path) -> None:
    """Before: the process ends by the signal (the shell's 130), silently. After: a clean stop."""
    control = tmp_path / "control.sock"
    process = subprocess.Popen([*HOLDFAST, "serve", "--listen", f"127.0.0.1:{free_port()}",
                                "--metrics", "off", "--control", str(control)],
                               cwd=REPO, stderr=subprocess.PIPE, text=True)
    # Python's own handler is installed first; main() hands SIGINT back to the kernel.
    deadline = time.monotonic() + 30
    seen = False
    while time.monotonic() < deadline and not (seen and not _catches_sigint(process.pid)):
        seen = seen or _catches_sigint(process.pid)
        time.sleep(0.001)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGINT
    assert err == ""

    serving = _serve(tmp_path, control, "after")
    wait_until(lambda: _answers(control), "the server", serving, tmp_path / "after.log")
    serving.send_signal(signal.SIGINT)
    assert serving.wait(timeout=30) == 0
    assert "Traceback" not in (tmp_path / "after.log").read_text()


def _without_ipv6() -> list[str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a network namespace without IPv6")
    return ["unshare", "-n", "--", "sh", "-c",
            "ip link set lo up && sysctl -q -w net.ipv6.conf.lo.disable_ipv6=1 && exec \"$@\"",
            "without-ipv6"]


def test_a_default_serve_without_ipv6_serves_ipv4(tmp_path: Path) -> None:
    control = tmp_path / "control.sock"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*_without_ipv6(), *HOLDFAST, "serve", "--metrics", "off",
                                    "--control", str(control)],
                                   cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _answers(control), "the server", process, log)
        assert request(control, {"command": ["status"]})["listen"] == ["127.0.0.1:53"]
    finally:
        assert stop(process) == 0
    assert "[::1]:53 skipped: no IPv6 on this host" in log.read_text()

    named = run("serve", "--listen", "[::1]:5399", "--metrics", "off",
                "--control", str(control), prefix=_without_ipv6())
    assert named.returncode == 1
    assert "[::1]:5399" in one_line(named)
