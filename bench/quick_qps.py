"""A rough cached-path throughput figure: answers per second from one client.

Not the benchmark harness (``holdfast bench``: dnsperf and Unbound side by
side); a check that needs nothing but Python, e.g. against ``holdfast demo``
while working on the fast path. It keeps ``--window`` queries outstanding on
one UDP socket, asking the same few warmed names over and over, and prints
answers per second.

    python bench/quick_qps.py --server 127.0.0.1:5300 --seconds 5
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import time

NAMES = ("www.example.com", "www.example.net", "alias.example.com", "www.example.org")


def encode(name: str, qid: int) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + labels + b"\x00\x00\x01\x00\x01" + (
        b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:5300")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=64)
    args = parser.parse_args()
    host, port = args.server.rsplit(":", 1)
    target = (host, int(port))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    for name in NAMES:  # warm the cache
        sock.sendto(encode(name, 1), target)
        sock.recvfrom(4096)
    sock.settimeout(0.5)
    sent = received = lost = 0
    deadline = time.perf_counter() + args.seconds
    start = time.perf_counter()
    outstanding = 0
    while time.perf_counter() < deadline:
        while outstanding < args.window:
            sock.sendto(encode(random.choice(NAMES), sent & 0xFFFF), target)
            sent += 1
            outstanding += 1
        try:
            sock.recvfrom(4096)
            received += 1
        except TimeoutError:
            lost += outstanding
        outstanding = max(outstanding - 1, 0) if lost == 0 else 0
        lost = 0
    elapsed = time.perf_counter() - start
    print(f"{received} answers in {elapsed:.2f} s: {received / elapsed:,.0f} answers/s "
          f"(window {args.window}, {sent} sent)")


if __name__ == "__main__":
    main()
