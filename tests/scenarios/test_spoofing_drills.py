"""Spoofed replies against a real ``holdfast serve``: issue 16's flood, issue 17's Kaminsky.

A spoofer with raw sockets (``tests/scenarios/spoofing.py``, root inside the
test namespace) forges replies from the lab servers' own addresses to the
resolver's upstream query ports, while a client asks names the forgeries
are about:

* **the race won, signed zone** (issue 16): every UDP query to the
  ``bench.com`` servers for the names asked gets a forged, bogus-signed
  answer before the genuine one (names that exist, each asked once: a
  NXDOMAIN would let aggressive NSEC use answer the next ones from the
  cache, RFC 8198). Before the TCP confirmation, the first forgery held the
  asked server down and the second its sibling: a spoofer black-holed the
  zone for hours. Now: 0 servers held down, 0 forged answers served, every
  client gets the genuine secure address, and each forgery was re-asked
  over TCP (which is how the drill knows the forgeries were taken at all).
* **a blind flood with a known port**: the port read from ``/proc/net/udp``
  and a thousand guessed IDs per query; the same assertions.
* **Kaminsky, unsigned zone** (issue 17): the spoofer knows port and ID
  (sniffed) but not the case of the name, which 0x20 randomised; with
  0x20 off the same forgeries poison nearly every answer (the drill has
  teeth), with it on none: each forgery would have to match the case of
  all 23 letters of the name (2^-23).

Each test is bounded: a dozen client queries, a few thousand packets, a
few seconds. ``bench/kaminsky.py`` measures the rates over many more.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from dnssec.signatures import key_tag as key_tag_of
from resolver.control import request
from resolver.lab.bench import BENCH_NAMES, bench_address
from resolver.lab.control import send_lab_command
from tests.scenarios.processes import ISOLATED, LabProcess, ResolverProcess, stop
from tests.scenarios.spoofing import (
    POISON,
    RawSender,
    Sniffer,
    a_query_for,
    forged_reply,
    lowercase,
    udp_packet,
    upstream_sockets,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not ISOLATED or os.geteuid() != 0,
        reason="raw-socket spoofing needs root inside the private namespace (tests/run-isolated)",
    ),
]

SIGNED = dns.name.from_text("bench.com.")
UNSIGNED = dns.name.from_text("insecure.com.")
#: Milliseconds the genuine servers answer late: the forgery arrives first,
#: and it stays under the resolver's smallest retransmission timeout (50 ms).
GENUINE_DELAY_MS = 30
#: Client queries per drill, and guessed IDs per query in the blind flood.
QUERIES = 8
GUESSES = 1000
#: Letters of a Kaminsky probe name: kaminskyprobeN.insecure.com.
PROBE = "kaminskyprobe"


def servers_of(lab: LabProcess, zone: dns.name.Name) -> list[str]:
    return [address for address, zones in lab.zones_by_address().items()
            if zone.to_text() in zones]


@pytest.fixture
def delayed(lab: LabProcess) -> Iterator[None]:
    """The genuine servers of both drill zones answer ``GENUINE_DELAY_MS`` late."""
    addresses = servers_of(lab, SIGNED) + servers_of(lab, UNSIGNED)
    try:
        for address in addresses:
            send_lab_command(lab.directory, {"op": "fault", "address": address,
                                             "kind": f"delay:{GENUINE_DELAY_MS}"})
        yield
    finally:
        for address in addresses:
            send_lab_command(lab.directory, {"op": "clear", "address": address})


def ask(resolver: ResolverProcess, name: str) -> dns.message.Message:
    query = dns.message.make_query(name, "A", want_dnssec=True)
    return dns.query.udp(query, resolver.host, port=resolver.port, timeout=10)


def poisoned(reply: dns.message.Message) -> bool:
    return any(POISON in rrset.to_text() for rrset in reply.answer)


def holddowns(resolver: ResolverProcess) -> object:
    return request(resolver.control, {"command": ["holddown", "list"]}, timeout=5)


def key_tag(lab: LabProcess, zone: dns.name.Name) -> int:
    query = dns.message.make_query(zone, "DNSKEY")
    reply = dns.query.udp(query, servers_of(lab, zone)[0], port=lab.port, timeout=5)
    return key_tag_of(reply.answer[0][0].to_digestable())


def start(lab: LabProcess, workdir: Path, *, case_randomisation: bool = True) -> ResolverProcess:
    """A resolver that has the drill zones' keys and delegations cached already."""
    workdir.mkdir()
    config = workdir / "holdfast.toml"
    config.write_text(
        f"[upstream]\nqname_case_randomisation = {str(case_randomisation).lower()}\n"
    )
    resolver = ResolverProcess.start(lab, workdir, "--config", str(config))
    for name in ("www.bench.com.", "www.insecure.com."):
        assert ask(resolver, name).rcode() == dns.rcode.NOERROR
    return resolver


