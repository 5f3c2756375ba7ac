"""An off-path spoofer for the attack drills, with raw sockets on loopback.

Only usable as root inside the test namespace (``tests/run-isolated``,
``unshare -n``): it writes IPv4 packets with a forged source address (a lab
server's) to the resolver's upstream query ports, which is exactly what an
off-path attacker does. Three abilities, from weakest to strongest:

* **blind**: guess the port and the ID;
* **known port**: read the resolver's open upstream sockets from
  ``/proc/net/udp`` (the side channel of issue 17: the port learned, the
  ID still guessed);
* **race won** (``Sniffer``): read each UDP query off ``lo`` with an
  ``AF_PACKET`` socket, so the forgery carries the right port, ID and case
  and arrives before the genuine reply. That is more than an off-path
  attacker can do, so the resolver must be safe even then: it may be
  fooled for one UDP exchange, never into serving forged data or holding
  down a genuine server. TCP is never forged (an off-path spoofer cannot
  inject into a connection), and the sniffer counts the TCP connections
  the resolver opens, which is how a drill knows the forgeries were taken.

Packet building and ``/proc/net/udp`` parsing are plain functions; the
sockets are a thin layer on top. Everything is bounded by the caller.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import socket
import struct
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

#: The address every forged answer points to (TEST-NET-3, RFC 5737).
POISON = "203.0.113.66"
DNS_PORT = 53
_ETH_P_IP = 0x0800
_PACKET_HOST = 0  # AF_PACKET pkttype of a packet addressed to this host (not the outgoing copy)
_IP_HEADER = 20
_UDP_HEADER = 8
#: Offset of the DNS ID in a packet made by ``udp_packet`` (IP and UDP headers first).
ID_OFFSET = _IP_HEADER + _UDP_HEADER


@dataclass(frozen=True, slots=True)
class UdpSocket:
    """One line of ``/proc/net/udp``: a socket's local and remote address."""

    local: tuple[str, int]
    remote: tuple[str, int]


def _address(field: str) -> tuple[str, int]:
    """``0100007F:1F90`` (IPv4 in host byte order, port in hex) -> ("127.0.0.1", 8080)."""
    host, port = field.split(":")
    packed = struct.pack("<I", int(host, 16))
    return str(ipaddress.IPv4Address(packed)), int(port, 16)


def parse_proc_net_udp(text: str) -> list[UdpSocket]:
    """The sockets listed in ``/proc/net/udp`` (header line skipped)."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            sockets.append(UdpSocket(_address(fields[1]), _address(fields[2])))
    return sockets


def upstream_sockets(
    servers: Iterable[str], table: Path = Path("/proc/net/udp")
) -> list[UdpSocket]:
    """Open UDP sockets connected to port 53 of one of ``servers``: queries in flight."""
    wanted = set(servers)
    return [
        sock
        for sock in parse_proc_net_udp(table.read_text(encoding="ascii"))
        if sock.remote[0] in wanted and sock.remote[1] == DNS_PORT
    ]


def udp_packet(source: tuple[str, int], destination: tuple[str, int], payload: bytes) -> bytes:
    """An IPv4 + UDP packet; the kernel fills the IP checksum, the UDP one is 0 (none)."""
    length = _IP_HEADER + _UDP_HEADER + len(payload)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, length, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(source[0]), socket.inet_aton(destination[0]),
    )
    udp = struct.pack("!HHHH", source[1], destination[1], _UDP_HEADER + len(payload), 0)
    return ip + udp + payload


def forged_reply(
    query: dns.message.Message, *, signer: dns.name.Name | None = None, key_tag: int = 0
) -> bytes:
    """An authoritative answer to ``query`` pointing its name at ``POISON``.

    With ``signer``, the answer carries an RRSIG by that zone whose
    signature is random bytes: forged data in a signed zone, which must
    fail validation (bogus), never be served.
    """
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.AA
    question = query.question[0]
    reply.answer.append(dns.rrset.from_text(question.name, 86400, "IN", "A", POISON))
    if signer is not None:
        labels = len(question.name) - 1
        garbage = secrets.token_bytes(64).hex()
        rrsig = (f"A 13 {labels} 86400 20370101000000 20200101000000 {key_tag} "
                 f"{signer.to_text()} {garbage}")
        reply.answer.append(dns.rrset.from_text(question.name, 86400, "IN", "RRSIG", rrsig))
    wire: bytes = reply.to_wire()
    return wire


class RawSender:
    """Sends whole IPv4 packets (``IP_HDRINCL``): any source address, as root."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def send(self, packet: bytes) -> None:
        destination = socket.inet_ntoa(packet[16:20])
        with contextlib.suppress(BlockingIOError):  # a full queue loses it, as a network would
            self._socket.sendto(packet, (destination, 0))

    def sweep(self, packet: bytes, ids: Iterable[int]) -> int:
        """Send ``packet`` once per ID in ``ids`` (the DNS ID patched in); return the count."""
        buffer = bytearray(packet)
        sent = 0
        for query_id in ids:
            struct.pack_into("!H", buffer, ID_OFFSET, query_id)
            self.send(bytes(buffer))
            sent += 1
        return sent

    def close(self) -> None:
        self._socket.close()


