"""Helpers for asking the lab questions in tests."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

from resolver.lab import Lab

#: The fake wall-clock time the shared labs are signed at (FakeClock's default).
NOW = 1_700_000_000.0


def make_query(
    name: str, rdtype: str = "A", *, dnssec_ok: bool = True, edns: bool = True
) -> dns.message.Message:
    return dns.message.make_query(
        name,
        rdtype,
        use_edns=0 if edns else False,
        payload=1232,
        want_dnssec=dnssec_ok and edns,
        flags=0,
    )


def ask(
    lab: Lab,
    address: str,
    name: str,
    rdtype: str = "A",
    *,
    dnssec_ok: bool = True,
    edns: bool = True,
    tcp: bool = False,
) -> dns.message.Message:
    """Ask the lab server at ``address``; fail the test if it stays silent."""
    reply = lab.handle(
        address, make_query(name, rdtype, dnssec_ok=dnssec_ok, edns=edns).to_wire(), tcp=tcp
    )
    assert reply.wire is not None, f"{address} dropped {name} {rdtype}"
    return dns.message.from_wire(reply.wire)


def find(
    section: list[dns.rrset.RRset], name: str, rdtype: str, covers: str | None = None
) -> dns.rrset.RRset:
    """The RRset in ``section`` with that owner and type (RRSIG: covering ``covers``)."""
    owner = dns.name.from_text(name)
    for rrset in section:
        same = rrset.name == owner and rrset.rdtype == dns.rdatatype.from_text(rdtype)
        if same and (covers is None or rrset.covers == dns.rdatatype.from_text(covers)):
            return rrset
    raise AssertionError(f"no {name} {rdtype} {covers or ''} in {section}")
