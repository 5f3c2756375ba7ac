"""End to end: RFC 8145 key-tag signalling by a running ``holdfast serve`` over the lab.

The lab's servers keep no query log, so what reached the lab root is read
from the resolver's dnstap stream (``tests/dnstap_reader.py``): a
RESOLVER_QUERY to a root server address (127.53.0.x) and the
RESOLVER_RESPONSE that root server sent back. With
``[dnssec] trust_anchor_signaling = true`` ``daemon.run`` starts the
signal, and the root answers the ``_ta-XXXX.`` NULL query; by default the
root never sees one, though the resolver talks to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from dnssec.anchors import TrustAnchors
from resolver.dnstap import MessageType
from resolver.signaling import signal_question
from tests.dnstap_reader import Collector
from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving

pytestmark = [pytest.mark.integration, NEEDS_DIG]

#: dnstap Message fields (dnstap.proto): type, response address, query and response message.
TYPE, RESPONSE_ADDRESS, QUERY_MESSAGE, RESPONSE_MESSAGE = 1, 5, 10, 14


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def roots(lab: LabProcess) -> set[bytes]:
    """The lab root servers' addresses, as dnstap writes them."""
    return {
        bytes(int(part) for part in address.split("."))
        for address, zones in lab.zones_by_address().items()
        if "." in zones
    }


def signals(collector: Collector, lab: LabProcess) -> list[tuple[int, dns.message.Message]]:
    """(dnstap type, message) of every resolver query or response naming ``_ta-*`` NULL
    that went to or came from a lab root server."""
    found = []
    for message in collector.messages():
        kind: Any = message[TYPE]
        field = {MessageType.RESOLVER_QUERY: QUERY_MESSAGE,
                 MessageType.RESOLVER_RESPONSE: RESPONSE_MESSAGE}.get(kind)
        if field is None or message.get(RESPONSE_ADDRESS) not in roots(lab):
            continue
        wire = dns.message.from_wire(message[field])
        question = wire.question[0]
        if question.rdtype == dns.rdatatype.NULL and question.name.labels[0].startswith(b"_ta-"):
            found.append((kind, wire))
    return found


def start(lab: LabProcess, workdir: Path, config: str) -> tuple[Collector, Path]:
    socket_path = workdir / "tap.sock"
    path = workdir / "holdfast.toml"
    path.write_text(f'[dnstap]\nsocket = "{socket_path}"\n{config}')
    return Collector(socket_path), path


def test_the_lab_root_answers_the_key_tag_query_when_signalling_is_on(
    lab: LabProcess, tmp_path: Path
) -> None:
    anchors = TrustAnchors.from_text((lab.directory / "trust-anchor.ds").read_text(),
                                     source="lab")
    expected = signal_question(anchors)
    assert expected is not None
    collector, config = start(lab, tmp_path, "[dnssec]\ntrust_anchor_signaling = true\n")
    with collector, serving(ResolverProcess.start(lab, tmp_path, "--config", str(config))) \
            as resolver:
        eventually(lambda: len(signals(collector, lab)) >= 2,
                   "the key-tag query and the root's answer in the dnstap stream")
        assert resolver.dig("www.example.com", "A").answers("A") == ["192.0.2.1"]

    (query_kind, query), (response_kind, response) = signals(collector, lab)
    assert (query_kind, response_kind) == (MessageType.RESOLVER_QUERY,
                                            MessageType.RESOLVER_RESPONSE)
    assert query.question[0].name == expected.name  # the lab root key's tag, in hex
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert f"trust anchor signal (RFC 8145) {expected.name} sent" in resolver.log.read_text()


def test_by_default_the_root_never_sees_a_key_tag_query(lab: LabProcess, tmp_path: Path) -> None:
    collector, config = start(lab, tmp_path, "")
    with collector, serving(ResolverProcess.start(lab, tmp_path, "--config", str(config))) \
            as resolver:
        assert resolver.dig("www.example.com", "A").answers("A") == ["192.0.2.1"]
        eventually(lambda: any(m[TYPE] == MessageType.CLIENT_RESPONSE
                               for m in collector.messages()), "the client response")
        to_root = [m for m in collector.messages()
                   if m[TYPE] == MessageType.RESOLVER_QUERY
                   and m.get(RESPONSE_ADDRESS) in roots(lab)]
    assert to_root, "the resolver asked the lab root something"
    assert signals(collector, lab) == []
    assert "RFC 8145" not in resolver.log.read_text()

