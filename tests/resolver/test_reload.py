"""Configuration reload: every reloadable option reaches its stage; a bad file changes nothing.

The resolver is assembled by ``daemon.build`` from a TOML file, as ``holdfast
serve --config`` does, over the in-memory lab. A test edits the file and
calls ``reload.reload`` (what SIGHUP and ``holdfast ctl reload`` run), then
looks at the running resolver. The table ``PROBES`` has one entry per option
with ``Option.reload``: a new reloadable option without an entry (and so,
most likely, without an apply step) fails ``test_every_reloadable_option_is_applied``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio

from dnssec.files import MAX_RECORD_FILE_BYTES
from dnssec.status import Security
from resolver import daemon
from resolver.cache import Rank
from resolver.clock import FakeClock
from resolver.config import (
    FORWARD_ZONE,
    LOCAL_DATA,
    LOCAL_ZONE,
    MAX_CONFIG_BYTES,
    OPTIONS,
    POLICY,
    STUB_ZONE,
    Option,
    load_config,
)
from resolver.errors import ConfigError
from resolver.identity import Identity
from resolver.lab import Lab, LabTransport
from resolver.lab.drill import ask
from resolver.limits import Limits
from resolver.logs import QUERY_LOGGER, configure_query_log
from resolver.question import Question
from resolver.reload import RELOADABLE, ROUTES, reload
from resolver.stale import StalePolicy
from rootzone.service import in_thread

#: A second trust anchor (for a zone the lab does not have): a different anchor set.
EXTRA_ANCHOR = (
    "example. 3600 IN DS 12345 13 2 "
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
)
PROBE_NAME = dns.name.from_text("probe.example.")


def toml(values: Mapping[str, Any]) -> str:
    """``section.key`` values as a TOML file (strings, numbers, booleans, string lists)."""
    sections: dict[str, list[str]] = {}
    for name, value in values.items():
        section, key = name.split(".")
        text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
        sections.setdefault(section, []).append(f"{key} = {text}")
    return "".join(f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in sections.items())


class Reloading:
    """A resolver built from ``holdfast.toml`` in a directory, over the lab."""

    def __init__(
        self,
        lab: Lab,
        clock: FakeClock,
        directory: Path,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.clock = clock
        self.hints = directory / "root.hints"
        self.hints.write_text(lab.root_hints_text())
        self.anchor = directory / "trust-anchor.ds"
        self.anchor.write_text(lab.trust_anchor_text())
        self.extra_anchor = directory / "extra-anchor.ds"
        self.extra_anchor.write_text(EXTRA_ANCHOR)
        self.file = directory / "holdfast.toml"
        self.write({})
        config = load_config(self.file).with_overrides(overrides or {}, source="command line")
        self.resolver = daemon.build(config, clock, LabTransport(lab), offload=in_thread)
        self.ctl = daemon.commands(self.resolver)

    def write(self, values: Mapping[str, Any], extra: str = "") -> None:
        """Write the file: the lab's hints and anchor, ``values``, then ``extra`` text."""
        base = {
            "upstream.root_hints": str(self.hints),
            "dnssec.trust_anchors": [str(self.anchor)],
            **values,
        }
        self.file.write_text(toml(base) + extra)

    def reload(self) -> dict[str, Any]:
        return reload(self.resolver)

    # -- what the stages do now ---------------------------------------------

    @property
    def limits(self) -> Limits:
        return self.resolver.iterator.limits

    @property
    def policy(self) -> StalePolicy:
        assert self.resolver.recursor.stale is not None
        return self.resolver.recursor.stale.policy

    def cached_ttl(self, ttl: int, security: Security = Security.SECURE) -> int:
        """The TTL an RRset sent with ``ttl`` is cached with."""
        cache = self.resolver.cache
        rrset = dns.rrset.from_text(PROBE_NAME, ttl, "IN", "A", "192.0.2.1")
        cache.flush_name(PROBE_NAME)
        assert cache.store_rrset(rrset, Rank.ANSWER, security=security)
        found = cache.lookup_rrset(PROBE_NAME, dns.rdatatype.A)
        assert found is not None
        return found.rrset.ttl

    def negative_ttl(self, ttl: int) -> int:
        """The TTL an NXDOMAIN whose SOA says ``ttl`` is cached with."""
        cache = self.resolver.cache
        soa = dns.rrset.from_text(
            "example.", ttl, "IN", "SOA", f"ns.example. host.example. 1 3600 600 86400 {ttl}"
        )
        cache.store_negative(PROBE_NAME, dns.rdatatype.A, nxdomain=True, soa=soa)
        found = cache.lookup_negative(PROBE_NAME, dns.rdatatype.A)
        assert found is not None
        return found.soa.ttl

    def holddowns(self) -> tuple[float, float]:
        """The first hold-down of a server, and the second after the first ended."""
        selection = self.resolver.selection
        first = selection.report_bogus("192.0.2.53", "probe.", "probe")
        self.clock.advance(first + 1)
        second = selection.report_bogus("192.0.2.53", "probe.", "probe")
        selection.clear_holddowns("192.0.2.53")
        return first, second

    def observe_all(self) -> dict[str, Any]:
        """Every probe's observation, for "nothing changed" checks."""
        return {name: probe.observe(self) for name, probe in PROBES.items()}


