"""What one signature check costs per key kind, and what costly keys do to cached answers.

Part one times raw verifications with ``cryptography`` (OpenSSL), bypassing
the bounds, for the key kinds a zone may choose: RSA-2048 and RSA-4096 with
e = 65537, RSA-4096 with the largest exponent accepted (35 bits), and the two
refused ones, a 3071-bit exponent and a 16384-bit modulus; then the curves.
Next to each: its weight (``verification_cost``) or "refused".

Part two runs the lab and one resolver (iterator, cache, validator) in one
Trio run on the real clock: one task asks a cached name every 2 ms and
records how long after it was due each answer comes, while fresh names under ``bigexp.org.``
(3071-bit exponent) arrive at ``--rate`` per second beside it. Three
policies: the bounds off (what validators without them do), the per-query
cost budget only, and the bounds as shipped; first, the same without the
fresh names, for reference. The lab signs on demand, so a
warm-up round makes its signatures first.

    python -m bench.signature_cost [--seconds 3] [--rate 20]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import statistics
import time
from collections.abc import Callable, Iterator

import dns.name
import dns.rdatatype
import trio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

import resolver.validation as validation
from dnssec import signatures
from dnssec.anchors import TrustAnchors
from dnssec.work import WorkLimits
from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.driver import run_exchange
from resolver.iterator import Iterator as DnsIterator
from resolver.lab import Lab, LabTransport
from resolver.lab.costlykeys import BIG_EXPONENT, HUGE_MODULUS, RsaShape, costly_private_key
from resolver.limits import Limits
from resolver.question import Question
from resolver.selection import ServerSelection
from rootzone.hints import RootHints

_DATA = b"holdfast signature cost " * 8
_RSA_KINDS = (
    ("RSA-2048 e=65537", RsaShape(2048, 17)),
    ("RSA-4096 e=65537", RsaShape(4096, 17)),
    ("RSA-4096 35-bit e", RsaShape(4096, 35)),
    ("RSA-3072 3071-bit e (bigexp.org)", BIG_EXPONENT),
    ("RSA-16384 e=65537 (rsa16k.org)", HUGE_MODULUS),
)
_CURVES = (
    ("ECDSA P-256", 13),
    ("ECDSA P-384", 14),
    ("Ed25519", 15),
    ("Ed448", 16),
)


def _best_ms(check: Callable[[], None], rounds: int) -> float:
    """The best of five timings of ``rounds`` calls, per call, in ms."""
    check()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            check()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1000


def _weight(algorithm: int, public_key: bytes) -> str:
    key = signatures.Dnskey(257, 3, algorithm, public_key)
    refusal = signatures.key_refusal(key)
    return f"refused ({refusal})" if refusal else str(signatures.verification_cost(key))


def _rsa_public(key: rsa.RSAPrivateKey) -> bytes:
    numbers = key.public_key().public_numbers()
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8)
    length = bytes([len(e)]) if len(e) < 256 else b"\0" + len(e).to_bytes(2)
    return length + e + numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8)


def key_costs() -> list[tuple[str, float, str]]:
    """(kind, ms per raw verification, weight or refusal) for every key kind."""
    rows = []
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    for label, shape in _RSA_KINDS:
        private = costly_private_key(dns.name.from_text("bench.invalid."), shape)
        signature = private.sign(_DATA, pkcs1, sha256)
        public = private.public_key()
        rounds = 20 if shape in (BIG_EXPONENT, HUGE_MODULUS) else 300
        ms = _best_ms(functools.partial(public.verify, signature, _DATA, pkcs1, sha256), rounds)
        rows.append((label, ms, _weight(8, _rsa_public(private))))
    for label, algorithm in _CURVES:
        if algorithm in (13, 14):
            curve, digest = (
                (ec.SECP256R1(), hashes.SHA256())
                if algorithm == 13
                else (ec.SECP384R1(), hashes.SHA384())
            )
            ec_key = ec.generate_private_key(curve)
            ec_signature = ec_key.sign(_DATA, ec.ECDSA(digest))
            ec_public = ec_key.public_key()
            check = functools.partial(ec_public.verify, ec_signature, _DATA, ec.ECDSA(digest))
            ms = _best_ms(check, 300)
            point = ec_public.public_numbers()
            size = curve.key_size // 8
            raw = point.x.to_bytes(size) + point.y.to_bytes(size)
        else:
            ed_key = (
                ed25519.Ed25519PrivateKey.generate()
                if algorithm == 15
                else ed448.Ed448PrivateKey.generate()
            )
            ed_signature = ed_key.sign(_DATA)
            ed_public = ed_key.public_key()
            ms = _best_ms(functools.partial(ed_public.verify, ed_signature, _DATA), 300)
            raw = b"\1" * (32 if algorithm == 15 else 57)
        rows.append((label, ms, _weight(algorithm, raw)))
    return rows


@contextlib.contextmanager
def policy(name: str) -> Iterator[WorkLimits]:
    """The work limits of one policy, with the key bounds patched for "no bounds"."""
    saved = (signatures.RSA_MAX_EXPONENT_BITS, dict(signatures.RSA_MODULUS_BITS))
    limits = WorkLimits()
    if name != "bounds":
        signatures.RSA_MAX_EXPONENT_BITS = 1 << 20
        signatures.RSA_MODULUS_BITS.update({algorithm: (512, 16384) for algorithm in saved[1]})
    if name == "no bounds":
        limits = dataclasses.replace(limits, max_signature_cost_per_query=1 << 30)
    signatures.parsed_keys_clear()
    try:
        yield limits
    finally:
        signatures.RSA_MAX_EXPONENT_BITS = saved[0]
        signatures.RSA_MODULUS_BITS.update(saved[1])
        signatures.parsed_keys_clear()


async def cached_latency(
    lab: Lab, limits: WorkLimits, seconds: float, rate: float
) -> dict[str, float]:
    """Cached-answer latencies (ms) while fresh ``bigexp.org.`` names arrive at ``rate``/s."""
    clock = FakeClock(time.time())
    cache = Cache(clock)
    anchors = TrustAnchors.from_text(lab.trust_anchor_text(), source="lab")
    iterator = DnsIterator(
        cache=cache,
        selection=ServerSelection(clock),
        hints=RootHints.from_text(lab.root_hints_text(), source="lab"),
        limits=dataclasses.replace(Limits(), validation=limits),
        validator=validation.Validator(anchors=anchors, cache=cache, clock=clock),
    )
    transport = LabTransport(lab)

    async def ask(name: str) -> None:
        question = Question(dns.name.from_text(name), dns.rdatatype.A)
        await run_exchange(iterator.resolve(question), transport)

    await ask("www.example.com.")
    for index in range(8):  # warm-up: the lab signs bigexp.org's RRsets
        await ask(f"warm{index}.bigexp.org.")
    latencies: list[float] = []
    attacks = 0
    deadline = trio.current_time() + seconds
    async with trio.open_nursery() as nursery:

        async def attack() -> None:
            nonlocal attacks
            while trio.current_time() < deadline:
                attacks += 1
                nursery.start_soon(ask, f"fresh{attacks}.bigexp.org.")
                await trio.sleep(1 / rate)

        if rate > 0:
            nursery.start_soon(attack)
        # Each probe is due on a fixed 2 ms schedule and timed from when it
        # was due, so a stalled event loop shows as latency (no coordinated
        # omission).
        due = trio.current_time()
        while due < deadline:
            await trio.sleep_until(due)
            await ask("www.example.com.")
            latencies.append((trio.current_time() - due) * 1000)
            due += 0.002
    latencies.sort()
    return {
        "answers": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "max": latencies[-1],
        "fresh": attacks,
    }


async def attack_runs(seconds: float, rate: float) -> list[tuple[str, dict[str, float]]]:
    lab = Lab.build(FakeClock(time.time()))
    results = []
    with policy("bounds") as limits:
        results.append(("no attack", await cached_latency(lab, limits, seconds, 0)))
    for name in ("no bounds", "cost budget only", "bounds"):
        with policy(name) as limits:
            results.append((name, await cached_latency(lab, limits, seconds, rate)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    print("one verification, best of 5 (OpenSSL via cryptography):")
    for label, ms, weight in key_costs():
        print(f"  {label:34} {ms:8.3f} ms   weight {weight}")
    print(
        f"cached answers every 2 ms beside {args.rate:g} fresh bigexp.org names/s "
        f"for {args.seconds:g} s (in-process lab and resolver):"
    )
    for name, figures in trio.run(attack_runs, args.seconds, args.rate):
        print(
            f"  {name:17} p50 {figures['p50']:7.2f} ms  p99 {figures['p99']:8.2f} ms  "
            f"max {figures['max']:8.2f} ms  ({figures['answers']:.0f} cached answers, "
            f"{figures['fresh']:.0f} fresh names)"
        )


if __name__ == "__main__":
    main()
