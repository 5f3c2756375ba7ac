"""Process time of the reply side's steps for one cold answer, each on its own.

The cold benchmark (``bench.cold_nsd``) gives the resolver's CPU per answer
as a whole, and moves by 10% or more from run to run on a shared machine.
These loops time one step each, in process time, so that a change to one
step can be judged alone (issue 19, "Reply side, evening of 6 December" in
``bench/results/cold-nsd-2026-12.md``):

* ``read_reply``: 2,000 distinct answers ``n<i>.bench.com A`` laid out as
  NSD sends them (the answer and its RRSIG; the zone's NS set and its RRSIG
  in authority; both glue addresses and their RRSIGs in additional), from
  the lab's signed zone;
* ``cache lookups``: what finding a cut costs, an NS hit (with RRSIGs), an A
  hit and an AAAA miss;
* ``secure_nsec_zone``: the aggressive-NSEC zone search for a new name,
  with another zone's NSEC held;
* ``RRSIG pack``: one answer's RRSIG packed for the cache;
* ``classify``: scrubbing and classifying one of the NSD-like replies as
  from a server of bench.com;
* ``localzones.answer``: the local zones (the defaults) passing a new name on.

    python -m bench.reply_cost [--rounds 3] [--replies 2000] [--count 20000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

from dnssec.status import Security
from resolver import cache as cache_module
from resolver.cache import Cache, Rank
from resolver.classify import classify
from resolver.clock import FakeClock
from resolver.lab import Lab
from resolver.localzones import LocalZones
from resolver.question import Question
from resolver.upstream_wire import read_reply

#: The lab's bench.com server, as in ``bench.cold_nsd``.
_BENCH_SERVER = "127.53.3.31"


def _nsd_like_replies(count: int) -> list[bytes]:
    lab = Lab.build(FakeClock())

    def ask(name: str, rdtype: str) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
        query.flags = 0
        wire = lab.handle(_BENCH_SERVER, query.to_wire(), tcp=True).wire
        assert wire is not None
        return dns.message.from_wire(wire)

    ns = ask("bench.com.", "NS")
    glue = [
        rrset
        for records in ns.answer if records.rdtype == dns.rdatatype.NS
        for rdata in records
        for rrset in ask(rdata.target.to_text(), "A").answer
    ]
    replies = []
    for index in range(count):
        reply = ask(f"n{index}.bench.com.", "A")
        reply.authority = list(ns.answer)
        reply.additional = list(glue)
        replies.append(reply.to_wire())
    return replies


def _timed(what: str, rounds: int, count: int, step: Callable[[], object]) -> None:
    for _ in range(rounds):
        start = time.process_time()
        step()
        print(f"{what}: {(time.process_time() - start) / count * 1e6:.1f} us")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replies", type=int, default=2000, help="replies read per round")
    parser.add_argument("--count", type=int, default=20000, help="steps of the other loops")
    args = parser.parse_args(argv)
    rounds, count = args.rounds, args.count

    replies = _nsd_like_replies(args.replies)
    _timed("read_reply, per NSD-like reply", rounds, len(replies),
           lambda: [read_reply(wire) for wire in replies])

    cache = Cache(FakeClock())
    ns = dns.rrset.from_text("bench.com.", 3600, "IN", "NS", "ns1.bench.com.", "ns2.bench.com.")
    signature = (
        "13 2 3600 20300101000000 20200101000000 4711 bench.com. "
        "ZmFrZSBzaWduYXR1cmUgZmFrZSBzaWduYXR1cmUgZmFrZSBzaWduYXR1cmUgZmFrZSBzaWduYXR1"
    )
    ns_rrsig = dns.rrset.from_text("bench.com.", 3600, "IN", "RRSIG", "NS " + signature)
    glue = dns.rrset.from_text("ns1.bench.com.", 3600, "IN", "A", "192.0.2.1")
    cache.store_rrset(ns, Rank.AUTHORITY, security=Security.SECURE, rrsigs=ns_rrsig)
    cache.store_rrset(glue, Rank.AUTHORITY, security=Security.SECURE)
    zone, host = dns.name.from_text("bench.com."), dns.name.from_text("ns1.bench.com.")

    def lookups() -> None:
        for _ in range(count):
            cache.lookup_rrset(zone, dns.rdatatype.NS)
            cache.lookup_rrset(host, dns.rdatatype.A)
            cache.lookup_rrset(host, dns.rdatatype.AAAA)

    _timed("cache lookups, per NS hit + A hit + AAAA miss", rounds, count, lookups)

    nsec = dns.rrset.from_text("x.other.", 3600, "IN", "NSEC", "z.other. A RRSIG NSEC")
    nsec_rrsig = dns.rrset.from_text(
        "x.other.", 3600, "IN", "RRSIG", "NSEC " + signature.replace("bench.com.", "other."))
    cache.store_rrset(nsec, Rank.AUTHORITY, security=Security.SECURE, rrsigs=nsec_rrsig)
    names = [dns.name.from_text(f"n{index}.bench.com.") for index in range(count)]
    _timed("secure_nsec_zone, per new name", rounds, len(names),
           lambda: [cache.secure_nsec_zone(name) for name in names])

    answer_rrsig = dns.rrset.from_text("n1.bench.com.", 300, "IN", "RRSIG", "A " + signature)
    _timed("RRSIG pack, per answer", rounds, count,
           lambda: [cache_module._pack(answer_rrsig) for _ in range(count)])

    messages = [read_reply(wire) for wire in replies]
    questions = [message.question[0].name for message in messages]
    _timed("classify, per NSD-like reply", rounds, len(messages),
           lambda: [classify(message, zone=zone, qname=question, rdtype=dns.rdatatype.A)
                    for message, question in zip(messages, questions, strict=True)])

    local = LocalZones.from_settings()
    asked = [Question(question, dns.rdatatype.A) for question in questions]
    _timed("localzones.answer, per new name", rounds, len(asked),
           lambda: [local.answer(question) for question in asked])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