#: Decides, for a query seen on the wire, the forged payload to send back (None: none).
Forger = Callable[[dns.message.Message], bytes | None]


class Sniffer:
    """Answers the resolver's UDP queries to ``servers`` with forgeries, first.

    Runs in a thread until ``stop``; ``forged`` counts forgeries sent,
    ``tcp_queries`` the TCP segments with data the resolver sent to
    ``servers`` meanwhile: its re-asks over TCP (one query each; the
    resolver keeps a connection for the server's next query, so there are
    fewer connections than re-asks).
    """

    def __init__(self, servers: Iterable[str], forge: Forger) -> None:
        self.servers = frozenset(servers)
        self.forged = 0
        self.tcp_queries = 0
        self._forge = forge
        self._sender = RawSender()
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(_ETH_P_IP))
        self._socket.bind(("lo", _ETH_P_IP))
        self._socket.settimeout(0.05)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="sniffer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self._socket.close()
        self._sender.close()

    def _run(self) -> None:
        while self._running:
            try:
                packet, address = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] == _PACKET_HOST:
                self._seen(packet)

    def _seen(self, packet: bytes) -> None:
        header = (packet[0] & 0x0F) * 4
        protocol = packet[9]
        source = socket.inet_ntoa(packet[12:16])
        destination = socket.inet_ntoa(packet[16:20])
        if destination not in self.servers or len(packet) < header + 4:
            return
        source_port, destination_port = struct.unpack_from("!HH", packet, header)
        if destination_port != DNS_PORT:
            return
        if protocol == socket.IPPROTO_TCP:
            (total,) = struct.unpack_from("!H", packet, 2)
            if total > header + (packet[header + 12] >> 4) * 4:  # carries data: a query
                self.tcp_queries += 1
            return
        if protocol != socket.IPPROTO_UDP:
            return
        try:
            query = dns.message.from_wire(packet[header + _UDP_HEADER:])
        except dns.exception.DNSException:
            return
        payload = self._forge(query) if query.question else None
        if payload is not None:
            self._sender.send(
                udp_packet((destination, DNS_PORT), (source, source_port), payload)
            )
            self.forged += 1


def lowercase(query: dns.message.Message) -> dns.message.Message:
    """``query`` with its question name in lower case: a spoofer's guess of a 0x20 name."""
    copy = dns.message.make_query(
        query.question[0].name.to_text().lower(), query.question[0].rdtype, id=query.id
    )
    return copy


def a_query_for(query: dns.message.Message, names: Collection[dns.name.Name]) -> bool:
    """Whether ``query`` asks A for one of ``names`` (in any case)."""
    question = query.question[0]
    return question.rdtype == dns.rdatatype.A and question.name in names
