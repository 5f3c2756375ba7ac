"""Stub and forward zones: which servers a name's queries go to, by configuration.

Unbound's ``stub-zone`` and ``forward-zone``, Knot Resolver's
``policy.STUB`` and ``policy.FORWARD``:

* a **stub zone** names the authoritative servers of a zone (an internal
  zone nobody delegated to, or one to reach by other addresses). The
  iterator asks them with RD=0 as if the zone's parent had delegated to
  them; referrals they give are followed and cached as usual, so a cut
  below the stub zone that the cache knows wins over the stub (Unbound's
  ``stub-zone`` delegation point is only used at the stub's own name).
* a **forward zone** names recursive servers: every query for a name at or
  below the zone goes to them with RD=1, without QNAME minimisation (they
  resolve the full name anyway), and no cached cut below the zone takes
  over (Unbound: "all queries for this zone and below are forwarded"). A
  forward zone for ``.`` makes Holdfast a full forwarder.

Either way what comes back is validated like any other answer: the chain
of trust is chased through the same servers (Unbound's validator asks the
forwarder for DS and DNSKEY records), so a signed internal zone needs its
own trust anchor. ``first`` (``stub_first``, ``forward_first``) falls back
to ordinary iteration when every server of the zone has failed. The
longest matching zone decides (``ForwardingTable.lookup``); hold-downs,
server selection, metrics and the egress allow-list apply to these servers
as to any other, since they are asked through the same iterator steps.

A server is ``ADDR`` or ``ADDR@PORT`` (Unbound's ``forward-addr`` syntax);
without a port the configured ``[upstream] port`` is used, or 853 with
``forward_tls``: DNS over TLS to the forwarders, their certificate verified
for ``tls_auth_name`` (``resolver.upstream_tls``). Server
selection keys its state by address only, so two servers on one address
with different ports share their RTT and hold-down state.

Entries come from ``[[stub_zone]]`` and ``[[forward_zone]]`` tables in the
configuration and from ``holdfast ctl stub|forward add|remove|list``;
as with routes, a reload replaces the configured entries and keeps those
added over the control channel, which win for their zone.

For a forwarded answer, the zone whose keys judge it is found from the
records themselves (Unbound validator/val_utils.c ``val_find_signer``):
the deepest RRSIG signer that encloses the owner, inside the forward zone.
Unsigned data needs the cut it lies under: ``unsigned_cut`` walks down from
the forward zone asking DS for each name on the way, as Unbound's
``processFindKey`` does, and stops at a name whose parent's NSEC shows a
delegation without DS; everything else is left to the validator, which
finds such data bogus when its zone is signed.

Pure: no I/O, no Trio; the walk is a sans-I/O generator over the
iterator's fetch.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rdatatype
import dns.rrset

from dnssec.errors import HoldfastError
from dnssec.nsec import bitmap_types
from resolver.assemble import below_dname
from resolver.exchange import Exchange
from resolver.routes import RouteError, zone_from_text
from resolver.upstream_tls import DOT_PORT, UpstreamTlsError, client_context
from resolver.validation import Evidence

#: The most stub and forward zones a table holds, together.
MAX_ZONES = 10_000
#: The most servers one zone may list (Unbound has no bound; ours keeps a
#: ctl command's reply and the selection's work small).
MAX_SERVERS = 32
#: Where an entry came from.
ORIGINS = ("config", "control")


class ForwardingError(HoldfastError):
    """A stub or forward zone in the configuration or a ctl command is unusable; says why."""


class Kind(enum.Enum):
    """Whether a zone's servers are authoritative (stub) or recursive (forward)."""

    STUB = "stub"
    FORWARD = "forward"


