"""Each catalogue name answers as testdata/lab/README.md documents."""

from __future__ import annotations

import re
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.rcode
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resolver.lab import Lab
from tests.lab.helpers import (
    NOW,
    ask,
    bitmap_types,
    find,
    make_query,
    nsec3_covers,
    nsec3_hash,
    nsec3_next,
    nsec_covers,
    verify_all,
)

README = Path(__file__).resolve().parents[2] / "testdata" / "lab" / "README.md"
EXAMPLE_COM = "127.53.3.1"
COM = "127.53.1.1"
ROOT = "127.53.0.1"

#: (server address, name, type, expected record data)
ANSWERS = [
    (EXAMPLE_COM, "www.example.com.", "A", "192.0.2.1"),
    (EXAMPLE_COM, "www.example.com.", "AAAA", "2001:db8::1"),
    (EXAMPLE_COM, "example.com.", "MX", "10 mail.example.com."),
    (EXAMPLE_COM, "example.com.", "TXT", '"holdfast lab example.com"'),
    (EXAMPLE_COM, "anything.wild.example.com.", "A", "192.0.2.2"),
    (EXAMPLE_COM, "ttl2.example.com.", "A", "192.0.2.5"),
    ("127.53.3.3", "www.example.net.", "A", "192.0.2.3"),
    ("127.53.3.5", "www.example.org.", "A", "192.0.2.4"),
    ("127.53.3.7", "www.nsec3.org.", "A", "192.0.2.10"),
    ("127.53.3.9", "www.optout.nsec3.org.", "A", "192.0.2.11"),
    ("127.53.3.11", "www.insecure.com.", "A", "192.0.2.12"),
    ("127.53.3.13", "www.bogus.com.", "A", "192.0.2.13"),
    ("127.53.3.15", "www.expired.com.", "A", "192.0.2.14"),
    ("127.53.3.17", "www.noglue.com.", "A", "192.0.2.15"),
    ("127.53.3.19", "www.lame.com.", "A", "192.0.2.16"),
    ("127.53.3.21", "www.slow.com.", "A", "192.0.2.17"),
    ("127.53.3.25", "www.rsa.org.", "A", "192.0.2.19"),
    ("127.53.3.27", "www.ecdsa.org.", "A", "192.0.2.20"),
    ("127.53.3.29", "www.ed25519.org.", "A", "192.0.2.21"),
    ("127.53.3.31", "www.bench.com.", "A", "192.0.2.22"),
    ("127.53.3.31", "n12345.bench.com.", "A", "198.18.48.57"),
    ("127.53.3.7", "a.wild.nsec3.org.", "A", "192.0.2.30"),
    ("127.53.3.43", "www.nsec3-iter.org.", "A", "192.0.2.29"),
    ("127.53.3.47", "www.nosig.com.", "A", "192.0.2.32"),
    ("127.53.3.49", "www.badkey.com.", "A", "192.0.2.33"),
    ("127.53.3.51", "www.future.com.", "A", "192.0.2.34"),
    ("127.53.3.53", "www.nonsec.com.", "A", "192.0.2.35"),
    ("127.53.3.55", "www.unknownalg.com.", "A", "192.0.2.36"),
    ("127.53.3.57", "www.unknowndigest.com.", "A", "192.0.2.37"),
    ("127.53.3.59", "www.bigexp.org.", "A", "192.0.2.38"),
    ("127.53.3.65", "www.shared.com.", "A", "192.0.2.60"),
    ("127.53.3.65", "www.insecure.shared.com.", "A", "192.0.2.61"),
    ("127.53.3.66", "www.signed.shared.com.", "A", "192.0.2.62"),
    ("127.53.3.67", "www.shared3.com.", "A", "192.0.2.63"),
    ("127.53.3.67", "www.insecure.shared3.com.", "A", "192.0.2.64"),
    ("127.53.3.68", "www.signed.shared3.com.", "A", "192.0.2.65"),
    ("127.53.3.3", "ns1-noglue.example.net.", "A", "127.53.3.17"),
    ("127.53.1.2", "a.root-servers.net.", "A", "127.53.0.1"),
]


