"""Holdfast's configuration: one TOML file, strictly checked, flags on top.

Every option has a section, a type, a default and a check; ``OPTIONS`` is
the single table they come from, so the file loader, the command-line
overrides and the documentation cannot disagree. A file that fails a check
raises ``ConfigError`` naming the file, the option and what is wrong (an
unknown key comes with the nearest known one), and nothing starts.

The sections grow with later issues (serve_stale, local_root, routes,
metrics, logging, workers); today's options:

.. code-block:: toml

    [server]
    listen = ["127.0.0.1:53", "[::1]:53"]   # where clients reach us
    allow = ["127.0.0.0/8", "::1/128"]      # clients allowed; others get REFUSED

    [upstream]
    allow = []             # where we may send queries; empty = anywhere
    port = 53              # authoritative servers' port
    root_hints = ""        # zone-file path; empty = built-in IANA hints
    qname_minimisation = true
    holddown = 900         # seconds a server that sent bogus data is held down
    max_holddown = 14400   # ... doubling on repeat, up to this

    [cache]
    max_entries = 1000000
    min_ttl = 0
    max_ttl = 86400
    max_negative_ttl = 3600

    [limits]
    max_upstream_queries = 48
    max_referrals = 32
    max_depth = 4
    max_cname_chain = 16
    time_budget = 5.0      # seconds

    [dnssec]
    trust_anchors = []     # zone-file paths; empty = built-in IANA root anchors
    bogus_ttl = 60         # seconds failed data is remembered (val-bogus-ttl)
    max_signatures_per_query = 64      # KeyTrap bound, key fetches included
    max_signatures_per_response = 16
    max_keys_per_tag = 4               # keys tried when key tags collide
    max_nsec3_iterations = 100         # above: insecure, EDE 27 (RFC 9276)
    max_nsec3_hashes = 64              # NSEC3 name hashes per response

    [serve_stale]          # RFC 8767
    enabled = true
    max_stale = 86400      # seconds expired data is kept for serving (at most 3 days)
    reply_ttl = 30         # TTL of records in a stale answer
    client_timeout = 1.8   # seconds a client waits for fresh data before it gets stale data
    failure_recheck = 30   # seconds after a failed refresh that answers are stale at once
    prefetch = true        # refresh data asked for in the last 10% of its TTL

    [local_root]           # RFC 8806 (``rootzone/``)
    sources = []           # tried in order: "/path/root.zone", "axfr://ADDR[:PORT]", "https://..."
    enabled = true
    zonemd = "verify"      # or "require", "ignore"
    zonefile = ""          # where a transferred copy is saved and read at start
    safety_margin = 3600   # retire this long before the earliest RRSIG expiration
    max_age = 0            # retire this long after loading; 0 = no bound
    max_growth = 2.0       # refuse a candidate this many times larger
    max_delegation_change = 0.1   # refuse a candidate adding/dropping this share of TLDs

    [control]
    socket = ""            # Unix socket path; empty = default run directory

    [[route]]              # operator routes (``resolver/routes.py``), any number
    zone = "com"
    avoid = ["192.0.2.1"]  # or only = [...] or prefer = [...]
    expires = "2h"         # optional: a duration, or a date-time with offset

The routes are kept under the name ``routes`` as a tuple of ``Route``.
"""

from __future__ import annotations

import difflib
import ipaddress
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.name

from resolver.errors import ConfigError
from resolver.routes import Route, RouteError, route_from_table
from rootzone.errors import SourceError
from rootzone.sources import source_from_text

#: The largest configuration file we accept: a sane one is a few kilobytes.
MAX_CONFIG_BYTES = 1 << 20

