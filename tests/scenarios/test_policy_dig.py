"""End to end: ``[[policy]]`` rules in a real ``serve`` over the lab, asked with dig."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving_config

pytestmark = [pytest.mark.integration, NEEDS_DIG]

CONFIG = """\
[[policy]]
action = "pass"
pattern = '^www\\.example\\.com$'

[[policy]]
action = "deny"
suffix = ["example.com"]

[[policy]]
action = "tc"
suffix = ["example.net"]

[[policy]]
action = "refuse"
pattern = '(^|\\.)ads[0-9]{1,3}\\.'
"""


@pytest.fixture(scope="module")
def resolver(
    lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResolverProcess]:
    workdir = tmp_path_factory.mktemp("policy")
    with serving_config(lab, workdir, CONFIG) as resolver:
        yield resolver


def test_pass_carves_a_name_out_of_a_denied_zone(resolver: ResolverProcess) -> None:
    assert resolver.dig("www.example.com", "A").answers("A") == ["192.0.2.1"]
    denied = resolver.dig("alias.example.com", "A", "+dnssec")
    assert denied.status == "NXDOMAIN"
    assert "aa" in denied.flags
    assert "ad" not in denied.flags
    assert denied.section("AUTHORITY")[0][3] == "SOA"
    assert denied.ede.startswith("15 (Blocked)")


def test_tc_sends_udp_clients_to_tcp(resolver: ResolverProcess) -> None:
    over_udp = resolver.dig("www.example.net", "A", "+ignore")
    assert "tc" in over_udp.flags
    assert over_udp.answers() == []
    assert resolver.dig("www.example.net", "A", "+tcp").answers("A") == ["192.0.2.3"]
    # dig's default: it retries over TCP by itself on TC=1.
    assert resolver.dig("www.example.net", "A").answers("A") == ["192.0.2.3"]


def test_pattern_refuses(resolver: ResolverProcess) -> None:
    assert resolver.dig("ads12.example.org", "A").status == "REFUSED"