@dataclass(frozen=True, slots=True)
class ZonePolicy:
    """The servers to ask for names at or below ``zone``.

    Attributes:
        zone: The zone (absolute, lower case).
        kind: Stub (authoritative servers, RD=0) or forward (recursive, RD=1).
        servers: ``(address, port)`` pairs; port None means ``[upstream] port``.
        first: Fall back to iteration when every server failed.
        origin: ``"config"`` or ``"control"``.
        tls_name: For DNS over TLS to the servers, the name their
            certificate must be valid for; None: plain DNS.
        tls_ca_file: The CA certificates that name is verified against;
            None: the system's store.
    """

    zone: dns.name.Name
    kind: Kind
    servers: tuple[tuple[str, int | None], ...]
    first: bool = False
    origin: str = "config"
    tls_name: str | None = None
    tls_ca_file: str | None = None

    @property
    def recursive(self) -> bool:
        """Whether the servers are recursive resolvers (asked with RD=1)."""
        return self.kind is Kind.FORWARD

    @property
    def addresses(self) -> tuple[str, ...]:
        """The servers' addresses, in the order given."""
        return tuple(address for address, _ in self.servers)

    def port_of(self, address: str) -> int | None:
        """The port to ask ``address`` on, None for the default (853 over TLS)."""
        port = next((port for known, port in self.servers if known == address), None)
        return DOT_PORT if port is None and self.tls_name is not None else port

    def describe(self) -> dict[str, object]:
        """The entry as ``ctl stub|forward list`` shows it."""
        return {
            "zone": self.zone.to_text(),
            "kind": self.kind.value,
            "servers": [server_text(address, port) for address, port in self.servers],
            "first": self.first,
            "origin": self.origin,
            "tls_auth_name": self.tls_name,
        }


def server_text(address: str, port: int | None) -> str:
    """``ADDR`` or ``ADDR@PORT``, as written in the configuration."""
    return address if port is None else f"{address}@{port}"


def parse_server(text: str) -> tuple[str, int | None]:
    """``ADDR`` or ``ADDR@PORT`` as a normalised address and a port (None if absent).

    Raises:
        ForwardingError: not an IP address, or a port out of range.
    """
    if not isinstance(text, str):
        raise ForwardingError(f"{text!r} is not a server address (write \"ADDR\" or \"ADDR@PORT\")")
    host, at, port = text.partition("@")
    try:
        address = ipaddress.ip_address(host).compressed
    except ValueError:
        raise ForwardingError(
            f"{text[:64]!r} is not an IP address (write ADDR or ADDR@PORT; names are not "
            "resolved, as Unbound's forward-addr)"
        ) from None
    if not at:
        return address, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ForwardingError(
            f"port {port[:16]!r} in {text[:64]!r} is not a number from 1 to 65535"
        )
    return address, int(port)


def policy(
    zone: dns.name.Name,
    kind: Kind,
    servers: Sequence[str],
    *,
    first: bool = False,
    origin: str = "config",
    tls_name: str | None = None,
    tls_ca_file: str | None = None,
) -> ZonePolicy:
    """A checked ``ZonePolicy``; a CA file is read once to check it (blocking).

    Raises:
        ForwardingError: no server, too many, a bad one, or one given twice;
            TLS for a stub zone, a bad name to verify, an unusable CA file.
    """
    if origin not in ORIGINS:
        raise ForwardingError(f"unknown origin {origin!r}")
    if not servers:
        raise ForwardingError(f"{kind.value} zone {zone} needs at least one server address")
    if len(servers) > MAX_SERVERS:
        raise ForwardingError(f"{kind.value} zone {zone} lists {len(servers)} servers, "
                              f"at most {MAX_SERVERS}")
    parsed = tuple(parse_server(text) for text in servers)
    addresses = [address for address, _ in parsed]
    twice = next((a for a in addresses if addresses.count(a) > 1), None)
    if twice is not None:
        raise ForwardingError(f"{kind.value} zone {zone} lists {twice} twice")
    if tls_name is not None:
        if kind is not Kind.FORWARD:
            raise ForwardingError("DNS over TLS is for forward zones only (as Unbound's)")
        _check_tls_name(tls_name)
        try:
            client_context(tls_ca_file)
        except UpstreamTlsError as exc:
            raise ForwardingError(str(exc)) from exc
    elif tls_ca_file is not None:
        raise ForwardingError("tls_ca_file needs forward_tls = true and tls_auth_name")
    return ZonePolicy(zone, kind, parsed, first, origin, tls_name, tls_ca_file)


