"""The random-subdomain benchmark: aggressive NSEC stops a small flood at the resolver."""

from __future__ import annotations

from bench.random_subdomain import flood, random_names
from resolver.lab import Lab


async def test_a_flood_on_a_small_signed_zone(session_lab: Lab) -> None:
    names = random_names("example.com.", 40, seed=1)
    on = await flood(session_lab, "example.com.", names, aggressive=True)
    off = await flood(session_lab, "example.com.", names, aggressive=False)
    assert on["nxdomain"] == off["nxdomain"] == 40
    assert off["upstream_queries"] == 40
    assert on["upstream_queries"] < 10
    assert on["upstream_queries"] + on["synthesised"] == 40


async def test_a_flood_on_an_nsec3_zone(session_lab: Lab) -> None:
    """RFC 8198 with NSEC3: fewer queries, though names in an opt-out span still go up."""
    names = random_names("nsec3.org.", 40, seed=1)
    on = await flood(session_lab, "nsec3.org.", names, aggressive=True)
    off = await flood(session_lab, "nsec3.org.", names, aggressive=False)
    assert on["nxdomain"] == off["nxdomain"] == 40
    assert off["upstream_queries"] == 40
    assert on["synthesised"] > 0
    assert on["upstream_queries"] + on["synthesised"] == 40
