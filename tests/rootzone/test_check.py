"""``holdfast rootzone check``: every signed RRset counted, and the loader's verdict.

The lab root has one key (34915, flags 257) signing 11 RRsets from an hour
before ``lab_now`` to 14 days after it; com., net. and org. are delegations
with 9 glue addresses below them. ``check_zone`` on the real snapshots is in
test_snapshots.py; the command on the 2017 one is at the end here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.rootzone_load import KSK_2010
from dnssec.anchors import IANA_ROOT_ANCHORS, TrustAnchors
from dnssec.signatures import utc_text
from resolver.cli import main
from rootzone.check import NO_KEY, ORPHAN, UNTRUSTED_APEX, ZoneCheck, check_zone
from rootzone.verify import Zone
from rootzone.zonefile import parse_zone

#: The lab's signatures expire 14 days after ``lab_now``.
LAB_EXPIRATION = "2023-11-28T22:13:20Z"
#: An hour earlier, a copy of the lab root is retired (its SOA expire is 14 days too).
LAB_RETIREMENT = "2023-11-28T21:13:20Z"
DAY = 86400


def _check(text: str, anchors: TrustAnchors, now: int) -> ZoneCheck:
    return check_zone(Zone(parse_zone(text, source="lab root")), anchors, now)


def _line(text: str, start: str) -> str:
    """The one line of ``text`` that starts with ``start``."""
    (line,) = (line for line in text.splitlines() if line.startswith(start))
    return line


def _without(text: str, start: str) -> str:
    return text.replace(_line(text, start) + "\n", "")


def test_the_lab_root_is_all_secure(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    result = _check(lab_root_text, lab_anchors, lab_now)
    assert result.ok
    assert (result.origin, result.serial, result.at) == (".", 2025010100, lab_now)
    assert (result.rrsets, result.secure, result.bogus) == (23, 11, ())
    assert (result.unsigned_delegation, result.unsigned_authoritative) == (12, ())
    assert result.anchor_failure is None
    expiration = result.earliest_expiration
    assert expiration is not None
    assert (expiration.iso, expiration.rrset, expiration.rrsets) == (
        LAB_EXPIRATION,
        ". SOA (line 1)",
        11,
    )
    assert expiration.at == lab_now + 14 * DAY
    assert result.zonemd_present


def test_a_dnskey_anchor_works_as_well_as_a_ds(lab_root_text: str, lab_now: int) -> None:
    dnskey = _line(lab_root_text, ". 3600 IN DNSKEY ")
    anchors = TrustAnchors.from_text(dnskey, source="lab DNSKEY")
    assert _check(lab_root_text, anchors, lab_now).secure == 11


def test_changed_data_is_bogus_and_the_rest_still_secure(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    ds = _line(lab_root_text, "com. 3600 IN DS ")
    text = lab_root_text.replace(ds, ds[:-1] + ("0" if ds[-1] != "0" else "1"))
    result = _check(text, lab_anchors, lab_now)
    assert not result.ok
    assert result.secure == 10
    (bogus,) = result.bogus
    assert (bogus.rrset, bogus.kind) == ("com. DS (line 17)", "bad signature")
    assert bogus.reason.startswith("RRSIG over com. DS (line 17) by key 34915: ")
    assert "does not verify" in bogus.reason
    assert result.bogus_kinds() == {"bad signature": 1}


def test_an_rrsig_naming_no_zone_key_is_bogus(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    rrsig = _line(lab_root_text, "net. 300 IN RRSIG NSEC ")
    text = lab_root_text.replace(rrsig, rrsig.replace(" 34915 . ", " 1 . "))
    (bogus,) = _check(text, lab_anchors, lab_now).bogus
    assert (bogus.rrset, bogus.kind) == ("net. NSEC (line 27)", NO_KEY)
    assert "no zone key 1 with algorithm 8" in bogus.reason


def test_missing_signatures_and_orphan_signatures(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    """An RRSIG over nothing is bogus; authoritative data without one is counted apart."""
    text = _without(_without(lab_root_text, "com. 300 IN RRSIG NSEC "), "org. 3600 IN DS ")
    result = _check(text, lab_anchors, lab_now)
    assert not result.ok
    assert result.secure == 9
    (bogus,) = result.bogus
    assert bogus.kind == ORPHAN
    assert bogus.reason.endswith("covers org. DS, which is not in the zone")
    assert result.unsigned_authoritative == ("com. NSEC (line 19)",)
    assert result.unsigned_delegation == 12


def test_unsigned_authoritative_data_alone_is_not_bogus(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    result = _check(_without(lab_root_text, "com. 300 IN RRSIG NSEC "), lab_anchors, lab_now)
    assert result.ok
    assert (result.secure, len(result.unsigned_authoritative)) == (10, 1)


def test_expired_keys_make_every_signed_rrset_bogus(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    """The lab's DNSKEY signature expires with the rest, so the apex fails first."""
    result = _check(lab_root_text, lab_anchors, lab_now + 15 * DAY)
    assert not result.ok
    assert result.anchor_failure is not None
    assert f"expired at {LAB_EXPIRATION}" in result.anchor_failure
    assert (result.secure, len(result.bogus)) == (0, 11)
    assert result.bogus_kinds() == {UNTRUSTED_APEX: 11}
    expiration = result.earliest_expiration
    assert expiration is not None
    assert expiration.at < result.at


