r"""Loading a candidate root copy: every check in its order, on the lab root and the real ones.

The lab root (one RSA key, 34915) is rebuilt here with the lab's own signer
(``StaticZone.build``) when a test needs a variant that is properly signed:
another serial, a TLD fewer, no ZONEMD, or a record of a type nobody knows.

The real 2023 and 2026 archives keep only the apex SOA and DNSKEY RRSIGs
(../shared/testdata/rootzone/README.md), so ``load_copy`` refuses them at
the DNSSEC check, before ZONEMD: their delegations' DS and NSEC RRsets are
authoritative data without signatures. Tests that need them past that check
re-sign them with a lab Ed25519 key (``_resigned``): every real record is
kept, the ZONEMD RRset included, only the keys and signatures are the lab's.
That is enough for the ZONEMD verdicts (hash 241 stays unverified; the
SHA-384 digests still do not match, as they covered the stripped RRSIGs) and
for the serial and guardrail checks between the two 2026 versions. The real
apex signatures are checked against the real anchors as they are.
"""

from __future__ import annotations

import calendar
import dataclasses
import functools
import re
from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.rootzone_load import KSK_2010 as KSK_2010_DS
from dnssec.anchors import TrustAnchors
from dnssec.signatures import Rrsig, name_labels, signed_data
from resolver.lab import Lab
from resolver.lab.catalogue import plan
from resolver.lab.signing import ED25519, Window, zone_key
from resolver.lab.zones import StaticZone, ZoneSource
from rootzone.candidate import (
    LoadPolicy,
    build_zone,
    check_guardrails,
    check_serial,
    check_zonemd_policy,
    load_copy,
    records_from_rrsets,
    records_from_text,
    serial_newer,
)
from rootzone.errors import CandidateRejected
from rootzone.lifecycle import LifetimePolicy, retirement
from rootzone.model import RootCopy
from rootzone.verify import (
    DNSKEY,
    RRSIG,
    Zone,
    ZonemdFailure,
    ZonemdPolicy,
    ZonemdStatus,
    apply_zonemd_policy,
    delegation_data,
)
from rootzone.zonefile import IN, Record, parse_zone

Snapshot = Callable[[str], list[Record]]

DAY = 86400
ROOT = b"\x00"
VERIFY = LoadPolicy()
REQUIRE = LoadPolicy(zonemd=ZonemdPolicy.REQUIRE)
IGNORE = LoadPolicy(zonemd=ZonemdPolicy.IGNORE)
#: The lab root's serial.
LAB_SERIAL = 2025010100
UNKNOWN = dns.rdatatype.RdataType.make(65280)


def _utc(*moment: int) -> int:
    return calendar.timegm((*moment, 0, 0, 0)[:6])


def _rejected(kind: str, call: Callable[[], object]) -> str:
    """The message of the ``CandidateRejected`` that ``call`` raises, checking its kind."""
    with pytest.raises(CandidateRejected) as caught:
        call()
    assert caught.value.kind == kind, caught.value
    return str(caught.value)


# -- the lab root and variants of it --------------------------------------


@pytest.fixture(scope="session")
def root_source() -> ZoneSource:
    """The lab root's unsigned records and key, as the catalogue plans them."""
    (source,) = (source for source in plan().sources if source.origin == dns.name.root)
    return source


def _variant(
    source: ZoneSource,
    now: int,
    *,
    serial: int = LAB_SERIAL,
    extra: tuple[dns.rrset.RRset, ...] = (),
    without: frozenset[str] = frozenset(),
    zonemd: bool = True,
) -> StaticZone:
    """The lab root signed by the lab's signer, with another serial, more or fewer records."""
    rrsets: list[dns.rrset.RRset] = []
    for rrset in source.rrsets:
        if rrset.name.to_text() in without:
            continue
        if rrset.rdtype == dns.rdatatype.SOA:
            rrset = dns.rrset.from_rdata(rrset.name, rrset.ttl, rrset[0].replace(serial=serial))
        rrsets.append(rrset)
    changed = dataclasses.replace(source, rrsets=(*rrsets, *extra), zonemd=zonemd)
    return StaticZone.build(changed, Window.valid(now))


def _text(zone: StaticZone) -> str:
    text: str = zone.to_zone().to_text(sorted=True, relativize=False)
    return text


