"""Holdfast instances behind dnsdist's consistent-hash policy: its config and its process.

dnsdist's ``chashed`` policy hashes the query name onto a ring of points,
``weight`` points per back end, and sends the query to the first back end
that is up past the name's point (dnsdist docs, guides/serverselection.rst).
So every question for one name reaches one Holdfast instance, and each
instance's cache holds a slice of the names instead of a copy of them all;
when a back end fails its health checks, only the names on its points move
to the next ones on the ring. The points are hashes of the back end's id,
a random UUID unless ``newServer`` is given one (``DownstreamState::hash``
in dnsdist), so the config names a fixed id per back end, derived from its
address: a restarted dnsdist, or a second one beside it, builds the same
ring and sends each name where its cache already is. Both the names and the
points are hashed with a perturbation that dnsdist draws at random at start
unless set (``setWHashedPertubation`` in 1.7, spelt so; it serves
``chashed`` too, and is ``setHashPerturbation`` from 1.9): the config sets
it, to a value the deployment keeps to itself so that clients cannot pick
names that all land on one instance. This is how Google Public DNS partitions its
second cache level by name (../shared/anchors-2026-12.md, section 2).

``config`` writes the configuration that docs/operations.md shows (a test
checks the two agree), so the documented layout is the one the scenario and
the bench run. ``Dnsdist`` starts dnsdist 1.7 (Debian's) on loopback only:
no console, no web server, no carbon, no security polling, and back ends on
127.0.0.0/8, so it cannot send anything off the machine.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.scenarios.processes import dig, stop, wait_until

#: Points on the hash ring per back end: the dnsdist docs ask for 100 to 1000
#: for an even spread with ``chashed`` (the default weight 1 gives one point).
RING_WEIGHT = 1000

DNSDIST = shutil.which("dnsdist")

#: For the scenarios and benches that put dnsdist in front: skipped without it.
NEEDS_DNSDIST = pytest.mark.skipif(
    DNSDIST is None, reason="dnsdist is not installed (make tools installs Debian's)"
)


def config(
    listen: str, backends: Sequence[str], clients: Sequence[str], perturbation: int
) -> str:
    """dnsdist's Lua configuration: ``listen`` for ``clients``, each name to one back end.

    ``listen`` and ``backends`` are ``address:port``; ``clients`` are the
    networks allowed to ask; ``perturbation`` (32 bits) seeds the hashes.
    The health check asks each instance for the root's SOA: an instance
    that answers it from its cache is up; one that does not answer, or
    answers SERVFAIL or REFUSED (``mustResolve``), is taken out of the ring
    after one failed check (a check a second), and put back after one good
    one.
    """
    acl = ", ".join(f'"{network}"' for network in clients)
    servers = "".join(
        f'newServer({{address="{address}", name="holdfast{number}",\n'
        f'           id="{ring_id(address)}", weight={RING_WEIGHT},\n'
        f'           checkName=".", checkType="SOA", mustResolve=true,\n'
        f"           checkInterval=1, checkTimeout=1000, maxCheckFailures=1, rise=1}})\n"
        for number, address in enumerate(backends, start=1)
    )
    return (
        "-- Holdfast instances behind dnsdist: each query name goes to one instance.\n"
        "setSecurityPollSuffix(\"\")  -- no security-status queries to powerdns.com\n"
        f'setLocal("{listen}")\n'
        f"setACL({{{acl}}})\n"
        "setServerPolicy(chashed)  -- consistent hash of the query name\n"
        f"setWHashedPertubation({perturbation})  -- the same on every dnsdist; keep it private\n"
        f"{servers}"
    )


def ring_id(address: str) -> uuid.UUID:
    """The fixed dnsdist id of the back end at ``address``: the seed of its ring points."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"dns://{address}")


@dataclass
class Dnsdist:
    """dnsdist started by us, in the foreground, logging to ``log``."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, workdir: Path, port: int, backends: Sequence[tuple[str, int]], perturbation: int
    ) -> Dnsdist:
        """dnsdist on 127.0.0.1:``port`` in front of ``backends`` (loopback addresses only)."""
        assert DNSDIST is not None, "dnsdist is not installed"
        for host, _ in backends:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError(f"back end {host} is not on loopback")
        path = workdir / "dnsdist.conf"
        path.write_text(config(f"127.0.0.1:{port}",
                               [f"{host}:{backend}" for host, backend in backends],
                               ["127.0.0.0/8"], perturbation))
        log = workdir / "dnsdist.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [DNSDIST, "--supervised", "--disable-syslog", "-C", str(path)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        started = cls("127.0.0.1", port, process, log)
        wait_until(started.answers, "dnsdist", process, log)
        return started

    def answers(self) -> bool:
        """Whether a query through dnsdist gets a reply from a back end."""
        return "status: NOERROR" in dig(self.host, self.port, "+time=1", ".", "SOA").output

    def stop(self) -> int:
        return stop(self.process)