@pytest.mark.parametrize(("address", "name", "rdtype", "expected"), ANSWERS)
def test_catalogue_name_answers_authoritatively(
    lab: Lab, address: str, name: str, rdtype: str, expected: str
) -> None:
    reply = ask(lab, address, name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert find(reply.answer, name, rdtype)[0].to_text() == expected


def test_readme_server_table_matches_the_catalogue(lab: Lab) -> None:
    rows = re.findall(
        r"^\| (127\.53\.3\.\d+) / \.(\d+) \| [^|]+ \| `([^`]+)`", README.read_text(), re.M
    )
    documented = {zone: [first, f"127.53.3.{second}"] for first, second, zone in rows}
    served: dict[str, list[str]] = {}
    for server in lab.servers:
        if server.address.startswith("127.53.3."):
            for zone in server.zones:
                served.setdefault(zone, []).append(server.address)
    assert documented == served


def test_rsa16k_signatures_need_tcp(lab: Lab) -> None:
    """A 16384-bit RRSIG is 2 KB: with DO the answer is TC=1 over UDP, whole over TCP."""
    assert ask(lab, "127.53.3.61", "www.rsa16k.org.").flags & dns.flags.TC
    reply = ask(lab, "127.53.3.61", "www.rsa16k.org.", tcp=True)
    assert find(reply.answer, "www.rsa16k.org.", "A")[0].to_text() == "192.0.2.39"
    assert len(find(reply.answer, "www.rsa16k.org.", "RRSIG", covers="A")[0].signature) == 2048


def test_tcponly_answers_over_tcp_and_truncates_over_udp(lab: Lab) -> None:
    udp = ask(lab, "127.53.3.23", "www.tcponly.com.")
    tcp = ask(lab, "127.53.3.23", "www.tcponly.com.", tcp=True)
    assert udp.flags & dns.flags.TC
    assert not udp.answer
    assert find(tcp.answer, "www.tcponly.com.", "A")[0].to_text() == "192.0.2.18"


def test_ttl2_record_has_a_two_second_ttl(lab: Lab) -> None:
    assert (
        find(ask(lab, EXAMPLE_COM, "ttl2.example.com.").answer, "ttl2.example.com.", "A").ttl == 2
    )


def test_cname_to_another_zone_is_not_followed(lab: Lab) -> None:
    reply = ask(lab, EXAMPLE_COM, "alias.example.com.")
    assert find(reply.answer, "alias.example.com.", "CNAME")[0].to_text() == "www.example.net."
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.CNAME, dns.rdatatype.RRSIG]


def test_cname_inside_the_zone_is_followed(lab: Lab) -> None:
    reply = ask(lab, EXAMPLE_COM, "inzone.example.com.")
    assert find(reply.answer, "inzone.example.com.", "CNAME")[0].to_text() == "www.example.com."
    assert find(reply.answer, "www.example.com.", "A")[0].to_text() == "192.0.2.1"


def test_dname_synthesises_an_unsigned_cname_rfc6672(lab: Lab) -> None:
    reply = ask(lab, EXAMPLE_COM, "www.sub.example.com.")
    find(reply.answer, "sub.example.com.", "DNAME")
    find(reply.answer, "sub.example.com.", "RRSIG", covers="DNAME")
    assert find(reply.answer, "www.sub.example.com.", "CNAME")[0].to_text() == "www.example.org."
    with pytest.raises(AssertionError):
        find(reply.answer, "www.sub.example.com.", "RRSIG", covers="CNAME")


