"""``holdfast check-config`` and the generated configuration reference."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from resolver import cli
from resolver.config import MAX_CONFIG_BYTES, OPTIONS
from resolver.config_reference import SECTIONS, markdown

REPOSITORY = Path(__file__).resolve().parents[2]


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(["check-config", str(path)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def refused(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What check-config says on stderr of a file of ``text``: it must exit 2, stdout empty."""
    path = tmp_path / "holdfast.toml"
    path.write_text(text)
    status, out, err = check(path, capsys)
    assert status == 2
    assert out == ""
    return err


def test_the_sample_configuration_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = check(REPOSITORY / "contrib" / "holdfast.toml", capsys)
    assert status == 0
    assert "ok" in out
    assert "workers.count = 2" in out


def test_a_good_file_lists_what_differs_from_the_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text('[cache]\nmin_ttl = 5\n[[route]]\nzone = "com"\navoid = ["192.0.2.1"]\n')
    status, out, _ = check(path, capsys)
    assert status == 0
    assert "1 option(s) differ from the defaults, 1 route(s)" in out
    assert "cache.min_ttl = 5" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cache]\nmax_tll = 5\n", "unknown option cache.max_tll (did you mean cache.max_ttl?)"),
        ("[cache]\nmax_ttl = \"1d\"\n", "cache.max_ttl must be int, not str"),
        ("[server]\nallow = [\"10.0.0.0/33\"]\n", "not an IP network"),
        ("[serve_stale]\nmax_stale = 1e9\n", "serve_stale.max_stale: must be between 0 and"),
        ("[cache\n", "not valid TOML"),
        ("[server]\nuser = \"no-such-user-here\"\n", "no user named 'no-such-user-here'"),
        ("[upstream]\nroot_hints = \"/nonexistent/root.hints\"\n", "cannot read"),
        ("[dnssec]\ntrust_anchors = [\"/nonexistent/anchor.ds\"]\n", "cannot read"),
        ("[logging]\nquery_log_target = \"queries.log\"\n",
         "logging.query_log_target: 'queries.log' is not \"\", \"syslog\" or an absolute "),
        ("[logging]\nquery_log_target = \"/nonexistent/dir/queries.log\"\n",
         "logging.query_log_target: /nonexistent/dir/queries.log: the directory /nonexistent/dir "
         "does not exist"),
        ("[logging]\nquery_log_target = \"/tmp\"\n",
         "logging.query_log_target: /tmp is not a regular file"),
        ("[logging]\nquery_log_target = \"/dev/null\"\n",
         "logging.query_log_target: /dev/null is not a regular file"),
    ],
)
def test_a_bad_file_exits_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    assert message in refused(text, tmp_path, capsys)


def test_an_absurdly_large_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text("[cache]\n" + "# the same comment again\n" * (MAX_CONFIG_BYTES // 20))
    status, _, err = check(path, capsys)
    assert status == 2
    assert f"larger than the limit of {MAX_CONFIG_BYTES} bytes" in err


def _fifo(path: Path) -> str:
    os.mkfifo(path)  # no writer: a blocking open would wait for ever
    return "a FIFO, not a regular file"


def _dev_zero(path: Path) -> str:
    path.symlink_to("/dev/zero")
    return "a character device, not a regular file"


def _directory(path: Path) -> str:
    path.mkdir()
    return "a directory, not a regular file"


SPECIAL_FILES = {"FIFO": _fifo, "symlink to /dev/zero": _dev_zero, "directory": _directory}


@pytest.mark.parametrize("make", list(SPECIAL_FILES.values()), ids=list(SPECIAL_FILES))
@pytest.mark.parametrize("role", ["config", "hints", "anchor"])
def test_only_regular_files_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], str], role: str
) -> None:
    special = tmp_path / "special"
    reason = make(special)
    path = tmp_path / "holdfast.toml"
    if role == "config":
        path = special
    elif role == "hints":
        path.write_text(f'[upstream]\nroot_hints = "{special}"\n')
    else:
        path.write_text(f'[dnssec]\ntrust_anchors = ["{special}"]\n')
    status, _, err = check(path, capsys)
    assert status == 2
    assert f"{special}: {reason}" in err


def test_serve_refuses_a_bad_file_before_binding_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text("[server]\nlisten = [\"127.0.0.1:5399\"]\nallow = [\"nonsense\"]\n")
    assert cli.main(["serve", "--config", str(path), "--metrics", "off"]) == 2
    assert "server.allow" in capsys.readouterr().err


def test_the_committed_reference_is_up_to_date() -> None:
    committed = (REPOSITORY / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == markdown(), (
        "docs/configuration.md is stale: python -m resolver.config_reference "
        "> docs/configuration.md"
    )


def test_every_option_is_documented_with_a_unit_where_it_is_a_number() -> None:
    assert {option.section for option in OPTIONS} == set(SECTIONS)
    for option in OPTIONS:
        assert option.help, option.name
        if option.kind in (int, float):
            assert option.unit, f"{option.name} is a number without a unit"


def test_a_port_that_cannot_be_bound_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runtime failure, not a configuration one: exit 1, and no traceback."""
    hints = tmp_path / "root.hints"
    hints.write_text(". 3600000 NS a.root.lab.\na.root.lab. 3600000 A 127.53.0.1\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        status = cli.main([
            "serve", "--listen", f"127.0.0.1:{port}", "--metrics", "off",
            "--root-hints", str(hints), "--upstream-allow", "127.0.0.0/8",
            "--control", str(tmp_path / "control.sock"),
        ])
    err = capsys.readouterr().err
    assert status == 1
    assert f"cannot listen on UDP 127.0.0.1:{port}" in err
    assert "Traceback" not in err
