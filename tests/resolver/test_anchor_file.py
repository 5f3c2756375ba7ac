"""The RFC 5011 state file: its text, the atomic write, check-config and ``holdfast anchor``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest

from dnssec.anchorstate import AnchorStateError, parse, read_state, render, write_atomically
from dnssec.files import FileRefused
from dnssec.rfc5011 import KeyState, ManagedKey, TrustPoint
from resolver.cli import main
from resolver.config import Config, load_config
from resolver.errors import ConfigError
from resolver.lab.signing import zone_key
from resolver.settings import check_files

ZONE = dns.name.from_text("ecdsa.org.")
KEY = zone_key(ZONE, 13)
POINT = TrustPoint(
    ZONE,
    (
        ManagedKey(dns.rdatatype.DNSKEY, KEY.dnskey.to_digestable(), KeyState.ADDPEND,
                   1_700_000_000, 3600, 3),
        ManagedKey(dns.rdatatype.DS, KEY.ds().to_digestable(), KeyState.VALID),
    ),
    last_queried=1_700_000_100,
    last_success=1_700_000_100,
    next_probe=1_700_003_700,
    query_failed=0,
    query_interval=3600,
    retry_time=3600,
)


def test_the_file_reads_back_what_was_written_and_people_can_read_it() -> None:
    text = render([POINT])
    assert parse(text, source="x") == (POINT,)
    assert f";{{id = {KEY.tag} (ksk)}} ;;state=ADDPEND ;;count=3" in text
    assert ";;last_success: 1700000100 ;;2023-11-14T22:15:00Z" in text


def test_a_hand_written_anchor_file_is_a_start() -> None:
    (point,) = parse(f"ecdsa.org. 3600 IN DS {KEY.ds().to_text()}\n", source="x")
    assert point.zone == ZONE
    assert point.keys[0].state is KeyState.VALID


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (";;id: . 1\n. 3600 IN A 192.0.2.1\n", "x:2: not a DS or DNSKEY record"),
        (f";;id: . 1\nexample. 3600 IN DS {KEY.ds().to_text()}\n", "x:2: example. is not in"),
        (f";;id: . 1\n. IN DS {KEY.ds().to_text()} ;;state=TRUSTED\n", "x:2: unknown state"),
        (";;id: . 1\n;;next_probe_time: soon\n", "x:2: invalid literal"),
        (";;bogus: 1\n", "x:1: unknown or misplaced"),
        ("; nothing\n", "x: no DS or DNSKEY record"),
    ],
)
def test_a_bad_file_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(AnchorStateError, match=message):
        parse(text, source="x")


def test_a_crash_between_write_and_rename_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "root.key"
    write_atomically(path, render([POINT]))
    before = path.read_text()

    def crash(source: str, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, "half a file")
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root.key"]  # no temporary left


def test_the_state_file_is_read_bounded(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match="not a regular file"):
        read_state(tmp_path)


def _config(tmp_path: Path, **values: object) -> Config:
    """A configuration file with these ``[dnssec]`` values, loaded as ``check-config`` does."""
    lines = ["[dnssec]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    path = tmp_path / "holdfast.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_config(path)


def test_check_config_says_how_to_make_a_missing_state_file(tmp_path: Path) -> None:
    missing = tmp_path / "root.key"
    with pytest.raises(ConfigError, match=f"holdfast anchor --file {missing}"):
        check_files(_config(tmp_path, trust_anchor_file=str(missing)))


def test_check_config_names_the_line_of_a_bad_state_file(tmp_path: Path) -> None:
    bad = tmp_path / "root.key"
    bad.write_text(";;id: . 1\n. 3600 IN A 192.0.2.1\n")
    with pytest.raises(AnchorStateError, match=f"{bad}:2"):
        check_files(_config(tmp_path, trust_anchor_file=str(bad)))


def test_check_config_refuses_a_zone_anchored_twice(tmp_path: Path) -> None:
    state = tmp_path / "root.key"
    write_atomically(state, render([POINT]))
    static = tmp_path / "static.ds"
    static.write_text(f"ecdsa.org. 3600 IN DS {KEY.ds().to_text()}\n")
    with pytest.raises(ConfigError, match=r"both anchor ecdsa\.org\."):
        check_files(_config(tmp_path, trust_anchor_file=str(state), trust_anchors=[str(static)]))


def test_managed_anchors_replace_the_builtin_ones(tmp_path: Path) -> None:
    state = tmp_path / "root.key"
    write_atomically(state, render([POINT]))
    anchors = check_files(_config(tmp_path, trust_anchor_file=str(state)))
    assert anchors.zones() == (ZONE,)
    assert [r.rdtype for r in anchors.rrsets] == [dns.rdatatype.DS]  # only trusted keys


def test_holdfast_anchor_bootstraps_then_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "root.key"
    assert main(["anchor", "--file", str(path), "--check"]) == 1
    assert not path.exists()
    assert main(["anchor", "--file", str(path)]) == 0
    (point,) = read_state(path)
    assert point.zone == dns.name.root
    assert {key.tag for key in point.keys} == {20326, 38696}
    assert main(["anchor", "--file", str(path), "--check"]) == 0
    out = capsys.readouterr().out
    assert "DS for key 20326: VALID" in out


def test_holdfast_anchor_from_a_file_and_the_exit_statuses(tmp_path: Path) -> None:
    source = tmp_path / "zone.ds"
    source.write_text(f"ecdsa.org. 3600 IN DS {KEY.ds().to_text()}\n")
    path = tmp_path / "zone.key"
    assert main(["anchor", "--file", str(path), "--from", str(source)]) == 0
    assert read_state(path)[0].zone == ZONE
    revoked = TrustPoint(ZONE, (ManagedKey(dns.rdatatype.DNSKEY, KEY.dnskey.to_digestable(),
                                           KeyState.REVOKED, 1),))
    write_atomically(path, render([revoked]))
    assert main(["anchor", "--file", str(path)]) == 1  # no trusted key left
    path.write_text("garbage\n")
    assert main(["anchor", "--file", str(path)]) == 2
