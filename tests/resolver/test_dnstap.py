"""dnstap (``resolver/dnstap.py``, ``dnstap_output.py``): read back with a small decoder."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.name
import dns.rdatatype
import trio

from resolver.dnstap import Event, MessageType, Sampler, encode
from resolver.dnstap_output import DnstapOutput, TappedTransport
from resolver.exchange import UpstreamQuery, UpstreamReply
from tests.dnstap_reader import Collector, message_of


def test_client_query_encoding() -> None:
    wire = dns.message.make_query("www.example.com", "A").to_wire()
    fields = message_of(encode(Event(MessageType.CLIENT_QUERY, "127.0.0.9", False, 12.5, wire)))
    assert fields[1] == 5
    assert fields[2] == 1
    assert fields[3] == 1
    assert fields[4] == bytes([127, 0, 0, 9])
    assert (fields[8], fields[9], fields[10]) == (12, 500_000_000, wire)
    upstream = message_of(encode(Event(MessageType.RESOLVER_RESPONSE, "::1", True, 1.0, b"x", 53)))
    assert upstream[1] == 4
    assert upstream[2] == 2
    assert upstream[3] == 2
    assert upstream[5] == bytes(15) + b"\x01"
    assert upstream[7] == 53
    assert upstream[14] == b"x"


def test_sampling_and_rate_cap() -> None:
    now = [0.0]
    one_in_three = Sampler(sample=3, max_rate=1000, clock=lambda: now[0])
    assert [one_in_three.take() for _ in range(6)] == [False, False, True] * 2
    capped = Sampler(sample=1, max_rate=10, clock=lambda: now[0])
    assert sum(capped.take() for _ in range(100)) == 10  # a burst within one second
    assert capped.capped == 90
    now[0] = 0.5
    assert not capped.take()
    now[0] = 1.0  # the next window
    assert sum(capped.take() for _ in range(100)) == 10


class _Lab:
    async def exchange(self, query: UpstreamQuery) -> UpstreamReply:
        question = dns.message.make_query(query.qname, query.rdtype)
        return UpstreamReply(query.address, dns.message.make_response(question), 0.001)


def test_stream_read_back(tmp_path: Path) -> None:
    output = DnstapOutput(str(tmp_path / "dnstap.sock"), sample=1, max_rate=100)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(output.run)
            query = dns.message.make_query("www.example.com", "A").to_wire()
            output.client(query, b"response", "127.0.0.2", tcp=False)
            tapped = TappedTransport(_Lab(), output, 53)
            await tapped.exchange(
                UpstreamQuery("127.53.0.1", dns.name.from_text("ExAmple.com"), dns.rdatatype.NS)
            )
            await trio.to_thread.run_sync(collector.wait_for, 4)
            nursery.cancel_scope.cancel()  # the writer sends STOP and waits for FINISH

    with Collector(tmp_path / "dnstap.sock") as collector:
        trio.run(main)
        assert collector.finished.wait(5)
    assert output.statistics().sent == 4
    kinds = [message[1] for message in collector.messages()]
    assert kinds == [5, 6, 3, 4]
    client_query, _, resolver_query, resolver_response = collector.messages()
    assert dns.message.from_wire(client_query[10]).question[0].name.to_text() == "www.example.com."
    assert resolver_query[5] == bytes([127, 53, 0, 1])
    assert resolver_query[7] == 53
    assert dns.message.from_wire(resolver_query[10]).question[0].rdtype == dns.rdatatype.NS
    assert dns.message.from_wire(resolver_response[14]).flags & dns.flags.QR


def test_frames_lost_with_a_collector_that_went_away_are_counted_as_dropped(
    tmp_path: Path,
) -> None:
    output = DnstapOutput(str(tmp_path / "dnstap.sock"), sample=1, max_rate=100)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(output.run)
            await trio.to_thread.run_sync(collector.hung_up.wait, 5)
            output.client(b"query", b"response", "127.0.0.2", tcp=False)
            for _ in range(500):  # at most 5 s for the writer to find the socket closed
                if output.statistics().dropped:
                    break
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    with Collector(tmp_path / "dnstap.sock", hang_up=True) as collector:
        trio.run(main)
    assert output.statistics().dropped == 2
    assert output.statistics().sent == 0