@dataclass(frozen=True)
class Probe:
    """A reloadable option: a value to write, and how to see it in effect.

    ``observe`` must give ``expected`` once the value is applied, and
    something else with the defaults.
    """

    #: Written to the file; a function of the harness for file paths.
    value: Any
    observe: Callable[[Reloading], Any]
    expected: Any

    def written(self, harness: Reloading) -> Any:
        return self.value(harness) if callable(self.value) else self.value


def _limit(field: str) -> Callable[[Reloading], Any]:
    return lambda h: getattr(h.limits, field)


def _validation_limit(field: str) -> Callable[[Reloading], Any]:
    return lambda h: getattr(h.limits.validation, field)


def _stale(field: str) -> Callable[[Reloading], Any]:
    return lambda h: getattr(h.policy, field)


def _identity(h: Reloading) -> Identity:
    assert h.resolver.server.identity is not None
    return h.resolver.server.identity


def _local_answer(name: str) -> Callable[[Reloading], Any]:
    question = Question(dns.name.from_text(name), dns.rdatatype.PTR)
    return lambda h: h.resolver.server.local_zones and h.resolver.server.local_zones.answer(
        question
    )


def _negative_anchors(harness: Reloading) -> list[str]:
    anchors = harness.resolver.iterator.validator.negative_anchors
    assert anchors is not None
    return [anchor.zone.to_text() for anchor in anchors.anchors()]