def test_forged_replies_that_win_the_race_hold_down_nothing_and_are_never_served(
    lab: LabProcess, tmp_path: Path, delayed: None
) -> None:
    resolver = start(lab, tmp_path / "resolver")
    tag = key_tag(lab, SIGNED)
    indexes = random.Random(16).sample(range(BENCH_NAMES), QUERIES)
    names = [dns.name.from_text(f"n{index}", SIGNED) for index in indexes]

    def forge(query: dns.message.Message) -> bytes | None:
        if not a_query_for(query, names):
            return None
        return forged_reply(query, signer=SIGNED, key_tag=tag)

    sniffer = Sniffer(servers_of(lab, SIGNED), forge)
    try:
        replies = [ask(resolver, name.to_text()) for name in names]
        held = holddowns(resolver)
    finally:
        sniffer.stop()
        stop(resolver.process)
    log = resolver.log.read_text()
    assert held == [], log
    assert not any(poisoned(reply) for reply in replies), log
    for index, reply in zip(indexes, replies, strict=True):  # the genuine answer, validated
        assert reply.rcode() == dns.rcode.NOERROR, reply
        assert reply.flags & dns.flags.AD, reply
        assert reply.answer[0][0].to_text() == bench_address(index), reply
    assert sniffer.forged >= QUERIES
    # Each forgery was taken over UDP, found bogus and asked again over TCP.
    assert sniffer.tcp_queries >= QUERIES, (sniffer.forged, sniffer.tcp_queries)


def test_a_blind_flood_on_a_known_port_holds_down_nothing_and_is_never_served(
    lab: LabProcess, tmp_path: Path, delayed: None
) -> None:
    resolver = start(lab, tmp_path / "resolver")
    servers = servers_of(lab, SIGNED)
    tag = key_tag(lab, SIGNED)
    sender = RawSender()
    rng = random.Random(17)
    sent = floods = 0
    replies = []
    try:
        with ThreadPoolExecutor(max_workers=1) as client:
            for index in rng.sample(range(BENCH_NAMES), QUERIES):
                name = f"n{index}.bench.com."
                pending = client.submit(ask, resolver, name)
                forged = forged_reply(
                    dns.message.make_query(name, "A", id=0), signer=SIGNED, key_tag=tag
                )
                while not pending.done() and not (targets := upstream_sockets(servers)):
                    pass  # the resolver's query socket exists for a few milliseconds
                for target in [] if pending.done() else targets:
                    packet = udp_packet(target.remote, target.local, forged)
                    sent += sender.sweep(packet, rng.sample(range(65536), GUESSES))
                    floods += 1
                replies.append(pending.result(timeout=10))
        held = holddowns(resolver)
    finally:
        sender.close()
        stop(resolver.process)
    log = resolver.log.read_text()
    assert floods >= QUERIES - 2, "the flood seldom found a query port: it tested little"
    assert held == [], log
    assert not any(poisoned(reply) for reply in replies), log
    assert all(reply.rcode() == dns.rcode.NOERROR for reply in replies), log


def kaminsky(lab: LabProcess, resolver: ResolverProcess) -> int:
    """Poisoned answers out of ``QUERIES``, the spoofer knowing port and ID, not the case."""

    names = [dns.name.from_text(f"{PROBE}{n}", UNSIGNED) for n in range(QUERIES)]

    def forge(query: dns.message.Message) -> bytes | None:
        if not a_query_for(query, names):
            return None
        return forged_reply(lowercase(query))

    sniffer = Sniffer(servers_of(lab, UNSIGNED), forge)
    try:
        replies = [ask(resolver, name.to_text()) for name in names]
    finally:
        sniffer.stop()
    assert sniffer.forged >= QUERIES
    return sum(poisoned(reply) for reply in replies)


def test_case_randomisation_stops_a_spoofer_who_knows_port_and_id(
    lab: LabProcess, tmp_path: Path, delayed: None
) -> None:
    without = start(lab, tmp_path / "without-0x20", case_randomisation=False)
    try:
        poisoned_without = kaminsky(lab, without)
    finally:
        stop(without.process)
    with_0x20 = start(lab, tmp_path / "with-0x20")
    try:
        poisoned_with = kaminsky(lab, with_0x20)
        held = holddowns(with_0x20)
    finally:
        stop(with_0x20.process)
    assert poisoned_without >= QUERIES - 2, "the forgeries never won: the drill has no teeth"
    assert poisoned_with == 0, with_0x20.log.read_text()
    assert held == []
