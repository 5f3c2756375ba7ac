"""Local zones and local data: names answered here, never asked upstream.

Why: some names must never leave the machine. ``localhost`` is this host
(RFC 6761 6.3), the reverse zones of private and special-use addresses mean
nothing on the Internet and only leak who asks (RFC 6303), ``invalid.`` and
``test.`` never exist (RFC 6761 6.2, 6.4), ``onion.`` must not be resolved
(RFC 7686 2). Operators add their own: a block list, a few internal names.

Names and semantics follow Unbound's ``local-zone`` / ``local-data``
(services/localzone.c, the unbound.conf ``local-zone`` section):

* the zone enclosing the question most closely decides; names outside every
  local zone are resolved as usual;
* ``static``: local data answers; any other name or type of the zone is
  NXDOMAIN or NODATA, with the zone's SOA when it has one;
* ``transparent``: local data answers (a name that has data but not that
  type is NODATA); every other question is resolved as usual;
* ``redirect``: the zone apex's data answers every name of the zone;
* ``refuse`` / ``deny``: REFUSED / no answer at all, unless local data
  answers; ``always_refuse``, ``always_deny``, ``always_nxdomain``,
  ``always_nodata``: that, whatever local data there is;
* local data outside every zone gets an implicit ``transparent`` zone at
  its owner name (Unbound makes one at the common ancestor: the same
  answers, since a transparent zone answers only names that have data).

The default zones are Unbound's (services/localzone.c
``lz_enter_defaults``): localhost (``redirect``, as Unbound has since
1.13, so ``x.localhost`` is 127.0.0.1 too), the loopback reverse zones with
their PTR, and the RFC 6303 / AS112 zones (RFC 1918, RFC 6598, 0/8,
169.254/16, the TEST-NETs, broadcast, ``::``, ``fd00::/8``, ``fe80::/10``,
``2001:db8::/32``) as ``static`` with SOA and NS; plus the special-use
names Unbound's current manual lists (``home.arpa.`` RFC 8375, ``onion.``
RFC 7686, ``test.`` and ``invalid.`` RFC 6761) and ``resolver.arpa.``
(RFC 9462 6.4: never sent upstream). A zone the operator configures with
the same name replaces the default, and ``[local_zones] nodefault`` drops
one (Unbound ``local-zone: "x" nodefault``).

Answers from here are the operator's statement, not DNS data: they carry
no AD and are never validated (``Security.INDETERMINATE``).

Pure: ``LocalZones.answer`` takes a question and returns an ``Outcome``;
the server calls it before the cache and recursion.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset
import dns.ttl

from dnssec.errors import HoldfastError
from resolver.question import Outcome, Question

#: TTL of a local record written without one (Unbound's local-data default).
DEFAULT_TTL = 3600
#: TTL, SOA and NS of the default zones (services/localzone.c).
_DEFAULT_ZONE_TTL = 10800
_DEFAULT_SOA = "localhost. nobody.invalid. 1 3600 1200 604800 10800"


class LocalDataError(HoldfastError):
    """A ``[[local_zone]]`` or ``[[local_data]]`` entry (or its ctl form) is unusable."""


class ZoneType(enum.Enum):
    """How a local zone answers (Unbound's local-zone types, with ``_`` for ``-``)."""

    STATIC = "static"
    TRANSPARENT = "transparent"
    REDIRECT = "redirect"
    REFUSE = "refuse"
    DENY = "deny"
    ALWAYS_NXDOMAIN = "always_nxdomain"
    ALWAYS_NODATA = "always_nodata"
    ALWAYS_REFUSE = "always_refuse"
    ALWAYS_DENY = "always_deny"


#: The words a zone type is given as in the file and in ``ctl``.
ZONE_TYPES = tuple(kind.value for kind in ZoneType)

#: A question that gets no answer at all (``deny``): the server drops it.
DENIED = Outcome(rcode=dns.rcode.REFUSED)


@dataclass(frozen=True, slots=True)
class LocalZone:
    """One local zone: its apex and how it answers."""

    name: dns.name.Name
    kind: ZoneType

    def describe(self) -> dict[str, str]:
        return {"zone": self.name.to_text(), "type": self.kind.value}


def parse_zone(name: str, kind: str) -> LocalZone:
    """A ``LocalZone`` from its name and type words.

    Raises:
        LocalDataError: the name is not a domain name or the type is unknown.
    """
    if kind not in ZONE_TYPES:
        raise LocalDataError(f"type must be one of {', '.join(ZONE_TYPES)}, not {kind!r}")
    return LocalZone(_name(name), ZoneType(kind))


def parse_record(text: str) -> dns.rrset.RRset:
    """One record in zone-file syntax: ``NAME [TTL] [IN] TYPE RDATA``.

    Names are absolute whether or not they end in a dot (there is no
    $ORIGIN); the TTL defaults to ``DEFAULT_TTL``.

    Raises:
        LocalDataError: it does not parse, or is of another class than IN.
    """
    words = text.split(None, 1)
    if len(words) < 2:
        raise LocalDataError(f"{text[:80]!r} is not NAME [TTL] [IN] TYPE RDATA")
    owner, rest = _name(words[0]), words[1]
    ttl = DEFAULT_TTL
    head, _, tail = rest.partition(" ")
    try:
        ttl = dns.ttl.from_text(head)
        head, _, tail = tail.strip().partition(" ")
    except dns.exception.DNSException:
        pass
    if head.upper() in ("IN", "CH", "HS", "CS") or head.upper().startswith("CLASS"):
        if head.upper() != "IN":
            raise LocalDataError(f"{text[:80]!r}: only class IN is served from local data")
        head, _, tail = tail.strip().partition(" ")
    try:
        rdtype = dns.rdatatype.from_text(head)
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, rdtype, tail.strip(), origin=dns.name.root, relativize=False
        )
    except (dns.exception.DNSException, ValueError) as error:
        raise LocalDataError(f"{text[:80]!r}: {error}") from error
    if rdtype in (dns.rdatatype.RRSIG, dns.rdatatype.OPT, dns.rdatatype.ANY):
        raise LocalDataError(f"{text[:80]!r}: {head} cannot be local data")
    return dns.rrset.from_rdata(owner, ttl, rdata)


