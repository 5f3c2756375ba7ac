"""The floor program: the least a validating resolver on Trio + dnspython + cryptography does.

Issue 19 asks for 0.4x Unbound's cold validated answers per second; on one
core that leaves about 0.37 ms of CPU per answer for everything. This
program measures whether the mandated stack can do it at all: for one
``n<i>.bench.com A`` it does only what any validating resolver must, with
the zone's server and key known in advance (no cut lookup, no cache, no
server choice, no retries, no scrubbing): read the client's query, send one
query to the zone's server on its own socket, take the reply that matches
its ID, read it, verify the answer's RRSIG, write the response and send it.
Each client query gets its own task in one nursery, as in a resolver that
answers many at once. The steps are in ``bench.floor_steps`` (dnspython)
and ``bench.floor_wire`` (by hand); ``bench.cold_floor`` runs this program
beside Holdfast and Unbound.

Variants (``--variant``): ``dnspython`` verifies with ``dns.dnssec.validate``;
``by-hand`` builds the signed data itself and calls cryptography;
``unvalidated`` verifies nothing (and never sets AD); ``holdfast-reader``
is ``by-hand`` with the reply read by Holdfast's own reader
(``resolver.upstream_wire``, the same dnspython message, built faster);
``wire`` uses no dnspython per query at all.

    python -m bench.floor --listen 127.0.0.1:5302 --authority 127.53.3.31 [--variant wire]

The zone's DNSKEY is fetched once at start and trusted as it comes: the
chain of trust above it is what a warm resolver already holds.
"""

from __future__ import annotations

import argparse
import functools
import secrets
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import trio

from bench import floor_steps, floor_wire
from bench.floor_steps import Answer, ZoneTrust
from resolver import upstream_wire

#: Seconds a query waits for the zone's server (one try: the floor never retries).
UPSTREAM_TIMEOUT = 2.0
_RECEIVE = 4096
_IDS = 1 << 16

#: The wall clock, in seconds since the epoch.
Clock = Callable[[], float]
Verifier = Callable[[Answer, ZoneTrust, float], bool]


class _Waiting:
    """One upstream query waiting for its reply."""

    __slots__ = ("arrived", "reply")

    def __init__(self) -> None:
        self.arrived = trio.Event()
        self.reply: bytes | None = None


class Authority:
    """One UDP socket to the zone's server; each reply goes to the task waiting for its ID."""

    def __init__(self, sock: trio.socket.SocketType, address: tuple[str, int]) -> None:
        self._socket = sock
        self._address = address
        self._waiting: dict[int, _Waiting] = {}

    async def exchange(self, render: Callable[[int], bytes]) -> bytes | None:
        """Send the query ``render`` writes for a fresh random ID; its reply, or None on timeout."""
        ident = secrets.randbelow(_IDS)
        while ident in self._waiting:
            ident = secrets.randbelow(_IDS)
        waiting = self._waiting[ident] = _Waiting()
        try:
            await self._socket.sendto(render(ident), self._address)
            with trio.move_on_after(UPSTREAM_TIMEOUT):
                await waiting.arrived.wait()
        finally:
            del self._waiting[ident]
        return waiting.reply

    async def receive(self) -> None:
        """Hand each reply from the server's address to the query with its ID."""
        while True:
            wire, source = await self._socket.recvfrom(_RECEIVE)
            waiting = self._waiting.get(int.from_bytes(wire[:2], "big"))
            if source == self._address and waiting is not None and waiting.reply is None:
                waiting.reply = wire
                waiting.arrived.set()


class Floor(Protocol):
    async def answer(self, wire: bytes, authority: Authority) -> bytes: ...


