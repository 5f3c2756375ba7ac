"""Faults: the text form, what each kind does, fractions and zone scope."""

from __future__ import annotations

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.rcode
import dns.rdataset
import dns.rdatatype
import pytest

from resolver.lab import Fault, Lab, LabError, parse_fault
from resolver.lab.faults import FaultKind
from tests.lab.helpers import NOW, ask, find, make_query

EXAMPLE_COM = "127.53.3.1"
WWW = "www.example.com."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("drop", Fault(FaultKind.DROP)),
        ("delay:200", Fault(FaultKind.DELAY, delay=0.2)),
        ("delay:200:0.5", Fault(FaultKind.DELAY, delay=0.2, fraction=0.5)),
        ("expired-sigs:0.3", Fault(FaultKind.EXPIRED_SIGS, fraction=0.3)),
        ("bogus-sigs", Fault(FaultKind.BOGUS_SIGS)),
        ("GARBAGE", Fault(FaultKind.GARBAGE)),
    ],
)
def test_parse_fault_reads_kind_delay_and_fraction(text: str, expected: Fault) -> None:
    assert parse_fault(text) == expected
    assert parse_fault(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("explode", "unknown fault kind"),
        ("delay", "needs milliseconds"),
        ("delay:soon", "not a number"),
        ("drop:1.5", "fraction"),
        ("drop:0", "fraction"),
        ("servfail:0.5:2", "too many"),
    ],
)
def test_parse_fault_rejects_bad_text_clearly(text: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        parse_fault(text)


def test_drop_sends_nothing(fresh_lab: Lab) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault("drop"))
    assert fresh_lab.handle(EXAMPLE_COM, make_query(WWW).to_wire(), tcp=False).wire is None


def test_delay_answers_normally_but_late(fresh_lab: Lab) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault("delay:250"))
    reply = fresh_lab.handle(EXAMPLE_COM, make_query(WWW).to_wire(), tcp=False)
    assert reply.delay == pytest.approx(0.25)
    assert reply.wire is not None
    assert dns.message.from_wire(reply.wire).answer


@pytest.mark.parametrize(
    ("kind", "rcode"),
    [("servfail", dns.rcode.SERVFAIL), ("refused", dns.rcode.REFUSED), ("lame", dns.rcode.NOERROR)],
)
def test_error_faults_answer_with_that_rcode_without_aa(
    fresh_lab: Lab, kind: str, rcode: int
) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault(kind))
    reply = ask(fresh_lab, EXAMPLE_COM, WWW)
    assert reply.rcode() == rcode
    assert not reply.flags & dns.flags.AA
    assert not reply.answer
    assert not reply.authority


def test_truncate_sets_tc_over_udp_only(fresh_lab: Lab) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault("truncate"))
    assert ask(fresh_lab, EXAMPLE_COM, WWW).flags & dns.flags.TC
    assert ask(fresh_lab, EXAMPLE_COM, WWW, tcp=True).answer


def test_garbage_is_not_a_reply_to_the_query(fresh_lab: Lab) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault("garbage"))
    query = make_query(WWW)
    for _ in range(20):
        wire = fresh_lab.handle(EXAMPLE_COM, query.to_wire(), tcp=False).wire
        assert wire is not None
        try:
            reply = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            continue
        assert not query.is_response(reply)


def test_expired_sigs_resigns_with_signatures_expired_a_week_ago(fresh_lab: Lab) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault("expired-sigs"))
    reply = ask(fresh_lab, EXAMPLE_COM, WWW)
    rrsig = find(reply.answer, WWW, "RRSIG", covers="A")
    assert rrsig[0].expiration == int(NOW) - 7 * 86400
    keys = find(
        ask(fresh_lab, EXAMPLE_COM, "example.com.", "DNSKEY").answer, "example.com.", "DNSKEY"
    )
    keyring: dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset] = {
        dns.name.from_text("example.com."): keys
    }
    a = find(reply.answer, WWW, "A")
    dns.dnssec.validate(a, rrsig, keyring, now=NOW - 8 * 86400)
    with pytest.raises(dns.exception.ValidationFailure):
        dns.dnssec.validate(a, rrsig, keyring, now=NOW)


def test_bogus_sigs_serves_signatures_that_do_not_verify(fresh_lab: Lab) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault("bogus-sigs"))
    reply = ask(fresh_lab, EXAMPLE_COM, WWW)
    keys = find(reply.answer, WWW, "RRSIG", covers="A")
    dnskey = ask(fresh_lab, EXAMPLE_COM, "example.com.", "DNSKEY").answer
    keyring: dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset] = {
        dns.name.from_text("example.com."): find(dnskey, "example.com.", "DNSKEY")
    }
    with pytest.raises(dns.exception.ValidationFailure):
        dns.dnssec.validate(find(reply.answer, WWW, "A"), keys, keyring, now=NOW)


def test_fraction_applies_the_fault_to_about_that_share(fresh_lab: Lab) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault("servfail:0.3"))
    failures = sum(
        ask(fresh_lab, EXAMPLE_COM, WWW).rcode() == dns.rcode.SERVFAIL for _ in range(400)
    )
    assert 80 < failures < 160


def test_zone_scoped_fault_spares_the_other_zones_of_the_server(fresh_lab: Lab) -> None:
    fresh_lab.set_fault("127.53.1.1", parse_fault("servfail"), zone="com.")
    assert ask(fresh_lab, "127.53.1.1", "www.example.com.").rcode() == dns.rcode.SERVFAIL
    assert ask(fresh_lab, "127.53.1.1", "www.example.net.").rcode() == dns.rcode.NOERROR


def test_clear_faults_restores_normal_answers(fresh_lab: Lab) -> None:
    fresh_lab.set_fault(EXAMPLE_COM, parse_fault("refused"))
    fresh_lab.clear_faults(EXAMPLE_COM)
    assert ask(fresh_lab, EXAMPLE_COM, WWW).answer


def test_catalogue_faults_are_permanent(fresh_lab: Lab) -> None:
    lame = ask(fresh_lab, "127.53.3.20", "www.lame.com.")
    assert lame.rcode() == dns.rcode.NOERROR
    assert not lame.flags & dns.flags.AA
    assert not lame.answer
    fresh_lab.clear_faults("127.53.3.22")
    assert (
        fresh_lab.handle("127.53.3.22", make_query("www.slow.com.").to_wire(), tcp=False).wire
        is None
    )


def test_faults_on_unknown_addresses_or_zones_are_rejected(fresh_lab: Lab) -> None:
    with pytest.raises(LabError, match="no lab server"):
        fresh_lab.set_fault("127.0.0.1", parse_fault("drop"))
    with pytest.raises(LabError, match="does not serve"):
        fresh_lab.set_fault(EXAMPLE_COM, parse_fault("drop"), zone="com.")
    with pytest.raises(LabError, match="no lab server"):
        fresh_lab.clear_faults("127.53.250.1")
