"""The zones the validator's tests use answer as testdata/lab/README.md says.

Each is checked with dnspython directly: the algorithm zones validate, the
NSEC3 proofs are complete (RFC 5155 section 7.2), and the broken zones are
broken in exactly the documented way.
"""

from __future__ import annotations

import hashlib

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from resolver.clock import FakeClock
from resolver.lab import Lab
from resolver.lab.keytrap import DECOY_OFFSETS, DECOY_SIGNATURES
from tests.lab.helpers import (
    NOW,
    ask,
    bitmap_types,
    closest_encloser,
    find,
    nsec3_covering,
    nsec3_matching,
    nsec3_records,
    verify_all,
)

COM = "127.53.1.1"
ORG = "127.53.2.1"
NSEC3_ORG = "127.53.3.7"
NSEC3_ITER = "127.53.3.43"
KEYTRAP = "127.53.3.45"
NOSIG = "127.53.3.47"
BADKEY = "127.53.3.49"
FUTURE = "127.53.3.51"
NONSEC = "127.53.3.53"
UNKNOWNALG = "127.53.3.55"
UNKNOWNDIGEST = "127.53.3.57"

#: (address, zone, DNSSEC algorithm, www address, NSEC3)
ALGORITHM_ZONES = [
    ("127.53.3.33", "rsasha1.org.", 5, "192.0.2.23", False),
    ("127.53.3.35", "nsec3rsasha1.org.", 7, "192.0.2.24", True),
    ("127.53.3.25", "rsa.org.", 8, "192.0.2.19", False),
    ("127.53.3.37", "rsasha512.org.", 10, "192.0.2.26", False),
    ("127.53.3.27", "ecdsa.org.", 13, "192.0.2.20", False),
    ("127.53.3.39", "ecdsa384.org.", 14, "192.0.2.27", False),
    ("127.53.3.29", "ed25519.org.", 15, "192.0.2.21", False),
    ("127.53.3.41", "ed448.org.", 16, "192.0.2.28", False),
]


def _parent_ds(lab: Lab, zone: str) -> dns.rrset.RRset:
    parent = ORG if zone.endswith(".org.") else COM
    return find(ask(lab, parent, zone, "DS").answer, zone, "DS")


def _dnskeys(lab: Lab, address: str, zone: str) -> dns.rrset.RRset:
    return find(ask(lab, address, zone, "DNSKEY", tcp=True).answer, zone, "DNSKEY")


def _types(section: list[dns.rrset.RRset]) -> set[str]:
    return {dns.rdatatype.to_text(rrset.rdtype) for rrset in section}


# -- one zone per algorithm ---------------------------------------------------


@pytest.mark.parametrize(("address", "zone", "algorithm", "www", "nsec3"), ALGORITHM_ZONES)
def test_algorithm_zone_validates_from_the_parent_ds(
    lab: Lab, address: str, zone: str, algorithm: int, www: str, nsec3: bool
) -> None:
    keys = _dnskeys(lab, address, zone)
    assert [key.algorithm for key in keys] == [algorithm]
    ds = _parent_ds(lab, zone)
    assert dns.dnssec.make_ds(zone, keys[0], "SHA256") == ds[0]
    assert ds[0].algorithm == algorithm
    reply = ask(lab, address, "www." + zone)
    assert find(reply.answer, "www." + zone, "A")[0].to_text() == www
    verify_all(lab, address, zone, reply.answer)
    verify_all(lab, address, zone, ask(lab, address, zone, "DNSKEY").answer)
    denial = ask(lab, address, "nx." + zone, tcp=True)  # RSA + NSEC3: over 1232 bytes
    assert denial.rcode() == dns.rcode.NXDOMAIN
    assert ("NSEC3" if nsec3 else "NSEC") in _types(denial.authority)
    assert verify_all(lab, address, zone, denial.authority) >= 2


def test_algorithm_7_zone_uses_nsec3_and_algorithm_5_nsec(lab: Lab) -> None:
    assert ask(lab, "127.53.3.35", "nsec3rsasha1.org.", "NSEC3PARAM").answer
    assert not ask(lab, "127.53.3.33", "rsasha1.org.", "NSEC3PARAM").answer


# -- NSEC3: every kind of proof (RFC 5155 section 7.2) -------------------------


