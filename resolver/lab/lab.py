"""The lab: a signed DNS hierarchy answering queries without any I/O.

``Lab.build`` signs the catalogue once (windows from the injected clock);
``Lab.handle`` is what every lab address says to a query in wire format,
faults included. The socket servers (``server.py``), the in-memory transport
for the iterator's tests (``network.py``) and the control socket
(``control.py``) are thin shells around it, so that every behaviour is
testable as a pure function of bytes in, bytes out.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import TypeAlias

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from resolver.clock import Clock
from resolver.lab.authority import answer
from resolver.lab.bench import BenchZone
from resolver.lab.catalogue import LabServer, plan
from resolver.lab.errors import LabError
from resolver.lab.fanout import FanoutZone
from resolver.lab.faults import Fault, FaultKind
from resolver.lab.signing import Window, break_signatures
from resolver.lab.zones import StaticZone

LabZone: TypeAlias = StaticZone | BenchZone | FanoutZone

#: The EDNS UDP payload size the lab advertises and honours at most.
PAYLOAD = 1232
#: The UDP size limit for a query without EDNS (RFC 1035).
CLASSIC_UDP = 512
#: The largest message that fits a TCP frame.
TCP_LIMIT = 65535
#: Seed of the generator drawing fault fractions and garbage bytes.
FAULT_SEED = 53
_HEADER = 12


@dataclass(frozen=True, slots=True)
class LabReply:
    """What a lab server sends back: ``wire`` after ``delay`` s, or nothing."""

    wire: bytes | None
    delay: float = 0.0


class Lab:
    """The signed lab hierarchy and its per-address faults."""

    def __init__(
        self,
        clock: Clock,
        servers: tuple[LabServer, ...],
        zones: dict[dns.name.Name, LabZone],
        permanent_faults: dict[str, Fault],
    ) -> None:
        self.servers = servers
        self._clock = clock
        self._zones = zones
        self._zones_at = {
            server.address: sorted(
                (zones[dns.name.from_text(origin)] for origin in server.zones),
                key=lambda zone: len(zone.origin),
                reverse=True,
            )
            for server in servers
        }
        self._permanent = permanent_faults
        self._faults: dict[str, dict[dns.name.Name | None, Fault]] = {}
        self._expired: dict[dns.name.Name, LabZone] = {}
        self._random = random.Random(FAULT_SEED)

    @classmethod
    def build(cls, clock: Clock) -> Lab:
        """Build and sign the catalogue; signatures are valid from ``clock`` on.

        Signatures run from an hour before ``clock.wall()`` to 14 days after
        (``expired.com``: from 30 days before to 7 days before;
        ``future.com``: from 7 days after to 30 days after).
        """
        catalogue = plan()
        now = clock.wall()
        zones: dict[dns.name.Name, LabZone] = {}
        for source in catalogue.sources:
            window = catalogue.windows[source.origin](now)
            if source.origin == catalogue.bench:
                zones[source.origin] = BenchZone(source, window)
            elif source.origin in catalogue.fanouts:
                fixed = StaticZone.build(source, window)
                zones[source.origin] = FanoutZone(fixed, catalogue.fanouts[source.origin])
            else:
                zones[source.origin] = StaticZone.build(source, window)
        return cls(clock, catalogue.servers, zones, catalogue.faults)

    # -- faults ---------------------------------------------------------

    def set_fault(self, address: str, fault: Fault, zone: str | None = None) -> None:
        """Make ``address`` misbehave, for all its zones or only ``zone``.

        A zone-scoped fault wins over an address-wide one; both win over the
        catalogue's permanent faults (lame.com, slow.com, tcponly.com).

        Raises:
            LabError: no lab server at ``address``, or it does not serve ``zone``.
        """
        zones = self._served(address)
        origin = None
        if zone is not None:
            origin = _zone_name(zone)
            if origin not in {served.origin for served in zones}:
                raise LabError(f"{address} does not serve zone {origin}")
        self._faults.setdefault(address, {})[origin] = fault

    def clear_faults(self, address: str) -> None:
        """Remove the faults set on ``address`` (permanent ones stay).

        Raises:
            LabError: no lab server at ``address``.
        """
        self._served(address)
        self._faults.pop(address, None)

    # -- answering ------------------------------------------------------

    def handle(self, address: str, wire: bytes, *, tcp: bool) -> LabReply:
        """Answer ``wire`` as the server at ``address`` would (over TCP or UDP).

        Unparseable queries get FORMERR if they have a header, else nothing;
        responses and queries to addresses without a lab server get nothing.
        """
        zones = self._zones_at.get(address)
        if zones is None:
            return LabReply(None)
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # any parse failure: dnspython raises many kinds
            return LabReply(_formerr(wire))
        if query.flags & dns.flags.QR:
            return LabReply(None)
        zone = _zone_for(zones, query)
        fault = self._fault(address, zone)
        if fault is not None and (fault.fraction >= 1.0 or self._random.random() < fault.fraction):
            return self._faulty(fault, query, zone, tcp)
        return LabReply(_render(query, _respond(query, zone, tcp), tcp))

    def _faulty(
        self, fault: Fault, query: dns.message.Message, zone: LabZone | None, tcp: bool
    ) -> LabReply:
        match fault.kind:
            case FaultKind.DROP:
                return LabReply(None)
            case FaultKind.DELAY:
                return LabReply(_render(query, _respond(query, zone, tcp), tcp), fault.delay)
            case FaultKind.SERVFAIL | FaultKind.REFUSED | FaultKind.LAME:
                response = _skeleton(query)
                response.set_rcode(_FAULT_RCODES[fault.kind])
                return LabReply(_render(query, response, tcp))
            case FaultKind.TRUNCATE:
                response = _respond(query, zone, tcp)
                return LabReply(
                    _truncated(query, response) if not tcp else _render(query, response, tcp)
                )
            case FaultKind.GARBAGE:
                return LabReply(self._random.randbytes(self._random.randint(1, 64)))
            case FaultKind.EXPIRED_SIGS:
                variant = None if zone is None else self._expired_variant(zone)
                return LabReply(_render(query, _respond(query, variant, tcp), tcp))
            case FaultKind.BOGUS_SIGS:
                response = _respond(query, zone, tcp)
                for section in (response.answer, response.authority):
                    section[:] = [
                        break_signatures(rrset) if rrset.rdtype == dns.rdatatype.RRSIG else rrset
                        for rrset in section
                    ]
                return LabReply(_render(query, response, tcp))

    def _fault(self, address: str, zone: LabZone | None) -> Fault | None:
        faults = self._faults.get(address, {})
        if zone is not None and zone.origin in faults:
            return faults[zone.origin]
        return faults.get(None, self._permanent.get(address))

    def _expired_variant(self, zone: LabZone) -> LabZone:
        """``zone`` re-signed to have expired a week ago (made once, cached)."""
        variant = self._expired.get(zone.origin)
        if variant is None:
            variant = zone.resigned(Window.expired(self._clock.wall()))
            self._expired[zone.origin] = variant
        return variant

    def _served(self, address: str) -> list[LabZone]:
        zones = self._zones_at.get(address)
        if zones is None:
            raise LabError(f"no lab server at address {address!r}")
        return zones

    # -- zones -----------------------------------------------------------

    def zone(self, origin: dns.name.Name) -> LabZone:
        """The zone the lab serves at ``origin``.

        Raises:
            LabError: the lab has no zone there.
        """
        zone = self._zones.get(origin)
        if zone is None:
            raise LabError(f"the lab has no zone {origin}")
        return zone

    def replace_zone(self, zone: LabZone) -> None:
        """Publish ``zone`` in place of the lab's zone of the same origin.

        Every address that served the old version answers from ``zone``
        from the next query on (the root drill publishes new root versions
        this way); the ``expired-sigs`` variant is made again from it.

        Raises:
            LabError: the lab has no zone at ``zone.origin``.
        """
        old = self.zone(zone.origin)
        self._zones[zone.origin] = zone
        for zones in self._zones_at.values():
            zones[:] = [zone if served is old else served for served in zones]
        self._expired.pop(zone.origin, None)

    # -- published files -------------------------------------------------

    def _root(self) -> StaticZone:
        root = self._zones[dns.name.root]
        assert isinstance(root, StaticZone)
        return root

    def root_hints_text(self) -> str:
        """The lab root's NS and server addresses, zone-file format."""
        root = self._root()
        ns = root.rrset(dns.name.root, dns.rdatatype.NS)
        assert ns is not None
        lines = [ns.to_text()]
        for rdata in ns:
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                glue = root.rrset(rdata.target, rdtype)
                if glue is not None:
                    lines.append(glue.to_text())
        return "\n".join(lines) + "\n"

    def trust_anchor_text(self) -> str:
        """The DS record(s) of the lab root's key, zone-file format."""
        key = self._root().source.key
        assert key is not None
        return dns.rrset.from_rdata(dns.name.root, 3600, key.ds()).to_text() + "\n"

    def root_zone_text(self) -> str:
        """The signed lab root zone, with absolute names."""
        text: str = self._root().to_zone().to_text(sorted=True, relativize=False)
        return text

    def lab_json(self) -> dict[str, object]:
        """The servers as JSON-ready data: address, name and zones of each."""
        return {
            "servers": [
                {"address": server.address, "name": server.name, "zones": list(server.zones)}
                for server in self.servers
            ]
        }

    def lab_json_text(self) -> str:
        """``lab_json()`` serialised, as written to ``lab.json``."""
        return json.dumps(self.lab_json(), indent=2) + "\n"