def _check_tls_name(name: str) -> None:
    """A host name (or IP address) a certificate can be valid for, or ``ForwardingError``."""
    labels = name.rstrip(".").split(".")
    usable = 0 < len(name) <= 253 and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        for label in labels
    )
    if not usable:
        raise ForwardingError(
            f"tls_auth_name {name[:64]!r} is not a host name the forwarder's certificate "
            "can name (e.g. \"dns.example.net\")"
        )


def policies_from_tables(tables: Any, kind: Kind) -> tuple[ZonePolicy, ...]:
    """The ``[[stub_zone]]`` or ``[[forward_zone]]`` array of tables, one entry per zone.

    Keys: ``name``, ``addresses`` (``ADDR`` or ``ADDR@PORT``),
    ``stub_first`` / ``forward_first``, and for forward zones ``forward_tls``
    with ``tls_auth_name`` and optionally ``tls_ca_file``.

    Raises:
        ForwardingError: naming the entry (``[[forward_zone]] #N``) and what is wrong.
    """
    key = f"{kind.value}_zone"
    first_key = f"{kind.value}_first"
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ForwardingError(f"{key} must be an array of tables, written [[{key}]]")
    found: dict[dns.name.Name, ZonePolicy] = {}
    for index, table in enumerate(tables, 1):
        where = f"[[{key}]] #{index}"
        tls_keys = _TLS_KEYS if kind is Kind.FORWARD else frozenset()
        unknown = sorted(set(table) - {"name", "addresses", first_key, *tls_keys})
        if unknown:
            known = ", ".join(["name", "addresses", first_key, *sorted(tls_keys)])
            raise ForwardingError(f"{where}: unknown key {', '.join(unknown)}; it takes {known}")
        name, servers = table.get("name"), table.get("addresses")
        first = table.get(first_key, False)
        if not isinstance(name, str):
            raise ForwardingError(f"{where}: needs name = \"ZONE\"")
        if not isinstance(servers, list):
            raise ForwardingError(
                f"{where} ({name}): needs addresses = [\"ADDR\" or \"ADDR@PORT\", ...]"
            )
        if not isinstance(first, bool):
            raise ForwardingError(f"{where} ({name}): {first_key} must be true or false")
        try:
            tls_name, tls_ca_file = _tls_keys(table)
            entry = policy(zone_from_text(name), kind, servers, first=first,
                           tls_name=tls_name, tls_ca_file=tls_ca_file)
        except (ForwardingError, RouteError) as exc:
            raise ForwardingError(f"{where} ({name}): {exc}") from exc
        if entry.zone in found:
            raise ForwardingError(f"{where}: a second [[{key}]] for {entry.zone}")
        found[entry.zone] = entry
    return tuple(found.values())


#: The keys of a ``[[forward_zone]]`` for DNS over TLS to its servers.
_TLS_KEYS = frozenset({"forward_tls", "tls_auth_name", "tls_ca_file"})


def _tls_keys(table: dict[str, Any]) -> tuple[str | None, str | None]:
    """``forward_tls``, ``tls_auth_name`` and ``tls_ca_file`` as the name to verify and the CA file.

    Raises:
        ForwardingError: a wrong type, a name without TLS or TLS without a name,
            a relative CA file path.
    """
    tls, name, ca_file = (table.get(k) for k in ("forward_tls", "tls_auth_name", "tls_ca_file"))
    if tls is not None and not isinstance(tls, bool):
        raise ForwardingError("forward_tls must be true or false")
    if name is not None and not isinstance(name, str):
        raise ForwardingError("tls_auth_name must be a string, the forwarder's host name")
    if ca_file is not None and not (isinstance(ca_file, str) and ca_file.startswith("/")):
        raise ForwardingError("tls_ca_file must be an absolute path")
    if tls and name is None:
        raise ForwardingError("forward_tls = true needs tls_auth_name, the name the forwarder's "
                              "certificate is verified for (Unbound: ADDR#NAME)")
    if not tls and name is not None:
        raise ForwardingError("tls_auth_name needs forward_tls = true")
    return name, ca_file


