"""``docs/configuration.md``, generated from ``config.OPTIONS``.

The reference is written from the same table the loader checks against, so
a default, a range or a reload rule cannot be documented one way and
implemented another. Regenerate it with::

    python -m resolver.config_reference > docs/configuration.md

``tests/resolver/test_config_reference.py`` fails when the committed file
is out of date.
"""

from __future__ import annotations

import json
from typing import Any

from resolver.config import OPTIONS, OneOf, Option, Range
from resolver.settings import SERVE_FLAGS

#: What each section is for, in the order the reference lists them.
SECTIONS = {
    "server": "Where clients reach Holdfast, who may ask, and who it runs as.",
    "workers": "Processes serving the same ports.",
    "upstream": "Queries to authoritative servers: where they may go, how long to wait, "
    "what to do with servers that sent bogus data.",
    "cache": "The record cache and the ready-made responses built from it.",
    "shared_cache": "A cache tier on Valkey/Redis (or a Redis Cluster) shared with other "
    "resolvers: asked on a miss, written on a store, skipped while unavailable.",
    "limits": "Work one client query may cause (upstream queries, referrals, time).",
    "dnssec": "Trust anchors and the bounds on validation work (KeyTrap, NSEC3).",
    "serve_stale": "Answering from expired data when fresh data cannot be had (RFC 8767).",
    "local_root": "A local copy of the root zone (RFC 8806): sources, checks and lifetime.",
    "dns64": "DNS64 (RFC 6147): AAAA answers made from A records, for IPv6-only clients "
    "behind a NAT64 translator.",
    "renumber": "Addresses rewritten in answers (behind NAT); rewritten answers are not "
    "secure any more.",
    "control": "The control socket that `holdfast ctl` talks to.",
    "metrics": "The Prometheus endpoint.",
    "logging": "Log level, format and the query log.",
    "local_zones": "The RFC 6761/6303 default local zones; `[[local_zone]]` and `[[local_data]]` "
    "(below) add the operator's own.",
    "dnstap": "A dnstap stream (Frame Streams over a Unix socket) of client and upstream "
    "exchanges, sampled and rate-capped.",
}

