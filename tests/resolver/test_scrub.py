"""Issue 17: the scrubbing stage, the signer rule, trust ranking with security, ghost domains.

Hostile authorities are scripted (``ScriptedTransport``); the signed cases
tamper with the lab's replies on their way to the iterator.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

from dnssec.status import Security
from dnssec.work import ValidationWork, WorkLimits
from resolver.cache import Cache, Rank
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.exchange import Exchange, UpstreamQuery, UpstreamReply
from resolver.iterator import Iterator
from resolver.lab import Lab
from resolver.limits import Limits
from resolver.question import Outcome, Question
from resolver.scrub import scrub
from resolver.selection import ServerSelection
from resolver.validation import Evidence, Reply
from tests.resolver.test_iterator import Harness
from tests.resolver.test_iterator_limits import HINTS, ScriptedTransport, unanchored
from tests.strategies import FUZZ

A = dns.rdatatype.A
NS = dns.rdatatype.NS
ROOT_SERVERS = ("127.53.0.1", "127.53.0.2")


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def rrset(owner: str, rdtype: str, *rdatas: str, ttl: int = 300) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(owner, ttl, "IN", rdtype, list(rdatas))


def reply(query: UpstreamQuery, *, aa: bool, rcode: int = dns.rcode.NOERROR) -> dns.message.Message:
    message = dns.message.make_response(dns.message.make_query(query.qname, query.rdtype))
    if aa:
        message.flags |= dns.flags.AA
    message.set_rcode(dns.rcode.Rcode(rcode))
    return message


def refer(query: UpstreamQuery, child: str, address: str, ttl: int = 300) -> dns.message.Message:
    message = reply(query, aa=False)
    message.authority.append(rrset(child, "NS", f"ns.{child}", ttl=ttl))
    message.additional.append(rrset(f"ns.{child}", "A", address, ttl=ttl))
    return message


def make_iterator(cache: Cache, clock: FakeClock) -> Iterator:
    return Iterator(cache=cache, selection=ServerSelection(clock), hints=HINTS,
                    limits=Limits(), validator=unanchored(cache, clock),
                    qname_minimisation=False)


async def ask(iterator: Iterator, transport: ScriptedTransport, text: str,
              *, refresh: bool = False) -> Outcome:
    question = Question(name(text), A)
    return await run_exchange(iterator.resolve(question, refresh=refresh), transport)


# -- the stage itself ----------------------------------------------------------


def test_scrub_keeps_only_the_chain_and_counts_the_rest() -> None:
    message = dns.message.make_response(dns.message.make_query("www.example.", A))
    message.flags |= dns.flags.AA
    message.answer += [
        rrset("www.example.", "CNAME", "web.example."),
        rrset("web.example.", "A", "192.0.2.1"),
        rrset("www.bank.example.", "A", "203.0.113.66"),
        rrset("web.example.", "AAAA", "2001:db8::1"),
        rrset("victim.other.", "A", "203.0.113.66"),
    ]
    message.authority += [rrset("example.", "NS", "ns.example."),
                          rrset("example.", "SOA", "ns.example. h. 1 2 3 4 5"),
                          rrset("bank.example.", "NS", "ns.evil.")]
    message.additional += [rrset("ns.example.", "A", "192.0.2.53"),
                           rrset("mail.example.", "A", "203.0.113.66")]
    kept = scrub(message, zone=name("example."), qname=name("www.example."), rdtype=A)
    assert [(str(r.name), dns.rdatatype.to_text(r.rdtype)) for r in kept.answer] == [
        ("www.example.", "CNAME"), ("web.example.", "A")]
    assert [(str(r.name), r.rdtype) for r in kept.authority] == [
        ("example.", NS), ("example.", dns.rdatatype.SOA)]
    assert [str(r.name) for r in kept.additional] == ["ns.example."]
    assert kept.dropped == {"out-of-zone": 1, "answer": 2, "authority": 1, "additional": 1}


def test_a_referral_keeps_one_child_enclosing_the_name_and_its_glue() -> None:
    message = dns.message.make_response(dns.message.make_query("www.a.example.", A))
    message.authority += [rrset("b.example.", "NS", "ns.b.example."),
                          rrset("a.example.", "NS", "ns.a.example."),
                          rrset("a.example.", "DS", "1 13 2 " + "00" * 32),
                          rrset("example.", "SOA", "ns.example. h. 1 2 3 4 5")]
    message.additional += [rrset("ns.a.example.", "A", "192.0.2.53"),
                           rrset("ns.b.example.", "A", "203.0.113.66")]
    kept = scrub(message, zone=name("example."), qname=name("www.a.example."), rdtype=A)
    assert [(str(r.name), r.rdtype) for r in kept.authority] == [
        ("a.example.", NS), ("a.example.", dns.rdatatype.DS)]
    assert [str(r.name) for r in kept.additional] == ["ns.a.example."]


def test_a_chain_into_a_zone_delegated_away_stops_there() -> None:
    message = dns.message.make_response(dns.message.make_query("www.example.", A))
    message.flags |= dns.flags.AA
    message.answer += [rrset("www.example.", "CNAME", "www.bank.example."),
                       rrset("www.bank.example.", "A", "203.0.113.66")]
    kept = scrub(message, zone=name("example."), qname=name("www.example."), rdtype=A,
                 delegated=lambda owner: owner.is_subdomain(name("bank.example.")))
    assert [str(r.name) for r in kept.answer] == ["www.example."]
    assert kept.dropped == {"delegated": 1}


# -- one reply poisoning other names of the same zone -----------------------------


def bank_script(query: UpstreamQuery) -> dns.message.Message:
    """The root refers example.; example.'s server slips in www.bank.example.,
    which it delegated to another server (127.53.9.2)."""
    if query.address in ROOT_SERVERS:
        return refer(query, "example.", "127.53.9.1")
    if query.address == "127.53.9.2":
        message = reply(query, aa=True)
        message.answer.append(rrset(str(query.qname), "A", "192.0.2.80"))
        return message
    if query.qname.is_subdomain(name("bank.example.")):
        return refer(query, "bank.example.", "127.53.9.2")
    message = reply(query, aa=True)
    message.answer.append(rrset(str(query.qname), "A", "192.0.2.1"))
    message.answer.append(rrset("www.bank.example.", "A", "203.0.113.66", ttl=86400))
    return message


async def test_an_extra_answer_for_another_name_in_bailiwick_is_not_cached() -> None:
    clock = FakeClock()
    cache = Cache(clock)
    iterator = make_iterator(cache, clock)
    transport = ScriptedTransport(bank_script)
    outcome = await ask(iterator, transport, "www.example.")
    assert [str(r.name) for r in outcome.answer] == ["www.example."]
    assert cache.lookup_rrset(name("www.bank.example."), A) is None
    assert iterator.scrubbed["answer"] == 1
    before = len(transport.sent)
    bank = await ask(iterator, transport, "www.bank.example.")
    assert {rdata.address for rdata in bank.answer[0]} == {"192.0.2.80"}
    assert len(transport.sent) > before


# -- a forged signer under the signed lab com. ------------------------------------

COM_SERVERS = {f"127.53.1.{i}" for i in range(1, 5)}


class Tampering:
    """The lab, with ``extra`` added to com servers' replies to ``example.com. DS``."""

    def __init__(self, harness: Harness, extra: Callable[[], list[dns.rrset.RRset]]) -> None:
        self.inner = harness.transport
        self.extra = extra
        self.sent = self.inner.sent

    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        result = await self.inner.exchange(query)
        if query.address in COM_SERVERS and (query.qname, query.rdtype) == (
            name("example.com."), dns.rdatatype.DS
        ):
            result.message.answer.extend(self.extra())
        return result