PROBES: dict[str, Probe] = {
    "server.allow": Probe(
        ["192.0.2.0/24"],
        lambda h: (h.resolver.access.allows("127.0.0.1"), h.resolver.access.allows("192.0.2.7")),
        (False, True),
    ),
    "upstream.holddown": Probe(120.0, lambda h: h.holddowns()[0], 120.0),
    "upstream.max_holddown": Probe(1000.0, lambda h: h.holddowns()[1], 1000.0),
    "upstream.timeout_rounds": Probe(2, _limit("timeout_rounds"), 2),
    "limits.max_upstream_queries": Probe(7, _limit("max_upstream_queries"), 7),
    "limits.max_referrals": Probe(5, _limit("max_referrals"), 5),
    "limits.max_depth": Probe(1, _limit("max_depth"), 1),
    "limits.max_cname_chain": Probe(3, _limit("max_cname_chain"), 3),
    "limits.time_budget": Probe(1.5, _limit("time_budget"), 1.5),
    "dnssec.max_signatures_per_query": Probe(
        9, _validation_limit("max_signatures_per_query"), 9
    ),
    "dnssec.max_signatures_per_response": Probe(
        5, _validation_limit("max_signatures_per_response"), 5
    ),
    "dnssec.max_keys_per_tag": Probe(2, _validation_limit("max_keys_per_tag"), 2),
    "dnssec.max_nsec3_iterations": Probe(10, _validation_limit("max_nsec3_iterations"), 10),
    "dnssec.max_nsec3_hashes": Probe(8, _validation_limit("max_nsec3_hashes_per_response"), 8),
    "cache.min_ttl": Probe(60, lambda h: h.cached_ttl(5), 60),
    "cache.max_ttl": Probe(600, lambda h: h.cached_ttl(3600), 600),
    "cache.max_negative_ttl": Probe(30, lambda h: h.negative_ttl(900), 30),
    "dnssec.bogus_ttl": Probe(
        10,
        lambda h: (h.cached_ttl(3600, Security.BOGUS), h.resolver.iterator.validator.bogus_ttl),
        (10, 10),
    ),
    "dnssec.negative_trust_anchors": Probe(
        ["example.com."],
        lambda h: _negative_anchors(h),
        ["example.com."],
    ),
    "dnssec.trust_anchors": Probe(
        lambda h: [str(h.anchor), str(h.extra_anchor)],
        lambda h: sorted(map(str, h.resolver.iterator.validator.anchors.zones())),
        [".", "example."],
    ),
    "serve_stale.enabled": Probe(
        False, lambda h: (h.policy.enabled, h.resolver.cache.lifetimes.stale_window), (False, 0.0)
    ),
    "serve_stale.max_stale": Probe(
        600.0,
        lambda h: (h.policy.max_stale, h.resolver.cache.lifetimes.stale_window),
        (600.0, 600.0),
    ),
    "serve_stale.reply_ttl": Probe(5, _stale("reply_ttl"), 5),
    "serve_stale.client_timeout": Probe(0.5, _stale("client_timeout"), 0.5),
    "serve_stale.failure_recheck": Probe(5.0, _stale("failure_recheck"), 5.0),
    "serve_stale.prefetch": Probe(
        False,
        lambda h: (h.policy.prefetch, h.resolver.answers and h.resolver.answers.lifetime_share),
        (False, 1.0),
    ),
    "local_root.enabled": Probe(False, lambda h: h.resolver.local_root.enabled, False),
    "logging.level": Probe("debug", lambda h: logging.getLogger().getEffectiveLevel(),
                           logging.DEBUG),
    "logging.query_log": Probe(True, lambda h: h.resolver.server.query_log, True),
    "logging.trace_sample": Probe(0.25, lambda h: h.resolver.recursor.trace_sample.rate, 0.25),
    "logging.query_log_target": Probe(
        lambda h: str(h.file.with_name("queries.log")),
        lambda h: [Path(getattr(handler, "baseFilename", "")).name
                   for handler in logging.getLogger(QUERY_LOGGER).handlers],
        ["queries.log"],
    ),
    "server.identity": Probe("ns9", lambda h: _identity(h).identity, "ns9"),
    "server.hide_identity": Probe(False, lambda h: _identity(h).hide_identity, False),
    "server.version": Probe("v9", lambda h: _identity(h).version, "v9"),
    "server.hide_version": Probe(False, lambda h: _identity(h).hide_version, False),
    "local_zones.defaults": Probe(False, _local_answer("localhost"), None),
    "local_zones.nodefault": Probe(["10.in-addr.arpa"], _local_answer("1.0.0.10.in-addr.arpa"),
                                   None),
}

RELOAD_OPTIONS = [option for option in OPTIONS if option.reload]