#: The nearest Unbound option, for operators moving from Unbound.
UNBOUND = {
    "server.listen": "interface, port",
    "server.allow": "access-control",
    "server.user": "username",
    "server.udp_queries": "num-queries-per-thread",
    "server.udp_queue": "jostle-timeout (a queue, not a timeout)",
    "server.udp_queue_timeout": "jostle-timeout",
    "server.udp_receive_buffer": "so-rcvbuf",
    "server.max_udp_size": "max-udp-size",
    "server.tcp_connections": "incoming-num-tcp",
    "server.tcp_connections_per_client": "tcp-connection-limit (per address or /64)",
    "server.tcp_idle_timeout": "tcp-idle-timeout (here in seconds)",
    "server.listen_tls": "interface@853, tls-port",
    "server.listen_https": "interface@443, https-port",
    "server.https_path": "http-endpoint",
    "server.tls_certificate": "tls-service-pem",
    "server.tls_key": "tls-service-key",
    "server.tls_connections": "incoming-num-tcp (shared with TCP there)",
    "server.tls_connections_per_client": "tcp-connection-limit",
    "server.tls_idle_timeout": "tcp-idle-timeout (here in seconds)",
    "server.tls_handshake_timeout": "none (tcp-idle-timeout covers it)",
    "server.tls_pipelined_queries": "none (stream-wait-size bounds memory)",
    "server.https_max_streams": "http-max-streams",
    "workers.count": "num-threads, so-reuseport",
    "upstream.allow": "do-not-query-address (inverted: an allow-list)",
    "upstream.root_hints": "root-hints",
    "upstream.qname_minimisation": "qname-minimisation",
    "upstream.harden_glue": "harden-glue",
    "upstream.qname_case_randomisation": "use-caps-for-id",
    "upstream.qname_case_exempt": "caps-exempt",
    "dns64.prefix": "dns64-prefix (module-config: \"dns64 validator iterator\")",
    "dns64.synthall": "dns64-synthall",
    "dns64.ignore_aaaa": "dns64-ignore-aaaa",
    "dns64.exclude": "none (BIND dns64 exclude)",
    "renumber.prefixes": "none (Knot Resolver renumber.config)",
    "upstream.holddown": "infra-host-ttl (for bogus servers)",
    "upstream.max_timeout": "infra-cache-max-rtt",
    "upstream.timeout_rounds": "outbound-msg-retry",
    "cache.max_entries": "rrset-cache-size (a count, not bytes)",
    "cache.max_answers": "msg-cache-size (a count, not bytes)",
    "cache.max_bytes": "rrset-cache-size + msg-cache-size",
    "cache.min_ttl": "cache-min-ttl",
    "cache.max_ttl": "cache-max-ttl",
    "cache.max_negative_ttl": "cache-max-negative-ttl",
    "cache.failure_ttl": "none (Unbound keeps a SERVFAIL 5 s; infra-host-ttl per server)",
    "cache.max_failure_ttl": "none",
    "cache.max_failures": "msg-cache-size (shared there)",
    "shared_cache.servers": "redis-server-host, redis-server-port (cachedb module)",
    "shared_cache.secret_file": "secret-seed (cachedb, written in the configuration there)",
    "shared_cache.database": "redis-logical-db",
    "shared_cache.password_file": "redis-server-password",
    "shared_cache.timeout": "redis-timeout (where Unbound's query waits for it)",
    "dnssec.trust_anchors": "trust-anchor-file",
    "dnssec.trust_anchor_file": "auto-trust-anchor-file",
    "dnssec.bogus_ttl": "val-bogus-ttl",
    "dnssec.aggressive_nsec": "aggressive-nsec",
    "dnssec.negative_trust_anchors": "domain-insecure",
    "dnssec.root_key_sentinel": "root-key-sentinel",
    "dnssec.trust_anchor_signaling": "trust-anchor-signaling (default yes there)",
    "serve_stale.enabled": "serve-expired",
    "serve_stale.max_stale": "serve-expired-ttl",
    "serve_stale.reply_ttl": "serve-expired-reply-ttl",
    "serve_stale.client_timeout": "serve-expired-client-timeout (here in seconds)",
    "serve_stale.prefetch": "prefetch",
    "local_root.sources": "auth-zone: primary:, url:",
    "local_root.zonefile": "auth-zone: zonefile:",
    "local_root.zonemd": "zonemd-check, zonemd-reject-absence",
    "control.socket": "control-interface (a Unix socket path)",
    "logging.level": "verbosity",
    "logging.query_log": "log-queries",
    "logging.query_log_target": "logfile, use-syslog (Knot: log-target)",
    "logging.trace_sample": "verbosity: 4 for every query (Knot: policy.DEBUG_IF)",
    "server.hide_identity": "hide-identity",
    "server.identity": "identity",
    "server.hide_version": "hide-version",
    "server.version": "version",
    "local_zones.defaults": "(the local-zone defaults)",
    "local_zones.nodefault": "local-zone: NAME nodefault",
    "dnstap.socket": "dnstap-enable, dnstap-socket-path",
    "dnstap.client_messages": "dnstap-log-client-query-messages, -response-messages",
    "dnstap.resolver_messages": "dnstap-log-resolver-query-messages, -response-messages",
    "dnstap.sample": "dnstap-sample-rate",
}

_HEADER = """\
# Configuration reference

<!-- Generated by `python -m resolver.config_reference > docs/configuration.md`
     from resolver/config.py; do not edit by hand. -->

Holdfast reads one TOML file: `holdfast serve --config FILE`. Every option is
optional; a file that names an unknown section or option, gives a value of the
wrong type or out of its range, or is larger than 1 MiB is refused with the file,
the option and the reason (an unknown name comes with the nearest known one), and
nothing starts (exit status 2). `holdfast check-config FILE` runs the same checks
without starting anything and prints the settings that differ from the defaults.

Command-line flags override the file (the *Flag* column). `SIGHUP` or
`holdfast ctl reload` reads the file again: options marked *yes* under *Reload*
take effect at once, the others are reported as needing a restart and keep their
running value. A file that fails any check is refused and the running
configuration stays as it was.

Durations are in seconds; a list is a TOML array of strings.
"""