def _name(text: str) -> dns.name.Name:
    try:
        return dns.name.from_text(text).canonicalize()
    except dns.exception.DNSException as error:
        raise LocalDataError(f"{text[:80]!r} is not a domain name: {error}") from error


def zones_from_tables(tables: Any) -> tuple[LocalZone, ...]:
    """The ``[[local_zone]]`` array of tables (``name``, ``type``), one zone per name.

    Raises:
        LocalDataError: naming the entry (``[[local_zone]] #N``) and what is wrong.
    """
    zones: dict[dns.name.Name, LocalZone] = {}
    for index, table in enumerate(_tables(tables, "local_zone"), 1):
        where = f"[[local_zone]] #{index}"
        unknown = sorted(set(table) - {"name", "type"})
        if unknown or not isinstance(table.get("name"), str):
            raise LocalDataError(f"{where}: takes name = \"ZONE\" and type = \"TYPE\""
                                 + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        kind = table.get("type", "static")
        try:
            zone = parse_zone(table["name"], str(kind))
        except LocalDataError as error:
            raise LocalDataError(f"{where} ({table['name']}): {error}") from error
        if zone.name in zones:
            raise LocalDataError(f"{where}: a second [[local_zone]] for {zone.name}")
        zones[zone.name] = zone
    return tuple(zones.values())


def data_from_tables(tables: Any) -> tuple[dns.rrset.RRset, ...]:
    """The ``[[local_data]]`` array of tables, each ``record = "NAME [TTL] [IN] TYPE RDATA"``.

    Raises:
        LocalDataError: naming the entry (``[[local_data]] #N``) and what is wrong.
    """
    records = []
    for index, table in enumerate(_tables(tables, "local_data"), 1):
        where = f"[[local_data]] #{index}"
        if set(table) != {"record"} or not isinstance(table["record"], str):
            raise LocalDataError(f"{where}: takes one key, record = \"NAME [TTL] [IN] TYPE RDATA\"")
        try:
            records.append(parse_record(table["record"]))
        except LocalDataError as error:
            raise LocalDataError(f"{where}: {error}") from error
    return tuple(records)


def _tables(tables: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise LocalDataError(f"{key} must be an array of tables, written [[{key}]]")
    return tables


def negative_soa(owner: dns.name.Name) -> dns.rrset.RRset:
    """The SOA of a negative answer made up here for ``owner``: the default zones' SOA.

    Knot Resolver's policy answers carry much the same (``mkauth_soa`` in
    modules/policy/policy.lua: ``nobody.invalid.``, serial 1, the same timers).
    """
    return dns.rrset.from_text(owner, _DEFAULT_ZONE_TTL, "IN", "SOA", _DEFAULT_SOA)


def _default_zones() -> tuple[tuple[LocalZone, tuple[str, ...]], ...]:
    """The default zones and their records (module docstring); AS112 ones get SOA and NS."""
    as112 = [
        "10.in-addr.arpa", *(f"{n}.172.in-addr.arpa" for n in range(16, 32)),
        "168.192.in-addr.arpa", "0.in-addr.arpa",
        *(f"{n}.100.in-addr.arpa" for n in range(64, 128)),
        "254.169.in-addr.arpa", "2.0.192.in-addr.arpa", "100.51.198.in-addr.arpa",
        "113.0.203.in-addr.arpa", "255.255.255.255.in-addr.arpa",
        "0." * 32 + "ip6.arpa", "d.f.ip6.arpa", "8.e.f.ip6.arpa", "9.e.f.ip6.arpa",
        "a.e.f.ip6.arpa", "b.e.f.ip6.arpa", "8.b.d.0.1.0.0.2.ip6.arpa",
        "home.arpa", "resolver.arpa", "onion", "test", "invalid",
    ]
    loopback6 = "1." + "0." * 31 + "ip6.arpa"
    special = [
        ("localhost", ZoneType.REDIRECT, ("localhost. A 127.0.0.1", "localhost. AAAA ::1")),
        ("127.in-addr.arpa", ZoneType.STATIC, ("1.0.0.127.in-addr.arpa. PTR localhost.",)),
        (loopback6, ZoneType.STATIC, (f"{loopback6}. PTR localhost.",)),
    ]
    return tuple(
        (
            LocalZone(dns.name.from_text(zone), kind),
            (
                f"{zone}. {_DEFAULT_ZONE_TTL} SOA {_DEFAULT_SOA}",
                f"{zone}. {_DEFAULT_ZONE_TTL} NS localhost.",
                *(record.replace(" ", f" {_DEFAULT_ZONE_TTL} ", 1) for record in records),
            ),
        )
        for zone, kind, records in [*special, *((z, ZoneType.STATIC, ()) for z in as112)]
    )


DEFAULT_ZONES = _default_zones()
#: The default zones' names, as ``[local_zones] nodefault`` takes them.
DEFAULT_ZONE_NAMES = frozenset(zone.name for zone, _ in DEFAULT_ZONES)


def default_zone_error(text: str) -> str | None:
    """Check for ``[local_zones] nodefault`` items: a default zone's name."""
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException as error:
        return f"{text!r} is not a domain name: {error}"
    if name not in DEFAULT_ZONE_NAMES:
        return f"{text!r} is not a default local zone (e.g. localhost, 10.in-addr.arpa, onion)"
    return None


@dataclass(slots=True)
class _Node:
    """The local data of one owner name, by type."""

    rrsets: dict[dns.rdatatype.RdataType, dns.rrset.RRset] = field(default_factory=dict)


class LocalZones:
    """The local zones and data in force; ``answer`` is the server's hook.

    Built from the configuration (``from_settings``); ``ctl local-zone`` and
    ``ctl local-data`` change it at run time (``add_zone``...), and a reload
    that changes the local zone options replaces it whole (what ctl added is
    then gone, as in Unbound, whose ``reload`` rereads only the file).
    """

    def __init__(self) -> None:
        self._zones: dict[dns.name.Name, LocalZone] = {}
        self._data: dict[dns.name.Name, _Node] = {}
        #: Zones made for data outside every zone (module docstring).
        self._implicit: set[dns.name.Name] = set()
        #: Label counts that have a zone: lookups try only those.
        self._depths: list[int] = []
        #: The top-level labels (lowercase) under which some zone lies, None
        #: when the root itself is a zone: a name under no such label has no
        #: local zone, and is sent on after one set lookup (``answer``).
        self._tops: frozenset[bytes] | None = frozenset()

    @classmethod
    def from_settings(
        cls,
        zones: Iterable[LocalZone] = (),
        data: Iterable[dns.rrset.RRset] = (),
        *,
        defaults: bool = True,
        nodefault: Sequence[str] = (),
    ) -> LocalZones:
        """Configured zones, the defaults they leave (unless ``defaults`` is off), the data."""
        table = cls()
        configured = list(zones)
        for zone in configured:
            table._zones[zone.name] = zone
        if defaults:
            dropped = {dns.name.from_text(name) for name in nodefault}
            for zone, records in DEFAULT_ZONES:
                if zone.name in table._zones or zone.name in dropped:
                    continue
                table._zones[zone.name] = zone
                for record in records:
                    table._store(parse_record(record))
        table._index()
        for rrset in data:
            table.add_data(rrset)
        return table

    def zones(self) -> list[dict[str, str]]:
        """Every zone, sorted, for ``ctl local-zone list``."""
        return [self._zones[name].describe() for name in sorted(self._zones)]

    def data(self) -> list[str]:
        """Every local record as zone-file text, sorted, for ``ctl local-data list``."""
        return [
            line
            for name in sorted(self._data)
            for rrset in self._data[name].rrsets.values()
            for line in rrset.to_text().splitlines()
        ]

    def add_zone(self, zone: LocalZone) -> LocalZone | None:
        """Add or replace a zone; returns the one it replaced."""
        replaced = self._zones.get(zone.name)
        self._zones[zone.name] = zone
        self._implicit.discard(zone.name)
        self._index()
        return replaced

    def remove_zone(self, name: dns.name.Name) -> LocalZone | None:
        """Remove a zone (its data stays, as in Unbound, answering through the enclosing zone)."""
        removed = self._zones.pop(name, None)
        self._implicit.discard(name)
        self._index()
        return removed

    def add_data(self, rrset: dns.rrset.RRset) -> None:
        """Add a record (merged into the RRset of its name and type).

        Data outside every zone gets an implicit transparent zone.
        """
        if self._enclosing(rrset.name) is None:
            self._zones[rrset.name] = LocalZone(rrset.name, ZoneType.TRANSPARENT)
            self._implicit.add(rrset.name)
            self._index()
        self._store(rrset)

    def remove_data(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType | None) -> int:
        """Remove ``name``'s data (of one type, or all); returns how many RRsets went."""
        node = self._data.get(name)
        if node is None:
            return 0
        types = list(node.rrsets) if rdtype is None else [t for t in node.rrsets if t == rdtype]
        for kind in types:
            del node.rrsets[kind]
        if not node.rrsets:
            del self._data[name]
            if name in self._implicit:
                self.remove_zone(name)
        return len(types)

    def _store(self, rrset: dns.rrset.RRset) -> None:
        node = self._data.setdefault(rrset.name, _Node())
        existing = node.rrsets.get(rrset.rdtype)
        if existing is None:
            node.rrsets[rrset.rdtype] = rrset
        else:
            rdatas = [*existing, *(rdata for rdata in rrset if rdata not in existing)]
            ttl = min(existing.ttl, rrset.ttl)
            node.rrsets[rrset.rdtype] = dns.rrset.from_rdata_list(rrset.name, ttl, rdatas)

    def _index(self) -> None:
        self._depths = sorted({len(name) for name in self._zones}, reverse=True)
        self._tops = (
            None
            if dns.name.root in self._zones
            else frozenset(name.labels[-2].lower() for name in self._zones)
        )

    def _enclosing(self, name: dns.name.Name) -> LocalZone | None:
        """The zone closest above (or at) ``name``: the one that decides."""
        zones = self._zones
        labels = len(name)
        for depth in self._depths:
            if depth <= labels:
                zone = zones.get(name.split(depth)[1] if depth < labels else name)
                if zone is not None:
                    return zone
        return None

    def answer(self, question: Question) -> Outcome | None:
        """The local answer to ``question``; None to resolve it as usual; ``DENIED`` to drop it."""
        if not self._depths:
            return None
        name = question.name  # Name compares and hashes without regard to case
        tops = self._tops
        if tops is not None and (len(name) < 2 or name.labels[-2].lower() not in tops):
            # Most names: the default zones lie under arpa, localhost, onion,
            # test, invalid and a few more. This saves one Name split and hash
            # per zone depth (10 -> 0.2 us a question, issue 19).
            return None
        zone = self._enclosing(name)
        if zone is None:
            return None
        kind = zone.kind
        if kind is ZoneType.ALWAYS_NXDOMAIN:
            return self._negative(zone, dns.rcode.NXDOMAIN)
        if kind is ZoneType.ALWAYS_NODATA:
            return self._negative(zone, dns.rcode.NOERROR)
        if kind is ZoneType.ALWAYS_REFUSE:
            return Outcome(rcode=dns.rcode.REFUSED)
        if kind is ZoneType.ALWAYS_DENY:
            return DENIED
        owner = zone.name if kind is ZoneType.REDIRECT else name
        node = self._data.get(owner)
        if node is not None:
            return self._from_node(question, node, zone)
        if kind is ZoneType.TRANSPARENT:
            return None
        if kind is ZoneType.REFUSE:
            return Outcome(rcode=dns.rcode.REFUSED)
        if kind is ZoneType.DENY:
            return DENIED
        # static, and redirect without apex data: the zone has nothing else.
        exists = any(other.is_subdomain(name) for other in self._data)  # empty non-terminal
        return self._negative(zone, dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN)

    def _from_node(self, question: Question, node: _Node, zone: LocalZone) -> Outcome:
        """The data of ``node`` for ``question``, renamed to the question's name (redirect)."""
        rdtype = question.rdtype
        if rdtype == dns.rdatatype.ANY:
            found = list(node.rrsets.values())
        elif rdtype in node.rrsets:
            found = [node.rrsets[rdtype]]
        elif dns.rdatatype.CNAME in node.rrsets:
            # Unbound (local_data_answer) gives the CNAME and stops: what it
            # points to is for the client to ask.
            found = [node.rrsets[dns.rdatatype.CNAME]]
        else:
            return self._negative(zone, dns.rcode.NOERROR)
        answer = tuple(_renamed(rrset, question.name) for rrset in found)
        return Outcome(rcode=dns.rcode.NOERROR, answer=answer)

    def _negative(self, zone: LocalZone, rcode: dns.rcode.Rcode) -> Outcome:
        """NXDOMAIN or NODATA, with the zone's SOA when it has one (negative TTL: its minimum)."""
        node = self._data.get(zone.name)
        soa = node.rrsets.get(dns.rdatatype.SOA) if node is not None else None
        if soa is None:
            return Outcome(rcode=rcode)
        record = soa[0]
        assert isinstance(record, dns.rdtypes.ANY.SOA.SOA)
        negative = dns.rrset.from_rdata(soa.name, min(soa.ttl, record.minimum), record)
        return Outcome(rcode=rcode, authority=(negative,))


def _renamed(rrset: dns.rrset.RRset, name: dns.name.Name) -> dns.rrset.RRset:
    if rrset.name == name:
        return rrset
    return dns.rrset.from_rdata_list(name, rrset.ttl, list(rrset))

