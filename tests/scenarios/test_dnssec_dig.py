"""End to end: what a client sees of DNSSEC validation, asked with dig.

The lab's catalogue (testdata/lab/README.md, "What a validator should
answer") names the verdict for every zone; these tests ask the running
resolver for each and check the flags, the sections and the Extended DNS
Error that say it: AD for secure data, neither AD nor an error for
insecure data, SERVFAIL with the precise EDE for bogus data, and the bogus
data itself for a client that sets CD.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.scenarios.processes import (
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    serving,
)

pytestmark = [
    pytest.mark.integration,
    NEEDS_DIG,
]


@pytest.fixture(scope="module")
def resolver(
    lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResolverProcess]:
    with serving(ResolverProcess.start(lab, tmp_path_factory.mktemp("resolver"))) as resolver:
        yield resolver


def record_types(reply_section: list[list[str]]) -> list[str]:
    return [fields[3] for fields in reply_section]


def test_secure_answer_has_ad_and_its_rrsig(resolver: ResolverProcess) -> None:
    reply = resolver.dig("www.example.com", "A", "+dnssec")
    assert reply.status == "NOERROR"
    assert "ad" in reply.flags
    assert record_types(reply.section("ANSWER")) == ["A", "RRSIG"]


def test_without_do_there_are_no_rrsigs_and_ad_only_on_request(
    resolver: ResolverProcess,
) -> None:
    """dig sets AD in its queries by default (RFC 6840 5.7 lets a client ask so)."""
    asked = resolver.dig("www.example.com", "A")
    assert record_types(asked.section("ANSWER")) == ["A"]
    assert "ad" in asked.flags
    assert "ad" not in resolver.dig("www.example.com", "A", "+noadflag").flags


@pytest.mark.parametrize(
    ("name", "proof"),
    [("nx.example.com", "NSEC"), ("nx.nsec3.org", "NSEC3"), ("nx.nsec3rsasha1.org", "NSEC3")],
)
def test_nxdomain_is_secure_with_its_proof(
    resolver: ResolverProcess, name: str, proof: str
) -> None:
    reply = resolver.dig(name, "A", "+dnssec")
    assert reply.status == "NXDOMAIN", reply.output
    assert "ad" in reply.flags
    authority = record_types(reply.section("AUTHORITY"))
    assert "SOA" in authority
    assert proof in authority
    assert "RRSIG" in authority


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [("www.example.com", "MX"), ("nsec3.org", "MX"), ("a.wild.nsec3.org", "TXT")],
)
def test_nodata_is_secure(resolver: ResolverProcess, name: str, rdtype: str) -> None:
    reply = resolver.dig(name, rdtype, "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert reply.answers(rdtype) == []
    assert "ad" in reply.flags


@pytest.mark.parametrize(
    ("name", "address"),
    [("foo.wild.example.com", "192.0.2.2"), ("a.wild.nsec3.org", "192.0.2.30")],
)
def test_wildcard_expansion_is_secure(resolver: ResolverProcess, name: str, address: str) -> None:
    reply = resolver.dig(name, "A", "+dnssec")
    assert reply.answers("A") == [address]
    assert "ad" in reply.flags


@pytest.mark.parametrize(
    "zone",
    ["example.org", "nsec3.org", "rsa.org", "ecdsa.org", "ed25519.org", "rsasha1.org",
     "nsec3rsasha1.org", "rsasha512.org", "ecdsa384.org", "ed448.org", "noglue.com"],
)
def test_every_signed_zone_and_algorithm_validates(resolver: ResolverProcess, zone: str) -> None:
    reply = resolver.dig(f"www.{zone}", "A", "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert "ad" in reply.flags, reply.output


@pytest.mark.parametrize("name", ["www.insecure.com", "www.optout.nsec3.org", "z.nsec3.org"])
def test_insecure_answers_have_no_ad_and_no_error(resolver: ResolverProcess, name: str) -> None:
    reply = resolver.dig(name, "A", "+dnssec")
    assert reply.status in ("NOERROR", "NXDOMAIN"), reply.output
    assert "ad" not in reply.flags
    assert reply.ede == ""


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("www.unknownalg.com", "1"),  # algorithm 253
        ("www.bigexp.org", "1"),  # RSA with a 3071-bit exponent: refused
        ("www.rsa16k.org", "1"),  # RSA with a 16384-bit modulus: refused
        ("www.unknowndigest.com", "2"),
    ],
)
def test_zones_signed_only_with_what_we_refuse_are_insecure_and_say_why(
    resolver: ResolverProcess, name: str, code: str
) -> None:
    reply = resolver.dig(name, "A", "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert "ad" not in reply.flags
    assert reply.ede.startswith((f"{code} ", f"{code}:")), reply.output


def test_nsec3_iterations_over_the_limit_are_insecure_with_ede_27(
    resolver: ResolverProcess,
) -> None:
    reply = resolver.dig("nx.nsec3-iter.org", "A", "+dnssec")
    assert reply.status == "NXDOMAIN"
    assert "ad" not in reply.flags
    assert reply.ede.startswith(("27 ", "27:")), reply.output  # dig 9.18 has no name for 27


@pytest.mark.parametrize(
    ("name", "code", "names"),
    [
        ("www.bogus.com", 6, "bogus.com."),
        ("www.expired.com", 7, "expired.com."),
        ("www.future.com", 8, "future.com."),
        ("www.badkey.com", 9, "badkey.com."),
        ("www.nosig.com", 10, "www.nosig.com. A"),
        ("nx.nonsec.com", 12, "nx.nonsec.com."),
    ],
)
def test_bogus_is_servfail_with_a_precise_ede(
    resolver: ResolverProcess, name: str, code: int, names: str
) -> None:
    reply = resolver.dig(name, "A", "+dnssec")
    assert reply.status == "SERVFAIL", reply.output
    assert reply.answers() == []
    assert reply.ede.startswith(f"{code} "), reply.output
    assert names in reply.ede
    assert "(from 127.53." in reply.ede


def test_cd_returns_bogus_data_without_ad(resolver: ResolverProcess) -> None:
    reply = resolver.dig("www.bogus.com", "A", "+cd", "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert reply.answers("A") == ["192.0.2.13"]
    assert "ad" not in reply.flags
    # Without CD it is still refused: CD does not make the data good.
    assert resolver.dig("www.bogus.com", "A").status == "SERVFAIL"


def test_keytrap_zone_fails_quickly(resolver: ResolverProcess) -> None:
    started = time.monotonic()
    reply = resolver.dig("www.keytrap.com", "A", "+dnssec")
    elapsed = time.monotonic() - started
    assert reply.status == "SERVFAIL", reply.output
    assert reply.ede.startswith("6 "), reply.output
    assert elapsed < 2.0, f"KeyTrap zone took {elapsed:.2f} s"


@pytest.mark.parametrize(("name", "rdtype"), [("example.com", "DNSKEY"), ("example.com", "DS"),
                                              ("insecure.com", "DS"), (".", "DNSKEY")])
def test_key_records_validate_too(resolver: ResolverProcess, name: str, rdtype: str) -> None:
    reply = resolver.dig(name, rdtype, "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert "ad" in reply.flags
