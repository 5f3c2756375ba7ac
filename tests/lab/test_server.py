"""serve_lab on real loopback sockets: UDP, TCP, AXFR, files, control socket.

Run it inside a private network namespace (``tests/run-isolated``); it
skips where 127.53.0.1 cannot be bound. It uses port 5353 so that it needs
no privilege.
"""

from __future__ import annotations

import socket
from functools import partial
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import pytest
import trio

from resolver.lab import Lab, LabError, send_lab_command, serve_lab

PORT = 5353


def _can_bind(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, PORT))
        except OSError:
            return False
    return True


async def _udp(address: str, query: dns.message.Message) -> dns.message.Message:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.sendto(query.to_wire(), (address, PORT))
        with trio.fail_after(5):
            wire = await sock.recv(65535)
    return dns.message.from_wire(wire)


async def _tcp(address: str, *queries: dns.message.Message) -> list[dns.message.Message]:
    """Send ``queries`` on one connection; read one reply to each."""
    stream = await trio.open_tcp_stream(address, PORT)
    replies: list[dns.message.Message] = []
    async with stream:
        for query in queries:
            wire = query.to_wire()
            await stream.send_all(len(wire).to_bytes(2, "big") + wire)
        buffer = b""
        with trio.fail_after(5):
            while len(replies) < len(queries):
                buffer += await stream.receive_some()
                while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
                    size = int.from_bytes(buffer[:2], "big")
                    replies.append(
                        dns.message.from_wire(buffer[2 : 2 + size], one_rr_per_rrset=True)
                    )
                    buffer = buffer[2 + size :]
    return replies


async def test_serve_lab_answers_udp_tcp_axfr_and_control(fresh_lab: Lab, tmp_path: Path) -> None:
    if not _can_bind("127.53.0.1"):
        pytest.skip("cannot bind 127.53.0.1:5353 (run inside tests/run-isolated)")
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_lab, fresh_lab, directory=tmp_path, port=PORT))
        assert {p.name for p in await trio.Path(tmp_path).iterdir()} >= {
            "root.hints",
            "trust-anchor.ds",
            "root.zone",
            "lab.json",
            "lab.sock",
        }

        reply = await _udp("127.53.3.1", dns.message.make_query("www.example.com.", "A"))
        assert reply.answer[0][0].to_text() == "192.0.2.1"

        www, axfr = await _tcp(
            "127.53.0.1",
            dns.message.make_query("com.", "NS", want_dnssec=True),
            dns.message.make_query(".", "AXFR"),
        )
        assert www.authority
        assert axfr.answer[0].rdtype == axfr.answer[-1].rdtype == dns.rdatatype.SOA

        request = {"op": "fault", "address": "127.53.3.1", "kind": "refused"}
        await trio.to_thread.run_sync(send_lab_command, tmp_path, request)
        refused = await _udp("127.53.3.1", dns.message.make_query("www.example.com.", "A"))
        assert refused.rcode() == dns.rcode.REFUSED
        clear = {"op": "clear", "address": "127.53.3.1"}
        await trio.to_thread.run_sync(send_lab_command, tmp_path, clear)
        bad = {"op": "fault", "address": "127.53.3.1", "kind": "explode"}
        with pytest.raises(LabError, match="unknown fault kind"):
            await trio.to_thread.run_sync(send_lab_command, tmp_path, bad)
        nursery.cancel_scope.cancel()
    assert not (tmp_path / "lab.sock").exists()


def test_send_lab_command_says_when_the_lab_is_not_running(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="not running"):
        send_lab_command(tmp_path, {"op": "ping"})