def _wire(rrsets: list[dns.rrset.RRset]) -> list[dns.rrset.RRset]:
    """``rrsets`` after a trip through DNS wire format, as a transfer delivers them."""
    response = dns.message.make_response(dns.message.make_query(".", dns.rdatatype.AXFR))
    response.answer = rrsets
    return dns.message.from_wire(response.to_wire()).answer


def _load(
    text: str,
    anchors: TrustAnchors,
    now: int,
    policy: LoadPolicy = VERIFY,
    current: RootCopy | None = None,
    size: int | None = None,
) -> RootCopy:
    records = records_from_text(text, source="lab.zone")
    return load_copy(
        records,
        source="lab.zone",
        size=len(text) if size is None else size,
        anchors=anchors,
        now=now,
        policy=policy,
        current=current,
    )


def _line(text: str, start: str) -> str:
    (line,) = (line for line in text.splitlines() if line.startswith(start))
    return line


def _change_last_digit(text: str, start: str) -> str:
    line = _line(text, start)
    return text.replace(line, line[:-1] + ("0" if line[-1] != "0" else "1"))


def test_the_lab_root_loads_verified(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    copy = _load(lab_root_text, lab_anchors, lab_now)
    assert (copy.serial, copy.source, copy.size) == (LAB_SERIAL, "lab.zone", len(lab_root_text))
    assert copy.zonemd.status is ZonemdStatus.VERIFIED
    assert copy.earliest_expiration == lab_now + 14 * DAY
    assert copy.delegations == {b"\x03com\x00", b"\x03net\x00", b"\x03org\x00"}
    assert copy.answers.zone is copy.zone
    assert (copy.refresh, copy.retry, copy.expire) == (7200, 3600, 1209600)


def test_text_and_transfer_give_the_same_records(
    session_lab: Lab, lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    query = dns.message.make_query(".", dns.rdatatype.AXFR)
    reply = session_lab.handle("127.53.0.1", query.to_wire(), tcp=True)
    assert reply.wire is not None
    wire = records_from_rrsets(dns.message.from_wire(reply.wire).answer)
    text = records_from_text(lab_root_text, source="lab.zone")
    assert sorted(record[:5] for record in wire) == sorted(record[:5] for record in text)
    assert Zone(wire).rrsets == Zone(text).rrsets
    copy = load_copy(
        wire, source="axfr://127.53.0.1", size=len(reply.wire), anchors=lab_anchors,
        now=lab_now, policy=VERIFY, current=None,
    )
    assert copy.zonemd.status is ZonemdStatus.VERIFIED


def test_the_closing_soa_of_a_transfer_is_dropped(lab_root_text: str) -> None:
    """RFC 5936: an AXFR stream ends with the SOA it began with, one RR per message or not."""
    zone = dns.zone.from_text(lab_root_text, dns.name.root, relativize=False)
    one_per_rr = [
        dns.rrset.from_rdata(name, rdataset.ttl, rdata)
        for name, rdataset in zone.iterate_rdatasets()
        for rdata in rdataset
    ]
    (soa,) = (rrset for rrset in one_per_rr if rrset.rdtype == dns.rdatatype.SOA)
    stream = [soa, *(rrset for rrset in one_per_rr if rrset is not soa), soa]
    records = records_from_rrsets(stream)
    assert [record.rdtype for record in records].count(dns.rdatatype.SOA) == 1
    assert records[0].line == 1
    assert len(records) == len(records_from_text(lab_root_text, source="lab.zone"))
    assert build_zone(records).rrsets == Zone(parse_zone(lab_root_text)).rrsets


def test_wire_rdata_is_canonical_but_nsec_keeps_its_case() -> None:
    """Names in RDATA are lowercased (RFC 4034 6.2) except NSEC's next name (RFC 6840 5.1)."""
    text = "Com. 300 IN NSEC Net. NS DS RRSIG NSEC\nCom. 3600 IN NS A.GTLD-Servers.NET.\n"
    rrsets = [
        dns.rrset.from_text("Com.", 300, "IN", "NSEC", "Net. NS DS RRSIG NSEC"),
        dns.rrset.from_text("Com.", 3600, "IN", "NS", "A.GTLD-Servers.NET."),
    ]
    wire = records_from_rrsets(_wire(rrsets))
    assert [record[:5] for record in wire] == [record[:5] for record in parse_zone(text)]
    assert wire[0].owner == b"\x03com\x00"
    assert wire[0].rdata.startswith(b"\x03Net\x00")
    assert wire[1].rdata == b"\x01a\x0cgtld-servers\x03net\x00"


def test_a_type_nobody_knows_is_opaque_on_the_wire_and_in_text() -> None:
    rdata = dns.rdata.from_wire(dns.rdataclass.IN, UNKNOWN, b"\xde\xad\xbe\xef", 0, 4)
    (record,) = records_from_rrsets(_wire([dns.rrset.from_rdata(".", 3600, rdata)]))
    assert (record.rdtype, record.rdata) == (65280, b"\xde\xad\xbe\xef")
    (parsed,) = parse_zone(". 3600 IN TYPE65280 \\# 4 deadbeef\n")
    assert parsed[:5] == record[:5]


@pytest.mark.parametrize(
    ("rrset", "reason"),
    [
        (dns.rrset.from_text(".", 0, "CH", "TXT", '"x"'), r"record 1 of .*: class CH, not IN"),
        (dns.rrset.RRset(dns.name.root, dns.rdataclass.IN, dns.rdatatype.ANY), "a query type"),
        (dns.rrset.from_text(dns.name.from_text("a", None), 0, "IN", "A", "192.0.2.1"),
         r"\(a A\): An attempt was made to convert a non-absolute name to wire"),
    ],
)
def test_what_a_zone_cannot_hold_on_the_wire_is_a_parse_error(
    rrset: dns.rrset.RRset, reason: str
) -> None:
    message = _rejected("parse", lambda: records_from_rrsets([rrset]))
    assert re.search(reason, message), message


def test_one_changed_octet_in_signed_data_is_refused_by_dnssec(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    text = _change_last_digit(lab_root_text, "com. 3600 IN DS ")
    for policy in (VERIFY, IGNORE):
        message = _rejected("dnssec", functools.partial(_load, text, lab_anchors, lab_now, policy))
        assert message.startswith("RRSIG over com. DS (line 17) by key 34915: ")


def test_one_changed_octet_in_glue_is_refused_by_zonemd_alone(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    """Glue is not signed (RFC 4035 2.2): only the ZONEMD digest covers it."""
    text = lab_root_text.replace("IN A 127.53.1.1\n", "IN A 127.53.1.9\n")
    message = _rejected("zonemd", lambda: _load(text, lab_anchors, lab_now))
    assert message == ". ZONEMD (line 11): the SHA-384 digest does not match the zone"
    copy = _load(text, lab_anchors, lab_now, IGNORE)
    assert copy.zonemd.status is ZonemdStatus.IGNORED


def test_an_unknown_type_signed_like_the_rest_loads_from_text_and_wire(
    root_source: ZoneSource, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    """A new type at the apex (as ZONEMD was in 2023), signed, in the NSEC bitmap and the digest."""
    rdata = dns.rdata.from_text(dns.rdataclass.IN, UNKNOWN, "\\# 4 deadbeef")
    zone = _variant(root_source, lab_now, extra=(dns.rrset.from_rdata(".", 3600, rdata),))
    text = _text(zone)
    assert ". 3600 IN TYPE65280 \\# 4 deadbeef\n" in text
    assert "ZONEMD TYPE65280\n" in text  # the apex NSEC bitmap
    copy = _load(text, lab_anchors, lab_now)
    assert copy.zonemd.status is ZonemdStatus.VERIFIED
    assert copy.zone.rrsets[(ROOT, 65280, 0)].rdatas == (b"\xde\xad\xbe\xef",)
    wire = records_from_rrsets(_wire(zone.transfer()))
    from_wire = load_copy(
        wire, source="axfr", size=len(text), anchors=lab_anchors, now=lab_now, policy=VERIFY,
        current=None,
    )
    assert from_wire.zone.rrsets == copy.zone.rrsets


def test_an_unknown_type_added_without_signing_it(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    """It parses; at the apex it is unsigned authoritative data, refused whatever the ZONEMD
    policy. Below a delegation it is occluded, unsigned by design: only the digest sees it."""
    apex = lab_root_text + ". 3600 IN TYPE65280 \\# 4 deadbeef\n"
    line = apex.count("\n")
    for policy in (VERIFY, IGNORE):
        message = _rejected("dnssec", functools.partial(_load, apex, lab_anchors, lab_now, policy))
        assert message == f". TYPE65280 (line {line}) is authoritative data without an RRSIG"
    occluded = lab_root_text + "x.com. 3600 IN TYPE65280 \\# 4 deadbeef\n"
    assert "does not match" in _rejected("zonemd", lambda: _load(occluded, lab_anchors, lab_now))
    assert _load(occluded, lab_anchors, lab_now, IGNORE).zone.records == 44


def test_a_made_up_mnemonic_is_refused_with_file_line_and_token(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    text = lab_root_text.replace("com. 300 IN NSEC ", "com. 300 IN FOO42 ", 1)
    line = lab_root_text.splitlines().index(_line(lab_root_text, "com. 300 IN NSEC ")) + 1
    message = _rejected("parse", lambda: _load(text, lab_anchors, lab_now))
    assert message == f"lab.zone:{line}: unknown type 'FOO42'"


def test_a_parse_error_without_its_token_in_the_message_names_it() -> None:
    message = _rejected("parse", lambda: records_from_text(" 3600 IN A 192.0.2.1\n", source="f"))
    assert message == "f:1: a record without owner name, and no earlier owner (at '3600')"


def test_records_that_are_not_one_root_zone(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    soa = _line(lab_root_text, ". 3600 IN SOA ")
    message = _rejected("structure", lambda: _load(lab_root_text.replace(soa, ""), lab_anchors,
                                                   lab_now))
    assert message == "a zone has exactly one SOA record, not 0"
    other = "example. 3600 IN SOA a.example. b.example. 1 2 3 4 5\n"
    assert _rejected("structure", lambda: _load(other, lab_anchors, lab_now)) == (
        "the zone is example., not the root zone"
    )


def test_signatures_are_checked_at_now(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    message = _rejected("dnssec", lambda: _load(lab_root_text, lab_anchors, lab_now + 15 * DAY))
    assert "expired at 2023-11-28T22:13:20Z" in message
    wrong = TrustAnchors.builtin()
    assert "matches a trust anchor" in _rejected(
        "dnssec", lambda: _load(lab_root_text, wrong, lab_now)
    )


# -- ZONEMD policy ------------------------------------------------------------


def test_zonemd_policies_on_a_zone_without_zonemd(
    root_source: ZoneSource, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    text = _text(_variant(root_source, lab_now, zonemd=False))
    assert "ZONEMD" not in text
    assert _load(text, lab_anchors, lab_now).zonemd.status is ZonemdStatus.ABSENT
    message = _rejected("zonemd", lambda: _load(text, lab_anchors, lab_now, REQUIRE))
    assert message == "no ZONEMD record at the apex ., and the policy requires one"
    assert _load(text, lab_anchors, lab_now, IGNORE).zonemd.status is ZonemdStatus.IGNORED


def _zonemd_zone(lab_records: list[Record], *digests: str) -> Zone:
    """The lab records with the ZONEMD RRset replaced by ``digests``: ``serial scheme hash hex``."""
    others = [record for record in lab_records if record.rdtype != dns.rdatatype.ZONEMD]
    text = "".join(f". 3600 IN ZONEMD {digest}\n" for digest in digests)
    return Zone([*others, *parse_zone(text)])


HEX48 = "ab" * 48


def test_zonemd_with_only_unsupported_hashes_is_unverified_even_when_required(
    lab_records: list[Record],
) -> None:
    zone = _zonemd_zone(lab_records, f"{LAB_SERIAL} 1 241 {HEX48}", f"{LAB_SERIAL} 2 1 {HEX48}")
    for policy in (ZonemdPolicy.VERIFY, ZonemdPolicy.REQUIRE):
        result = check_zonemd_policy(zone, policy)
        assert result.status is ZonemdStatus.UNVERIFIED
        assert result.detail.endswith("(scheme 1 hash 241, scheme 2 hash 1)")


@pytest.mark.parametrize(
    ("digests", "reason"),
    [
        ((f"{LAB_SERIAL} 1 1 {HEX48}",), "the SHA-384 digest does not match the zone"),
        ((f"{LAB_SERIAL} 1 241 {HEX48}", f"{LAB_SERIAL} 1 241 {'cd' * 48}"),
         "two records with scheme 1 and hash 241"),
        ((f"{LAB_SERIAL - 1} 1 241 {HEX48}",), f"serial {LAB_SERIAL - 1} is not the SOA serial"),
    ],
)
def test_zonemd_failures_under_verify_and_require_but_not_ignore(
    lab_records: list[Record], digests: tuple[str, ...], reason: str
) -> None:
    zone = _zonemd_zone(lab_records, *digests)
    for policy in (ZonemdPolicy.VERIFY, ZonemdPolicy.REQUIRE):
        with pytest.raises(ZonemdFailure, match=reason):
            apply_zonemd_policy(zone, policy)
        assert reason in _rejected("zonemd", functools.partial(check_zonemd_policy, zone, policy))
    assert check_zonemd_policy(zone, ZonemdPolicy.IGNORE).status is ZonemdStatus.IGNORED


def test_ignore_does_not_hash_the_zone(
    lab_records: list[Record], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> bytes:
        raise AssertionError("hashed")

    monkeypatch.setattr("rootzone.verify.zone_digest", refuse)
    result = apply_zonemd_policy(Zone(lab_records), ZonemdPolicy.IGNORE)
    assert result.status is ZonemdStatus.IGNORED
    with pytest.raises(AssertionError, match="hashed"):
        apply_zonemd_policy(Zone(lab_records), ZonemdPolicy.VERIFY)


# -- serial ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "current", "newer"),
    [
        (2, 1, True),
        (1, 1, False),
        (1, 2, False),
        (0, 2**32 - 1, True),  # wraps
        (2**32 - 1, 0, False),
        (2**31 - 1, 0, True),
        (2**31, 0, False),  # undefined (RFC 1982 3.2): not newer
        (2026082201, 2026082200, True),
    ],
)
def test_serial_arithmetic(candidate: int, current: int, newer: bool) -> None:
    assert serial_newer(candidate, current) is newer


@pytest.fixture(scope="session")
def lab_copy(lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int) -> RootCopy:
    """The lab root, loaded: the copy in use for the serial and guardrail tests."""
    return _load(lab_root_text, lab_anchors, lab_now)


def test_only_a_newer_serial_replaces_the_copy_in_use(
    root_source: ZoneSource, lab_copy: RootCopy, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    newer = _text(_variant(root_source, lab_now, serial=LAB_SERIAL + 1))
    replacement = _load(newer, lab_anchors, lab_now, current=lab_copy)
    assert replacement.serial == LAB_SERIAL + 1
    message = _rejected(
        "serial", lambda: _load(newer, lab_anchors, lab_now, current=replacement)
    )
    assert message == f"serial {LAB_SERIAL + 1} is not newer than {LAB_SERIAL + 1}, the copy in use"
    older = _text(_variant(root_source, lab_now, serial=LAB_SERIAL - 1))
    _rejected("serial", lambda: _load(older, lab_anchors, lab_now, current=lab_copy))


# -- guardrails -----------------------------------------------------------------


@pytest.fixture(scope="session")
def newer_text(root_source: ZoneSource, lab_now: int) -> str:
    """The lab root with the next serial, signed: a candidate every other check accepts."""
    return _text(_variant(root_source, lab_now, serial=LAB_SERIAL + 1))


def _refused_keeps(lab_copy: RootCopy, call: Callable[[], object]) -> str:
    """The guardrail's message; the copy in use is left exactly as it was."""
    zone, rrsets = lab_copy.zone, dict(lab_copy.zone.rrsets)
    message = _rejected("guardrail", call)
    assert lab_copy.zone is zone
    assert lab_copy.zone.rrsets == rrsets
    assert lab_copy.serial == LAB_SERIAL
    return message


def test_a_candidate_over_twice_the_size_is_refused(
    newer_text: str, lab_copy: RootCopy, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    size = 2 * lab_copy.size
    assert _load(newer_text, lab_anchors, lab_now, current=lab_copy, size=size).serial
    message = _refused_keeps(
        lab_copy,
        lambda: _load(newer_text, lab_anchors, lab_now, current=lab_copy, size=size + 1),
    )
    assert message == (
        f"{size + 1} octets, more than 2 times the {lab_copy.size} of the copy in use "
        f"(serial {LAB_SERIAL})"
    )


def test_duplicate_records_are_refused_with_or_without_a_copy_in_use(
    newer_text: str, lab_copy: RootCopy, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    glue = _line(newer_text, "b.org-servers.net. ")
    text = newer_text.replace(glue, f"{glue}\n{glue}\n{glue}")
    line = newer_text.splitlines().index(glue) + 1
    expected = f"2 duplicate records, in b.org-servers.net. A (line {line})"
    for current in (lab_copy, None):
        message = _refused_keeps(
            lab_copy, functools.partial(_load, text, lab_anchors, lab_now, current=current)
        )
        assert message == expected
    zone = Zone(parse_zone(text))
    assert (zone.duplicates, zone.records) == (2, lab_copy.zone.records)


def test_dropping_more_than_a_tenth_of_the_tlds_is_refused(
    root_source: ZoneSource, lab_copy: RootCopy, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    text = _text(_variant(root_source, lab_now, serial=LAB_SERIAL + 1, without=frozenset({"org."})))
    message = _refused_keeps(
        lab_copy, lambda: _load(text, lab_anchors, lab_now, current=lab_copy)
    )
    assert message == (
        f"adds 0 and drops 1 of the 3 delegations of the copy in use (serial {LAB_SERIAL}): "
        "33.3%, more than 10%, e.g. dropped org."
    )
    lenient = LoadPolicy(max_delegation_change=0.5)
    assert _load(text, lab_anchors, lab_now, lenient, current=lab_copy).delegations == {
        b"\x03com\x00",
        b"\x03net\x00",
    }


def test_adding_tlds_counts_too(
    root_source: ZoneSource, lab_copy: RootCopy, lab_now: int
) -> None:
    extra = (
        dns.rrset.from_text("test.", 3600, "IN", "NS", "a.gtld-servers.net."),
        dns.rrset.from_text("xyz.", 3600, "IN", "NS", "a.gtld-servers.net."),
    )
    zone = Zone(parse_zone(_text(_variant(root_source, lab_now, extra=extra))))
    message = _rejected("guardrail", lambda: check_guardrails(zone, 1, lab_copy, VERIFY))
    assert message.endswith("66.7%, more than 10%, e.g. added test. xyz.")


# -- the real root zones -----------------------------------------------------

#: The IANA anchors: KSK-2017 (20326) and KSK-2024 (38696).
IANA = TrustAnchors.builtin()
KSK_2010 = TrustAnchors.from_text(KSK_2010_DS, source="KSK-2010")
#: The key that re-signs the stripped archives.
RESIGNER = zone_key(dns.name.root, ED25519)
RESIGNER_ANCHOR = TrustAnchors.from_text(
    dns.rrset.from_rdata(dns.name.root, 3600, RESIGNER.ds()).to_text(), source="re-signer"
)


def _resigned(records: list[Record], now: int) -> list[Record]:
    """``records`` with the apex keys and all RRSIGs replaced by ``RESIGNER``'s.

    Every RRset that a root signs (all but delegation NS and glue) gets an
    Ed25519 signature valid from a day before ``now`` to 14 days after.
    """
    private = RESIGNER.private
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    kept = [record for record in records if record.rdtype not in (DNSKEY, RRSIG)]
    kept.append(Record(ROOT, DNSKEY, IN, 172800, RESIGNER.dnskey.to_digestable(), 0))
    zone = Zone(kept)
    unsigned = delegation_data(zone)
    signatures = []
    for key, rrset in zone.rrsets.items():
        if key in unsigned:
            continue
        rrsig = Rrsig(
            rrset.rdtype, ED25519, len(name_labels(rrset.owner)), rrset.ttl,
            now + 14 * DAY, now - DAY, RESIGNER.tag, ROOT, b"",
        )
        signature = private.sign(signed_data(rrsig, rrset))
        signatures.append(Record(rrset.owner, RRSIG, IN, rrset.ttl,
                                 rrsig.signed_header() + signature, 0))
    return kept + signatures


@functools.cache
def _resigned_snapshot(folder: Path, serial: str, now: int) -> tuple[Record, ...]:
    path = folder / f"root-{serial}.zone"
    return tuple(_resigned(parse_zone(path.read_text(encoding="utf-8"), source=path.name), now))


def _load_real(
    records: list[Record] | tuple[Record, ...],
    folder: Path,
    serial: str,
    anchors: TrustAnchors,
    now: int,
    policy: LoadPolicy = VERIFY,
    current: RootCopy | None = None,
) -> RootCopy:
    path = folder / f"root-{serial}.zone"
    return load_copy(
        records, source=path.name, size=path.stat().st_size, anchors=anchors, now=now,
        policy=policy, current=current,
    )


#: When each archive is checked: inside its apex signatures' windows.
CHECKED = {
    "2023110401": _utc(2023, 11, 5),
    "2023120700": _utc(2023, 12, 8),
    "2026082200": _utc(2026, 8, 23),
    "2026082201": _utc(2026, 8, 23),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("serial", sorted(CHECKED))
def test_the_stripped_archives_are_refused_as_they_are_for_their_unsigned_delegations(
    snapshot: Snapshot, root_snapshots: Path, serial: str
) -> None:
    """Their real apex signatures validate; the first unsigned RRset stops them, before ZONEMD."""
    records = snapshot(serial)
    now = CHECKED[serial]
    for policy in (VERIFY, IGNORE):
        load = functools.partial(_load_real, records, root_snapshots, serial, IANA, now, policy)
        message = _rejected("dnssec", load)
        assert message == ". NS (line 3) is authoritative data without an RRSIG"


@pytest.mark.shared_data
def test_2023110401_loads_as_unverified_hash_241(
    snapshot: Snapshot, root_snapshots: Path
) -> None:
    """The October 2023 format: its only ZONEMD uses the private hash 241."""
    now = CHECKED["2023110401"]
    zone = Zone(snapshot("2023110401"))
    for policy in (ZonemdPolicy.VERIFY, ZonemdPolicy.REQUIRE):
        result = check_zonemd_policy(zone, policy)
        assert result.status is ZonemdStatus.UNVERIFIED
        assert result.detail.endswith("(scheme 1 hash 241)")
    records = _resigned_snapshot(root_snapshots, "2023110401", now)
    for load_policy in (VERIFY, REQUIRE):
        copy = _load_real(records, root_snapshots, "2023110401", RESIGNER_ANCHOR, now, load_policy)
        assert (copy.serial, copy.zonemd.status) == (2023110401, ZonemdStatus.UNVERIFIED)
        assert "hash 241" in copy.zonemd.detail


@pytest.mark.shared_data
@pytest.mark.parametrize("serial", ["2023120700", "2026082200", "2026082201"])
def test_sha384_archives_are_refused_under_verify_and_loaded_under_ignore(
    snapshot: Snapshot, root_snapshots: Path, serial: str
) -> None:
    """Their digests covered the RRSIGs the archive stripped, so they do not match."""
    zone = Zone(snapshot(serial))
    mismatch = r"\. ZONEMD \(line \d+\): the SHA-384 digest does not match the zone"
    for policy in (ZonemdPolicy.VERIFY, ZonemdPolicy.REQUIRE):
        with pytest.raises(ZonemdFailure, match=mismatch):
            apply_zonemd_policy(zone, policy)
    assert apply_zonemd_policy(zone, ZonemdPolicy.IGNORE).status is ZonemdStatus.IGNORED
    now = CHECKED[serial]
    records = _resigned_snapshot(root_snapshots, serial, now)
    message = _rejected(
        "zonemd", lambda: _load_real(records, root_snapshots, serial, RESIGNER_ANCHOR, now)
    )
    assert re.fullmatch(mismatch, message), message
    copy = _load_real(records, root_snapshots, serial, RESIGNER_ANCHOR, now, IGNORE)
    assert (str(copy.serial), copy.zonemd.status) == (serial, ZonemdStatus.IGNORED)


@pytest.mark.shared_data
def test_2026082201_replaces_2026082200_but_not_the_other_way_round(
    snapshot: Snapshot, root_snapshots: Path
) -> None:
    now = CHECKED["2026082200"]

    def load(serial: str, current: RootCopy | None) -> RootCopy:
        records = _resigned_snapshot(root_snapshots, serial, now)
        return _load_real(records, root_snapshots, serial, RESIGNER_ANCHOR, now, IGNORE, current)

    first = load("2026082200", None)
    second = load("2026082201", first)
    assert second.serial == 2026082201
    assert second.delegations == first.delegations  # 1,438 TLDs, none added or dropped
    message = _rejected("serial", lambda: load("2026082200", second))
    assert message == "serial 2026082200 is not newer than 2026082201, the copy in use"
    # The same two checks on the archives as they are, without the re-signing:
    as_is = Zone(snapshot("2026082201"))
    size = (root_snapshots / "root-2026082201.zone").stat().st_size
    check_guardrails(as_is, size, first, VERIFY)
    check_serial(as_is, first)
    _rejected("serial", lambda: check_serial(Zone(snapshot("2026082200")), second))


@pytest.mark.shared_data
def test_2017_loads_without_zonemd_under_verify_not_under_require(
    snapshot: Snapshot, root_snapshots: Path
) -> None:
    """Complete and fully signed (KSK-2010), from before ZONEMD existed."""
    now = _utc(2017, 8, 22)
    records = snapshot("2017082100")
    copy = _load_real(records, root_snapshots, "2017082100", KSK_2010, now)
    assert copy.zonemd.status is ZonemdStatus.ABSENT
    assert copy.earliest_expiration == _utc(2017, 9, 3, 5)
    assert len(copy.delegations) == 1547
    message = _rejected(
        "zonemd", lambda: _load_real(records, root_snapshots, "2017082100", KSK_2010, now, REQUIRE)
    )
    assert message == "no ZONEMD record at the apex ., and the policy requires one"
    expired = _utc(2017, 9, 4)
    assert "expired at 2017-09-03T05:00:00Z" in _rejected(
        "dnssec", lambda: _load_real(records, root_snapshots, "2017082100", KSK_2010, expired)
    )


@pytest.mark.shared_data
def test_2017_is_retired_an_hour_before_its_earliest_signature_expiration(
    snapshot: Snapshot, root_snapshots: Path
) -> None:
    """Kept refreshed, the signatures decide: 2017-09-03 05:00 minus one hour.

    Loaded once and never refreshed, SOA expire (7 days) would come first.
    """
    loaded = _utc(2017, 8, 22)
    copy = _load_real(snapshot("2017082100"), root_snapshots, "2017082100", KSK_2010, loaded)
    refreshed = _utc(2017, 9, 1)
    retired = retirement(copy, loaded_at=loaded, refreshed_at=refreshed, policy=LifetimePolicy())
    assert retired.at == _utc(2017, 9, 3, 4)
    assert retired.reason == "3600 s before its earliest signature expiration"
    unrefreshed = retirement(copy, loaded_at=loaded, refreshed_at=loaded, policy=LifetimePolicy())
    assert unrefreshed.at == loaded + 7 * DAY
    assert unrefreshed.reason == "SOA expire (604800 s) after the last refresh"


# -- nothing but CandidateRejected, whatever the input ----------------------------

#: Characters and tokens that zone-file syntax gives a meaning to.
_TOKENS = (
    " ", "\t", "\n", ";", "(", ")", "\\", '"', "#", ".", "$", "@", "0", "9", "a", "Z", "-", "+",
    "/", "=", "*", "\\#", "TYPE65280", "FOO42", "$ORIGIN", "$TTL", "$INCLUDE", "IN", "CH", "SOA",
    "NS", "DS", "DNSKEY", "RRSIG", "NSEC", "ZONEMD", "A", "com.", "4294967295", "65535", "1h",
)


@st.composite
def _mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few characters, tokens or whole lines changed."""
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(text)))
        edit = draw(st.sampled_from(("insert", "delete", "line")))
        if edit == "insert":
            text = text[:position] + draw(st.sampled_from(_TOKENS)) + text[position:]
        elif edit == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 20)) :]
        else:
            lines = text.split("\n")
            line = lines[position % len(lines)]
            target = draw(st.integers(min_value=0, max_value=len(lines)))
            lines.insert(target, line)
            if draw(st.booleans()):
                lines.pop(position % len(lines))
            text = "\n".join(lines)
    return text


@pytest.fixture(scope="session")
def older_copy(root_source: ZoneSource, lab_anchors: TrustAnchors, lab_now: int) -> RootCopy:
    """A copy in use that the lab root (one serial later) may replace."""
    return _load(_text(_variant(root_source, lab_now, serial=LAB_SERIAL - 1)), lab_anchors, lab_now)


@settings(max_examples=300)
@given(data=st.data())
def test_any_mutation_of_the_lab_root_is_loaded_or_refused_never_crashes(
    lab_root_text: str,
    lab_anchors: TrustAnchors,
    lab_now: int,
    older_copy: RootCopy,
    data: st.DataObject,
) -> None:
    text = data.draw(_mutated(lab_root_text))
    policy = data.draw(st.sampled_from((VERIFY, REQUIRE, IGNORE)))
    current = data.draw(st.sampled_from((None, older_copy)))
    outcome: RootCopy | CandidateRejected
    try:
        outcome = _load(text, lab_anchors, lab_now, policy, current)
    except CandidateRejected as error:
        outcome = error
    if isinstance(outcome, CandidateRejected):
        assert outcome.kind in {"parse", "structure", "guardrail", "serial", "dnssec", "zonemd"}
    else:
        assert outcome.serial == outcome.zone.serial