class DnspythonFloor:
    """Every message read and written by dnspython; ``verify`` None trusts the reply.

    ``read`` reads the reply: ``dns.message.from_wire``, or Holdfast's faster
    reader of the same messages (``resolver.upstream_wire``).
    """

    def __init__(self, trust: ZoneTrust, now: Clock, verify: Verifier | None,
                 read: Callable[[bytes], dns.message.Message] = floor_steps.read_reply) -> None:
        self._trust = trust
        self._now = now
        self._verify = verify
        self._read = read

    async def answer(self, wire: bytes, authority: Authority) -> bytes:
        query = floor_steps.read_query(wire)
        reply = await authority.exchange(functools.partial(floor_steps.upstream_query, query))
        answer = None if reply is None else floor_steps.answer_of(query, self._read(reply))
        secure = False
        if answer is not None and self._verify is not None:
            secure = self._verify(answer, self._trust, self._now())
            answer = answer if secure else None
        return floor_steps.render(query, answer, secure)


class WireFloor:
    """Every message read and written by ``bench.floor_wire``, no dnspython."""

    def __init__(self, trust: ZoneTrust, now: Clock) -> None:
        self._trust = trust
        self._now = now

    async def answer(self, wire: bytes, authority: Authority) -> bytes:
        query = floor_wire.read_query(wire)
        reply = await authority.exchange(functools.partial(floor_wire.upstream_query, query))
        answer = None if reply is None else floor_wire.read_reply(reply, query)
        secure = answer is not None and floor_wire.verify(answer, query, self._trust, self._now())
        return floor_wire.render(query, answer if secure else None, secure)


#: Each variant, made from the zone's key and the wall clock that signatures are checked against.
VARIANTS: dict[str, Callable[[ZoneTrust, Clock], Floor]] = {
    "dnspython": lambda trust, now: DnspythonFloor(trust, now, floor_steps.verify_with_dnspython),
    "by-hand": lambda trust, now: DnspythonFloor(trust, now, floor_steps.verify_by_hand),
    "unvalidated": lambda trust, now: DnspythonFloor(trust, now, None),
    "holdfast-reader": lambda trust, now: DnspythonFloor(
        trust, now, floor_steps.verify_by_hand, upstream_wire.read_reply),
    "wire": WireFloor,
}


async def serve(listen: tuple[str, int], authority_address: tuple[str, int], floor: Floor,
                *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
                ) -> None:
    """Answer clients on ``listen`` until cancelled; started with the address bound."""
    client = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with client, upstream:
        await client.bind(listen)
        await upstream.bind(("0.0.0.0", 0))
        authority = Authority(upstream, authority_address)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(authority.receive)
            task_status.started(client.getsockname())
            while True:
                wire, source = await client.recvfrom(_RECEIVE)
                nursery.start_soon(_answer_one, client, wire, source, floor, authority)


async def _answer_one(client: trio.socket.SocketType, wire: bytes, source: tuple[str, int],
                      floor: Floor, authority: Authority) -> None:
    try:
        response = await floor.answer(wire, authority)
    except (dns.exception.DNSException, floor_wire.WireError):
        return  # what the floor cannot read is dropped, as a resolver drops junk
    await client.sendto(response, source)


def fetch_trust(authority: str, zone: dns.name.Name) -> ZoneTrust:
    """The zone's DNSKEY RRset, asked once of its server."""
    query = dns.message.make_query(zone, dns.rdatatype.DNSKEY, want_dnssec=True)
    reply = dns.query.udp(query, authority, port=53, timeout=5.0)
    return ZoneTrust.of(reply.find_rrset(reply.answer, zone, query.question[0].rdclass,
                                         dns.rdatatype.DNSKEY))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:5302", help="HOST:PORT for clients")
    parser.add_argument("--authority", default="127.53.3.31", help="the zone's server (port 53)")
    parser.add_argument("--zone", default="bench.com.", help="the one zone answered")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="dnspython")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    trust = fetch_trust(args.authority, dns.name.from_text(args.zone))
    floor = VARIANTS[args.variant](trust, time.time)
    trio.run(serve, (host, int(port)), (args.authority, 53), floor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