def test_referral_carries_ns_glue_and_signed_ds_rfc4035_3_1_4(lab: Lab) -> None:
    reply = ask(lab, COM, "www.example.com.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert not reply.flags & dns.flags.AA
    assert not reply.answer
    find(reply.authority, "example.com.", "NS")
    find(reply.authority, "example.com.", "DS")
    find(reply.authority, "example.com.", "RRSIG", covers="DS")
    assert {rrset[0].to_text() for rrset in reply.additional} == {"127.53.3.1", "127.53.3.2"}


SHARED = "127.53.3.65"


@pytest.mark.parametrize("child", ["insecure.shared.com.", "signed.shared.com."])
def test_a_child_on_its_parents_servers_is_answered_from_the_child(
    lab: Lab, child: str
) -> None:
    """Issue 23: no referral; the child's own apex NS and SOA, AA."""
    reply = ask(lab, SHARED, child, "NS")
    assert reply.flags & dns.flags.AA
    assert {r.to_text() for r in find(reply.answer, child, "NS")} == {
        "ns1.shared.com.", "ns2.shared.com."
    }
    negative = ask(lab, SHARED, f"nx.{child}")
    assert negative.rcode() == dns.rcode.NXDOMAIN
    find(negative.authority, child, "SOA")


def test_the_shared_parent_delegates_its_children_with_ds_or_its_denial(lab: Lab) -> None:
    zone = lab.zone(dns.name.from_text("shared.com."))
    signed = dns.name.from_text("signed.shared.com.")
    assert zone.rrset(signed, dns.rdatatype.DS) is not None
    assert zone.rrset(signed, dns.rdatatype.NS) is not None
    denial = ask(lab, SHARED, "insecure.shared.com.", "DS")
    assert denial.flags & dns.flags.AA
    find(denial.authority, "shared.com.", "SOA")
    nsec = find(denial.authority, "insecure.shared.com.", "NSEC")
    types = {dns.rdatatype.to_text(dns.rdatatype.RdataType(t)) for t in bitmap_types(nsec)}
    assert "NS" in types
    assert not {"DS", "SOA"} & types
    ds = ask(lab, SHARED, "signed.shared.com.", "DS")
    find(ds.answer, "signed.shared.com.", "RRSIG", covers="DS")


def test_insecure_delegation_proves_no_ds_with_nsec(lab: Lab) -> None:
    reply = ask(lab, COM, "www.insecure.com.")
    nsec = find(reply.authority, "insecure.com.", "NSEC")
    types = {dns.rdatatype.to_text(dns.rdatatype.RdataType(t)) for t in bitmap_types(nsec)}
    assert "NS" in types
    assert "DS" not in types
    with pytest.raises(AssertionError):
        find(reply.authority, "insecure.com.", "DS")


def test_referral_without_do_has_no_dnssec_records(lab: Lab) -> None:
    reply = ask(lab, COM, "www.example.com.", dnssec_ok=False)
    assert {rrset.rdtype for rrset in reply.authority} == {dns.rdatatype.NS}


def test_noglue_referral_has_no_glue(lab: Lab) -> None:
    reply = ask(lab, COM, "www.noglue.com.")
    assert {rdata.to_text() for rdata in find(reply.authority, "noglue.com.", "NS")} == {
        "ns1-noglue.example.net.",
        "ns2-noglue.example.net.",
    }
    assert not reply.additional


def test_outside_com_glue_points_outside_the_lab(lab: Lab) -> None:
    reply = ask(lab, COM, "www.outside.com.")
    assert find(reply.additional, "ns.outside.com.", "A")[0].to_text() == "192.0.2.53"


def test_names_outside_the_servers_zones_are_refused(lab: Lab) -> None:
    reply = ask(lab, EXAMPLE_COM, "www.example.org.")
    assert reply.rcode() == dns.rcode.REFUSED


def test_ds_query_at_a_cut_is_answered_by_the_parent(lab: Lab) -> None:
    reply = ask(lab, COM, "example.com.", "DS")
    assert reply.flags & dns.flags.AA
    find(reply.answer, "example.com.", "DS")


def test_nxdomain_carries_soa_and_nsec_covering_name_and_wildcard(lab: Lab) -> None:
    reply = ask(lab, EXAMPLE_COM, "nx.example.com.")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.flags & dns.flags.AA
    find(reply.authority, "example.com.", "SOA")
    nsecs = [rrset for rrset in reply.authority if rrset.rdtype == dns.rdatatype.NSEC]
    assert any(nsec_covers(nsec, "nx.example.com.") for nsec in nsecs)
    assert any(nsec_covers(nsec, "*.example.com.") for nsec in nsecs)
    verify_all(lab, EXAMPLE_COM, "example.com.", reply.authority)


def test_nodata_carries_the_nsec_of_the_name(lab: Lab) -> None:
    reply = ask(lab, EXAMPLE_COM, "www.example.com.", "MX")
    assert reply.rcode() == dns.rcode.NOERROR
    assert not reply.answer
    nsec = find(reply.authority, "www.example.com.", "NSEC")
    assert dns.rdatatype.MX not in bitmap_types(nsec)


def test_wildcard_answer_has_wildcard_rrsig_labels_and_no_closer_match_proof(lab: Lab) -> None:
    reply = ask(lab, EXAMPLE_COM, "a.wild.example.com.")
    rrsig = find(reply.answer, "a.wild.example.com.", "RRSIG", covers="A")
    assert rrsig[0].labels == 3
    nsec = find(reply.authority, "*.wild.example.com.", "NSEC")
    assert nsec_covers(nsec, "a.wild.example.com.")
    verify_all(lab, EXAMPLE_COM, "example.com.", reply.answer)


@pytest.mark.parametrize(
    ("address", "zone"),
    [
        (ROOT, "."),
        (COM, "com."),
        (EXAMPLE_COM, "example.com."),
        ("127.53.3.7", "nsec3.org."),
        ("127.53.3.25", "rsa.org."),
        ("127.53.3.27", "ecdsa.org."),
        ("127.53.3.29", "ed25519.org."),
        ("127.53.3.31", "bench.com."),
    ],
)
def test_signatures_verify_at_the_clock_time(lab: Lab, address: str, zone: str) -> None:
    reply = ask(lab, address, zone, "SOA")
    verify_all(lab, address, zone, reply.answer)
    if zone not in (".", "com."):
        verify_all(lab, address, zone, ask(lab, address, "www." + zone).answer)


def test_child_dnskey_matches_the_ds_in_the_parent(lab: Lab) -> None:
    ds = find(ask(lab, COM, "example.com.", "DS").answer, "example.com.", "DS")[0]
    keys = find(ask(lab, EXAMPLE_COM, "example.com.", "DNSKEY").answer, "example.com.", "DNSKEY")
    assert dns.dnssec.make_ds("example.com.", keys[0], "SHA256") == ds


def test_bogus_com_www_signature_does_not_verify(lab: Lab) -> None:
    reply = ask(lab, "127.53.3.13", "www.bogus.com.")
    with pytest.raises(dns.exception.ValidationFailure):
        verify_all(lab, "127.53.3.13", "bogus.com.", reply.answer)


def test_expired_com_signatures_expired_a_week_ago(lab: Lab) -> None:
    reply = ask(lab, "127.53.3.15", "www.expired.com.")
    rrsig = find(reply.answer, "www.expired.com.", "RRSIG", covers="A")[0]
    assert rrsig.expiration == int(NOW) - 7 * 86400
    assert rrsig.inception == int(NOW) - 30 * 86400
    with pytest.raises(dns.exception.ValidationFailure):
        verify_all(lab, "127.53.3.15", "expired.com.", reply.answer)
    verify_all(lab, "127.53.3.15", "expired.com.", reply.answer, now=NOW - 8 * 86400)


def test_nsec3_nxdomain_proves_closest_encloser_rfc5155_7_2_2(lab: Lab) -> None:
    reply = ask(lab, "127.53.3.7", "a.b.nsec3.org.")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    nsec3s = [rrset for rrset in reply.authority if rrset.rdtype == dns.rdatatype.NSEC3]
    apex_hash = nsec3_hash("nsec3.org.")
    assert any(rrset.name.labels[0].decode() == apex_hash for rrset in nsec3s)
    assert any(nsec3_covers(rrset, nsec3_hash("b.nsec3.org.")) for rrset in nsec3s)
    assert any(nsec3_covers(rrset, nsec3_hash("*.nsec3.org.")) for rrset in nsec3s)
    assert all(rrset[0].iterations == 0 and rrset[0].salt == b"" for rrset in nsec3s)
    verify_all(lab, "127.53.3.7", "nsec3.org.", reply.authority)


def test_nsec3_chain_is_a_closed_ring_of_sorted_hashes(lab: Lab) -> None:
    zone = dns.name.from_text("nsec3.org.")
    # Every owner but the opt-out delegation, and the empty non-terminal above *.wild.
    names = [f"{label}nsec3.org." for label in ("", "www.", "ns1.", "ns2.", "wild.", "*.wild.")]
    found: dict[str, str] = {}
    for name in names:
        for rrset in ask(lab, "127.53.3.7", name, "MX").authority:
            if rrset.rdtype == dns.rdatatype.NSEC3:
                assert rrset.name.parent() == zone
                found[rrset.name.labels[0].decode()] = nsec3_next(rrset)
    hashes = {nsec3_hash(name) for name in names}
    assert set(found) == hashes
    ordered = sorted(hashes)
    assert [found[h] for h in ordered] == ordered[1:] + ordered[:1]


def test_optout_delegation_is_covered_by_an_opt_out_nsec3_rfc5155_7_2_7(lab: Lab) -> None:
    reply = ask(lab, "127.53.3.7", "www.optout.nsec3.org.")
    assert not reply.flags & dns.flags.AA
    find(reply.authority, "optout.nsec3.org.", "NS")
    nsec3s = [rrset for rrset in reply.authority if rrset.rdtype == dns.rdatatype.NSEC3]
    covering = [r for r in nsec3s if nsec3_covers(r, nsec3_hash("optout.nsec3.org."))]
    assert covering
    assert covering[0][0].flags & 1
    assert {rrset[0].to_text() for rrset in reply.additional} == {"127.53.3.9", "127.53.3.10"}


def test_bench_names_outside_the_range_are_denied_with_nsec(lab: Lab) -> None:
    reply = ask(lab, "127.53.3.31", "n100000.bench.com.")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    nsecs = [rrset for rrset in reply.authority if rrset.rdtype == dns.rdatatype.NSEC]
    assert any(nsec_covers(nsec, "n100000.bench.com.") for nsec in nsecs)
    verify_all(lab, "127.53.3.31", "bench.com.", reply.authority)


def test_root_zonemd_verifies_rfc8976(lab: Lab) -> None:
    zone = dns.zone.from_text(lab.root_zone_text(), dns.name.root, relativize=False)
    zone.verify_digest()
    zonemd = zone.get_rdataset(dns.name.root, dns.rdatatype.ZONEMD)
    assert zonemd is not None
    assert (zonemd[0].scheme, zonemd[0].hash_algorithm) == (1, 1)


def test_root_zone_text_is_signed_with_rsasha256(lab: Lab) -> None:
    zone = dns.zone.from_text(lab.root_zone_text(), dns.name.root, relativize=False)
    dnskey = zone.get_rdataset(dns.name.root, dns.rdatatype.DNSKEY)
    assert dnskey is not None
    assert dnskey[0].algorithm == 8


def test_trust_anchor_is_the_ds_of_the_root_key(lab: Lab) -> None:
    anchor = dns.rrset.from_text_list(
        ".", 3600, "IN", "DS", [lab.trust_anchor_text().split(" IN DS ")[1]]
    )
    keys = find(ask(lab, ROOT, ".", "DNSKEY").answer, ".", "DNSKEY")
    assert dns.dnssec.make_ds(".", keys[0], "SHA256") == anchor[0]


def test_trust_anchor_is_the_same_on_every_build(lab: Lab) -> None:
    from resolver.clock import FakeClock

    assert Lab.build(FakeClock(NOW + 86400)).trust_anchor_text() == lab.trust_anchor_text()


def test_root_hints_name_the_three_root_servers(lab: Lab) -> None:
    text = lab.root_hints_text()
    for letter, address in (("a", "127.53.0.1"), ("b", "127.53.0.2"), ("c", "127.53.0.3")):
        assert f". 3600 IN NS {letter}.root-servers.net." in text
        assert f"{letter}.root-servers.net. 3600 IN A {address}" in text


def test_lab_json_lists_every_server_with_at_least_two_per_zone(lab: Lab) -> None:
    servers = lab.lab_json()["servers"]
    assert isinstance(servers, list)
    counts: dict[str, int] = {}
    for server in servers:
        for zone in server["zones"]:
            counts[zone] = counts.get(zone, 0) + 1
    assert counts["."] == 3
    assert counts["com."] == 4
    assert all(count >= 2 for count in counts.values())


def test_udp_reply_over_the_advertised_size_is_truncated(lab: Lab) -> None:
    query = dns.message.make_query(".", "DNSKEY", want_dnssec=True, payload=512)
    reply = lab.handle(ROOT, query.to_wire(), tcp=False)
    assert reply.wire is not None
    assert len(reply.wire) <= 512
    truncated = dns.message.from_wire(reply.wire)
    assert truncated.flags & dns.flags.TC
    assert not truncated.answer


def test_axfr_over_udp_is_formerr_and_over_tcp_transfers_the_root(lab: Lab) -> None:
    assert ask(lab, ROOT, ".", "AXFR").rcode() == dns.rcode.FORMERR
    wire = lab.handle(ROOT, make_query(".", "AXFR").to_wire(), tcp=True).wire
    assert wire is not None
    reply = dns.message.from_wire(wire, one_rr_per_rrset=True)
    assert reply.answer[0].rdtype == dns.rdatatype.SOA
    assert reply.answer[-1].rdtype == dns.rdatatype.SOA
    assert any(rrset.rdtype == dns.rdatatype.ZONEMD for rrset in reply.answer)


def test_edns_is_echoed_with_the_do_bit(lab: Lab) -> None:
    reply = ask(lab, EXAMPLE_COM, "www.example.com.")
    assert reply.edns == 0
    assert reply.payload == 1232
    assert reply.ednsflags & dns.flags.DO
    assert ask(lab, EXAMPLE_COM, "www.example.com.", edns=False).edns < 0


@given(st.binary(max_size=600))
def test_any_bytes_get_formerr_or_nothing_never_an_exception(session_lab: Lab, wire: bytes) -> None:
    reply = session_lab.handle(EXAMPLE_COM, wire, tcp=False)
    if reply.wire is not None:
        assert reply.wire[:2] == wire[:2]


def test_unknown_address_is_silent(lab: Lab) -> None:
    assert lab.handle("127.53.99.99", b"\x00" * 12, tcp=False).wire is None
