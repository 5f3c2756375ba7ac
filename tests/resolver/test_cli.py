"""The command line: global flags in either place, ctl's socket from a file, errors in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolver import cli


@pytest.mark.parametrize(
    ("arguments", "level", "format_"),
    [
        (["serve", "--log-level", "debug"], "debug", None),
        (["--log-level", "error", "serve"], "error", None),
        (["--log-format", "json", "serve", "--log-level", "warning"], "warning", "json"),
        (["ctl", "--log-format", "json", "status"], None, "json"),
    ],
)
def test_global_flags_are_accepted_after_the_subcommand_too(
    arguments: list[str], level: str | None, format_: str | None
) -> None:
    args = cli.make_parser().parse_args(arguments)
    assert (args.log_level, args.log_format) == (level, format_)


def test_ctl_finds_the_socket_in_the_configuration_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    socket = tmp_path / "elsewhere.sock"
    config = tmp_path / "holdfast.toml"
    config.write_text(f'[control]\nsocket = "{socket}"\n')
    assert cli.main(["ctl", "--config", str(config), "status"]) == cli.EXIT_FAILURE
    assert f"no control socket answers at {socket}" in capsys.readouterr().err


def test_a_bad_route_names_the_route_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "holdfast.toml"
    config.write_text('[[route]]\nzone = "com"\navoid = ["192.0.2.1"]\n'
                      '[[route]]\nzone = "net"\nonly = ["not-an-ip"]\n')
    assert cli.main(["check-config", str(config)]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "[[route]] #2 for net.: only: 'not-an-ip' is not an IP address" in err


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--trust-anchor", "{missing}"], "--trust-anchor: {missing}"),
        (["--root-hints", "{missing}"], "--root-hints: {missing}"),
        (["--config", "{config}"], "{config}: dnssec.trust_anchors: {missing}"),
    ],
)
def test_a_missing_anchor_or_hints_file_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], named: str
) -> None:
    missing, config = tmp_path / "missing.ds", tmp_path / "holdfast.toml"
    config.write_text(f'[dnssec]\ntrust_anchors = ["{missing}"]\n')
    fill = {"missing": missing, "config": config}
    status = cli.main(["serve", "--metrics", "off", *(a.format(**fill) for a in arguments)])
    assert status == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert named.format(**fill) in err
