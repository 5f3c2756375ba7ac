"""RFC 8145 key-tag signalling: the query's name, and that the lab root sees it."""

from __future__ import annotations

from pathlib import Path

import dns.name
import dns.rdatatype
import trio
import trio.testing

from dnssec.anchors import TrustAnchors
from resolver.clock import FakeClock
from resolver.lab import Lab, LabTransport
from resolver.lab.drill import lab_resolver
from resolver.question import Question
from resolver.signaling import signal_key_tags, signal_question

#: The 2017 root KSK (key tag 20326 = 0x4f66, RFC 8145's example) and a made-up one.
DIGEST = "e06d44b80b8f1d39a95c0b0d7c65d08458e880409bbc683457104237c7f8ec8d"
KSK_2017 = f". 3600 IN DS 20326 8 2 {DIGEST}"
OTHER = f". 3600 IN DS 2591 8 2 {DIGEST}"
ELSEWHERE = f"example. 3600 IN DS 1 8 2 {DIGEST}"


def anchors(*lines: str) -> TrustAnchors:
    return TrustAnchors.from_text("\n".join(lines) + "\n", source="test")


def test_the_query_names_the_root_key_tags_in_hex_ascending() -> None:
    assert signal_question(anchors(KSK_2017)) == Question(
        dns.name.from_text("_ta-4f66."), dns.rdatatype.NULL
    )
    both = signal_question(anchors(KSK_2017, OTHER, ELSEWHERE))
    assert both is not None
    assert both.name == dns.name.from_text("_ta-0a1f-4f66.")  # zero-padded, only the root's


def test_no_root_anchor_no_signal() -> None:
    assert signal_question(anchors(ELSEWHERE)) is None


async def test_the_root_sees_the_signal_once_and_again_when_the_anchors_change(
    lab: Lab,
    clock: FakeClock,
    tmp_path: Path,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    transport = LabTransport(lab)
    resolver = lab_resolver(lab, clock, tmp_path, transport)
    await nursery.start(resolver.recursor.run)
    in_force = [resolver.iterator.validator.anchors]
    nursery.start_soon(signal_key_tags, resolver.recursor, lambda: in_force[0])
    await trio.sleep(1)
    roots = {server.address for server in lab.servers if "." in server.zones}
    expected = signal_question(in_force[0])
    assert expected is not None

    def signals() -> list[dns.name.Name]:
        return [
            query.qname
            for query in transport.sent
            if query.address in roots and query.rdtype == dns.rdatatype.NULL
        ]

    assert signals() == [expected.name]
    await trio.sleep(600)  # the anchors did not change: no new signal
    assert signals() == [expected.name]
    in_force[0] = TrustAnchors.merge([in_force[0], anchors(KSK_2017)])
    await trio.sleep(60)
    changed = signal_question(in_force[0])
    assert changed is not None
    assert signals() == [expected.name, changed.name]