def policy_from_words(kind: Kind, words: Sequence[str]) -> ZonePolicy:
    """The entry of ``holdfast ctl stub|forward add ZONE ADDR[@PORT]... [--first] [--tls NAME]``.

    ``--tls NAME`` (forward zones): DNS over TLS, the certificate verified
    for NAME against the system's store (a CA file is for the configuration).

    Raises:
        ForwardingError: a missing or invalid zone or server, an unknown flag.
    """
    usage = f"{kind.value} add ZONE ADDR[@PORT]... [--first]" + (
        " [--tls NAME]" if kind is Kind.FORWARD else "")
    if not words or words[0].startswith("--"):
        raise ForwardingError(f"missing zone: {usage}")
    try:
        zone = zone_from_text(words[0])
    except RouteError as exc:
        raise ForwardingError(str(exc)) from exc
    servers: list[str] = []
    first = False
    tls_name: str | None = None
    rest = iter(words[1:])
    for word in rest:
        if word == "--first":
            first = True
        elif word == "--tls" and kind is Kind.FORWARD:
            tls_name = next(rest, None)
            if tls_name is None:
                raise ForwardingError("--tls needs the name the forwarder's certificate is for")
        elif word.startswith("--"):
            raise ForwardingError(f"unknown flag {word[:64]!r}: {usage}")
        else:
            servers.append(word)
    return policy(zone, kind, servers, first=first, origin="control", tls_name=tls_name)


class ForwardingTable:
    """The stub and forward zones in force, one entry per zone, longest match wins.

    Raises:
        ForwardingError: more than ``MAX_ZONES`` entries.
    """

    def __init__(self, entries: Iterable[ZonePolicy] = ()) -> None:
        self._entries: dict[dns.name.Name, ZonePolicy] = {}
        for entry in entries:
            self.add(entry)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def add(self, entry: ZonePolicy) -> ZonePolicy | None:
        """Add ``entry``, replacing the one for its zone (returned), whatever its kind."""
        if entry.zone not in self._entries and len(self._entries) >= MAX_ZONES:
            raise ForwardingError(f"too many stub and forward zones (at most {MAX_ZONES})")
        old = self._entries.get(entry.zone)
        self._entries[entry.zone] = entry
        return old

    def remove(self, zone: dns.name.Name, kind: Kind) -> ZonePolicy | None:
        """Remove the ``kind`` entry for ``zone``; None if there is none of that kind."""
        old = self._entries.get(zone)
        if old is None or old.kind is not kind:
            return None
        return self._entries.pop(zone)

    def entries(self, kind: Kind | None = None) -> list[ZonePolicy]:
        """The entries (of ``kind``, if given), sorted by zone."""
        return sorted(
            (e for e in self._entries.values() if kind is None or e.kind is kind),
            key=lambda entry: entry.zone,
        )

    def lookup(self, name: dns.name.Name) -> ZonePolicy | None:
        """The entry of the deepest zone at or above ``name``, if any.

        Called for every zone cut the iterator looks for: with no entries it
        costs nothing, otherwise one dictionary lookup per label.
        """
        if not self._entries:
            return None
        while True:
            entry = self._entries.get(name)
            if entry is not None or name == dns.name.root:
                return entry
            name = name.parent()

    def replace_configured(self, entries: Iterable[ZonePolicy]) -> None:
        """Swap the configured entries for ``entries`` (a reload); control entries win.

        Raises:
            ForwardingError: the table would hold more than ``MAX_ZONES`` entries.
        """
        kept = {zone: e for zone, e in self._entries.items() if e.origin != "config"}
        configured = {e.zone: e for e in entries if e.zone not in kept}
        if len(kept) + len(configured) > MAX_ZONES:
            raise ForwardingError(f"too many stub and forward zones (at most {MAX_ZONES})")
        self._entries = kept | configured


def configured_table(
    stubs: Iterable[ZonePolicy], forwards: Iterable[ZonePolicy]
) -> ForwardingTable:
    """The table of the configured stub and forward zones.

    Raises:
        ForwardingError: a zone is both a stub and a forward zone, or too many.
    """
    stubs = tuple(stubs)
    stub_zones = {entry.zone for entry in stubs}
    both = sorted(entry.zone for entry in forwards if entry.zone in stub_zones)
    if both:
        raise ForwardingError(
            f"{both[0]} is both a [[stub_zone]] and a [[forward_zone]]; keep one of them"
        )
    return ForwardingTable((*stubs, *forwards))