_ROUTES = """\
## `[[route]]`

Operator routes for the servers of a zone (`resolver/routes.py`), any number of
them, one per zone. They are applied by a reload; routes added with
`holdfast ctl route add` are kept across reloads. Nearest Unbound option:
`stub-zone` / `forward-zone`, or `unbound-control stub_add`. An `only` route
for a name that is not a zone cut stands in for the delegation, as a stub zone;
`prefer` and `avoid` need the zone to be a cut.

| key | type | meaning |
|---|---|---|
| `zone` | string | the zone whose servers are steered, e.g. `"com"` |
| `only` | list | ask only these addresses (they need not be in the delegation) |
| `prefer` | list | ask these addresses first, then the delegation's others |
| `avoid` | list | never ask these addresses; if none is left, the zone's queries fail |
| `expires` | string | optional: a duration (`"2h"`, `"30m"`) or a date-time with an offset |

Exactly one of `only`, `prefer`, `avoid`.

```toml
[[route]]
zone = "com"
avoid = ["192.0.2.1"]
expires = "2h"
```
"""

_LOCAL = """\
## `[[local_zone]]` and `[[local_data]]`

Names answered here, never asked upstream (`resolver/localzones.py`), with
Unbound's semantics; applied by a reload (zones and data added with `holdfast ctl`
are then gone). Answers carry no AD and are never validated.

| key | type | meaning |
|---|---|---|
| `[[local_zone]] name` | string | the zone, e.g. `"corp.example"` (Unbound `local-zone`) |
| `[[local_zone]] type` | string | static (default), transparent, redirect, refuse, deny, \
always_nxdomain, always_nodata, always_refuse, always_deny |
| `[[local_data]] record` | string | one record, `NAME [TTL] [IN] TYPE RDATA` (TTL 3600 if \
left out; Unbound `local-data`) |

Data outside every zone gets a transparent zone of its own, as in Unbound.

```toml
[[local_zone]]
name = "ads.example"
type = "redirect"

[[local_data]]
record = "ads.example. 60 IN A 0.0.0.0"
```
"""


_FORWARDING = """\
## `[[stub_zone]]` and `[[forward_zone]]`

Servers to ask for a zone and the names below it (`resolver/forwarding.py`), the
longest matching zone deciding; applied by a reload (zones added with `holdfast
ctl stub|forward add` are kept, and win for their zone). A stub zone's servers are
authoritative and asked with RD=0 (Unbound `stub-zone`, Knot `policy.STUB`); a
forward zone's are recursive resolvers, asked with RD=1 for every name below it
(Unbound `forward-zone`, Knot `policy.FORWARD`); `name = "."` forwards
everything. What comes back is validated as any answer, the DS and DNSKEY
records asked through the same servers: a signed internal zone needs its own
trust anchor. Hold-downs, server selection, metrics and `[upstream] allow`
apply to these servers as to any.

| key | type | meaning |
|---|---|---|
| `name` | string | the zone, e.g. `"corp.example"` or `"."` |
| `addresses` | list | `"ADDR"` or `"ADDR@PORT"` (without a port, `[upstream] port`); \
at most 32 (Unbound `stub-addr`, `forward-addr`) |
| `stub_first` / `forward_first` | bool | when every server failed, resolve as if the \
zone were not configured (default false; Unbound `stub-first`, `forward-first`) |
| `forward_tls` | bool | forward zones: DNS over TLS to the servers (RFC 7858), port 853 \
unless given; never plain text instead (Unbound `forward-tls-upstream`, Knot \
`policy.TLS_FORWARD`) |
| `tls_auth_name` | string | with `forward_tls`: the name the servers' certificate must be \
valid for (Unbound `ADDR#NAME`) |
| `tls_ca_file` | string | with `forward_tls`: verify against the CA certificates in this \
PEM file only (absolute path); without it, the system's store (Unbound `tls-cert-bundle`) |

```toml
[[forward_zone]]
name = "."
addresses = ["192.0.2.53", "192.0.2.54@853"]
forward_tls = true
tls_auth_name = "dns.example.net"

[[stub_zone]]
name = "corp.example"
addresses = ["10.0.0.53"]
stub_first = true
```
"""


