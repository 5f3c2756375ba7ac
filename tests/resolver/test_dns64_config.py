"""The [dns64], [renumber] and [upstream] qname_case_exempt options: loaded, checked."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import dns.name
import pytest

from resolver.config import Config, load_config
from resolver.dns64 import Dns64
from resolver.errors import ConfigError
from resolver.renumber import Renumbering


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holdfast.toml"
    path.write_text(text)
    return path


def test_everything_is_off_by_default() -> None:
    config = Config.defaults()
    assert Dns64.from_texts(config["dns64.prefix"]) is None
    assert Renumbering.from_texts(config["renumber.prefixes"]) is None
    assert config["upstream.qname_case_exempt"] == []
    assert config["dns64.exclude"] == ["::ffff:0:0/96"]


def test_a_file_turns_them_on(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[upstream]
qname_case_exempt = ["avqs.mcafee.com"]
[dns64]
prefix = "64:ff9b:1::/48"
ignore_aaaa = ["example.com"]
[renumber]
prefixes = ["192.0.2.0/24 -> 198.51.100.0"]
"""))
    dns64 = Dns64.from_texts(
        config["dns64.prefix"],
        synthall=config["dns64.synthall"],
        ignore_aaaa=config["dns64.ignore_aaaa"],
        exclude=config["dns64.exclude"],
    )
    assert dns64 is not None
    assert dns64.prefix == ipaddress.IPv6Network("64:ff9b:1::/48")
    assert dns64.ignore_aaaa == (dns.name.from_text("example.com"),)
    assert dns64.exclude == (ipaddress.IPv6Network("::ffff:0:0/96"),)
    renumber = Renumbering.from_texts(config["renumber.prefixes"])
    assert renumber is not None
    assert len(renumber.rules) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[dns64]\nprefix = "64:ff9b::/95"\n', "dns64.prefix: '64:ff9b::/95': an RFC 6052 prefix"),
        ('[dns64]\nprefix = "64:ff9b::1/96"\n', "dns64.prefix"),
        ('[dns64]\nexclude = ["10.0.0.0/8"]\n', "dns64.exclude"),
        ('[dns64]\nignore_aaaa = ["a..b"]\n', "dns64.ignore_aaaa"),
        ('[renumber]\nprefixes = ["1.2.3.0/24 4.5.6.0"]\n', "renumber.prefixes"),
        ('[upstream]\nqname_case_exempt = ["a..b"]\n', "upstream.qname_case_exempt"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    assert message in str(raised.value)
