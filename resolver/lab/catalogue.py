"""The lab's catalogue: which zones exist, what they hold, who serves them.

This is the single description of the lab hierarchy (documented name by
name in ``testdata/lab/README.md``). ``plan()`` turns it into signed-zone
sources: it derives each zone's key, puts the DS of every signed child and
NS + glue of every child into the parent, puts the address records of the
server names into the zone that owns them, and allocates server addresses
deterministically (root 127.53.0.1-3, com/net 127.53.1.1-4, org
127.53.2.1-2, second-level zones two each from 127.53.3.1 in list order).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset
import dns.zone

from resolver.lab.costlykeys import BIG_EXPONENT, HUGE_MODULUS, RsaShape, costly_key
from resolver.lab.fanout import FANOUT_WIDTH
from resolver.lab.faults import Fault, parse_fault
from resolver.lab.signing import (
    ECDSAP256SHA256,
    ECDSAP384SHA384,
    ED448,
    ED25519,
    PRIVATEDNS,
    RSASHA1,
    RSASHA1NSEC3SHA1,
    RSASHA256,
    RSASHA512,
    Window,
    ZoneKey,
    zone_key,
)
from resolver.lab.zones import ZoneSource

DEFAULT_TTL = 3600
SERIAL = 2025010100
#: Where the lab root's glue records say the out-of-lab server is.
OUTSIDE_ADDRESS = "192.0.2.53"


@dataclass(frozen=True, slots=True)
class LabServer:
    """One lab address, the server name it has, and the zones it serves."""

    address: str
    name: str
    zones: tuple[str, ...]


class ParentDs(enum.Enum):
    """The DS record a parent publishes for a signed child."""

    #: The SHA-256 digest of the child's key.
    KEY = "key"
    #: The SHA-256 digest of a key the child does not publish.
    ABSENT_KEY = "absent-key"
    #: Digest type 3 (GOST R 34.11-94), which validators need not implement
    #: (RFC 8624); the digest field holds the key's SHA-256 digest.
    GOST = "gost"


@dataclass(frozen=True, slots=True)
class ZonePlan:
    """One zone of the catalogue, before keys, delegations and glue.

    ``records`` are zone-file lines relative to the zone (``$TTL 3600``).
    ``algorithm`` is ``None`` for an unsigned zone. ``iterations`` is the
    NSEC3 iteration count. ``window`` makes the zone's signature window from
    the lab clock's time. ``served`` is false for a delegation to outside
    the lab. ``faults`` are permanent faults, by index into ``servers``.
    ``broken`` names owners whose A signature is corrupted. ``rrsigs`` false
    signs only the DNSKEY RRset; ``proofs`` false withholds NSEC/NSEC3 from
    negative answers; ``keytrap`` adds KeyTrap decoys; ``ds`` is what the
    parent's DS names; ``rsa`` signs with an RSA/SHA-256 key of that size
    (``resolver/lab/costlykeys.py``), each RRset when it is first served.
    ``fanout`` > 0 makes every ``l-K`` name a cut referring to that many
    NS names without glue one level deeper (``resolver/lab/fanout.py``).
    """

    origin: str
    servers: tuple[tuple[str, str], ...]
    records: tuple[str, ...] = ()
    algorithm: int | None = ECDSAP256SHA256
    nsec3: bool = False
    iterations: int = 0
    window: Callable[[float], Window] = Window.valid
    bench: bool = False
    served: bool = True
    broken: tuple[str, ...] = ()
    faults: tuple[tuple[int, str], ...] = ()
    rrsigs: bool = True
    proofs: bool = True
    keytrap: bool = False
    ds: ParentDs = ParentDs.KEY
    rsa: RsaShape | None = None
    fanout: int = 0


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Everything ``Lab.build`` needs to sign and serve the lab."""

    sources: tuple[ZoneSource, ...]
    #: How each zone's signature window is made from the lab clock's time.
    windows: dict[dns.name.Name, Callable[[float], Window]]
    #: The zone generated lazily for benchmarks.
    bench: dns.name.Name
    servers: tuple[LabServer, ...]
    #: Faults that are part of the catalogue (lame.com, slow.com, tcponly.com).
    faults: dict[str, Fault]
    #: The glueless fan-out zones and their referral width (``resolver/lab/fanout.py``).
    fanouts: dict[dns.name.Name, int]


