"""How an alias chain's steps merge into one answer (``iterator.Chain``)."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from dnssec.status import Security
from resolver.assemble import Chain, Step
from resolver.question import Question

DNAME = dns.rrset.from_text("x.", 3600, "IN", "DNAME", ".")
SIG = dns.rrset.from_text(
    "x.", 3600, "IN", "RRSIG", "DNAME 5 1 3600 20170315140518 20170215140518 37471 . AAAA"
)


def _cname(owner: str, target: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(owner, 3600, "IN", "CNAME", target)


def test_a_dname_applied_twice_is_in_the_answer_once() -> None:
    """shortloop.x.x. -> shortloop.x. -> shortloop. through ``x. DNAME .`` (Deckard
    val_dname): the DNAME and its RRSIG once each, or the reply outgrows the client's
    buffer and goes out truncated."""
    chain = Chain(Question(dns.name.from_text("shortloop.x.x."), dns.rdatatype.TXT), 8)
    for owner, target in (("shortloop.x.x.", "shortloop.x."), ("shortloop.x.", "shortloop.")):
        step = Step(
            rcode=dns.rcode.NOERROR,
            records=(DNAME, _cname(owner, target)),
            next_name=dns.name.from_text(target),
            security=Security.SECURE,
            signatures=(SIG,),
        )
        assert chain.follow(step) == dns.name.from_text(target)
    outcome = chain.outcome(Step(rcode=dns.rcode.NOERROR, security=Security.SECURE))
    assert [r.rdtype for r in outcome.answer] == [
        dns.rdatatype.DNAME,
        dns.rdatatype.CNAME,
        dns.rdatatype.CNAME,
    ]
    assert outcome.signatures == (SIG,)


def test_a_wildcard_links_proof_reaches_the_client_when_the_chain_goes_on() -> None:
    """random2.blog.root.cz. CNAME blog.root.cz. expanded from ``*.blog.root.cz.``, then
    blog.root.cz. -> root.cz. A: the answer carries the NSEC proving the expansion
    (RFC 4035 3.1.3.3; Deckard nsec_aggr_cache step 506), though the last link has none."""
    nsec = dns.rrset.from_text(
        "*.blog.root.cz.", 600, "IN", "NSEC", "blog-beta.root.cz. CNAME RRSIG NSEC"
    )
    chain = Chain(Question(dns.name.from_text("random2.blog.root.cz."), dns.rdatatype.A), 8)
    links = [
        Step(
            dns.rcode.NOERROR,
            (_cname("random2.blog.root.cz.", "blog.root.cz."),),
            next_name=dns.name.from_text("blog.root.cz."),
            security=Security.SECURE,
            proof=(nsec,),
        ),
        Step(
            dns.rcode.NOERROR,
            (_cname("blog.root.cz.", "root.cz."),),
            next_name=dns.name.from_text("root.cz."),
            security=Security.SECURE,
        ),
    ]
    for link in links:
        assert chain.follow(link) is not None
    last = Step(
        dns.rcode.NOERROR,
        (dns.rrset.from_text("root.cz.", 600, "IN", "A", "91.213.160.118"),),
        security=Security.SECURE,
    )
    assert chain.follow(last) is None
    assert chain.outcome(last).proof == (nsec,)
