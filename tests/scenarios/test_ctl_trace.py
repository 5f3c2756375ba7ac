"""End to end: ``holdfast ctl trace`` and the sampled debug trace in a real ``serve``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scenarios.processes import (
    NEEDS_DIG,
    LabProcess,
    ResolverProcess,
    serving_config,
    wait_until,
)

pytestmark = [pytest.mark.integration, NEEDS_DIG]

CONFIG = """\
[logging]
level = "debug"
trace_sample = 1.0
"""


@pytest.fixture(scope="module")
def resolver(
    lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResolverProcess]:
    workdir = tmp_path_factory.mktemp("trace")
    with serving_config(lab, workdir, CONFIG) as resolver:
        yield resolver


def test_ctl_trace_prints_every_step_and_leaves_the_cache_alone(
    resolver: ResolverProcess,
) -> None:
    traced = resolver.ctl("trace", "www.example.com", "A", "--dnssec")
    assert traced.returncode == 0, traced.stderr
    lines = traced.stdout.splitlines()
    assert lines[0] == ";; trace of www.example.com. A (cache bypassed: neither read nor written)"
    assert lines[1].startswith("  1. cut for www.example.com. A: . (NS a.root-servers.net.")
    text = traced.stdout
    for step in (
        "referral from 127.53.0.",
        " to com.: NS ",
        "server for example.com.: 127.53.3.",
        "reply from 127.53.3.",
        "keys: example.com. DNSKEY: key tags ",
        "cached records www.example.com. A secure",
        "result: NOERROR secure, 1 answer RRsets",
    ):
        assert step in text, step
    assert any("(example.com.): secure; RRSIG key tags" in line for line in lines)
    assert ";; NOERROR, secure" in lines
    # The plan's final state follows the steps: the questions and the budget.
    plan = lines.index(next(line for line in lines if line.startswith(";; plan: ")))
    assert lines[plan + 1] == ";;   1. client question: www.example.com. A"
    assert ";;   2. key material for the validator: . DNSKEY" in lines
    assert lines[plan:].index(";; NOERROR, secure") > 1
    assert any(line.startswith(";; budget: ") for line in lines[plan:])
    assert any(line.endswith("IN A 192.0.2.1") for line in lines)
    assert any(" IN RRSIG A " in line for line in lines)  # --dnssec: the signatures too
    dump = resolver.ctl("cache", "dump", "example.com")
    assert dump.returncode == 0, dump.stderr
    assert "www.example.com." not in dump.stdout


def test_ctl_trace_shows_why_an_answer_is_bogus(resolver: ResolverProcess) -> None:
    traced = resolver.ctl("trace", "www.bogus.com")
    assert traced.returncode == 0, traced.stderr
    assert "bogus, the server is blamed" in traced.stdout
    assert ";; NOERROR, bogus, EDE 6: bogus.com.: www.bogus.com. A: signature does not verify" in (
        traced.stdout
    )


def test_ctl_trace_refuses_bad_words(resolver: ResolverProcess) -> None:
    refused = resolver.ctl("trace", "www.example.com", "NOTATYPE")
    assert refused.returncode == 1
    assert "usage: trace NAME [TYPE] [--dnssec]" in refused.stderr


def test_a_sampled_client_query_is_traced_to_the_debug_log(resolver: ResolverProcess) -> None:
    assert resolver.dig("www.example.org", "A").answers("A") == ["192.0.2.4"]
    wait_until(
        lambda: "www.example.org. A: result: NOERROR secure" in resolver.log.read_text(),
        "the trace in the log",
        resolver.process,
        resolver.log,
    )
    log = resolver.log.read_text()
    assert "holdfast.trace: trace " in log
    assert "www.example.org. A: cut for www.example.org. A: " in log
