"""A lab zone that rolls its key-signing key as RFC 5011 expects (test and drill fixture).

The lab's zones sign with one fixed key. For a rollover the zone must
publish a second key, sign with it, revoke the first and drop it, each
phase re-signed for a fresh window as weeks of simulated time pass.
``rolled_zone`` builds one phase of a lab zone: ``StaticZone.build`` signs
the data with ``data_key``; the apex DNSKEY RRset is then the ``published``
keys, signed by each of ``signers``. A revoked key is ``revoked(key)``: the
same private key with the REVOKE bit (RFC 5011 section 3) in its DNSKEY,
so its tag, and the tag its RRSIGs name, is the revoked one.

Only what a resolver asks is rolled (``rrset``/``signature`` at the apex);
an AXFR of the zone still shows the base zone's key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rrset

from dnssec.signatures import REVOKE_FLAG
from resolver.lab.signing import Window, ZoneKey
from resolver.lab.zones import DNSKEY_TTL, StaticZone, ZoneSource

#: RFC 5011 section 3.


def revoked(key: ZoneKey) -> ZoneKey:
    """``key`` with the REVOKE bit set in its DNSKEY (same private key)."""
    dnskey = key.dnskey.replace(flags=key.dnskey.flags | REVOKE_FLAG)
    assert isinstance(dnskey, dns.rdtypes.ANY.DNSKEY.DNSKEY)
    return ZoneKey(key.zone, key.private, dnskey)


class RolledZone(StaticZone):
    """A ``StaticZone`` whose apex DNSKEY RRset and its RRSIGs are given apart."""

    def __init__(
        self, base: StaticZone, dnskeys: dns.rrset.RRset, signatures: dns.rrset.RRset
    ) -> None:
        vars(self).update(vars(base))  # the base zone, as built and signed
        self._apex = dnskeys
        self._apex_signatures = signatures

    def rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        if (name, rdtype) == (self.origin, dns.rdatatype.DNSKEY):
            return self._apex
        return super().rrset(name, rdtype)

    def signature(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.rrset.RRset | None:
        if (name, rdtype) == (self.origin, dns.rdatatype.DNSKEY):
            return self._apex_signatures
        return super().signature(name, rdtype)


def rolled_zone(
    source: ZoneSource,
    *,
    data_key: ZoneKey,
    published: Sequence[ZoneKey],
    signers: Sequence[ZoneKey],
    window: Window,
    ttl: int = DNSKEY_TTL,
) -> RolledZone:
    """``source`` signed by ``data_key``; the apex keys ``published``, signed by ``signers``.

    ``ttl`` is the DNSKEY RRset's: RFC 5011 refreshes every TTL/2 (at least
    an hour, at most 15 days), so a longer one makes fewer steps of a drill.
    """
    base = StaticZone.build(dataclasses.replace(source, key=data_key), window)
    dnskeys = dns.rrset.from_rdata_list(source.origin, ttl, [key.dnskey for key in published])
    rrsigs = [rdata for signer in signers for rdata in signer.sign(dnskeys, window)]
    return RolledZone(base, dnskeys, dns.rrset.from_rdata_list(source.origin, ttl, rrsigs))
