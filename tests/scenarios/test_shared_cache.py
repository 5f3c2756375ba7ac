"""End to end: two ``holdfast serve`` over the lab sharing one real ``redis-server``.

The second resolver answers from what the first put in the tier (with the
same remaining TTL and the same verdict), never serves bogus data as secure,
and keeps answering while Redis is SIGSTOPped or killed, picking it up again
once it is back. Skipped where redis-server (Debian's redis-server package,
installed by ``make tools``) is missing.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resolver.control import request
from tests.certificates import write_certificate
from tests.scenarios.processes import (
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    free_port,
    serving,
)

pytestmark = [
    pytest.mark.integration,
    NEEDS_DIG,
    pytest.mark.skipif(shutil.which("redis-server") is None,
                       reason="redis-server is not installed (make tools installs it)"),
]

#: How long the tier may take to publish what a resolver stored.
PUBLISH_DEADLINE = 5.0


class Redis:
    """A throwaway redis-server on a loopback port, no persistence."""

    def __init__(self, port: int, log: Path, *extra: str) -> None:
        self.port = port
        self.log = log
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--protected-mode", "no", *self.extra],
                stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.command(b"PING").startswith((b"+PONG", b"-NOAUTH")):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start:\n{self.log.read_text()}")

    def command(self, *words: bytes) -> bytes:
        """One RESP command over a plain socket; b"" when Redis does not answer."""
        request_bytes = b"*%d\r\n" % len(words) + b"".join(
            b"$%d\r\n%s\r\n" % (len(word), word) for word in words
        )
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(request_bytes)
                return sock.recv(65_536)
        except OSError:
            return b""

    def keys(self) -> int:
        reply = self.command(b"DBSIZE")
        return int(reply[1:].strip()) if reply.startswith(b":") else -1

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(free_port(), tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start(lab: LabProcess, workdir: Path, redis: Redis, secret: str = "a" * 32,
          port: int | None = None, extra: str = "", wait: bool = True) -> ResolverProcess:
    workdir.mkdir()
    (workdir / "secret").write_text(secret + "\n")
    config = workdir / "holdfast.toml"
    config.write_text(
        "[shared_cache]\n"
        f'servers = ["127.0.0.1:{port or redis.port}"]\n'
        f'secret_file = "{workdir / "secret"}"\n'
        # Generous for a loaded CI machine: a missed deadline opens the breaker.
        "timeout = 0.5\n"
        "retry_after = 0.5\n" + extra
    )
    resolver = ResolverProcess.start(lab, workdir, "--config", str(config))
    if wait:
        wait_for(lambda: ready(resolver), "the tier to connect")
    return resolver


def status(resolver: ResolverProcess) -> dict[str, Any]:
    result: dict[str, Any] = request(resolver.control, {"command": ["status"]}, timeout=10)
    return result


def tier(resolver: ResolverProcess) -> dict[str, Any]:
    stats: dict[str, Any] = status(resolver)["shared_cache"]
    return stats


def ready(resolver: ResolverProcess) -> bool:
    """Whether the tier's breaker has closed: a store now reaches Redis."""
    before = tier(resolver)["published"]
    resolver.dig(f"ready{time.monotonic_ns()}.insecure.com", "A")
    return bool(tier(resolver)["published"] > before)


def wait_for(condition: Any, what: str, deadline: float = PUBLISH_DEADLINE) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def ttl_of(reply: Any, rdtype: str) -> int:
    return int(next(fields[1] for fields in reply.section("ANSWER") if fields[3] == rdtype))


def test_a_second_resolver_answers_from_the_tier_with_the_same_ttl_and_verdict(
    lab: LabProcess, redis: Redis, tmp_path: Path
) -> None:
    with serving(start(lab, tmp_path / "a", redis)) as first, \
            serving(start(lab, tmp_path / "b", redis)) as second:
        warm = first.dig("www.example.com", "A", "+dnssec")
        assert warm.status == "NOERROR"
        assert "ad" in warm.flags
        wait_for(lambda: tier(first)["published"] >= 3, "the answer to be published")
        time.sleep(1.2)  # so that a TTL counted from the second's own fetch would differ
        adopted = tier(second)["adopted"]
        theirs = second.dig("www.example.com", "A", "+dnssec")
        mine = first.dig("www.example.com", "A", "+dnssec")
        assert tier(second)["adopted"] > adopted
        assert theirs.status == "NOERROR"
        assert "ad" in theirs.flags
        assert theirs.answers("A") == mine.answers("A")
        assert abs(ttl_of(theirs, "A") - ttl_of(mine, "A")) <= 1
        assert ttl_of(theirs, "A") < ttl_of(first.dig("www.example.com", "A"), "A") + 1


def test_bogus_data_is_never_served_as_secure_from_the_tier(
    lab: LabProcess, redis: Redis, tmp_path: Path
) -> None:
    with serving(start(lab, tmp_path / "a", redis)) as first, \
            serving(start(lab, tmp_path / "b", redis)) as second:
        assert first.dig("www.bogus.com", "A").status == "SERVFAIL"
        time.sleep(0.5)
        assert second.dig("www.bogus.com", "A").status == "SERVFAIL"
        checking_disabled = second.dig("www.bogus.com", "A", "+cd")
        assert "ad" not in checking_disabled.flags


