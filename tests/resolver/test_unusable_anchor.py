"""A trust anchor DS whose digest length disagrees with its digest type (issue 18).

Deckard's ``val_minimal_baddsdigesttype``: such an anchor must not stop the
resolver; it is kept, logged, and the zone under it fails validation.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dns.edns
import dns.name
import dns.rdatatype
import pytest

from dnssec.anchors import TrustAnchors
from dnssec.status import Security
from resolver import cli
from resolver.clock import FakeClock
from resolver.lab import Lab
from tests.resolver.test_iterator import Harness

#: The scenario's anchor: a SHA-256 digest (32 octets) labelled SHA-1 (type 1).
BAD_DS = ". IN DS 49060 8 1 E7B1EB56D7D5791B3D45630FEAA9C823DB84B385ACEEAC5F44DD08885C36700F\n"


def _relabelled(lab: Lab) -> str:
    """The lab's root DS with its SHA-256 digest labelled SHA-1, as in the scenario."""
    owner, ttl, klass, kind, tag, algorithm, digest_type, digest = lab.trust_anchor_text().split()
    assert digest_type == "2"
    return f"{owner} {ttl} {klass} {kind} {tag} {algorithm} 1 {digest}\n"


def test_the_file_loads_and_the_record_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="holdfast.anchors"):
        anchors = TrustAnchors.from_text(BAD_DS + "example. DS 1 13 2 " + "AB" * 32, source="ta")
    assert anchors.zones() == (dns.name.from_text("example."), dns.name.root)
    (root,) = (rrset for rrset in anchors.rrsets if rrset.name == dns.name.root)
    assert root.rdtype == dns.rdatatype.DS
    assert [r.to_digestable().hex()[:8] for r in root] == ["bfa40801"]
    (warning,) = caplog.records
    assert warning.getMessage().startswith("ta:1: trust anchor '. IN DS 49060 8 1 E7B1")


def test_an_unknown_digest_type_still_loads_as_before(caplog: pytest.LogCaptureFixture) -> None:
    anchors = TrustAnchors.from_text(". DS 1 8 200 ABCD\n", source="ta")
    assert [rdata.digest_type for rdata in anchors.rrsets[0]] == [200]
    # Not taken for a digest-length mismatch; only the warning that such an
    # anchor leaves its zone insecure (``dnssec.anchors``, as Unbound's).
    (warning,) = caplog.records
    assert "has no supported algorithm or digest type" in warning.getMessage()


async def test_names_under_it_fail_validation(
    lab: Lab, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    relabelled = _relabelled(lab)
    monkeypatch.setattr(lab, "trust_anchor_text", lambda: relabelled)
    outcome = await Harness(lab, clock).ask("www.example.com.")
    # BOGUS: a client without CD gets SERVFAIL and the EDE (Outcome.failed).
    assert outcome.failed
    assert outcome.security is Security.BOGUS
    assert outcome.errors[0].code == dns.edns.EDECode.DNSKEY_MISSING
    assert "no DNSKEY matches the DS" in outcome.errors[0].text


def test_check_config_accepts_it_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    anchor = tmp_path / "root.ds"
    anchor.write_text(BAD_DS)
    config = tmp_path / "holdfast.toml"
    config.write_text(f'[dnssec]\ntrust_anchors = ["{anchor}"]\n')
    assert cli.main(["check-config", str(config)]) == 0
    assert "ok" in capsys.readouterr().out
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert str(anchor) in caplog.records[0].getMessage()
