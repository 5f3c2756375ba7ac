"""Issue 19: names compared by their lowercase labels answer as dnspython's ``Name`` does."""

from __future__ import annotations

import contextlib

import dns.name
from hypothesis import given
from hypothesis import strategies as st

from resolver.canonical_names import lowered, within
from tests.strategies import dns_names


def _case_variant(name: dns.name.Name, flips: int) -> dns.name.Name:
    """``name`` with the case of some ASCII letters flipped (as 0x20 does)."""
    labels = []
    for index, label in enumerate(name.labels):
        labels.append(label.swapcase() if (flips >> index) & 1 else label)
    return dns.name.Name(labels)


@given(a=dns_names(binary=True), b=dns_names(binary=True), flips=st.integers(0, 255))
def test_equality_and_enclosure_are_dnspythons(
    a: dns.name.Name, b: dns.name.Name, flips: int
) -> None:
    pairs = [(a, b), (a, _case_variant(a, flips))]
    with contextlib.suppress(dns.name.NameTooLong):  # a child of a name of 255 octets
        pairs.append((dns.name.Name([b"x", *_case_variant(a, flips).labels]), a))
    for first, second in pairs:
        assert (lowered(first) == lowered(second)) == (first == second)
        assert within(lowered(first), lowered(second)) == first.is_subdomain(second)
        assert within(lowered(second), lowered(first)) == second.is_subdomain(first)


def test_a_label_holding_the_zones_wire_form_is_not_inside_it() -> None:
    """The test is on labels, not on the wire's bytes: ``x\\007example.`` ends with
    ``example.``'s wire form but is a name of the root zone, not of ``example.``."""
    zone = dns.name.from_text("example.")
    trick = dns.name.Name([b"x\x07example", b""])
    assert trick.to_wire().endswith(zone.to_wire())
    assert not within(lowered(trick), lowered(zone))
    assert within(lowered(dns.name.from_text("WwW.ExAmPlE.")), lowered(zone))
