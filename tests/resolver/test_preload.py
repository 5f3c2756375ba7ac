"""A worker forked from the zygote imports nothing more; coredis only with a Redis.

What a worker imports after the fork is its own, once per worker
(``resolver.preload``); coredis is half the start-up heap, for nothing when
no Redis is set (``resolver.redis_store``). The checks run in a fresh
interpreter: this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dns.message
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ROOT = Path(__file__).resolve().parents[2]

#: In a fresh interpreter: what the supervisor holds when it forks the
#: zygote, the zygote's loading, then a worker's first work on the data
#: given on stdin (a response to parse, DNSKEYs to check a signature with).
#: Prints the modules imported by that work.
WORKER = """
import json, sys
import resolver.workers
from resolver.zygote import load_before_fork
load_before_fork(redis=False)
import dns.message
from dnssec.signatures import BogusSignature, Dnskey, verify_signature
data = json.load(sys.stdin)
loaded = set(sys.modules)
dns.message.from_wire(bytes.fromhex(data["response"]))
for algorithm, key in data["keys"]:
    try:
        verify_signature(Dnskey(257, 3, algorithm, bytes.fromhex(key)), bytes(64), b"data")
    except BogusSignature:
        pass
print(json.dumps(sorted(set(sys.modules) - loaded)))
"""

#: RR types a resolver meets in answers, beyond the ones it names itself.
TYPES = {
    "PTR": "host.example.",
    "AAAA": "2001:db8::1",
    "HTTPS": '1 . alpn="h2"',
    "SVCB": "1 svc.example.",
    "CAA": '0 issue "ca.example"',
    "TLSA": "3 1 1 " + "ab" * 32,
    "SRV": "0 5 443 host.example.",
    "NAPTR": '100 10 "S" "SIP+D2U" "" _sip._udp.example.',
    "SSHFP": "4 2 " + "cd" * 32,
    "LOC": "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m",
}


#: A worker's start with a Redis tier: the zygote's loading, then the tier
#: ``daemon.build`` makes from the configuration given on stdin. Prints the
#: modules imported by building it.
TIER_WORKER = """
import json, sys
import resolver.workers
from resolver.zygote import load_before_fork
load_before_fork(redis=True)
from resolver.cache import Cache
from resolver.clock import SystemClock
from resolver.config import Config
from resolver.shared_tier import shared_tier_for
config = Config.defaults().with_overrides(json.load(sys.stdin), source="test")
loaded = set(sys.modules)
assert shared_tier_for(config, Cache(SystemClock()), SystemClock()) is not None
print(json.dumps(sorted(set(sys.modules) - loaded)))
"""

#: What ``holdfast serve`` imports before any configuration says what is used.
SERVE = """
import json, sys
import resolver.cli, resolver.daemon, resolver.workers
from resolver.zygote import load_before_fork
load_before_fork(redis=False)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] == "coredis")))
"""


def run(script: str, stdin: Any = None) -> Any:
    """What ``script``, run in a fresh interpreter from the repository, printed (JSON)."""
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(stdin),
                          capture_output=True, text=True, cwd=ROOT, check=True, timeout=60)
    return json.loads(done.stdout)


def response() -> bytes:
    reply = dns.message.make_response(dns.message.make_query("example.", "ANY"))
    for rdtype, text in TYPES.items():
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
        reply.answer.append(dns.rrset.from_rdata("example.", 300, rdata))
    return reply.to_wire()


def dnskeys() -> list[tuple[int, str]]:
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    exponent = numbers.e.to_bytes(3, "big")
    return [
        (8, (bytes([len(exponent)]) + exponent + numbers.n.to_bytes(256, "big")).hex()),
        (13, (p256.x.to_bytes(32, "big") + p256.y.to_bytes(32, "big")).hex()),
        (15, ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*raw).hex()),
    ]


def test_a_worker_imports_nothing_to_parse_answers_and_check_signatures() -> None:
    assert run(WORKER, {"response": response().hex(), "keys": dnskeys()}) == []


def test_a_worker_imports_nothing_to_build_its_redis_tier(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 40 + "\n")
    overrides = {"shared_cache.servers": ["127.0.0.1:6390"],
                 "shared_cache.secret_file": str(secret)}
    assert run(TIER_WORKER, overrides) == []


def test_without_a_redis_nothing_imports_coredis() -> None:
    assert run(SERVE) == []
