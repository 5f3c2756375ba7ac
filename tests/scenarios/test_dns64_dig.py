"""End to end: DNS64 in a running ``holdfast serve`` over the lab, asked with dig.

``[dns64] prefix`` is RFC 8215's local-use 64:ff9b:1::/48 (the well-known
/96 does not embed the lab's documentation addresses, RFC 6052 3.1).
``mail.example.com.`` has only an A record (192.0.2.25), in a signed zone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving_config

pytestmark = [pytest.mark.integration, NEEDS_DIG]

#: 192.0.2.25 in 64:ff9b:1::/48 (RFC 6052 2.2: octet 8 skipped).
SYNTHESISED = "64:ff9b:1:c000:2:1900::"


@pytest.fixture(scope="module")
def resolver(
    lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResolverProcess]:
    workdir = tmp_path_factory.mktemp("resolver")
    with serving_config(lab, workdir, '[dns64]\nprefix = "64:ff9b:1::/48"\n') as resolver:
        yield resolver


def test_an_aaaa_question_for_an_ipv4_only_name_gets_a_synthesised_answer(
    resolver: ResolverProcess,
) -> None:
    answer = resolver.dig("mail.example.com.", "AAAA", "+dnssec")
    assert answer.status == "NOERROR"
    assert answer.answers("AAAA") == [SYNTHESISED]
    # Validated NODATA and validated A (RFC 6147 5.5): AD, but no RRSIG for a made-up RRset.
    assert "ad" in answer.flags
    assert answer.answers("RRSIG") == []


def test_with_cd_the_client_gets_the_nodata(resolver: ResolverProcess) -> None:
    answer = resolver.dig("mail.example.com.", "AAAA", "+cd", "+dnssec")
    assert answer.status == "NOERROR"
    assert answer.answers("AAAA") == []


def test_a_name_with_aaaa_keeps_it(resolver: ResolverProcess) -> None:
    answer = resolver.dig("www.example.com.", "AAAA")
    assert answer.answers("AAAA") == ["2001:db8::1"]


def test_the_synthesised_address_reverses_to_the_ipv4_name(resolver: ResolverProcess) -> None:
    answer = resolver.dig("-x", SYNTHESISED)
    assert answer.answers("CNAME") == ["25.2.0.192.in-addr.arpa."]
