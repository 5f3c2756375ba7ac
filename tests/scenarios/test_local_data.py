"""End to end: local zones, local data and CHAOS identity in a real ``serve``, asked with dig."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving_config

pytestmark = [pytest.mark.integration, NEEDS_DIG]

CONFIG = """\
[server]
hide_version = false
version = "holdfast-lab"

[[local_zone]]
name = "ads.example.com"
type = "redirect"

[[local_zone]]
name = "blocked.example"
type = "always_refuse"

[[local_data]]
record = "ads.example.com. 60 IN A 0.0.0.0"

[[local_data]]
record = "printer.corp. A 10.1.2.3"
"""


@pytest.fixture(scope="module")
def resolver(
    lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResolverProcess]:
    workdir = tmp_path_factory.mktemp("local")
    with serving_config(lab, workdir, CONFIG) as resolver:
        yield resolver


def test_localhost(resolver: ResolverProcess) -> None:
    reply = resolver.dig("localhost", "A", "+dnssec")
    assert reply.status == "NOERROR"
    assert reply.answers("A") == ["127.0.0.1"]
    assert "ad" not in reply.flags


def test_loopback_and_private_reverse(resolver: ResolverProcess) -> None:
    assert resolver.dig("1.0.0.127.in-addr.arpa", "PTR").answers("PTR") == ["localhost."]
    private = resolver.dig("1.1.168.192.in-addr.arpa", "PTR")
    assert private.status == "NXDOMAIN"
    assert private.section("AUTHORITY")[0][3] == "SOA"


def test_redirect_zone_and_local_data(resolver: ResolverProcess) -> None:
    assert resolver.dig("tracker.ads.example.com", "A").answers("A") == ["0.0.0.0"]
    assert resolver.dig("printer.corp", "A").answers("A") == ["10.1.2.3"]
    assert resolver.dig("x.blocked.example", "A").status == "REFUSED"
    # Names beside local data are still resolved through the lab.
    assert resolver.dig("www.example.com", "A").answers("A") == ["192.0.2.1"]


def test_chaos_version_shown_identity_hidden(resolver: ResolverProcess) -> None:
    version = resolver.dig("version.bind", "TXT", "CH")
    assert version.status == "NOERROR"
    assert version.answers("TXT") == ['"holdfast-lab"']
    assert resolver.dig("id.server", "TXT", "CH").status == "REFUSED"
    assert resolver.dig("hostname.bind", "TXT", "CH").status == "REFUSED"


def test_ctl_local_data_and_local_zone(resolver: ResolverProcess) -> None:
    added = resolver.ctl("local-data", "add", "scanner.corp. 120 IN A 10.1.2.4")
    assert added.returncode == 0, added.stderr
    assert resolver.dig("scanner.corp", "A").answers("A") == ["10.1.2.4"]
    assert "scanner.corp. 120 IN A 10.1.2.4" in resolver.ctl("local-data", "list").stdout

    # A name just answered from the lab (and kept ready-made) is answered locally at once.
    assert resolver.dig("www.example.net", "A").answers("A") == ["192.0.2.3"]
    assert resolver.ctl("local-zone", "add", "example.net", "always_nxdomain").returncode == 0
    assert resolver.dig("www.example.net", "A").status == "NXDOMAIN"
    assert '"zone": "example.net."' in resolver.ctl("local-zone", "list").stdout

    assert resolver.ctl("local-zone", "remove", "example.net").returncode == 0
    assert resolver.ctl("local-data", "remove", "scanner.corp").returncode == 0
    assert resolver.dig("www.example.net", "A").answers("A") == ["192.0.2.3"]
    assert resolver.dig("scanner.corp", "A").status != "NOERROR"  # asked of the lab's root

    refused = resolver.ctl("local-zone", "add", "corp", "sometimes")
    assert refused.returncode == 1
    assert refused.stderr.startswith("holdfast: error: type must be one of static, ")
    assert refused.stderr.count("\n") == 1