def test_signatures_are_not_valid_before_their_inception(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    result = _check(lab_root_text, lab_anchors, lab_now - 2 * 3600)
    assert result.anchor_failure is not None
    assert "not valid before" in result.anchor_failure


def test_the_wrong_anchor_makes_every_signed_rrset_bogus(lab_root_text: str, lab_now: int) -> None:
    result = _check(lab_root_text, TrustAnchors.builtin(), lab_now)
    assert not result.ok
    assert result.anchor_failure == "no DNSKEY of . (keys 34915) matches a trust anchor"
    assert (result.secure, len(result.bogus)) == (0, 11)
    assert result.bogus[0].reason == ". SOA (line 1): the apex DNSKEY RRset is not validated"


def test_signature_times_wrap_after_2106(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    """RRSIG times are serials (RFC 4034 section 3.1.5): 2**32 s later they are valid again."""
    later = lab_now + 2**32
    result = _check(lab_root_text, lab_anchors, later)
    assert result.secure == 11
    expiration = result.earliest_expiration
    assert expiration is not None
    assert expiration.at == later + 14 * DAY


def test_utc_text() -> None:
    assert utc_text(1503360000) == "2017-08-22T00:00:00Z"


# The command.


@pytest.fixture
def lab_files(tmp_path: Path, lab_root_text: str, lab_anchors: TrustAnchors) -> tuple[Path, Path]:
    zone = tmp_path / "root.zone"
    zone.write_text(lab_root_text, encoding="utf-8")
    anchor = tmp_path / "anchor.ds"
    anchor.write_text("".join(rrset.to_text() + "\n" for rrset in lab_anchors.rrsets))
    return zone, anchor


def _run(*arguments: str) -> int:
    return main(["rootzone", "check", *arguments])


def test_command_on_a_good_zone_exits_0(
    lab_files: tuple[Path, Path], lab_now: int, capsys: pytest.CaptureFixture[str]
) -> None:
    zone, anchor = lab_files
    assert _run(str(zone), "--trust-anchor", str(anchor), "--at", str(lab_now)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == (
        f"zone . serial 2025010100 ({zone}: 43 records, 23 RRsets), checked at 2023-11-14T22:13:20Z"
    )
    assert lines[1:6] == [
        "apex DNSKEY: validated by the trust anchors",
        "secure: 11",
        "bogus: 0",
        "unsigned: 12 (12 delegation NS and glue, as expected; 0 authoritative without RRSIG)",
        f"earliest signature expiration: {LAB_EXPIRATION}: . SOA (line 1), and 10 more RRsets",
    ]
    assert lines[6:10] == [
        "DNSSEC: valid",
        "ZONEMD (policy verify): verified: the SIMPLE SHA-384 digest matches",
        f"retirement: {LAB_RETIREMENT}, 3600 s before its earliest signature expiration",
        "verdict: used at 2023-11-14T22:13:20Z",
    ]
    assert lines[10].startswith("time: parse ")


def test_command_with_json_prints_one_line(
    lab_files: tuple[Path, Path], lab_now: int, capsys: pytest.CaptureFixture[str]
) -> None:
    zone, anchor = lab_files
    at = "2023-11-14T23:13:20+01:00"  # lab_now, with an offset
    assert _run(str(zone), "--trust-anchor", str(anchor), "--at", at, "--json") == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    report = json.loads(out)
    assert report["zone"] == str(zone)
    assert report["at"] == "2023-11-14T22:13:20Z"
    assert (report["secure"], report["bogus"], report["unsigned_delegation"]) == (11, 0, 12)
    assert report["apex_validated"] is True
    assert report["earliest_expiration"] == LAB_EXPIRATION
    assert report["earliest_expiration_rrset"] == ". SOA (line 1)"
    assert (report["dnssec_valid"], report["dnssec_failure"]) == (True, None)
    assert (report["zonemd_policy"], report["zonemd"]) == ("verify", "verified")
    assert report["retirement"] == LAB_RETIREMENT
    assert report["retirement_reason"] == "3600 s before its earliest signature expiration"
    assert (report["verdict"], report["refused_kind"], report["refused_reason"]) == (
        "used",
        None,
        None,
    )
    assert {"parse_s", "check_s", "load_s"} <= report.keys()


def test_command_lists_bogus_rrsets_and_exits_1(
    lab_files: tuple[Path, Path], lab_now: int, capsys: pytest.CaptureFixture[str]
) -> None:
    zone, anchor = lab_files
    text = zone.read_text(encoding="utf-8")
    for start in ("com. 3600 IN DS ", "net. 3600 IN DS ", "org. 3600 IN DS "):
        ds = _line(text, start)
        text = text.replace(ds, ds[:-1] + ("0" if ds[-1] != "0" else "1"))
    zone.write_text(text, encoding="utf-8")
    assert _run(str(zone), "--trust-anchor", str(anchor), "--at", str(lab_now)) == 1
    out = capsys.readouterr().out
    assert "secure: 8\nbogus: 3 (3 bad signature)\n" in out
    assert "  RRSIG over com. DS (line 17) by key 34915: signature does not verify" in out
    assert "  RRSIG over org. DS (line " in out
    assert "\nDNSSEC: refused: RRSIG over com. DS (line 17) by key 34915: " in out
    assert "\nretirement: none, the copy is refused\n" in out
    assert "\nverdict: refused (dnssec): RRSIG over com. DS (line 17) by key 34915: " in out


def test_command_with_the_wrong_anchor_says_so_in_one_line(
    lab_files: tuple[Path, Path], lab_now: int, capsys: pytest.CaptureFixture[str]
) -> None:
    zone, _ = lab_files
    assert _run(str(zone), "--at", str(lab_now)) == 1  # the built-in IANA anchors
    out = capsys.readouterr().out
    (line,) = (line for line in out.splitlines() if "apex DNSKEY" in line)
    assert line == (
        "bogus: the apex DNSKEY RRset does not validate against the trust anchors, so all "
        "11 signed RRsets are bogus: no DNSKEY of . (keys 34915) matches a trust anchor"
    )
    assert "bogus: 11 (11 apex not validated)" in out
    assert "RRSIG over" not in out
    assert "verdict: refused (dnssec): no DNSKEY of . (keys 34915) matches a trust anchor" in out


def test_command_on_expired_signatures_exits_1(
    lab_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    zone, anchor = lab_files
    assert _run(str(zone), "--trust-anchor", str(anchor), "--at", "2023-12-01") == 1
    out = capsys.readouterr().out
    assert f"signature expired at {LAB_EXPIRATION}" in out
    assert f"earliest signature expiration: {LAB_EXPIRATION} (already past)" in out
    assert "\nverdict: refused (dnssec): " in out


def test_command_on_a_copy_past_its_retirement_exits_1(
    lab_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Half an hour before the signatures expire they still verify, but the copy is retired."""
    zone, anchor = lab_files
    at = "2023-11-28T21:43:20Z"
    assert _run(str(zone), "--trust-anchor", str(anchor), "--at", at) == 1
    out = capsys.readouterr().out
    assert "\nDNSSEC: valid\n" in out
    assert (
        f"\nretirement: {LAB_RETIREMENT} (already past), 3600 s before its earliest signature "
        f"expiration\nverdict: retired at {at}\n"
    ) in out


def test_command_refuses_unsigned_authoritative_data(
    lab_files: tuple[Path, Path], lab_now: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is bogus, but a validator would refuse com.'s NSEC: so does the loader."""
    zone, anchor = lab_files
    zone.write_text(_without(zone.read_text(encoding="utf-8"), "com. 300 IN RRSIG NSEC "))
    assert _run(str(zone), "--trust-anchor", str(anchor), "--at", str(lab_now)) == 1
    out = capsys.readouterr().out
    assert "\nbogus: 0\n" in out
    reason = "com. NSEC (line 19) is authoritative data without an RRSIG"
    assert f"\nDNSSEC: refused: {reason}\n" in out
    assert f"\nverdict: refused (dnssec): {reason}\n" in out


def test_command_applies_the_zonemd_policy(
    lab_files: tuple[Path, Path], lab_now: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Glue is not signed: a changed glue address breaks only the digest."""
    zone, anchor = lab_files
    zone.write_text(zone.read_text(encoding="utf-8").replace("A 127.53.1.1\n", "A 127.53.1.9\n"))
    common = (str(zone), "--trust-anchor", str(anchor), "--at", str(lab_now))
    assert _run(*common) == 1
    out = capsys.readouterr().out
    mismatch = ". ZONEMD (line 11): the SHA-384 digest does not match the zone"
    assert f"\nDNSSEC: valid\nZONEMD (policy verify): refused: {mismatch}\n" in out
    assert f"\nverdict: refused (zonemd): {mismatch}\n" in out
    assert _run(*common, "--zonemd", "require") == 1
    assert "verdict: refused (zonemd)" in capsys.readouterr().out
    assert _run(*common, "--zonemd", "ignore", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["zonemd_policy"], report["zonemd"], report["verdict"]) == (
        "ignore",
        "ignored",
        "used",
    )
    assert report["zonemd_detail"] == "ZONEMD not checked: the policy is ignore"


def test_command_refuses_an_unknown_zonemd_policy(
    lab_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    zone, _ = lab_files
    with pytest.raises(SystemExit) as exit_info:
        _run(str(zone), "--zonemd", "sometimes")
    assert exit_info.value.code == 2
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert err.startswith("holdfast: error: ")
    return err.rstrip("\n")


def test_command_on_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.zone"
    assert _run(str(missing), "--at", "0") == 2
    assert _error(capsys) == f"holdfast: error: {missing}: cannot read: No such file or directory"


def test_command_on_a_parse_error_names_file_line_and_token(
    lab_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    zone, anchor = lab_files
    text = zone.read_text(encoding="utf-8")
    zone.write_text(text + "bad. 3600 IN A 192.0.2\n")
    line = text.count("\n") + 1
    assert _run(str(zone), "--trust-anchor", str(anchor), "--at", "0") == 2
    assert _error(capsys).startswith(f"holdfast: error: {zone}:{line}: bad A data '192.0.2': ")


def test_command_names_a_token_the_message_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zone = tmp_path / "root.zone"
    zone.write_text(" 3600 IN A 192.0.2.1\n")
    assert _run(str(zone), "--at", "0") == 2
    assert _error(capsys) == (
        f"holdfast: error: {zone}:1: a record without owner name, and no earlier owner (at '3600')"
    )


def test_command_on_a_zone_without_soa_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zone = tmp_path / "root.zone"
    zone.write_text("example. 3600 IN A 192.0.2.1\n")
    assert _run(str(zone), "--at", "0") == 2
    assert _error(capsys) == f"holdfast: error: {zone}: a zone has exactly one SOA record, not 0"


def test_command_on_a_bad_anchor_file_exits_2(
    lab_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zone, _ = lab_files
    anchor = tmp_path / "anchor.txt"
    anchor.write_text(". 3600 IN A 192.0.2.1\n")
    assert _run(str(zone), "--trust-anchor", str(anchor), "--at", "0") == 2
    assert _error(capsys) == (
        f"holdfast: error: {anchor}: . A: a trust anchor must be a DS or DNSKEY record"
    )
    assert _run(str(zone), "--trust-anchor", str(tmp_path / "absent.ds")) == 2
    assert "cannot read" in _error(capsys)


def test_command_refuses_a_bad_time(
    lab_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    zone, _ = lab_files
    with pytest.raises(SystemExit) as exit_info:
        _run(str(zone), "--at", "yesterday")
    assert exit_info.value.code == 2
    assert "'yesterday' is neither ISO 8601 nor POSIX seconds" in capsys.readouterr().err


@pytest.mark.shared_data
@pytest.mark.parametrize(("at", "code"), [("2017-08-22T00:00:00Z", 0), ("2017-09-05", 1)])
def test_command_on_the_2017_root(
    root_snapshots: Path, tmp_path: Path, at: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """2,950 signed RRsets; on 2017-09-05 only the DNSKEY RRset's (KSK) signature is valid."""
    anchor = tmp_path / "root-anchors.ds"
    anchor.write_text(KSK_2010 + IANA_ROOT_ANCHORS)  # 19036, 20326 and 38696
    zone = str(root_snapshots / "root-2017082100.zone")
    assert _run(zone, "--trust-anchor", str(anchor), "--at", at) == code
    out = capsys.readouterr().out
    counts = "secure: 2950\nbogus: 0\n" if code == 0 else "secure: 1\nbogus: 2949 (2949 expired)\n"
    assert f"apex DNSKEY: validated by the trust anchors\n{counts}" in out
    assert "unsigned: 9653 (9653 delegation NS and glue, as expected; 0 authoritative" in out
    assert "earliest signature expiration: 2017-09-03T05:00:00Z" in out
    assert "\nZONEMD (policy verify): absent: no ZONEMD record at the apex\n" in out
    if code == 0:  # loaded once, never refreshed: SOA expire (7 days) comes first
        assert (
            "\nretirement: 2017-08-29T00:00:00Z, SOA expire (604800 s) after the last refresh\n"
            "verdict: used at 2017-08-22T00:00:00Z\n"
        ) in out
    else:
        assert "\nverdict: refused (dnssec): RRSIG over . SOA (line 1) by key 15768: " in out


@pytest.mark.shared_data
def test_command_on_the_2017_root_requiring_zonemd(
    root_snapshots: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchor = tmp_path / "ksk-2010.ds"
    anchor.write_text(KSK_2010)
    zone = str(root_snapshots / "root-2017082100.zone")
    arguments = ("--trust-anchor", str(anchor), "--at", "2017-08-22", "--zonemd", "require")
    assert _run(zone, *arguments) == 1
    out = capsys.readouterr().out
    reason = "no ZONEMD record at the apex ., and the policy requires one"
    assert f"\nDNSSEC: valid\nZONEMD (policy require): refused: {reason}\n" in out
    assert f"\nverdict: refused (zonemd): {reason}\n" in out


@pytest.mark.shared_data
def test_command_on_the_stripped_2023110401_root(
    root_snapshots: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its apex validates with the IANA anchors and its ZONEMD (hash 241) is unverified, but
    the archive stripped the other RRSIGs, so the loader refuses it."""
    zone = str(root_snapshots / "root-2023110401.zone")
    assert _run(zone, "--at", "2023-11-05") == 1  # the built-in IANA anchors
    out = capsys.readouterr().out
    assert "apex DNSKEY: validated by the trust anchors\nsecure: 2\nbogus: 0\n" in out
    assert (
        "\nZONEMD (policy verify): unverified: no ZONEMD record uses a supported scheme and "
        "hash (scheme 1 hash 241)\n"
    ) in out
    unsigned = ". NS (line 3) is authoritative data without an RRSIG"
    assert f"\nverdict: refused (dnssec): {unsigned}\n" in out


def test_command_refuses_a_fifo_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file the user names is read only if it is a regular file (dnssec.files)."""
    fifo = tmp_path / "root.zone"
    os.mkfifo(fifo)
    assert _run(str(fifo), "--at", "0") == 2
    assert "not a regular file" in _error(capsys)
