"""End to end: stub and forward zones in a running ``holdfast serve``, asked with dig.

Three real processes on loopback: the lab, a ``holdfast serve`` that is the
forwarder, and the ``holdfast serve`` under test, configured with a forward
zone for ``.`` to the forwarder (on its own port, ``ADDR@PORT``) and a stub
zone for ``example.org.`` to one of that zone's lab servers. Which servers
the resolver under test asked is read from its ``ctl stats`` (per-server
query counters), as an operator would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.certificates import write_encrypted_config
from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, free_port, serving

pytestmark = [pytest.mark.integration, NEEDS_DIG]


@pytest.fixture(scope="module")
def forwarder(
    lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResolverProcess]:
    with serving(ResolverProcess.start(lab, tmp_path_factory.mktemp("forwarder"))) as forwarder:
        yield forwarder


@pytest.fixture(scope="module")
def stub_server(lab: LabProcess) -> str:
    return next(a for a, zones in lab.zones_by_address().items() if "example.org." in zones)


@pytest.fixture(scope="module")
def resolver(
    lab: LabProcess,
    forwarder: ResolverProcess,
    stub_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ResolverProcess]:
    workdir = tmp_path_factory.mktemp("resolver")
    config = workdir / "holdfast.toml"
    config.write_text(
        "[[forward_zone]]\n"
        'name = "."\n'
        f'addresses = ["{forwarder.host}@{forwarder.port}"]\n'
        "[[stub_zone]]\n"
        'name = "example.org"\n'
        f'addresses = ["{stub_server}"]\n'
    )
    with serving(ResolverProcess.start(lab, workdir, "--config", str(config))) as resolver:
        yield resolver


def ctl_json(resolver: ResolverProcess, *words: str) -> Any:
    result = resolver.ctl(*words)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def asked(resolver: ResolverProcess) -> set[str]:
    """The upstream addresses the resolver has sent queries to."""
    queries = ctl_json(resolver, "stats")["upstream"]["queries"]
    return {address for address, count in queries.items() if count}


def test_a_forward_zone_sends_queries_to_the_forwarder_and_validates_them(
    resolver: ResolverProcess, forwarder: ResolverProcess
) -> None:
    reply = resolver.dig("www.example.com", "A", "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert "ad" in reply.flags
    assert reply.answers("A") == ["192.0.2.1"]
    insecure = resolver.dig("www.insecure.com", "A")
    assert insecure.status == "NOERROR", insecure.output
    assert "ad" not in insecure.flags
    bogus = resolver.dig("www.bogus.com", "A")
    assert bogus.status == "SERVFAIL", bogus.output
    assert asked(resolver) == {forwarder.host}  # the forwarder only: no lab server


def test_a_stub_zone_is_asked_directly_inside_a_forwarded_tree(
    resolver: ResolverProcess, forwarder: ResolverProcess, stub_server: str
) -> None:
    reply = resolver.dig("www.example.org", "A")
    assert reply.status == "NOERROR", reply.output
    assert "ad" in reply.flags  # DS of example.org came through the forwarder
    assert asked(resolver) == {forwarder.host, stub_server}


def test_ctl_forward_and_stub_add_list_remove(
    resolver: ResolverProcess, lab: LabProcess
) -> None:
    listed = ctl_json(resolver, "forward", "list")
    assert [entry["zone"] for entry in listed] == ["."]
    server = next(a for a, zones in lab.zones_by_address().items() if "example.net." in zones)
    added = ctl_json(resolver, "stub", "add", "example.net", server)
    assert added["added"]["servers"] == [server]
    reply = resolver.dig("www.example.net", "A")
    assert reply.status == "NOERROR", reply.output
    assert server in asked(resolver)
    assert ctl_json(resolver, "stub", "remove", "example.net")["removed"]["zone"] == "example.net."
    assert [e["zone"] for e in ctl_json(resolver, "stub", "list")] == ["example.org."]


def test_the_egress_allow_list_applies_to_forwarders(resolver: ResolverProcess) -> None:
    ctl_json(resolver, "forward", "add", "example.net", "192.0.2.53")
    try:
        reply = resolver.dig("mail.example.net", "A")
        assert reply.status == "SERVFAIL", reply.output
        assert "outside the upstream allow-list" in reply.ede
    finally:
        ctl_json(resolver, "forward", "remove", "example.net")


def test_dns_over_tls_to_the_forwarder_verifies_its_certificate(
    lab: LabProcess, tmp_path: Path
) -> None:
    (tmp_path / "forwarder").mkdir()
    (tmp_path / "resolver").mkdir()
    setup = write_encrypted_config(tmp_path / "forwarder", free_port)
    config = tmp_path / "resolver" / "holdfast.toml"
    config.write_text(
        "[[forward_zone]]\n"
        'name = "."\n'
        f'addresses = ["127.0.0.1@{setup.tls_port}"]\n'
        "forward_tls = true\n"
        'tls_auth_name = "localhost"\n'
        f'tls_ca_file = "{setup.certificate}"\n'
    )
    with (
        serving(ResolverProcess.start(lab, tmp_path / "forwarder", "--config", str(setup.config))),
        serving(ResolverProcess.start(lab, tmp_path / "resolver", "--config", str(config))) as tls,
    ):
        reply = tls.dig("www.example.com", "A")
        assert reply.status == "NOERROR", reply.output
        assert "ad" in reply.flags
        assert asked(tls) == {"127.0.0.1"}
        # The same forwarder verified against the system's store: its
        # self-signed certificate is refused, and nothing goes in plain text.
        ctl_json(tls, "forward", "add", "example.net", f"127.0.0.1@{setup.tls_port}",
                 "--tls", "localhost")
        refused = tls.dig("www.example.net", "A")
        assert refused.status == "SERVFAIL", refused.output
        assert "certificate verify failed" in refused.ede, refused.output