def test_another_deployments_records_are_not_used(
    lab: LabProcess, redis: Redis, tmp_path: Path
) -> None:
    with serving(start(lab, tmp_path / "a", redis)) as first, \
            serving(start(lab, tmp_path / "b", redis, secret="b" * 32)) as second:
        first.dig("www.example.com", "A")
        wait_for(lambda: tier(first)["published"] >= 3, "the answer to be published")
        second.dig("www.example.com", "A")
        stats = tier(second)
        assert stats["adopted"] == 0
        assert stats["rejected"] == 0  # other keys: its records are not even found


def test_answers_keep_flowing_while_redis_is_stopped_or_killed(
    lab: LabProcess, redis: Redis, tmp_path: Path
) -> None:
    with serving(start(lab, tmp_path / "a", redis)) as resolver:
        resolver.dig("www.example.com", "A")

        def flow(label: str, count: int = 20) -> float:
            """Ask ``count`` new names and the cached one; return the slowest answer, s.

            The new names are in an unsigned zone: no cached NSEC answers them
            (RFC 8198), so each is a local miss that would ask the tier.
            """
            slowest = 0.0
            for index in range(count):
                for name in (f"{label}{index}.insecure.com", "www.example.com"):
                    began = time.monotonic()
                    reply = resolver.dig(name, "A")
                    slowest = max(slowest, time.monotonic() - began)
                    assert reply.status in ("NOERROR", "NXDOMAIN"), reply.output
            return slowest

        redis.signal(signal.SIGSTOP)
        assert flow("paused") < 2.0
        time.sleep(1)  # calls in flight when Redis stopped end at their deadline (0.5 s)
        failures = tier(resolver)["failures"]
        assert failures >= 1
        assert flow("paused-again") < 2.0
        assert tier(resolver)["failures"] == failures  # skipped, not waited on
        redis.signal(signal.SIGCONT)
        redis.stop()
        assert flow("killed") < 2.0
        redis.start()
        wait_for(lambda: ready(resolver), "the tier to find Redis again")
        assert redis.keys() > 0


@pytest.mark.parametrize(("server_name", "connects"), [("localhost", True), ("wrong.test", False)])
def test_redis_over_tls_with_auth(
    lab: LabProcess, tmp_path: Path, server_name: str, connects: bool
) -> None:
    """TLS with the certificate checked against tls_server_name, and AUTH from a file."""
    certificate, key = write_certificate(tmp_path, "redis")
    (tmp_path / "password").write_text("redis password\n")
    tls_port = free_port()
    redis = Redis(free_port(), tmp_path / "redis.log", "--tls-port", str(tls_port),
                  "--tls-cert-file", str(certificate), "--tls-key-file", str(key),
                  "--tls-ca-cert-file", str(certificate), "--tls-auth-clients", "no",
                  "--requirepass", "redis password")
    redis.start()
    try:
        extra = ("tls = true\n"
                 f'tls_ca_file = "{certificate}"\n'
                 f'tls_server_name = "{server_name}"\n'
                 f'password_file = "{tmp_path / "password"}"\n')
        with serving(start(lab, tmp_path / "a", redis, port=tls_port, extra=extra,
                           wait=connects)) as resolver:
            if connects:
                assert tier(resolver)["published"] > 0
            else:
                time.sleep(1.5)  # three probes
                resolver.dig("www.example.com", "A")
                assert tier(resolver)["published"] == 0
    finally:
        redis.stop()


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_a_three_node_redis_cluster_is_shared(lab: LabProcess, tmp_path: Path) -> None:
    """Two resolvers over a three-node Redis Cluster, in coredis's cluster mode."""
    nodes = [Redis(free_port(), tmp_path / f"node{index}.log", "--cluster-enabled", "yes",
                   "--cluster-config-file", str(tmp_path / f"node{index}.conf"))
             for index in range(3)]
    try:
        for node in nodes:
            node.start()
        created = subprocess.run(
            ["redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{node.port}" for node in nodes), "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        wait_for(lambda: b"cluster_state:ok" in nodes[0].command(b"CLUSTER", b"INFO"),
                 "the cluster to form", deadline=20)
        extra = "cluster = true\n"  # one seed node: the client finds the others
        with serving(start(lab, tmp_path / "a", nodes[0], extra=extra)) as first, \
                serving(start(lab, tmp_path / "b", nodes[1], extra=extra)) as second:
            first.dig("www.example.com", "A")
            wait_for(lambda: tier(first)["published"] >= 3, "the answer to be published")
            second.dig("www.example.com", "A")
            assert tier(second)["adopted"] > 0
            assert sum(node.keys() > 0 for node in nodes) >= 2  # spread over the slots' owners
    finally:
        for node in nodes:
            node.stop()