Check = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration option: where it lives, its type and default, its check."""

    section: str
    key: str
    kind: type
    default: Any
    help: str
    check: Check | None = None
    item_check: Check | None = None
    #: Applied by a reload (SIGHUP, ``ctl reload``); otherwise it needs a restart.
    reload: bool = False

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


def _endpoint_error(value: str) -> str | None:
    try:
        parse_endpoint(value)
    except ValueError as exc:
        return str(exc)
    return None


def _network_error(value: str) -> str | None:
    try:
        ipaddress.ip_network(value)
    except ValueError as exc:
        return f"{value!r} is not an IP network in CIDR form ({exc})"
    return None


def _source_error(value: str) -> str | None:
    try:
        source_from_text(value)
    except SourceError as exc:
        return str(exc)
    return None


def _optional(check: Check) -> Check:
    """``check``, except that the empty string (meaning off) passes."""
    return lambda value: None if value == "" else check(value)


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(choices)}, not {value!r}"
        return None

    return check


def _range(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if not low <= value <= high:
            return f"must be between {low:g} and {high:g}, not {value}"
        return None

    return check


OPTIONS: tuple[Option, ...] = (
    Option("server", "listen", list, ["127.0.0.1:53", "[::1]:53"],
           "addresses and ports to answer clients on (ADDR:PORT, IPv6 in brackets)",
           item_check=_endpoint_error),
    Option("server", "allow", list, ["127.0.0.0/8", "::1/128"],
           "client networks allowed to query; others are answered REFUSED",
           item_check=_network_error, reload=True),
    Option("server", "user", str, "",
           "after binding the listening ports, run as this user (Unbound's username); "
           "empty means stay as started"),
    Option("workers", "count", int, 1,
           "processes serving the same ports (SO_REUSEPORT), each with its own cache",
           _range(1, 64)),
    Option("upstream", "allow", list, [],
           "networks we may send upstream queries to; empty means anywhere",
           item_check=_network_error),
    Option("upstream", "port", int, 53, "port of the authoritative servers", _range(1, 65535)),
    Option("upstream", "root_hints", str, "", "root hints file; empty means the IANA hints"),
    Option("upstream", "qname_minimisation", bool, True, "RFC 9156 QNAME minimisation (relaxed)"),
    Option("upstream", "holddown", float, 900.0,
           "seconds a server that sent data failing validation is avoided for that zone",
           _range(0, 86_400), reload=True),
    Option("upstream", "max_holddown", float, 14_400.0,
           "longest hold-down, seconds (each repeat doubles it)", _range(0, 7 * 86_400),
           reload=True),
    Option("upstream", "max_timeout", float, 2.0,
           "longest wait for one upstream reply, seconds: the ceiling of the backed-off "
           "retransmission timeout", _range(0.05, 30)),
    Option("upstream", "timeout_rounds", int, 5,
           "rounds in which the servers of a zone that timed out are asked again",
           _range(1, 10), reload=True),
    Option("cache", "max_entries", int, 1_000_000, "RRsets and negative answers kept",
           _range(1, 100_000_000)),
    Option("cache", "max_answers", int, 100_000,
           "ready-made responses kept for repeated questions (0 turns the fast path off)",
           _range(0, 10_000_000)),
    Option("cache", "min_ttl", int, 0, "lowest TTL kept, seconds", _range(0, 86_400), reload=True),
    Option("cache", "max_ttl", int, 86_400, "highest TTL kept, seconds", _range(1, 604_800),
           reload=True),
    Option("cache", "max_negative_ttl", int, 3_600, "highest negative-answer TTL, seconds",
           _range(0, 86_400), reload=True),
    Option("limits", "max_upstream_queries", int, 48, "upstream queries per client query",
           _range(1, 1_000), reload=True),
    Option("limits", "max_referrals", int, 32, "referrals followed per client query",
           _range(1, 256), reload=True),
    Option("limits", "max_depth", int, 4, "nested sub-resolutions (NS without glue)",
           _range(0, 32), reload=True),
    Option("limits", "max_cname_chain", int, 16, "CNAME/DNAME steps per question",
           _range(0, 64), reload=True),
    Option("limits", "time_budget", float, 5.0, "seconds before a client query gets SERVFAIL",
           _range(0.1, 60), reload=True),
    Option("dnssec", "trust_anchors", list, [],
           "trust anchor files (DS/DNSKEY); empty means the IANA root anchors", reload=True),
    Option("dnssec", "bogus_ttl", int, 60,
           "seconds data that failed validation is remembered (Unbound val-bogus-ttl)",
           _range(0, 86_400), reload=True),
    Option("dnssec", "max_signatures_per_query", int, 64,
           "signature checks for one client query, key fetches included (KeyTrap bound)",
           _range(1, 10_000), reload=True),
    Option("dnssec", "max_signatures_per_response", int, 16,
           "signature checks for one upstream response", _range(1, 10_000), reload=True),
    Option("dnssec", "max_keys_per_tag", int, 4,
           "DNSKEYs tried for one RRSIG when key tags collide", _range(1, 64), reload=True),
    Option("dnssec", "max_nsec3_iterations", int, 100,
           "NSEC3 iterations above this make a denial insecure (RFC 9276)", _range(0, 2_500),
           reload=True),
    Option("dnssec", "max_nsec3_hashes", int, 64,
           "NSEC3 name hashes for one upstream response", _range(1, 10_000), reload=True),
    Option("serve_stale", "enabled", bool, True,
           "answer from expired data when fresh data cannot be had (RFC 8767)", reload=True),
    Option("serve_stale", "max_stale", float, 86_400.0,
           "seconds past its TTL that data is kept for stale answers", _range(0, 3 * 86_400),
           reload=True),
    Option("serve_stale", "reply_ttl", int, 30, "TTL of records in a stale answer, seconds",
           _range(1, 3_600), reload=True),
    Option("serve_stale", "client_timeout", float, 1.8,
           "seconds a client waits for fresh data before it gets stale data (client "
           "response timer)", _range(0, 60), reload=True),
    Option("serve_stale", "failure_recheck", float, 30.0,
           "seconds after a failed refresh during which answers are stale without asking "
           "upstream", _range(0, 3_600), reload=True),
    Option("serve_stale", "prefetch", bool, True,
           "refresh cached data asked for in the last 10% of its TTL", reload=True),
    Option("local_root", "sources", list, [],
           "where copies of the root zone come from, tried in order: a file path, "
           "axfr://ADDR[:PORT], or an http(s):// URL; empty means no local root (RFC 8806)",
           item_check=_source_error),
    Option("local_root", "enabled", bool, True,
           "use the local root copy (ctl local-root disable/enable switches it at run time)",
           reload=True),
    Option("local_root", "zonemd", str, "verify",
           "ZONEMD policy: verify (a supported digest must match), require (and must be "
           "present), ignore", _one_of("verify", "require", "ignore")),
    Option("local_root", "zonefile", str, "",
           "where the last good copy from a transfer or download is saved and read at start; "
           "empty means nowhere"),
    Option("local_root", "safety_margin", int, 3_600,
           "a copy is retired this many seconds before its earliest signature expiration",
           _range(0, 7 * 86_400)),
    Option("local_root", "max_age", int, 0,
           "a copy is retired this many seconds after it was loaded; 0 means no such bound",
           _range(0, 365 * 86_400)),
    Option("local_root", "max_growth", float, 2.0,
           "a candidate larger than this many times the copy in use is refused",
           _range(1, 100)),
    Option("local_root", "max_delegation_change", float, 0.1,
           "a candidate that adds or drops more than this share of the TLDs is refused",
           _range(0, 1)),
    Option("control", "socket", str, "",
           "control socket path (mode 0600); empty means /run/holdfast/control.sock as root, "
           "else under $XDG_RUNTIME_DIR"),
    Option("metrics", "listen", str, "127.0.0.1:9153",
           "Prometheus endpoint, ADDR:PORT (GET /metrics); empty means none",
           _optional(_endpoint_error)),
    Option("logging", "level", str, "info", "debug, info, warning or error",
           _one_of("debug", "info", "warning", "error"), reload=True),
    Option("logging", "format", str, "human",
           "human: one readable line per event; json: one JSON object per line, stable keys",
           _one_of("human", "json")),
    Option("logging", "query_log", bool, False,
           "log every client query (logger holdfast.query, level info)", reload=True),
)

_BY_NAME = {option.name: option for option in OPTIONS}


def parse_endpoint(text: str) -> tuple[str, int]:
    """Split ``ADDR:PORT`` (``[v6]:PORT`` for IPv6) into an address and a port.

    Raises:
        ValueError: with a message saying what is wrong.
    """
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or (":" in host and not text.startswith("[")):
        raise ValueError(f"{text!r} is not ADDR:PORT (write IPv6 as [ADDR]:PORT)")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} in {text!r} is not an IP address") from None
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"port {number} in {text!r} is out of range")
    return host, number


@dataclass(frozen=True, slots=True)
class Config:
    """A checked configuration: option name (``section.key``) to value."""

    values: Mapping[str, Any]
    source: str = "<defaults>"

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @classmethod
    def defaults(cls) -> Config:
        return cls(_default_values())

    def changed(self) -> dict[str, Any]:
        """The options whose value differs from the default, by name."""
        return {
            option.name: self.values[option.name]
            for option in OPTIONS
            if self.values[option.name] != option.default
        }

    def with_overrides(self, overrides: Mapping[str, Any], *, source: str) -> Config:
        """A copy with ``overrides`` (e.g. from command-line flags) checked and applied."""
        if not overrides:
            return self
        values = dict(self.values)
        for name, value in overrides.items():
            values[name] = _checked(_BY_NAME[name], value, source)
        return Config(values, f"{self.source} + {source}")


def _default_values() -> dict[str, Any]:
    values: dict[str, Any] = {option.name: option.default for option in OPTIONS}
    values["routes"] = ()
    return values


def load_config(path: Path, *, now: float | None = None) -> Config:
    """Read and check a TOML configuration file.

    ``now`` is when route durations start (default: the current time).

    Raises:
        ConfigError: unreadable, too large, not TOML, or any option is wrong.
    """
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{size} bytes is far larger than any sane configuration "
                f"(limit {MAX_CONFIG_BYTES}); refusing it",
                source=source,
            )
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=source) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", source=source) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=source) from exc
    values = _default_values()
    sections = sorted({option.section for option in OPTIONS} | {"route"})
    for section, table in data.items():
        if section == "route":
            values["routes"] = _routes(table, source, time.time() if now is None else now)
            continue
        if section not in sections:
            raise ConfigError(f"unknown section [{section}]{_suggest(section, sections)}",
                              source=source)
        if not isinstance(table, dict):
            raise ConfigError(f"{section} must be a [{section}] table", source=source)
        for key, value in table.items():
            name = f"{section}.{key}"
            option = _BY_NAME.get(name)
            if option is None:
                raise ConfigError(f"unknown option {name}{_suggest(name, list(_BY_NAME))}",
                                  source=source)
            values[name] = _checked(option, value, source)
    return Config(values, source)


def _routes(tables: Any, source: str, now: float) -> tuple[Route, ...]:
    """The ``[[route]]`` array of tables as routes, one per zone."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError("route must be an array of tables, written [[route]]", source=source)
    routes: dict[dns.name.Name, Route] = {}
    for table in tables:
        try:
            route = route_from_table(table, now=now)
        except RouteError as exc:
            raise ConfigError(str(exc), source=source) from exc
        if route.zone in routes:
            raise ConfigError(f"[[route]]: two routes for {route.zone}", source=source)
        routes[route.zone] = route
    return tuple(routes.values())


def _checked(option: Option, value: Any, source: str) -> Any:
    if option.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, option.kind) or (option.kind is int and isinstance(value, bool)):
        raise ConfigError(
            f"{option.name} must be {option.kind.__name__}, not {type(value).__name__} "
            f"({value!r})",
            source=source,
        )
    problem = option.check(value) if option.check else None
    if problem is None and isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                problem = f"items must be strings, not {type(item).__name__} ({item!r})"
            elif option.item_check is not None:
                problem = option.item_check(item)
            if problem is not None:
                break
    if problem is not None:
        raise ConfigError(f"{option.name}: {problem}", source=source)
    return value


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
