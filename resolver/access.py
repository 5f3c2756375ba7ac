"""Which clients may use the resolver.

The server checks every query's source address here before resolving: an
open resolver is an amplification weapon, so by default only loopback
clients are served. Clients outside the list are answered REFUSED (not
dropped), so a misconfigured client learns why instead of timing out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from resolver.errors import ConfigError

#: Served when no allow-list is configured: the local machine only.
LOOPBACK_ONLY = ("127.0.0.0/8", "::1/128")

#: Client addresses whose verdict is remembered before the memo starts over.
_MAX_REMEMBERED = 65_536

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AccessList:
    """An allow-list of IPv4 and IPv6 networks.

    Args:
        allow: CIDRs such as ``"192.0.2.0/24"`` or ``"2001:db8::/32"``; a bare
            address means that address alone. Host bits set beyond the prefix
            (``"10.0.0.1/8"``) are rejected as the likely typo they are.

    Raises:
        ConfigError: an entry is not a network.
    """

    def __init__(self, allow: Sequence[str] = LOOPBACK_ONLY) -> None:
        networks: list[_Network] = []
        for entry in allow:
            try:
                networks.append(ipaddress.ip_network(entry.strip()))
            except ValueError as error:
                raise ConfigError(f"access list entry {entry!r}: {error}") from error
        self._networks = tuple(networks)
        #: Verdicts by address literal: the check runs for every packet, and
        #: a resolver's clients are few. Cleared when it grows past a bound.
        self._verdicts: dict[str, bool] = {}

    def replace(self, other: AccessList) -> None:
        """Take the networks of ``other`` (a reloaded configuration's), from the next packet on.

        In place, because the server holds this object; the verdicts learned
        under the old networks are forgotten.
        """
        self._networks = other._networks
        self._verdicts = {}

    def allows(self, address: str) -> bool:
        """Whether a client at ``address`` (IPv4 or IPv6 literal) may be served.

        An IPv4-mapped IPv6 address is judged as the IPv4 address it carries;
        anything that is not an address is not allowed.
        """
        verdict = self._verdicts.get(address)
        if verdict is None:
            if len(self._verdicts) >= _MAX_REMEMBERED:
                self._verdicts.clear()
            verdict = self._verdicts[address] = self._judge(address)
        return verdict

    def _judge(self, address: str) -> bool:
        try:
            client = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
            client = client.ipv4_mapped
        return any(client in network for network in self._networks)