_POLICY = """\
## `[[policy]]`

Rules that block names, tried in the order written before local zones, the
cache and recursion; the first that matches decides (`resolver/policy.py`,
Knot Resolver's `policy.add` chain and action names). A rule matches the
question name only. Applied by a reload.

| key | type | meaning |
|---|---|---|
| `action` | string | `deny`: NXDOMAIN with AA and an SOA (Knot `policy.DENY`); `refuse`: \
REFUSED (`policy.REFUSE`); `drop`: SERVFAIL (`policy.DROP`; Unbound `rpz-drop` and local-zone \
`deny` send nothing instead); `tc`: TC=1 over UDP, so the client asks over TCP, and as `pass` \
over TCP (`policy.TC`, Unbound `rpz-tcp-only`); `pass`: answer as usual, no later rule is \
tried (`policy.PASS`, Unbound `rpz-passthru`). Blocking answers carry EDE 15 Blocked |
| `all` | boolean | `true`: every name (`policy.all`) |
| `suffix` | list of strings | these names and every name below them (`policy.suffix`) |
| `pattern` | string | a regular expression (Python syntax, case-insensitive) searched \
in the name written without its final dot, e.g. `(^\\|\\.)ads[0-9]*\\.` (`policy.pattern`, \
which takes a Lua pattern on the wire form); at most 256 characters, and refused if it could \
backtrack for long on a crafted name (a repeat inside a repeat, a repeated alternation, a \
backreference, several unbounded repeats) |

Each rule has `action` and exactly one of `all`, `suffix`, `pattern`.

```toml
[[policy]]
action = "pass"
suffix = ["good.ads.example"]

[[policy]]
action = "deny"
suffix = ["ads.example", "tracker.example"]

[[policy]]
action = "deny"
pattern = '(^|\\.)ad[0-9]{1,3}\\.'  # a TOML literal string: backslashes as they are
```
"""


def _value(value: Any) -> str:
    return f"`{json.dumps(value)}`"


def _allowed(option: Option) -> str:
    """The range or the choices the loader enforces, when it is one of those."""
    if isinstance(option.check, Range | OneOf):
        return str(option.check)
    return ""


def _row(option: Option) -> str:
    cells = [
        f"`{option.key}`",
        option.kind.__name__,
        _value(option.default),
        _allowed(option),
        option.unit or "",
        "yes" if option.reload else "restart",
        f"`{SERVE_FLAGS[option.name]}`" if option.name in SERVE_FLAGS else "",
        option.help.replace("|", "\\|"),
        UNBOUND.get(option.name, ""),
    ]
    return "| " + " | ".join(cells) + " |"


def markdown() -> str:
    """The whole reference, as committed in ``docs/configuration.md``."""
    parts = [_HEADER]
    for section, purpose in SECTIONS.items():
        options = [option for option in OPTIONS if option.section == section]
        parts.append(f"## `[{section}]`\n\n{purpose}\n")
        parts.append(
            "| option | type | default | allowed | unit | reload | flag | meaning | Unbound |"
        )
        parts.append("|---|---|---|---|---|---|---|---|---|")
        parts.extend(_row(option) for option in options)
        parts.append("")
    parts.append(_ROUTES)
    parts.append(_FORWARDING)
    parts.append(_LOCAL)
    parts.append(_POLICY)
    return "\n".join(parts)


if __name__ == "__main__":
    print(markdown(), end="")
