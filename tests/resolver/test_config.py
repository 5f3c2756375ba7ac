"""Configuration: good files load, every kind of bad file is refused precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolver.config import MAX_CONFIG_BYTES, OPTIONS, Config, load_config, parse_endpoint
from resolver.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holdfast.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_option_table() -> None:
    config = Config.defaults()
    for option in OPTIONS:
        assert config[option.name] == option.default


def test_a_good_file_overrides_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[server]
listen = ["127.0.0.1:5300", "[::1]:5300"]
[upstream]
allow = ["127.0.0.0/8"]
port = 5353
[limits]
time_budget = 3
"""))
    assert config["server.listen"] == ["127.0.0.1:5300", "[::1]:5300"]
    assert config["upstream.port"] == 5353
    assert config["limits.time_budget"] == 3.0
    assert config["cache.max_ttl"] == 86_400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nlisen = []\n", "unknown option server.lisen (did you mean server.listen?)"),
        ("[servr]\n", "unknown section [servr] (did you mean server?)"),
        ("[upstream]\nport = \"53\"\n", "upstream.port must be int, not str"),
        ("[upstream]\nport = 70000\n", "upstream.port: must be between 1 and 65535"),
        ("[upstream]\nport = true\n", "upstream.port must be int, not bool"),
        ("[server]\nallow = [\"10.0.0.300/8\"]\n", "not an IP network"),
        ("[server]\nallow = [\"10.0.0.1/8\"]\n", "host bits set"),
        ("[server]\nlisten = [\"localhost:53\"]\n", "'localhost' in 'localhost:53' is not an IP"),
        ("[server]\nlisten = [\"::1:53\"]\n", "write IPv6 as [ADDR]:PORT"),
        ("[server]\nlisten = [53]\n", "items must be strings"),
        ("server = 1\n", "server must be a [server] table"),
        ("[server\n", "not valid TOML"),
        ("[local_root]\nzonemd = \"strict\"\n",
         "local_root.zonemd: must be one of verify, require, ignore, not 'strict'"),
        ("[local_root]\nsources = [\"axfr://root.example\"]\n", "axfr://root.example"),
        ("[local_root]\nsources = [\"ftp://example/root.zone\"]\n", "ftp"),
        ("[local_root]\nmax_growth = 0.5\n", "local_root.max_growth: must be between 1 and 100"),
        ("[local_root]\nzonmd = \"verify\"\n",
         "unknown option local_root.zonmd (did you mean local_root.zonemd?)"),
        ("[metrics]\nlisten = \"9153\"\n", "'9153' is not ADDR:PORT"),
        ("[logging]\nformat = \"xml\"\n", "logging.format: must be one of human, json"),
        ("[logging]\nlevel = \"loud\"\n", "logging.level: must be one of debug"),
        ("[workers]\ncount = 0\n", "workers.count: must be between 1 and 64, not 0"),
        ("[workers]\nconut = 2\n", "unknown option workers.conut (did you mean workers.count?)"),
        ("[upstream]\nmax_timeout = 0\n", "upstream.max_timeout: must be between 0.05 and 30"),
    ],
)
def test_bad_files_are_refused_with_a_precise_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_an_absurdly_large_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match=f"larger than the limit of {MAX_CONFIG_BYTES} bytes"):
        load_config(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_an_empty_metrics_address_turns_the_endpoint_off(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, '[metrics]\nlisten = ""\n'))["metrics.listen"] == ""


def test_changed_lists_only_what_differs_from_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[cache]\nmax_ttl = 86400\nmin_ttl = 5\n"))
    assert config.changed() == {"cache.min_ttl": 5}


def test_command_line_overrides_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"upstream\.port"):
        Config.defaults().with_overrides({"upstream.port": 0}, source="command line")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:53", ("127.0.0.1", 53)), ("[::1]:5300", ("::1", 5300)),
     ("0.0.0.0:0", ("0.0.0.0", 0))],
)
def test_endpoints(text: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(text) == expected
