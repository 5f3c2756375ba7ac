"""Which client addresses the access list lets in."""

from __future__ import annotations

import pytest

from resolver.access import AccessList
from resolver.errors import ConfigError


@pytest.mark.parametrize("address", ["127.0.0.1", "127.53.1.2", "::1"])
def test_default_allows_loopback(address: str) -> None:
    assert AccessList().allows(address)


@pytest.mark.parametrize("address", ["192.0.2.1", "10.0.0.1", "2001:db8::1", "::2"])
def test_default_refuses_everything_else(address: str) -> None:
    assert not AccessList().allows(address)


def test_ipv4_and_ipv6_networks_and_bare_addresses() -> None:
    access = AccessList(["192.0.2.0/24", "2001:db8::/32", "198.51.100.7", "2001:db8:ffff::1"])

    assert access.allows("192.0.2.200")
    assert access.allows("2001:db8:1::5")
    assert access.allows("198.51.100.7")
    assert not access.allows("198.51.100.8")
    assert not access.allows("127.0.0.1")
    assert not access.allows("2001:db9::1")


def test_ipv4_mapped_ipv6_client_is_judged_by_its_ipv4_address() -> None:
    access = AccessList(["192.0.2.0/24"])

    assert access.allows("::ffff:192.0.2.9")
    assert not access.allows("::ffff:198.51.100.9")


def test_empty_list_allows_nobody() -> None:
    assert not AccessList([]).allows("127.0.0.1")


def test_non_address_client_is_not_allowed() -> None:
    assert not AccessList().allows("localhost")


@pytest.mark.parametrize("entry", ["192.0.2.0/33", "not-a-network", "10.0.0.1/8", "::1/129", ""])
def test_bad_cidr_is_a_config_error_naming_it(entry: str) -> None:
    with pytest.raises(ConfigError, match="access list entry"):
        AccessList(["127.0.0.0/8", entry])