class _Addresses:
    """Hands out second-level server addresses in order, from 127.53.3.1."""

    def __init__(self) -> None:
        self._next = 0

    def pair(self, domain: str, label: str = "ns{n}") -> tuple[tuple[str, str], ...]:
        """Two servers named ``label`` (with ``{n}`` = 1, 2) under ``domain``."""
        servers = []
        for n in (1, 2):
            index = self._next
            self._next += 1
            address = f"127.53.{3 + index // 250}.{1 + index % 250}"
            servers.append((f"{label.format(n=n)}.{domain}", address))
        return tuple(servers)


def _letters(letters: str, domain: str, subnet: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{c}.{domain}", f"{subnet}.{i}") for i, c in enumerate(letters, 1))


def plans() -> tuple[ZonePlan, ...]:
    """The catalogue, parents before children (the order addresses are given)."""
    gtld = _letters("abcd", "gtld-servers.net.", "127.53.1")
    ns = _Addresses()
    return (
        ZonePlan(".", _letters("abc", "root-servers.net.", "127.53.0"), algorithm=RSASHA256),
        ZonePlan("com.", gtld),
        ZonePlan("net.", gtld),
        ZonePlan("org.", _letters("ab", "org-servers.net.", "127.53.2")),
        ZonePlan(
            "example.com.",
            ns.pair("example.com."),
            (
                "www A 192.0.2.1",
                "www AAAA 2001:db8::1",
                "@ MX 10 mail",
                '@ TXT "holdfast lab example.com"',
                "mail A 192.0.2.25",
                "*.wild A 192.0.2.2",
                "alias CNAME www.example.net.",
                "toinsecure CNAME www.insecure.com.",
                "inzone CNAME www",
                "sub DNAME example.org.",
                "ttl2 2 A 192.0.2.5",
            ),
        ),
        ZonePlan("example.net.", ns.pair("example.net."), ("www A 192.0.2.3",)),
        ZonePlan("example.org.", ns.pair("example.org."), ("www A 192.0.2.4",)),
        ZonePlan(
            "nsec3.org.",
            ns.pair("nsec3.org."),
            ("www A 192.0.2.10", '@ TXT "holdfast lab nsec3.org"', "*.wild A 192.0.2.30"),
            nsec3=True,
        ),
        ZonePlan("optout.nsec3.org.", ns.pair("optout.nsec3.org."), ("www A 192.0.2.11",), None),
        ZonePlan("insecure.com.", ns.pair("insecure.com."), ("www A 192.0.2.12",), None),
        ZonePlan("bogus.com.", ns.pair("bogus.com."), ("www A 192.0.2.13",), broken=("www",)),
        ZonePlan(
            "expired.com.", ns.pair("expired.com."), ("www A 192.0.2.14",), window=Window.expired
        ),
        ZonePlan("noglue.com.", ns.pair("example.net.", "ns{n}-noglue"), ("www A 192.0.2.15",)),
        ZonePlan("lame.com.", ns.pair("lame.com."), ("www A 192.0.2.16",), faults=((1, "lame"),)),
        ZonePlan("slow.com.", ns.pair("slow.com."), ("www A 192.0.2.17",), faults=((1, "drop"),)),
        ZonePlan(
            "tcponly.com.",
            ns.pair("tcponly.com."),
            ("www A 192.0.2.18",),
            faults=((0, "truncate"), (1, "truncate")),
        ),
        ZonePlan("rsa.org.", ns.pair("rsa.org."), ("www A 192.0.2.19",), RSASHA256),
        ZonePlan("ecdsa.org.", ns.pair("ecdsa.org."), ("www A 192.0.2.20",), ECDSAP256SHA256),
        ZonePlan("ed25519.org.", ns.pair("ed25519.org."), ("www A 192.0.2.21",), ED25519),
        ZonePlan("bench.com.", ns.pair("bench.com."), ("www A 192.0.2.22",), bench=True),
        ZonePlan("rsasha1.org.", ns.pair("rsasha1.org."), ("www A 192.0.2.23",), RSASHA1),
        ZonePlan(
            "nsec3rsasha1.org.",
            ns.pair("nsec3rsasha1.org."),
            ("www A 192.0.2.24",),
            RSASHA1NSEC3SHA1,
            nsec3=True,
        ),
        ZonePlan("rsasha512.org.", ns.pair("rsasha512.org."), ("www A 192.0.2.26",), RSASHA512),
        ZonePlan("ecdsa384.org.", ns.pair("ecdsa384.org."), ("www A 192.0.2.27",), ECDSAP384SHA384),
        ZonePlan("ed448.org.", ns.pair("ed448.org."), ("www A 192.0.2.28",), ED448),
        ZonePlan(
            "nsec3-iter.org.",
            ns.pair("nsec3-iter.org."),
            ("www A 192.0.2.29",),
            nsec3=True,
            iterations=200,
        ),
        ZonePlan("keytrap.com.", ns.pair("keytrap.com."), ("www A 192.0.2.31",), keytrap=True),
        ZonePlan("nosig.com.", ns.pair("nosig.com."), ("www A 192.0.2.32",), rrsigs=False),
        ZonePlan(
            "badkey.com.", ns.pair("badkey.com."), ("www A 192.0.2.33",), ds=ParentDs.ABSENT_KEY
        ),
        ZonePlan(
            "future.com.", ns.pair("future.com."), ("www A 192.0.2.34",), window=Window.future
        ),
        ZonePlan("nonsec.com.", ns.pair("nonsec.com."), ("www A 192.0.2.35",), proofs=False),
        ZonePlan("unknownalg.com.", ns.pair("unknownalg.com."), ("www A 192.0.2.36",), PRIVATEDNS),
        ZonePlan(
            "unknowndigest.com.",
            ns.pair("unknowndigest.com."),
            ("www A 192.0.2.37",),
            ds=ParentDs.GOST,
        ),
        ZonePlan(
            "bigexp.org.",
            ns.pair("bigexp.org."),
            ("www A 192.0.2.38",),
            RSASHA256,
            rsa=BIG_EXPONENT,
        ),
        ZonePlan(
            "rsa16k.org.",
            ns.pair("rsa16k.org."),
            ("www A 192.0.2.39",),
            RSASHA256,
            rsa=HUGE_MODULUS,
        ),
        ZonePlan(
            "fanout.com.",
            ns.pair("fanout.com."),
            ("www A 192.0.2.40",),
            None,
            fanout=FANOUT_WIDTH,
        ),
        *_shared_family("shared.com.", ns.pair("shared.com."), 60),
        *_shared_family("shared3.com.", ns.pair("shared3.com."), 63, nsec3=True),
        ZonePlan("outside.com.", (("ns.outside.com.", OUTSIDE_ADDRESS),), served=False),
    )


def _shared_family(
    parent: str, servers: tuple[tuple[str, str], ...], first: int, *, nsec3: bool = False
) -> tuple[ZonePlan, ...]:
    """A signed parent and two children on the parent's own servers (issue 23).

    ``insecure.PARENT`` is unsigned and delegated without a DS (the parent
    proves that with NSEC, or NSEC3 opt-out); ``signed.PARENT`` is signed
    with a DS. One server answers for all three, as hosting providers serve
    a zone and its subzones from the same machines: a question for a child
    name gets the child zone's authoritative answer, never a referral. Each
    ``www`` gets 192.0.2.``first`` + 0, 1, 2 (parent, insecure, signed).
    """
    return (
        ZonePlan(parent, servers, (f"www A 192.0.2.{first}",), nsec3=nsec3),
        ZonePlan(f"insecure.{parent}", servers, (f"www A 192.0.2.{first + 1}",), None),
        ZonePlan(f"signed.{parent}", servers, (f"www A 192.0.2.{first + 2}",), nsec3=nsec3),
    )


def plan() -> Catalogue:
    """Derive keys, delegations, glue, servers and faults from ``plans()``."""
    zones = plans()
    served = [zone for zone in zones if zone.served]
    origins = {zone.origin: dns.name.from_text(zone.origin) for zone in zones}
    keys = {
        zone.origin: _key(zone, origins[zone.origin], zone.algorithm)
        for zone in served
        if zone.algorithm is not None
    }
    lines: dict[str, list[str]] = {zone.origin: [] for zone in served}

    def holder(name: dns.name.Name, *, strictly_above: bool = False) -> str | None:
        """The deepest served zone containing ``name`` (or a proper ancestor of it)."""
        holders = [
            zone.origin
            for zone in served
            if name.is_subdomain(origins[zone.origin])
            and not (strictly_above and origins[zone.origin] == name)
        ]
        return max(holders, key=lambda origin: len(origins[origin]), default=None)

    for zone in zones:
        parent = holder(origins[zone.origin], strictly_above=True)
        for server, address in zone.servers:
            name = dns.name.from_text(server)
            # The address goes where the name is authoritative, and into the
            # parent and the zone itself where it sits below them (glue).
            for target in {holder(name), parent, zone.origin if zone.served else None}:
                if target is not None and name.is_subdomain(origins[target]):
                    lines[target].append(f"{server} A {address}")
            if zone.served:
                lines[zone.origin].append(f"@ NS {server}")
            if parent is not None:
                lines[parent].append(f"{zone.origin} NS {server}")
        if parent is not None and zone.origin in keys:
            ds = _parent_ds(zone, keys[zone.origin])
            lines[parent].append(f"{zone.origin} DS {ds.to_text()}")
    sources = tuple(
        _source(zone, origins[zone.origin], keys.get(zone.origin), lines[zone.origin])
        for zone in served
    )
    return Catalogue(
        sources=sources,
        windows={origins[zone.origin]: zone.window for zone in served},
        bench=next(origins[zone.origin] for zone in served if zone.bench),
        fanouts={origins[zone.origin]: zone.fanout for zone in served if zone.fanout},
        servers=_servers(served),
        faults={
            zone.servers[index][1]: parse_fault(text)
            for zone in served
            for index, text in zone.faults
        },
    )


def _key(zone: ZonePlan, origin: dns.name.Name, algorithm: int) -> ZoneKey:
    """The zone's signing key: an RSA/SHA-256 key of its ``rsa`` shape, or its algorithm's."""
    if zone.rsa is not None:
        return costly_key(origin, zone.rsa)
    return zone_key(origin, algorithm)


def _parent_ds(zone: ZonePlan, key: ZoneKey) -> dns.rdata.Rdata:
    """The DS record ``zone``'s parent publishes for it."""
    match zone.ds:
        case ParentDs.KEY:
            return key.ds()
        case ParentDs.ABSENT_KEY:
            return zone_key(key.zone, key.dnskey.algorithm, variant="absent").ds()
        case ParentDs.GOST:
            return key.ds().replace(digest_type=3)


def _source(
    zone: ZonePlan, origin: dns.name.Name, key: ZoneKey | None, extra: list[str]
) -> ZoneSource:
    """Parse the zone's lines (SOA first) into a ``ZoneSource``."""
    primary = zone.servers[0][0]
    text = "\n".join(
        (
            f"$TTL {DEFAULT_TTL}",
            f"@ SOA {primary} hostmaster.{zone.origin.lstrip('.')} {SERIAL} 7200 3600 1209600 300",
            *zone.records,
            *dict.fromkeys(extra),
        )
    )
    parsed = dns.zone.from_text(text, origin, relativize=False, check_origin=False)
    rrsets = tuple(
        dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))
        for name, rdataset in parsed.iterate_rdatasets()
    )
    broken = frozenset(
        (dns.name.from_text(owner, origin), dns.rdatatype.A) for owner in zone.broken
    )
    return ZoneSource(
        origin,
        rrsets,
        key,
        nsec3=zone.nsec3,
        iterations=zone.iterations,
        zonemd=origin == dns.name.root,
        broken=broken,
        rrsigs=zone.rrsigs,
        proofs=zone.proofs,
        keytrap=zone.keytrap,
        on_demand=zone.rsa is not None,
    )


def _servers(served: list[ZonePlan]) -> tuple[LabServer, ...]:
    """One ``LabServer`` per address, listing the zones found there."""
    names: dict[str, str] = {}
    zones: dict[str, list[str]] = {}
    for zone in served:
        for name, address in zone.servers:
            names.setdefault(address, name)
            zones.setdefault(address, []).append(zone.origin)
    return tuple(
        LabServer(address, names[address], tuple(zones[address]))
        for address in sorted(names, key=lambda a: tuple(int(part) for part in a.split(".")))
    )
