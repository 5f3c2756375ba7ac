"""End to end: ``--workers 2`` serves DNS over TLS and HTTPS on shared ports (issue 21).

The supervisor binds one DoT and one DoH socket per worker with
SO_REUSEPORT, like UDP and TCP; ``dig +tls`` and ``dig +https`` get answers,
and connections from many source ports are spread over both workers.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resolver.control import request
from tests.certificates import write_encrypted_config
from tests.scenarios.processes import (
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    dig,
    free_port,
    serving,
)

pytestmark = [pytest.mark.integration, NEEDS_DIG]

#: DoT connections opened, each from a new source port: enough that both
#: workers get some, whatever the kernel's hash (a miss is 2 ** -39).
CONNECTIONS = 40
#: The query www.example.com A, ID 0x1234.
QUERY = bytes.fromhex("12340100000100000000000003777777076578616d706c6503636f6d0000010001")


class Workers:
    def __init__(self, resolver: ResolverProcess, tls_port: int, https_port: int,
                 certificate: Path) -> None:
        self.resolver = resolver
        self.tls_port = tls_port
        self.https_port = https_port
        self.certificate = certificate


@pytest.fixture(scope="module")
def workers(lab: LabProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    workdir = tmp_path_factory.mktemp("encrypted-workers")
    setup = write_encrypted_config(workdir, free_port)
    process = ResolverProcess.start(lab, workdir, "--config", str(setup.config), "--workers", "2",
                                    "--metrics", "off")
    with serving(process) as resolver:
        yield Workers(resolver, setup.tls_port, setup.https_port, setup.certificate)


def _status(resolver: ResolverProcess) -> Any:
    return request(resolver.control, {"command": ["status"]}, timeout=10)


def test_dig_over_tls_and_https_with_two_workers(workers: Workers) -> None:
    for transport, port in (("+tls", workers.tls_port), ("+https", workers.https_port)):
        reply = dig("127.0.0.1", port, "www.example.com", "A",
                    extra=[transport, f"+tls-ca={workers.certificate}", "+tls-hostname=localhost"])
        assert reply.status == "NOERROR", reply.output
        assert reply.answers("A") == ["192.0.2.1"]


def test_both_workers_serve_dot(workers: Workers) -> None:
    context = ssl.create_default_context(cafile=str(workers.certificate))
    context.check_hostname = False
    context.set_alpn_protocols(["dot"])
    for _ in range(CONNECTIONS):
        with socket.create_connection(("127.0.0.1", workers.tls_port), timeout=10) as raw, \
                context.wrap_socket(raw) as tls:
            tls.sendall(len(QUERY).to_bytes(2, "big") + QUERY)
            assert len(tls.recv(65535)) > 2
    results = _status(workers.resolver)["results"]
    accepted = {index: result["encrypted"]["accepted"].get("dot", 0)
                for index, result in results.items()}
    assert sum(accepted.values()) >= CONNECTIONS, accepted
    assert all(count > 0 for count in accepted.values()), accepted