def test_nsec3_nodata_has_the_matching_nsec3_rfc5155_7_2_3(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ORG, "www.nsec3.org.", "TXT")
    assert reply.rcode() == dns.rcode.NOERROR
    assert not reply.answer
    matching = nsec3_matching(reply.authority, "www.nsec3.org.")
    assert matching is not None
    assert dns.rdatatype.A in bitmap_types(matching)
    assert dns.rdatatype.TXT not in bitmap_types(matching)
    verify_all(lab, NSEC3_ORG, "nsec3.org.", reply.authority)


def test_nsec3_apex_txt_answers(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ORG, "nsec3.org.", "TXT")
    assert find(reply.answer, "nsec3.org.", "TXT")[0].to_text() == '"holdfast lab nsec3.org"'


def test_nsec3_nxdomain_proof_is_complete_rfc5155_7_2_2(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ORG, "a.b.nsec3.org.")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    encloser = closest_encloser(reply.authority, "a.b.nsec3.org.")
    assert encloser == dns.name.from_text("nsec3.org.")
    assert nsec3_covering(reply.authority, "*.nsec3.org.") is not None
    verify_all(lab, NSEC3_ORG, "nsec3.org.", reply.authority)


@pytest.mark.parametrize(("qname", "opt_out"), [("nx.nsec3.org.", False), ("z.nsec3.org.", True)])
def test_nsec3_only_the_span_holding_the_unsigned_delegation_has_opt_out(
    lab: Lab, qname: str, opt_out: bool
) -> None:
    """RFC 5155 9.2: an NXDOMAIN resting on an opt-out record is insecure."""
    reply = ask(lab, NSEC3_ORG, qname)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    closest_encloser(reply.authority, qname)
    cover = nsec3_covering(reply.authority, qname)
    assert cover is not None
    assert bool(cover[0].flags & 1) is opt_out
    assert (nsec3_covering(reply.authority, "optout.nsec3.org.") is not None) is opt_out


def test_nsec3_nxdomain_below_an_empty_non_terminal(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ORG, "x.y.www.nsec3.org.")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert closest_encloser(reply.authority, "x.y.www.nsec3.org.") == dns.name.from_text(
        "www.nsec3.org."
    )
    assert nsec3_covering(reply.authority, "*.www.nsec3.org.") is not None


def test_nsec3_wildcard_answer_covers_the_next_closer_name_rfc5155_7_2_6(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ORG, "a.b.wild.nsec3.org.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert find(reply.answer, "a.b.wild.nsec3.org.", "A")[0].to_text() == "192.0.2.30"
    rrsig = find(reply.answer, "a.b.wild.nsec3.org.", "RRSIG", covers="A")
    assert rrsig[0].labels == 3  # *.wild.nsec3.org: the closest encloser is wild.nsec3.org
    cover = nsec3_covering(reply.authority, "b.wild.nsec3.org.")
    assert cover is not None
    assert not cover[0].flags & 1  # no opt-out: the expansion is provably secure
    verify_all(lab, NSEC3_ORG, "nsec3.org.", reply.answer)
    verify_all(lab, NSEC3_ORG, "nsec3.org.", reply.authority)


def test_nsec3_wildcard_nodata_rfc5155_7_2_5(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ORG, "a.wild.nsec3.org.", "TXT")
    assert reply.rcode() == dns.rcode.NOERROR
    assert not reply.answer
    encloser = closest_encloser(reply.authority, "a.wild.nsec3.org.")
    assert encloser == dns.name.from_text("wild.nsec3.org.")
    assert all(not rrset[0].flags & 1 for rrset in nsec3_records(reply.authority))
    wildcard = nsec3_matching(reply.authority, "*.wild.nsec3.org.")
    assert wildcard is not None
    assert dns.rdatatype.A in bitmap_types(wildcard)
    assert dns.rdatatype.TXT not in bitmap_types(wildcard)
    verify_all(lab, NSEC3_ORG, "nsec3.org.", reply.authority)


def test_nsec3_empty_non_terminal_nodata_has_an_empty_bitmap(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ORG, "wild.nsec3.org.", "A")
    assert reply.rcode() == dns.rcode.NOERROR
    matching = nsec3_matching(reply.authority, "wild.nsec3.org.")
    assert matching is not None
    assert bitmap_types(matching) == set()


# -- nsec3-iter.org: 200 iterations (RFC 9276) ---------------------------------


def test_nsec3_iter_uses_200_iterations_everywhere(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ITER, "nsec3-iter.org.", "NSEC3PARAM")
    param = find(reply.answer, "nsec3-iter.org.", "NSEC3PARAM")
    assert param[0].iterations == 200
    reply = ask(lab, NSEC3_ITER, "nx.nsec3-iter.org.")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert {(r[0].iterations, r[0].flags) for r in nsec3_records(reply.authority)} == {(200, 0)}
    assert closest_encloser(reply.authority, "nx.nsec3-iter.org.", 200) == dns.name.from_text(
        "nsec3-iter.org."
    )
    assert nsec3_covering(reply.authority, "*.nsec3-iter.org.", 200) is not None
    verify_all(lab, NSEC3_ITER, "nsec3-iter.org.", reply.authority)


def test_nsec3_iter_positive_answers_validate(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ITER, "www.nsec3-iter.org.")
    assert find(reply.answer, "www.nsec3-iter.org.", "A")[0].to_text() == "192.0.2.29"
    verify_all(lab, NSEC3_ITER, "nsec3-iter.org.", reply.answer)
    nodata = ask(lab, NSEC3_ITER, "www.nsec3-iter.org.", "TXT")
    assert nsec3_matching(nodata.authority, "www.nsec3-iter.org.", 200) is not None


# -- keytrap.com: colliding key tags, many signatures (CVE-2023-50387) -----------


def test_keytrap_dnskeys_share_one_tag_and_only_one_matches_the_ds(lab: Lab) -> None:
    keys = _dnskeys(lab, KEYTRAP, "keytrap.com.")
    assert len(keys) == 1 + len(DECOY_OFFSETS) == 32
    assert {(dns.dnssec.key_id(key), key.algorithm) for key in keys} == {
        (_parent_ds(lab, "keytrap.com.")[0].key_tag, 13)
    }
    for key in keys:  # every decoy is a real P-256 point: each try costs a verification
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + key.key)
    ds = _parent_ds(lab, "keytrap.com.")[0]
    assert [dns.dnssec.make_ds("keytrap.com.", key, "SHA256") for key in keys].count(ds) == 1
    reply = ask(lab, KEYTRAP, "keytrap.com.", "DNSKEY", tcp=True)
    assert len(find(reply.answer, "keytrap.com.", "RRSIG", covers="DNSKEY")) == 1
    verify_all(lab, KEYTRAP, "keytrap.com.", reply.answer)


