"""The root key sentinel (RFC 8509): let a client learn which root keys we trust.

During a root KSK roll, measurement sites ask names whose leftmost label is
``root-key-sentinel-is-ta-KEYTAG`` or ``root-key-sentinel-not-ta-KEYTAG``
(KEYTAG: five decimal digits). A validating resolver that knows the
convention answers such a question with SERVFAIL when the label is false
of its root trust anchors: ``is-ta`` for a key tag that is not one of them,
``not-ta`` for one that is. Comparing the answers to both names tells the
site, without any new protocol, whether the resolver trusts the new key.

The rule applies only where RFC 8509 section 3.2 says: a validating
resolver, a client that did not set CD (it asked for unvalidated data), a
question of type A or AAAA, and an answer that validated SECURE; anything
else gets the ordinary answer. Unbound does the same in
``validator/validator.c`` (``root-key-sentinel: yes``). Key tags count only
from anchors at the root; a DNSKEY anchor with the REVOKE bit (RFC 5011)
is not an anchor any more. Pure: the caller gives the outcome and the
anchors in force.
"""

from __future__ import annotations

import re

import dns.dnssec
import dns.edns
import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS

from dnssec.anchors import TrustAnchors
from dnssec.signatures import REVOKE_FLAG
from dnssec.status import Security
from resolver.question import Outcome, Question

#: The leftmost label of a sentinel name, lower case (RFC 8509 section 2).
_LABEL = re.compile(rb"root-key-sentinel-(is|not)-ta-([0-9]{5})")


def judge(question: Question, outcome: Outcome, *, cd: bool, anchors: TrustAnchors) -> Outcome:
    """The outcome to give a client: ``outcome``, or SERVFAIL where the sentinel says so."""
    if cd or outcome.security is not Security.SECURE:
        return outcome
    if question.rdtype not in (dns.rdatatype.A, dns.rdatatype.AAAA) or not question.name.labels:
        return outcome
    matched = _LABEL.fullmatch(question.name.labels[0].lower())
    if matched is None:
        return outcome
    claim, tag = matched.group(1).decode(), int(matched.group(2))
    trusted = tag in root_key_tags(anchors)
    if trusted == (claim == "is"):
        return outcome
    held = "is" if trusted else "is not"
    return Outcome.servfail(
        dns.edns.EDECode.OTHER,
        f"root key sentinel (RFC 8509): key tag {tag:05d} {held} a root trust anchor",
    )


def root_key_tags(anchors: TrustAnchors) -> frozenset[int]:
    """The key tags of the trust anchors at the root: DS key tags, unrevoked DNSKEYs' tags."""
    tags: set[int] = set()
    for rrset in anchors.rrsets:
        if rrset.name != dns.name.root:
            continue
        for rdata in rrset:
            if isinstance(rdata, dns.rdtypes.ANY.DS.DS):
                tags.add(rdata.key_tag)
            elif isinstance(rdata, dns.rdtypes.ANY.DNSKEY.DNSKEY) and not rdata.flags & REVOKE_FLAG:
                tags.add(dns.dnssec.key_id(rdata))
    return frozenset(tags)
