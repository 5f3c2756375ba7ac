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