def test_keytrap_answers_carry_16_signatures_of_which_none_verifies(lab: Lab) -> None:
    udp = ask(lab, KEYTRAP, "www.keytrap.com.")
    assert udp.flags & dns.flags.TC
    reply = ask(lab, KEYTRAP, "www.keytrap.com.", tcp=True)
    assert find(reply.answer, "www.keytrap.com.", "A")[0].to_text() == "192.0.2.31"
    rrsigs = find(reply.answer, "www.keytrap.com.", "RRSIG", covers="A")
    assert len(rrsigs) == DECOY_SIGNATURES == 16
    tag = _parent_ds(lab, "keytrap.com.")[0].key_tag
    assert {(rrsig.key_tag, rrsig.algorithm) for rrsig in rrsigs} == {(tag, 13)}
    with pytest.raises(dns.exception.ValidationFailure):  # after 32 x 16 tries
        verify_all(lab, KEYTRAP, "keytrap.com.", reply.answer)


def test_keytrap_denials_are_trapped_too(lab: Lab) -> None:
    reply = ask(lab, KEYTRAP, "nx.keytrap.com.", tcp=True)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    rrsigs = [rrset for rrset in reply.authority if rrset.rdtype == dns.rdatatype.RRSIG]
    assert rrsigs
    assert all(len(rrset) == DECOY_SIGNATURES for rrset in rrsigs)


# -- the zones behind the precise Extended DNS Errors --------------------------


def test_nosig_answers_carry_no_rrsigs_but_its_keys_validate(lab: Lab) -> None:
    keys = _dnskeys(lab, NOSIG, "nosig.com.")
    assert dns.dnssec.make_ds("nosig.com.", keys[0], "SHA256") == _parent_ds(lab, "nosig.com.")[0]
    verify_all(lab, NOSIG, "nosig.com.", ask(lab, NOSIG, "nosig.com.", "DNSKEY").answer)
    reply = ask(lab, NOSIG, "www.nosig.com.")
    assert _types(reply.answer) == {"A"}
    denial = ask(lab, NOSIG, "nx.nosig.com.")
    assert denial.rcode() == dns.rcode.NXDOMAIN
    assert _types(denial.authority) == {"SOA", "NSEC"}


