"""``holdfast check-config`` on the RFC 9520 failure-cache and RFC 8145 signalling options.

``[[stub_zone]]`` and ``[[forward_zone]]`` have theirs in
``test_forwarding_config.py``; these follow ``test_check_config.py``: exit
2, nothing on stdout, and stderr naming the option and what is wrong.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from resolver.errors import ConfigError
from resolver.failures import FailurePolicy
from tests.resolver.test_check_config import check, refused


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cache]\nfailure_ttl = 0.5\n",
         "cache.failure_ttl: must be between 1 and 300, not 0.5"),  # RFC 9520: at least 1 s
        ("[cache]\nfailure_ttl = 301\n", "cache.failure_ttl: must be between 1 and 300"),
        ("[cache]\nfailure_ttl = nan\n", "cache.failure_ttl: must be between 1 and 300, not nan"),
        ("[cache]\nfailure_ttl = \"5s\"\n", "cache.failure_ttl must be float, not str ('5s')"),
        ("[cache]\nfailure_ttl = true\n", "cache.failure_ttl must be float, not bool"),
        ("[cache]\nfailure_tll = 5\n",
         "unknown option cache.failure_tll (did you mean cache.failure_ttl?)"),
        ("[cache]\nmax_failure_ttl = 600\n",  # RFC 9520: at most 5 minutes
         "cache.max_failure_ttl: must be between 1 and 300, not 600"),
        ("[cache]\nmax_failure_ttl = 0\n", "cache.max_failure_ttl: must be between 1 and 300"),
        ("[cache]\nfailure_ttl = 60\nmax_failure_ttl = 10\n",
         "cache max_failure_ttl (10) must not be below failure_ttl (60)"),
        ("[cache]\nmax_failures = 0\n",
         "cache.max_failures: must be between 1 and 10000000, not 0"),
        ("[cache]\nmax_failures = 100000000\n", "cache.max_failures: must be between 1 and"),
        ("[cache]\nmax_failures = 2.5\n", "cache.max_failures must be int, not float (2.5)"),
        ("[dnssec]\ntrust_anchor_signaling = \"yes\"\n",
         "dnssec.trust_anchor_signaling must be bool, not str ('yes')"),
        ("[dnssec]\ntrust_anchor_signaling = 1\n",
         "dnssec.trust_anchor_signaling must be bool, not int (1)"),
        ("[dnssec]\ntrust_anchor_signalling = true\n",
         "unknown option dnssec.trust_anchor_signalling (did you mean "
         "dnssec.trust_anchor_signaling?)"),
    ],
)
def test_a_bad_value_exits_2_naming_the_option_and_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    assert message in refused(text, tmp_path, capsys)


def test_good_values_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text("[cache]\nfailure_ttl = 10\nmax_failure_ttl = 10\nmax_failures = 500\n"
                    "[dnssec]\ntrust_anchor_signaling = true\n")
    status, out, _ = check(path, capsys)
    assert status == 0
    for line in ("cache.failure_ttl = 10.0", "cache.max_failure_ttl = 10.0",
                 "cache.max_failures = 500", "dnssec.trust_anchor_signaling = true"):
        assert line in out


def test_serve_refuses_a_longest_hold_below_the_first(tmp_path: Path) -> None:
    """Before: the longest hold was silently raised to the first one.

    A process, with a timeout: should serve accept the file, it would serve.
    """
    path = tmp_path / "holdfast.toml"
    path.write_text("[cache]\nfailure_ttl = 30\nmax_failure_ttl = 5\n")
    with pytest.raises(ConfigError, match="must not be below"):
        FailurePolicy(initial=30, cap=5)
    result = subprocess.run(
        [sys.executable, "-m", "resolver", "serve", "--config", str(path), "--metrics", "off",
         "--listen", "127.0.0.1:5399", "--control", str(tmp_path / "control.sock")],
        capture_output=True, text=True, timeout=30, check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert "max_failure_ttl (5) must not be below failure_ttl (30)" in result.stderr
