"""Cache hits copy a remembered unpacked RRset (``cache._unpack``), never share one."""

from __future__ import annotations

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

from dnssec.status import Security
from resolver import cache as cache_module
from resolver.cache import Cache, Rank
from resolver.clock import FakeClock
from tests.strategies import dns_names


def _stored(cache: Cache, name: str, rdtype: str, *texts: str) -> None:
    rrset = dns.rrset.from_text(name, 300, "IN", rdtype, *texts)
    assert cache.store_rrset(rrset, Rank.ANSWER, security=Security.SECURE)


def test_each_hit_is_a_copy_with_its_own_owner_and_ttl(clock: FakeClock) -> None:
    cache = Cache(clock)
    _stored(cache, "a.example.", "NS", "ns1.example.", "ns2.example.")
    _stored(cache, "b.example.", "NS", "ns1.example.", "ns2.example.")
    first = cache.lookup_rrset(dns.name.from_text("a.example."), dns.rdatatype.NS)
    assert first is not None
    first.rrset.clear()
    clock.advance(100)
    second = cache.lookup_rrset(dns.name.from_text("A.Example."), dns.rdatatype.NS)
    other = cache.lookup_rrset(dns.name.from_text("b.example."), dns.rdatatype.NS)
    assert second is not None
    assert other is not None
    assert sorted(rdata.to_text() for rdata in second.rrset) == ["ns1.example.", "ns2.example."]
    assert (second.rrset.name.to_text(), second.rrset.ttl) == ("a.example.", 200)
    assert other.rrset.name.to_text() == "b.example."


def test_large_rrsets_are_not_remembered(clock: FakeClock) -> None:
    """The memo lives outside the cache's byte budget: only small RRsets go in it."""
    cache = Cache(clock)
    big = [f'"{index:04} {"x" * 250}"' for index in range(10)]
    _stored(cache, "big.example.", "TXT", *big)
    _stored(cache, "small.example.", "TXT", '"small"')
    cache_module._unpacked.cache_clear()
    for name in ("big.example.", "small.example."):
        hit = cache.lookup_rrset(dns.name.from_text(name), dns.rdatatype.TXT)
        assert hit is not None
    assert len(hit.rrset) == 1
    assert cache_module._unpacked.cache_info().currsize == 1


@settings(max_examples=200, deadline=None)
@given(name=dns_names(binary=True))
def test_keys_and_owners_are_the_names_canonical_forms(name: dns.name.Name) -> None:
    """``_canonical`` (a table of recent names) answers as dnspython, for every case variant."""
    for variant in (name, name.canonicalize(), name, dns.name.Name(
            label.upper() for label in name.labels)):
        digest, owner = cache_module._canonical(variant)
        assert digest == variant.to_digestable()
        assert owner.labels == variant.canonicalize().labels
        assert cache_module._key(variant, 2) == variant.to_digestable() + b"\x00\x02"


@settings(max_examples=200, deadline=None)
@given(signer=dns_names(binary=True), signature=st.binary(max_size=80),
       fields=st.tuples(st.integers(0, 65535), st.integers(0, 255), st.integers(0, 255),
                        st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                        st.integers(0, 2**32 - 1), st.integers(0, 65535)))
def test_an_rrsig_is_packed_as_dnspython_writes_it(
    signer: dns.name.Name, signature: bytes, fields: tuple[int, ...]
) -> None:
    rdata = dns.rdtypes.ANY.RRSIG.RRSIG(
        dns.rdataclass.IN, dns.rdatatype.RRSIG, *fields, signer, signature)
    assert cache_module._rdata_wire(rdata) == rdata.to_wire()