def test_badkey_ds_names_a_key_the_zone_does_not_publish(lab: Lab) -> None:
    ds = _parent_ds(lab, "badkey.com.")
    keys = _dnskeys(lab, BADKEY, "badkey.com.")
    assert ds[0].key_tag not in {dns.dnssec.key_id(key) for key in keys}
    assert all(dns.dnssec.make_ds("badkey.com.", key, "SHA256") != ds[0] for key in keys)
    verify_all(lab, BADKEY, "badkey.com.", ask(lab, BADKEY, "www.badkey.com.").answer)


def test_future_signatures_start_in_a_week(lab: Lab) -> None:
    reply = ask(lab, FUTURE, "www.future.com.")
    rrsig = find(reply.answer, "www.future.com.", "RRSIG", covers="A")[0]
    assert rrsig.inception == int(NOW) + 7 * 86400
    assert rrsig.expiration == int(NOW) + 30 * 86400
    with pytest.raises(dns.exception.ValidationFailure):
        verify_all(lab, FUTURE, "future.com.", reply.answer)
    verify_all(lab, FUTURE, "future.com.", reply.answer, now=NOW + 8 * 86400)


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode"),
    [("nx.nonsec.com.", "A", dns.rcode.NXDOMAIN), ("www.nonsec.com.", "TXT", dns.rcode.NOERROR)],
)
def test_nonsec_negative_answers_come_without_nsec(
    lab: Lab, name: str, rdtype: str, rcode: dns.rcode.Rcode
) -> None:
    reply = ask(lab, NONSEC, name, rdtype)
    assert reply.rcode() == rcode
    assert not reply.answer
    assert _types(reply.authority) == {"SOA", "RRSIG"}
    verify_all(lab, NONSEC, "nonsec.com.", reply.authority)


def test_nonsec_positive_answers_validate(lab: Lab) -> None:
    verify_all(lab, NONSEC, "nonsec.com.", ask(lab, NONSEC, "www.nonsec.com.").answer)


def test_unknownalg_is_signed_only_with_privatedns(lab: Lab) -> None:
    ds = _parent_ds(lab, "unknownalg.com.")
    keys = _dnskeys(lab, UNKNOWNALG, "unknownalg.com.")
    assert [d.algorithm for d in ds] == [key.algorithm for key in keys] == [253]
    assert dns.dnssec.make_ds("unknownalg.com.", keys[0], "SHA256") == ds[0]
    # RFC 4034 A.1.1: the key starts with the domain name of the private algorithm.
    assert dns.name.from_wire(keys[0].key, 0)[0] == dns.name.from_text("holdfast-lab.invalid.")
    reply = ask(lab, UNKNOWNALG, "www.unknownalg.com.")
    assert find(reply.answer, "www.unknownalg.com.", "A")[0].to_text() == "192.0.2.36"
    rrsig = find(reply.answer, "www.unknownalg.com.", "RRSIG", covers="A")[0]
    assert (rrsig.algorithm, rrsig.key_tag) == (253, dns.dnssec.key_id(keys[0]))


def test_unknowndigest_ds_has_only_digest_type_3(lab: Lab) -> None:
    ds = _parent_ds(lab, "unknowndigest.com.")
    keys = _dnskeys(lab, UNKNOWNDIGEST, "unknowndigest.com.")
    assert [d.digest_type for d in ds] == [3]
    assert ds[0].key_tag == dns.dnssec.key_id(keys[0])
    # The digest field holds the SHA-256 digest (GOST is not computed).
    owner = dns.name.from_text("unknowndigest.com.").to_digestable()
    assert ds[0].digest == hashlib.sha256(owner + keys[0].to_digestable()).digest()
    reply = ask(lab, UNKNOWNDIGEST, "www.unknowndigest.com.")
    verify_all(lab, UNKNOWNDIGEST, "unknowndigest.com.", reply.answer)


def test_negative_soa_rrsig_ttl_is_the_capped_soa_ttl(lab: Lab) -> None:
    reply = ask(lab, NSEC3_ORG, "nx.nsec3.org.")
    assert find(reply.authority, "nsec3.org.", "SOA").ttl == 300
    assert find(reply.authority, "nsec3.org.", "RRSIG", covers="SOA").ttl == 300


def test_new_zones_are_the_same_on_every_build(lab: Lab) -> None:
    other = Lab.build(FakeClock(NOW + 86400))
    for address, zone in ((KEYTRAP, "keytrap.com."), ("127.53.3.41", "ed448.org.")):
        assert _dnskeys(other, address, zone) == _dnskeys(lab, address, zone)
