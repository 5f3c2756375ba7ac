"""Local zones and data (``resolver/localzones.py``): Unbound's local-zone semantics, pure."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnssec.status import Security
from resolver.localzones import (
    DENIED,
    LocalDataError,
    LocalZones,
    data_from_tables,
    default_zone_error,
    parse_record,
    parse_zone,
    zones_from_tables,
)
from resolver.question import Outcome, Question


def ask(zones: LocalZones, name: str, rdtype: str = "A") -> Outcome | None:
    return zones.answer(Question(dns.name.from_text(name), dns.rdatatype.from_text(rdtype)))


def texts(outcome: Outcome | None) -> list[str]:
    assert outcome is not None
    return [rdata.to_text() for rrset in outcome.answer for rdata in rrset]


DEFAULTS = LocalZones.from_settings()


def test_localhost_and_below_is_loopback_never_validated() -> None:
    for name in ("localhost", "LocalHost.", "foo.bar.localhost"):
        outcome = ask(DEFAULTS, name)
        assert outcome is not None
        assert outcome.rcode == dns.rcode.NOERROR
        assert texts(outcome) == ["127.0.0.1"]
        assert outcome.security is Security.INDETERMINATE  # no AD, ever
    assert texts(ask(DEFAULTS, "localhost", "AAAA")) == ["::1"]


def test_redirect_answers_in_the_askers_name() -> None:
    outcome = ask(DEFAULTS, "Foo.LOCALHOST")
    assert outcome is not None
    assert outcome.answer[0].name.to_text() == "Foo.LOCALHOST."


def test_loopback_reverse_has_its_ptr_the_rest_is_nxdomain_with_soa() -> None:
    assert texts(ask(DEFAULTS, "1.0.0.127.in-addr.arpa", "PTR")) == ["localhost."]
    v6 = "1." + "0." * 31 + "ip6.arpa"
    assert texts(ask(DEFAULTS, v6, "PTR")) == ["localhost."]
    missing = ask(DEFAULTS, "2.0.0.127.in-addr.arpa", "PTR")
    assert missing is not None
    assert missing.rcode == dns.rcode.NXDOMAIN
    assert missing.authority[0].rdtype == dns.rdatatype.SOA


@pytest.mark.parametrize(
    "name",
    [
        "1.1.168.192.in-addr.arpa", "5.0.0.10.in-addr.arpa", "1.1.20.172.in-addr.arpa",
        "1.0.64.100.in-addr.arpa", "1.2.3.0.in-addr.arpa", "255.255.255.255.in-addr.arpa",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa",
        "x.d.f.ip6.arpa", "anything.onion", "a.test", "b.invalid", "printer.home.arpa",
        "resolver.arpa",
    ],
)
def test_private_and_special_use_names_are_answered_here(name: str) -> None:
    outcome = ask(DEFAULTS, name, "PTR")
    assert outcome is not None
    assert outcome.rcode in (dns.rcode.NXDOMAIN, dns.rcode.NOERROR)
    assert outcome.answer == ()


def test_public_names_are_not_local() -> None:
    assert ask(DEFAULTS, "www.example.com") is None
    assert ask(DEFAULTS, "1.1.1.1.in-addr.arpa", "PTR") is None
    assert ask(DEFAULTS, "1.1.32.172.in-addr.arpa", "PTR") is None  # outside 172.16/12


def test_defaults_off_and_nodefault() -> None:
    assert ask(LocalZones.from_settings(defaults=False), "localhost") is None
    zones = LocalZones.from_settings(nodefault=["10.in-addr.arpa"])
    assert ask(zones, "1.0.0.10.in-addr.arpa", "PTR") is None
    assert ask(zones, "1.1.168.192.in-addr.arpa", "PTR") is not None
    assert default_zone_error("example.com") is not None
    assert default_zone_error("10.in-addr.arpa.") is None


def table(*records: str, zones: tuple[tuple[str, str], ...] = ()) -> LocalZones:
    return LocalZones.from_settings(
        [parse_zone(name, kind) for name, kind in zones],
        [parse_record(text) for text in records],
        defaults=False,
    )


def test_static_zone() -> None:
    zones = table("www.corp. A 10.0.0.1", "corp. SOA ns.corp. h.corp. 1 2 3 4 60",
                  "a.b.corp. TXT hi", zones=(("corp", "static"),))
    assert texts(ask(zones, "www.corp")) == ["10.0.0.1"]
    nodata = ask(zones, "www.corp", "AAAA")
    assert nodata is not None
    assert nodata.rcode == dns.rcode.NOERROR
    assert not nodata.answer
    assert nodata.authority[0].ttl == 60  # the SOA minimum
    empty_non_terminal = ask(zones, "b.corp")
    assert empty_non_terminal is not None
    assert empty_non_terminal.rcode == dns.rcode.NOERROR
    nx = ask(zones, "nope.corp")
    assert nx is not None
    assert nx.rcode == dns.rcode.NXDOMAIN


def test_transparent_zone_and_implicit_zone_for_bare_data() -> None:
    zones = table("www.corp. A 10.0.0.1", "alone.example. 60 IN A 192.0.2.9",
                  zones=(("corp", "transparent"),))
    assert texts(ask(zones, "www.corp")) == ["10.0.0.1"]
    nodata = ask(zones, "www.corp", "AAAA")
    assert nodata is not None
    assert nodata.rcode == dns.rcode.NOERROR
    assert not nodata.answer
    assert ask(zones, "other.corp") is None
    assert texts(ask(zones, "alone.example")) == ["192.0.2.9"]
    assert ask(zones, "x.alone.example") is None
    assert ask(zones, "example") is None


def test_redirect_zone() -> None:
    zones = table("ads.example. A 0.0.0.0", zones=(("ads.example", "redirect"),))
    assert texts(ask(zones, "tracker.ads.example")) == ["0.0.0.0"]


@pytest.mark.parametrize(
    ("kind", "with_data", "without_data"),
    [
        ("refuse", dns.rcode.NOERROR, dns.rcode.REFUSED),
        ("always_refuse", dns.rcode.REFUSED, dns.rcode.REFUSED),
        ("always_nxdomain", dns.rcode.NXDOMAIN, dns.rcode.NXDOMAIN),
        ("always_nodata", dns.rcode.NOERROR, dns.rcode.NOERROR),
    ],
)
def test_refusing_and_always_types(kind: str, with_data: int, without_data: int) -> None:
    zones = table("www.bad. A 10.0.0.1", zones=(("bad", kind),))
    data, other = ask(zones, "www.bad"), ask(zones, "x.bad")
    assert data is not None
    assert other is not None
    assert (data.rcode, other.rcode) == (with_data, without_data)
    if kind.startswith("always"):
        assert data.answer == ()


def test_deny_drops() -> None:
    zones = table("www.bad. A 10.0.0.1", zones=(("bad", "deny"), ("worse", "always_deny")))
    assert ask(zones, "x.bad") is DENIED
    assert texts(ask(zones, "www.bad")) == ["10.0.0.1"]
    assert ask(zones, "x.worse") is DENIED


def test_closest_zone_decides_and_a_configured_zone_replaces_a_default() -> None:
    zones = LocalZones.from_settings(
        [parse_zone("168.192.in-addr.arpa", "transparent"), parse_zone("sub.corp", "static"),
         parse_zone("corp", "always_refuse")],
        [parse_record("1.1.168.192.in-addr.arpa PTR printer.corp.")],
    )
    assert texts(ask(zones, "1.1.168.192.in-addr.arpa", "PTR")) == ["printer.corp."]
    assert ask(zones, "2.1.168.192.in-addr.arpa", "PTR") is None  # transparent: resolved
    sub = ask(zones, "x.sub.corp")
    assert sub is not None
    assert sub.rcode == dns.rcode.NXDOMAIN


def test_cname_answers_any_type_and_any_gets_everything() -> None:
    zones = table("alias.corp. CNAME www.corp.", "www.corp. A 10.0.0.1", "www.corp. TXT t",
                  zones=(("corp", "static"),))
    assert texts(ask(zones, "alias.corp", "AAAA")) == ["www.corp."]
    assert sorted(texts(ask(zones, "www.corp", "ANY"))) == ['"t"', "10.0.0.1"]


def test_runtime_changes() -> None:
    zones = table(zones=(("corp", "static"),))
    zones.add_data(parse_record("www.corp. A 10.0.0.1"))
    zones.add_data(parse_record("www.corp. A 10.0.0.2"))
    assert sorted(texts(ask(zones, "www.corp"))) == ["10.0.0.1", "10.0.0.2"]
    assert zones.remove_data(dns.name.from_text("www.corp"), None) == 1
    nx = ask(zones, "www.corp")
    assert nx is not None
    assert nx.rcode == dns.rcode.NXDOMAIN
    zones.add_data(parse_record("lone.example. A 192.0.2.1"))
    assert zones.remove_data(dns.name.from_text("lone.example"), dns.rdatatype.A) == 1
    assert ask(zones, "lone.example") is None  # its implicit zone went with it
    assert zones.remove_zone(dns.name.from_text("corp")) is not None
    assert ask(zones, "www.corp") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("www.corp A 10.0.0.300", "10.0.0.300"),
        ("www.corp CH TXT x", "only class IN"),
        ("www.corp", r"is not NAME \[TTL\]"),
        ("www.corp BOGUS x", "BOGUS"),
        ("www.corp RRSIG A 8 2 3600 20300101000000 20200101000000 1 corp. AAAA", "cannot"),
    ],
)
def test_bad_records_are_refused_with_the_text(text: str, problem: str) -> None:
    with pytest.raises(LocalDataError, match=problem):
        parse_record(text)


def test_ttl_and_class_are_optional() -> None:
    assert parse_record("a.corp A 10.0.0.1").ttl == 3600
    assert parse_record("a.corp. 1h IN A 10.0.0.1").ttl == 3600
    assert parse_record("a.corp 60 A 10.0.0.1").ttl == 60


def test_tables_name_the_entry() -> None:
    with pytest.raises(LocalDataError, match=r"\[\[local_data\]\] #2"):
        data_from_tables([{"record": "a.corp A 10.0.0.1"}, {"record": "b.corp A nope"}])
    with pytest.raises(LocalDataError, match=r"\[\[local_zone\]\] #1 \(corp\): type"):
        zones_from_tables([{"name": "corp", "type": "staticc"}])
    with pytest.raises(LocalDataError, match="a second"):
        zones_from_tables([{"name": "corp"}, {"name": "CORP.", "type": "deny"}])
    with pytest.raises(LocalDataError, match="unknown: zone"):
        zones_from_tables([{"zone": "corp"}])


def test_the_top_level_label_shortcut_follows_every_change_and_case() -> None:
    """``answer`` skips names under a top-level label no zone has (issue 19): a zone added
    at run time, a question in any case, a zone at the root are still answered."""
    zones = table(zones=())
    assert ask(zones, "www.example.com") is None
    zones.add_zone(parse_zone("example.com", "always_refuse"))
    refused = ask(zones, "WWW.Example.COM")
    assert refused is not None
    assert refused.rcode == dns.rcode.REFUSED
    zones.remove_zone(dns.name.from_text("example.com"))
    assert ask(zones, "www.example.com") is None
    zones.add_zone(parse_zone(".", "always_nxdomain"))
    for name in ("www.example.com", "com", "."):
        denied = ask(zones, name)
        assert denied is not None
        assert denied.rcode == dns.rcode.NXDOMAIN