#: How ``unsigned_cut`` gets DS records: the iterator's fetch for the validator.
FetchDs = Callable[[dns.name.Name], Exchange[Evidence]]


def signer_zone(
    owner: dns.name.Name,
    signatures: Iterable[dns.rrset.RRset],
    top: dns.name.Name,
) -> dns.name.Name | None:
    """The deepest RRSIG signer of ``owner``'s records that encloses it, at or below ``top``.

    A signer outside ``top`` or not enclosing the owner is no zone of the
    forwarded data (``Validator`` then judges the records against ``top``'s
    keys and finds them bogus if that zone is signed).
    """
    found: dns.name.Name | None = None
    for rrset in signatures:
        if rrset.name != owner:
            continue
        for rdata in rrset:
            signer = rdata.signer
            encloses = owner.is_subdomain(signer) and signer.is_subdomain(top)
            if encloses and (found is None or signer.is_subdomain(found)):
                found = signer
    return found


def chain_in_zone(
    records: Sequence[dns.rrset.RRset],
    signatures: Iterable[dns.rrset.RRset],
    zone: dns.name.Name,
    top: dns.name.Name,
) -> int:
    """How many links of a forwarded alias chain are judged in ``zone``, the first one's.

    A forwarder answers a CNAME and its target from another zone (a child,
    a sibling) in one reply; each is judged with its own zone's keys, so
    the chain is cut at the first link signed by another zone, or unsigned
    after the first (its zone is found anew), and the rest asked for again.
    A CNAME synthesised from a DNAME in the chain is no link of its own: the
    DNAME's signature speaks for it (RFC 6672 5.3.1); cut there, the same
    name was asked again and again (an alias loop).
    """
    signatures = tuple(signatures)
    for index, rrset in enumerate(records[1:], 1):
        if rrset.rdtype == dns.rdatatype.CNAME and below_dname(rrset, list(records[:index])):
            continue
        if signer_zone(rrset.name, signatures, top) != zone:
            return index
    return len(records)


def unsigned_cut(
    owner: dns.name.Name, top: dns.name.Name, fetch_ds: FetchDs
) -> Exchange[dns.name.Name]:
    """The zone that unsigned forwarded data at ``owner`` is to be judged in.

    Walks down from ``top`` (the forward zone) one label at a time. A name
    with a DS record is a signed cut: the walk goes on below it. A name
    whose DS is denied by an NSEC record at that name showing NS (a
    delegation without DS, RFC 4035 5.2) is an insecure cut: the walk stops
    there, and the validator checks that proof itself when it asks that
    zone's keys. Any other denial (no delegation there, or an NSEC3 proof)
    goes on down; NXDOMAIN or a failed fetch (no evidence at all) ends the
    walk. The deepest signed cut is returned then, whose keys make the
    unsigned data bogus. Each name costs one DS fetch, cached as any; the
    iterator only walks below a trust anchor.
    """
    zone = top
    for depth in range(len(top) + 1, len(owner) + 1):
        _, name = owner.split(depth)
        evidence = yield from fetch_ds(name)
        if evidence.rrset is not None and evidence.rrset.rdtype == dns.rdatatype.DS:
            zone = name
        elif _delegation_without_ds(evidence.proof, name):
            return name
        elif evidence.nxdomain or (evidence.soa is None and not evidence.proof):
            break  # no such name, or no word on it: nothing deeper to find
    return zone


def _delegation_without_ds(proof: Sequence[dns.rrset.RRset], name: dns.name.Name) -> bool:
    """Whether an NSEC record at ``name`` in ``proof`` says NS and neither DS nor SOA."""
    for rrset in proof:
        if rrset.rdtype != dns.rdatatype.NSEC or rrset.name != name:
            continue
        for rdata in rrset:
            types = bitmap_types(rdata.windows)
            return (
                dns.rdatatype.NS in types
                and dns.rdatatype.DS not in types
                and dns.rdatatype.SOA not in types
            )
    return False
