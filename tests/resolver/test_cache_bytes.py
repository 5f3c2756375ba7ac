"""``[cache] max_bytes``: the RRset cache and the ready-made responses held under a byte cap.

Issue 16: caps counted entries, and a 63 KB TXT RRset costs about 142 KB
(the cached wire, the template and its aged copy), so the defaults allowed
about 70 GB.
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from resolver.answers import AnswerCache
from resolver.cache import Cache, Rank, entry_bytes
from resolver.clock import FakeClock
from resolver.messages import OUR_UDP_PAYLOAD, TCP_SIZE_LIMIT, parse_query, render_response
from resolver.question import Outcome

CAP = 4 << 20


_STRINGS = [f'"{serial:03d}{"x" * 247}"' for serial in range(240)]
_RDATAS = list(dns.rrset.from_text("big.example.", 300, "IN", "TXT", *_STRINGS))


def big_txt(index: int) -> dns.rrset.RRset:
    """A TXT RRset of about 60 KB: 240 strings of 250 octets (fits a TCP response)."""
    return dns.rrset.from_rdata_list(f"big{index}.example.", 300, _RDATAS)


def held(cache: Cache) -> int:
    return sum(entry_bytes(key, entry) for key, entry in cache._entries.items())


def test_64k_rrsets_keep_the_rrset_cache_under_its_byte_cap() -> None:
    cache = Cache(FakeClock(), max_bytes=CAP)
    for index in range(200):  # 13 MB of wire
        assert cache.store_rrset(big_txt(index), Rank.ANSWER)
        assert cache.accounted_bytes <= CAP
    stats = cache.statistics()
    assert 60 <= stats.entries <= 70  # 4 MiB of 60 KB entries (max_entries alone keeps all 200)
    assert stats.evictions == 200 - stats.entries
    assert cache.accounted_bytes == held(cache)
    # The least recently used went first: the newest is there, the first is not.
    assert cache.lookup_rrset(dns.name.from_text("big199.example."), dns.rdatatype.TXT)
    assert cache.lookup_rrset(dns.name.from_text("big0.example."), dns.rdatatype.TXT) is None


def test_the_account_follows_replacements_and_flushes() -> None:
    cache = Cache(FakeClock(), max_bytes=CAP)
    for index in range(10):
        cache.store_rrset(big_txt(index), Rank.ANSWER)
    cache.store_rrset(big_txt(3), Rank.ANSWER)  # the same key again
    cache.flush_name(dns.name.from_text("big4.example."))
    assert cache.accounted_bytes == held(cache)
    cache.flush_all()
    assert cache.accounted_bytes == 0


def test_64k_templates_keep_the_ready_made_responses_under_their_byte_cap() -> None:
    answers = AnswerCache(FakeClock(), udp_payload=OUR_UDP_PAYLOAD, max_bytes=CAP)
    first = dns.message.make_query("big0.example.", "TXT").to_wire()
    outcome = Outcome(rcode=dns.rcode.NOERROR, answer=(big_txt(0),))
    response = render_response(parse_query(first), outcome, max_size=TCP_SIZE_LIMIT)
    assert len(response) > 60_000
    for index in range(100):  # the same response kept for 100 questions
        wire = dns.message.make_query(f"big{index}.example.", "TXT").to_wire()
        answers.remember(wire, response)
        assert answers.accounted_bytes <= CAP
    assert answers.statistics().stored == 100
    assert 25 <= answers.statistics().entries <= 32  # two copies of each 64 KB response, and more