_FAULT_RCODES = {
    FaultKind.SERVFAIL: dns.rcode.SERVFAIL,
    FaultKind.REFUSED: dns.rcode.REFUSED,
    FaultKind.LAME: dns.rcode.NOERROR,
}


def _zone_name(zone: str) -> dns.name.Name:
    try:
        return dns.name.from_text(zone)
    except dns.exception.DNSException as error:
        raise LabError(f"bad zone name {zone!r}: {error}") from None


def _zone_for(zones: list[LabZone], query: dns.message.Message) -> LabZone | None:
    """The deepest zone holding the question; DS goes to the parent side."""
    if len(query.question) != 1:
        return None
    question = query.question[0]
    holders = [zone for zone in zones if question.name.is_subdomain(zone.origin)]
    if (
        question.rdtype == dns.rdatatype.DS
        and len(holders) > 1
        and holders[0].origin == question.name
    ):
        return holders[1]
    return holders[0] if holders else None


def _skeleton(query: dns.message.Message) -> dns.message.Message:
    """An empty response (AA clear) echoing the query's EDNS version 0 and DO."""
    response = dns.message.make_response(query, our_payload=PAYLOAD)
    if query.edns >= 0:
        response.use_edns(0, query.ednsflags & dns.flags.DO, PAYLOAD)
    return response