def forged(owner: str, signer: str) -> list[dns.rrset.RRset]:
    """``owner A 203.0.113.66`` with an RRSIG that claims ``signer``."""
    sig = (f"A 13 3 86400 20300101000000 20200101000000 12345 {signer} "
           + "AAAA" * 16)
    return [rrset(owner, "A", "203.0.113.66", ttl=86400),
            rrset(owner, "RRSIG", sig, ttl=86400)]


async def test_a_forged_signer_for_an_insecure_child_is_neither_cached_nor_served(
    lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(lab, clock)
    tampering = Tampering(harness, lambda: forged("www.insecure.com.", "insecure.com."))
    question = Question(name("example.com."), dns.rdatatype.DS)
    outcome = await run_exchange(harness.iterator.resolve(question), tampering)
    assert outcome.security is Security.SECURE
    assert [r.rdtype for r in outcome.answer] == [dns.rdatatype.DS]
    assert harness.cache.lookup_rrset(name("www.insecure.com."), A) is None
    www = await harness.ask("www.insecure.com.")
    assert all(rdata.address != "203.0.113.66" for r in www.answer for rdata in r)


async def test_a_forged_signer_for_a_signed_child_does_not_make_the_answer_bogus(
    lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(lab, clock)
    tampering = Tampering(harness, lambda: forged("www.example.com.", "example.com."))
    question = Question(name("example.com."), dns.rdatatype.DS)
    outcome = await run_exchange(harness.iterator.resolve(question), tampering)
    assert outcome.rcode == dns.rcode.NOERROR
    assert outcome.security is Security.SECURE
    assert harness.selection.holddowns() == []
    www = await harness.ask("www.example.com.")
    assert {rdata.address for r in www.answer for rdata in r} == {"192.0.2.1"}


async def test_a_signer_below_the_zone_asked_does_not_choose_the_chain_of_trust(
    lab: Lab, clock: FakeClock
) -> None:
    """Even past the scrubbing stage, a com server cannot have a record judged
    with insecure.com.'s (absent) keys by naming that zone as its signer."""
    harness = Harness(lab, clock)
    await harness.ask("www.insecure.com.")  # com.'s keys and insecure.com.'s verdict cached
    data, sig = forged("www.insecure.com.", "insecure.com.")

    def no_fetch(*_: object) -> Exchange[Evidence]:
        raise AssertionError("every key needed is cached")
        yield  # pragma: no cover

    check = harness.iterator.validator.check(
        Reply(name("com."), "127.53.1.1", answer=(data,), signatures=(sig,)),
        ValidationWork(WorkLimits()), no_fetch,
    )
    verdict = await run_exchange(check, harness.transport)
    assert verdict.security is Security.BOGUS


# -- trust ranking with security -------------------------------------------------


def dnskey(flags: int) -> dns.rrset.RRset:
    return rrset("example.", "DNSKEY", f"{flags} 3 13 " + "AAAA" * 16, ttl=3600)


def test_secure_data_is_not_replaced_by_unjudged_data_while_fresh() -> None:
    clock = FakeClock()
    cache = Cache(clock)
    assert cache.store_rrset(dnskey(257), Rank.ANSWER, security=Security.SECURE)
    assert not cache.store_rrset(dnskey(256), Rank.ANSWER)  # another server's, unjudged
    assert not cache.store_rrset(dnskey(256), Rank.ANSWER, security=Security.INSECURE)
    hit = cache.lookup_rrset(name("example."), dns.rdatatype.DNSKEY)
    assert hit is not None
    assert hit.security is Security.SECURE
    assert hit.rrset[0].flags == 257
    clock.advance(3600)
    assert cache.store_rrset(dnskey(256), Rank.ANSWER)  # expired: replaceable


def test_validated_data_replaces_unjudged_data_and_a_bogus_verdict() -> None:
    cache = Cache(FakeClock())
    assert cache.store_rrset(dnskey(256), Rank.ANSWER)
    assert cache.store_rrset(dnskey(257), Rank.AUTHORITY, security=Security.SECURE)
    bogus = rrset("www.example.", "A", "192.0.2.66")
    assert cache.store_rrset(bogus, Rank.ANSWER, security=Security.BOGUS)
    assert cache.store_rrset(rrset("www.example.", "A", "192.0.2.1"), Rank.AUTHORITY,
                             security=Security.SECURE)


def test_negative_entries_follow_the_same_rules() -> None:
    cache = Cache(FakeClock())
    soa = rrset("example.", "SOA", "ns.example. h. 1 2 3 4 300")
    www, nx = name("www.example."), name("nx.example.")
    cache.store_negative(www, A, nxdomain=False, soa=soa, security=Security.SECURE)
    cache.store_negative(www, A, nxdomain=False, soa=soa)  # unjudged: refused
    assert not cache.store_rrset(rrset("www.example.", "A", "203.0.113.66"), Rank.ADDITIONAL)
    negative = cache.lookup_negative(www, A)
    assert negative is not None
    assert negative.security is Security.SECURE
    # A secure answer is not turned into an unjudged NODATA either ...
    assert cache.store_rrset(rrset("mail.example.", "A", "192.0.2.2"), Rank.ANSWER,
                             security=Security.SECURE)
    cache.store_negative(name("mail.example."), A, nxdomain=False, soa=soa)
    assert cache.lookup_rrset(name("mail.example."), A) is not None
    # ... and an unjudged glue record does not erase a secure NXDOMAIN.
    cache.store_negative(nx, A, nxdomain=True, soa=soa, security=Security.SECURE)
    cache.store_rrset(rrset("nx.example.", "A", "203.0.113.66"), Rank.ADDITIONAL)
    assert cache.lookup_negative(nx, dns.rdatatype.TXT) is not None


def test_an_ns_store_never_extends_a_fresh_delegation() -> None:
    clock = FakeClock()
    cache = Cache(clock)
    parent = rrset("ghost.", "NS", "ns.ghost.", ttl=100)
    assert cache.store_rrset(parent, Rank.REFERRAL)
    clock.advance(50)
    child = rrset("ghost.", "NS", "ns.ghost.", ttl=86400)
    assert cache.store_rrset(child, Rank.ANSWER)
    hit = cache.lookup_rrset(name("ghost."), NS)
    assert hit is not None
    assert hit.rank == Rank.ANSWER
    assert hit.rrset.ttl <= 50
    clock.advance(40)
    assert cache.store_rrset(child, Rank.ANSWER)  # a refresh of equal rank
    hit = cache.lookup_rrset(name("ghost."), NS)
    assert hit is not None
    assert hit.rrset.ttl <= 10
    clock.advance(10)
    assert cache.lookup_rrset(name("ghost."), NS) is None


# -- ghost domains ---------------------------------------------------------------

PARENT_TTL = 3600
REMOVED_AT = 1800


def ghost_script(clock: FakeClock) -> Callable[[UpstreamQuery], dns.message.Message]:
    """The root delegates ghost. for an hour, and removes it at ``REMOVED_AT``;
    ghost.'s own server goes on answering, with day-long TTLs."""
    start = clock.wall()

    def script(query: UpstreamQuery) -> dns.message.Message:
        if query.address in ROOT_SERVERS:
            if clock.wall() - start >= REMOVED_AT:
                message = reply(query, aa=True, rcode=dns.rcode.NXDOMAIN)
                message.authority.append(rrset(".", "SOA", "a.root. h. 2 2 3 4 60"))
                return message
            return refer(query, "ghost.", "127.53.9.5", ttl=PARENT_TTL)
        message = reply(query, aa=True)
        if query.rdtype == NS and query.qname == name("ghost."):
            message.answer.append(rrset("ghost.", "NS", "ns.ghost.", ttl=86400))
        else:
            message.answer.append(rrset(str(query.qname), "A", "127.53.9.5", ttl=86400))
        return message

    return script


async def test_a_ghost_domain_stops_resolving_when_the_parents_ttl_is_up() -> None:
    clock = FakeClock()
    cache = Cache(clock)
    iterator = make_iterator(cache, clock)
    transport = ScriptedTransport(ghost_script(clock))
    assert (await ask(iterator, transport, "www.ghost.")).rcode == dns.rcode.NOERROR
    refreshes = [Question(name("ghost."), NS), Question(name("ns.ghost."), A)]
    start = clock.wall()
    while clock.wall() - start < 2 * PARENT_TTL:
        for question in refreshes:  # prefetch: asked upstream although cached
            await run_exchange(iterator.resolve(question, refresh=True), transport)
        clock.advance(300)
    outcome = await ask(iterator, transport, "www.ghost.", refresh=True)
    assert outcome.rcode == dns.rcode.NXDOMAIN


# -- property: a hostile authority of Z changes nothing beyond the question's chain --

OWNERS = ("www.z.", "other.z.", "away.z.", "x.away.z.", "ns.away.z.", "z.", "victim.",
          "ns.z.", "mail.www.z.")
KINDS = {
    "A": "203.0.113.66",
    "NS": "ns.away.z.",
    "CNAME": "x.away.z.",
    "DNAME": "away.z.",
    "SOA": "ns.z. h. 9 2 3 4 86400",
    "TXT": '"poison"',
}
records = st.tuples(st.sampled_from(OWNERS), st.sampled_from(sorted(KINDS)),
                    st.sampled_from(("answer", "authority", "additional")))


def seeded_cache(clock: FakeClock) -> Cache:
    """Z's delegation from the root, a zone Z delegated away, and victims."""
    cache = Cache(clock)
    for owner, kind, rdata, rank in (
        ("z.", "NS", "ns.z.", Rank.REFERRAL),
        ("ns.z.", "A", "127.53.9.1", Rank.ADDITIONAL),
        ("away.z.", "NS", "ns.away.z.", Rank.REFERRAL),
        ("ns.away.z.", "A", "127.53.9.2", Rank.ADDITIONAL),
        ("x.away.z.", "A", "192.0.2.2", Rank.ANSWER),
        ("other.z.", "A", "192.0.2.3", Rank.ANSWER),
        ("victim.", "A", "192.0.2.4", Rank.ANSWER),
    ):
        cache.store_rrset(rrset(owner, kind, rdata, ttl=3600), rank,
                          security=Security.INSECURE if rank == Rank.ANSWER else
                          Security.INDETERMINATE)
    return cache


def snapshot(cache: Cache) -> dict[str, set[str]]:
    lines, _ = cache.prepare_dump(limit=10_000)()
    by_owner: dict[str, set[str]] = {}
    for line in lines:
        by_owner.setdefault(line.split()[0], set()).add(line)
    return by_owner


@settings(FUZZ)
@given(st.lists(records, max_size=8), st.booleans(),
       st.sampled_from((dns.rcode.NOERROR, dns.rcode.NXDOMAIN)))
async def test_a_hostile_authority_changes_nothing_beyond_the_questions_chain(
    planted: list[tuple[str, str, str]], aa: bool, rcode: dns.rcode.Rcode
) -> None:
    clock = FakeClock()
    cache = seeded_cache(clock)
    iterator = make_iterator(cache, clock)

    def script(query: UpstreamQuery) -> dns.message.Message:
        if query.address == "127.53.9.1":  # the hostile server of z.
            message = reply(query, aa=aa, rcode=rcode)
            for owner, kind, section in planted:
                getattr(message, section).append(rrset(owner, kind, KINDS[kind], ttl=86400))
            return message
        message = reply(query, aa=True)  # honest: away.z.'s server, the root
        message.answer.append(rrset(str(query.qname), "A", "192.0.2.9"))
        return message

    before = snapshot(cache)
    outcome = await ask(iterator, ScriptedTransport(script), "www.z.")
    after = snapshot(cache)
    chain = {name("www.z."), *(r.name for r in outcome.answer)}
    chain |= {rdata.target for r in outcome.answer if r.rdtype == dns.rdatatype.CNAME
              for rdata in r}
    changed = {owner for owner in before.keys() | after.keys()
               if before.get(owner) != after.get(owner)}
    for owner in changed:
        reached = any(name(owner).is_subdomain(link) for link in chain)
        assert reached, f"{owner} changed: {after.get(owner)}"
        if name(owner).is_subdomain(name("away.z.")):
            assert all("from 127.53.9.1" not in line for line in after.get(owner, ()))
        assert name(owner).is_subdomain(name("z.")) or "from 127.53.9.1" not in str(after)


def test_names_are_compared_without_regard_to_case() -> None:
    """Owners in any case (0x20) are the zone's, the question's and the NS targets'."""
    message = dns.message.make_response(dns.message.make_query("wWw.ExAmple.", A))
    message.flags |= dns.flags.AA
    message.answer += [rrset("WWW.example.", "A", "192.0.2.1"),
                       rrset("www.EXAMPLE.", "RRSIG", "A 13 2 300 20300101000000 "
                             "20200101000000 1 example. AAAA")]
    message.authority += [rrset("Example.", "NS", "NS.example.")]
    message.additional += [rrset("ns.EXAMPLE.", "A", "192.0.2.53")]
    kept = scrub(message, zone=name("EXAMPLE."), qname=name("www.example."), rdtype=A)
    assert [str(r.name) for r in kept.answer] == ["WWW.example."]
    assert [str(r.name) for r in kept.authority] == ["Example."]
    assert [str(r.name) for r in kept.additional] == ["ns.EXAMPLE."]
    assert [str(r.name) for r in kept.signatures] == ["www.EXAMPLE."]
    assert kept.dropped == {}


def test_signatures_covering_nothing_kept_are_dropped() -> None:
    """An RRSIG speaks only for kept data: one over an off-chain RRset goes with it."""
    signature = "13 2 300 20300101000000 20200101000000 1 example. AAAA"
    message = dns.message.make_response(dns.message.make_query("www.example.", A))
    message.flags |= dns.flags.AA
    message.answer += [rrset("www.example.", "A", "192.0.2.1"),
                       rrset("www.example.", "RRSIG", "A " + signature),
                       rrset("mail.example.", "A", "203.0.113.66"),
                       rrset("mail.example.", "RRSIG", "A " + signature),
                       rrset("www.example.", "RRSIG", "AAAA " + signature)]
    kept = scrub(message, zone=name("example."), qname=name("www.example."), rdtype=A)
    assert [(str(r.name), r.covers) for r in kept.signatures] == [("www.example.", A)]
    assert kept.dropped == {"answer": 1, "signature": 2}