@pytest.fixture(autouse=True)
def keep_log_level() -> Iterator[None]:
    """A reload sets the root logger's level and may send the query log to a file; put back."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
    configure_query_log("", "human")


@pytest.fixture
def harness(lab: Lab, clock: FakeClock, tmp_path: Path) -> Reloading:
    return Reloading(lab, clock, tmp_path)


def test_what_a_reload_applies_is_what_the_options_say() -> None:
    tables = {ROUTES, LOCAL_ZONE, LOCAL_DATA, STUB_ZONE, FORWARD_ZONE, POLICY}
    assert {option.name for option in RELOAD_OPTIONS} | tables == RELOADABLE


@pytest.mark.parametrize("option", RELOAD_OPTIONS, ids=lambda option: option.name)
def test_every_reloadable_option_is_applied(harness: Reloading, option: Option) -> None:
    probe = PROBES.get(option.name)
    assert probe is not None, f"{option.name} is reloadable: add a probe that sees it applied"
    assert probe.observe(harness) != probe.expected
    harness.write({option.name: probe.written(harness)})

    report = harness.reload()

    assert report == {
        "reloaded": str(harness.file),
        "applied": [option.name],
        "needs_restart": [],
        "unchanged": False,
    }
    assert probe.observe(harness) == probe.expected
    assert harness.resolver.config[option.name] == probe.written(harness)


def test_an_unchanged_file_changes_nothing(harness: Reloading) -> None:
    before = harness.observe_all()
    config = harness.resolver.config

    report = harness.reload()

    assert report["applied"] == []
    assert report["needs_restart"] == []
    assert report["unchanged"] is True
    assert harness.resolver.config.values == config.values
    assert harness.observe_all() == before


def test_options_that_need_a_restart_are_reported_not_applied(
    harness: Reloading, caplog: pytest.LogCaptureFixture
) -> None:
    harness.write({"server.listen": ["127.0.0.1:5399"], "cache.max_entries": 10,
                   "cache.max_ttl": 600})

    report = harness.reload()

    assert report["applied"] == ["cache.max_ttl"]
    assert report["needs_restart"] == ["cache.max_entries", "server.listen"]
    # The running configuration tells the truth: the old values are in effect.
    assert harness.resolver.config["server.listen"] == ["127.0.0.1:53", "[::1]:53"]
    assert harness.resolver.config["cache.max_entries"] == 1_000_000
    assert harness.resolver.config["cache.max_ttl"] == 600
    warnings = [r for r in caplog.records if getattr(r, "event", "") == "config_needs_restart"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert harness.reload()["needs_restart"] == ["cache.max_entries", "server.listen"]


def test_reloaded_is_logged_with_the_options(
    harness: Reloading, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    harness.write({"serve_stale.reply_ttl": 5})
    harness.reload()
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "config_reloaded"]
    assert record.levelno == logging.INFO
    assert record.applied == ["serve_stale.reply_ttl"]  # type: ignore[attr-defined]


def test_command_line_overrides_still_win_after_a_reload(
    lab: Lab, clock: FakeClock, tmp_path: Path
) -> None:
    harness = Reloading(lab, clock, tmp_path, {"logging.query_log": True,
                                                "serve_stale.reply_ttl": 7})
    harness.write({"logging.query_log": False, "serve_stale.reply_ttl": 9,
                   "serve_stale.failure_recheck": 5.0})

    report = harness.reload()

    assert report["applied"] == ["serve_stale.failure_recheck"]
    assert report["reloaded"] == f"{harness.file} + command line"
    assert harness.resolver.server.query_log is True
    assert harness.policy.reply_ttl == 7
    assert harness.policy.failure_recheck == 5.0


def test_a_changed_anchor_file_flushes_the_cache(harness: Reloading) -> None:
    harness.cached_ttl(300)
    assert harness.resolver.cache.statistics().entries == 1
    harness.anchor.write_text(harness.anchor.read_text() + EXTRA_ANCHOR)  # same path

    report = harness.reload()

    assert report["applied"] == ["dnssec.trust_anchors"]
    assert harness.resolver.cache.statistics().entries == 0
    assert dns.name.from_text("example.") in harness.resolver.anchors.zones()


def test_the_same_anchors_from_another_file_keep_the_cache(harness: Reloading) -> None:
    harness.cached_ttl(300)
    copy = harness.anchor.with_name("copy.ds")
    copy.write_text(harness.anchor.read_text())
    harness.write({"dnssec.trust_anchors": [str(copy)]})

    assert harness.reload()["applied"] == ["dnssec.trust_anchors"]
    assert harness.resolver.cache.statistics().entries == 1


def test_configured_routes_are_replaced_and_operator_routes_stay(harness: Reloading) -> None:
    route = '[[route]]\nzone = "{zone}"\navoid = ["127.53.1.1"]\n'
    harness.write({}, route.format(zone="com") + route.format(zone="net"))
    assert harness.reload()["applied"] == [ROUTES]
    harness.ctl({"command": ["route", "add", "org", "--only", "127.53.2.1"]})
    harness.ctl({"command": ["route", "add", "net", "--only", "127.53.2.2"]})
    harness.write({}, route.format(zone="example.com"))

    assert harness.reload()["applied"] == [ROUTES]

    listed = {(r["zone"], r["origin"]) for r in harness.ctl({"command": ["route", "list"]})}
    assert listed == {("example.com.", "config"), ("net.", "control"), ("org.", "control")}


async def test_reloaded_policy_rules_apply_at_once_even_to_ready_answers(
    harness: Reloading, nursery: trio.Nursery
) -> None:
    await nursery.start(harness.resolver.recursor.run)
    assert (await ask(harness.resolver, "www.example.com.")).rcode() == dns.rcode.NOERROR
    harness.write({}, '[[policy]]\naction = "refuse"\nsuffix = ["example.com"]\n')

    assert harness.reload()["applied"] == [POLICY]

    # Refused although the answer was ready-made: the reload dropped those.
    assert (await ask(harness.resolver, "www.example.com.")).rcode() == dns.rcode.REFUSED


async def test_a_reloaded_access_list_refuses_at_once(
    harness: Reloading, nursery: trio.Nursery
) -> None:
    await nursery.start(harness.resolver.recursor.run)
    assert (await ask(harness.resolver, "www.example.com.")).rcode() == dns.rcode.NOERROR
    harness.write({"server.allow": ["192.0.2.0/24"]})
    harness.reload()
    # Refused on the ready-made path too, not only when resolving.
    assert (await ask(harness.resolver, "www.example.com.")).rcode() == dns.rcode.REFUSED


async def test_reloaded_limits_rule_the_next_query(
    harness: Reloading, nursery: trio.Nursery
) -> None:
    await nursery.start(harness.resolver.recursor.run)
    harness.write({"limits.max_upstream_queries": 1})
    harness.reload()
    assert (await ask(harness.resolver, "www.example.com.")).rcode() == dns.rcode.SERVFAIL


async def test_a_ctl_reload_returns_the_report(harness: Reloading) -> None:
    harness.write({"serve_stale.reply_ttl": 5})
    report = await harness.ctl({"command": ["reload"]})
    assert report["applied"] == ["serve_stale.reply_ttl"]


# -- refused files -------------------------------------------------------------------------


def _oversized(harness: Reloading) -> str:
    harness.write({}, "# " + "x" * MAX_CONFIG_BYTES + "\n")
    return f"larger than the limit of {MAX_CONFIG_BYTES} bytes"


def _directory(harness: Reloading) -> str:
    harness.file.unlink()
    harness.file.mkdir()
    return "a directory, not a regular file"


def _fifo(harness: Reloading) -> str:
    harness.file.unlink()
    os.mkfifo(harness.file)  # no writer: a blocking open would wait for ever
    return "a FIFO, not a regular file"


def _dev_zero(harness: Reloading) -> str:
    harness.file.unlink()
    harness.file.symlink_to("/dev/zero")  # read until the OOM killer came, at 23.6 GB
    return "a character device, not a regular file"


def _hints_dev_zero(harness: Reloading) -> str:
    harness.hints.unlink()
    harness.hints.symlink_to("/dev/zero")
    return f"{harness.hints}: a character device"


def _oversized_anchor(harness: Reloading) -> str:
    harness.anchor.write_text(harness.anchor.read_text() + "; padding\n" * 120_000)
    return f"{harness.anchor}: larger than the limit of {MAX_RECORD_FILE_BYTES} bytes"


def _missing(harness: Reloading) -> str:
    harness.file.unlink()
    return "cannot read"


def _text(text: str, message: str) -> Callable[[Reloading], str]:
    def write(harness: Reloading) -> str:
        harness.write({}, text)
        return message

    return write


def _values(values: Mapping[str, Any], message: str) -> Callable[[Reloading], str]:
    def write(harness: Reloading) -> str:
        harness.write(values)
        return message

    return write


def _bad_anchor(harness: Reloading) -> str:
    harness.anchor.write_text("this is not a DS record\n")
    return str(harness.anchor)


BAD_FILES: dict[str, Callable[[Reloading], str]] = {
    "unknown key": _text("[cache]\nmax_tll = 5\n", "unknown option cache.max_tll "
                                                   "(did you mean cache.max_ttl?)"),
    "wrong type": _values({"cache.max_ttl": "600"}, "cache.max_ttl must be int, not str"),
    "bad CIDR": _values({"server.allow": ["10.0.0.300/8"]}, "not an IP network"),
    "out of range": _values({"serve_stale.reply_ttl": 0}, "must be between 1 and 3600"),
    "not TOML": _text("[server\n", "not valid TOML"),
    "over 1 MiB": _oversized,
    "directory": _directory,
    "FIFO": _fifo,
    "symlink to /dev/zero": _dev_zero,
    "hints: symlink to /dev/zero": _hints_dev_zero,
    "anchor over 1 MiB": _oversized_anchor,
    "missing": _missing,
    "contradictory TTLs": _values({"cache.min_ttl": 600, "cache.max_negative_ttl": 60},
                                  "min_ttl (600) must be between 0 and both maximum TTLs"),
    "missing anchor file": _values({"dnssec.trust_anchors": ["/nonexistent/anchor.ds"]},
                                   "cannot read"),
    "unusable anchor file": _bad_anchor,
    "bad route": _text('[[route]]\nzone = "com"\n', "give exactly one of only, prefer, avoid"),
}


@pytest.mark.parametrize("breakage", list(BAD_FILES.values()), ids=list(BAD_FILES))
async def test_a_bad_file_is_refused_and_nothing_changes(
    harness: Reloading,
    nursery: trio.Nursery,
    caplog: pytest.LogCaptureFixture,
    breakage: Callable[[Reloading], str],
) -> None:
    await nursery.start(harness.resolver.recursor.run)
    # A good reload first, so "the last good configuration" is not the start-up one.
    harness.write({"serve_stale.reply_ttl": 5, "dnssec.bogus_ttl": 10})
    harness.reload()
    good = harness.resolver.config
    assert (await ask(harness.resolver, "www.example.com.")).rcode() == dns.rcode.NOERROR
    before = harness.observe_all()
    entries = harness.resolver.cache.statistics().entries
    message = breakage(harness)

    with pytest.raises(ConfigError, match="refused, the running configuration stays") as info:
        harness.reload()

    assert message in str(info.value)
    assert harness.resolver.config is good
    assert harness.resolver.cache.statistics().entries == entries
    assert harness.observe_all() == before
    assert (await ask(harness.resolver, "www.example.com.")).rcode() == dns.rcode.NOERROR
    [refused] = [r for r in caplog.records if getattr(r, "event", "") == "config_refused"]
    assert refused.levelno == logging.ERROR
    assert message in refused.reason  # type: ignore[attr-defined]


async def test_a_ctl_reload_of_a_bad_file_says_why(harness: Reloading) -> None:
    harness.write({"cache.max_ttl": -1})
    with pytest.raises(ConfigError, match=r"cache\.max_ttl: must be between 1 and 604800"):
        await harness.ctl({"command": ["reload"]})


async def test_a_ctl_reload_reads_in_a_thread_and_a_fifo_never_blocks_it(
    harness: Reloading,
) -> None:
    """Issue 16: a FIFO as the configuration froze DNS and the control socket."""
    harness.file.unlink()
    os.mkfifo(harness.file)
    with trio.fail_after(5):
        with pytest.raises(ConfigError, match="a FIFO, not a regular file"):
            await harness.ctl({"command": ["reload"]})