def _respond(query: dns.message.Message, zone: LabZone | None, tcp: bool) -> dns.message.Message:
    """The normal authoritative response to ``query`` from ``zone``."""
    response = _skeleton(query)
    if query.edns > 0:
        response.set_rcode(dns.rcode.BADVERS)
        return response
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
        return response
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    if question.rdclass != dns.rdataclass.IN or zone is None:
        response.set_rcode(dns.rcode.REFUSED)
        return response
    if question.rdtype == dns.rdatatype.AXFR:
        return _transfer(response, zone, question.name, tcp)
    if dns.rdatatype.is_metatype(question.rdtype):
        response.set_rcode(dns.rcode.NOTIMP)
        return response
    result = answer(
        zone, question.name, question.rdtype, dnssec_ok=bool(query.ednsflags & dns.flags.DO)
    )
    response.set_rcode(result.rcode)
    if result.authoritative:
        response.flags |= dns.flags.AA
    response.answer = list(result.answer)
    response.authority = list(result.authority)
    response.additional = list(result.additional)
    return response


def _transfer(
    response: dns.message.Message, zone: LabZone, name: dns.name.Name, tcp: bool
) -> dns.message.Message:
    """AXFR in one message, over TCP only, of a whole static zone."""
    if not tcp:
        response.set_rcode(dns.rcode.FORMERR)
    elif not isinstance(zone, StaticZone) or name != zone.origin:
        response.set_rcode(dns.rcode.REFUSED)
    else:
        response.flags |= dns.flags.AA
        response.answer = zone.transfer()
    return response


def _render(query: dns.message.Message, response: dns.message.Message, tcp: bool) -> bytes:
    """``response`` in wire format; truncated (TC=1) if over the UDP limit."""
    if tcp:
        limit = TCP_LIMIT
    elif query.edns >= 0:
        limit = max(CLASSIC_UDP, min(query.payload, PAYLOAD))
    else:
        limit = CLASSIC_UDP
    try:
        # Records in the order the zone holds them, every time: the lab is
        # deterministic (dnspython shuffles RRsets by default).
        wire: bytes = response.to_wire(max_size=limit, want_shuffle=False)
    except dns.exception.TooBig:
        return _truncated(query, response)
    return wire


def _truncated(query: dns.message.Message, response: dns.message.Message) -> bytes:
    """``response``'s header and question only, with TC=1."""
    truncated = _skeleton(query)
    truncated.flags |= dns.flags.TC | (response.flags & dns.flags.AA)
    truncated.set_rcode(response.rcode())
    wire: bytes = truncated.to_wire(want_shuffle=False)
    return wire


def _formerr(wire: bytes) -> bytes | None:
    """FORMERR echoing the ID and opcode of an unparseable query (if it has a header)."""
    if len(wire) < _HEADER or wire[2] & 0x80:
        return None
    flags = 0x8000 | ((wire[2] & 0x78) << 8) | dns.rcode.FORMERR
    return wire[:2] + flags.to_bytes(2, "big") + bytes(8)
