"""The Unbound differential: Holdfast and Unbound must judge every lab answer alike.

One lab, one ``holdfast serve`` and one Unbound, each a real process on its
own loopback port. Unbound is set up by ``bench.processes.unbound_config``:
only the lab's root hints and trust anchor, never the real root. Every
question of the lab catalogue (``testdata/lab/README.md``) and a few hundred
seeded random ones go to both with DO=1 (a few with CD=1 as well); their
rcode and AD bit must agree. The failure lists each disagreement with both
sides' rcode, AD and Extended DNS Errors.

Two settings are added to the benchmark's Unbound configuration:

* ``ede: yes``, so that Unbound's Extended DNS Errors show in a disagreement;
* ``val-nsec3-keysize-iterations: "1024 100 2048 100 4096 100"``: Unbound
  1.17's default (150 for every key size) predates RFC 9276, whose limit of
  100 iterations Holdfast follows (``nsec3-iter.org.`` uses 200, over both
  limits, so a default Unbound would agree too).

Runs only inside ``tests/run-isolated`` (the lab must own port 53 of
127.53.0.0/16 and Unbound must not see any other network) and only where the
``unbound`` binary is installed.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import pytest

from bench.processes import (
    UNBOUND_PORT,
    ProcessError,
    Started,
    unbound_available,
    unbound_config,
    wait_until_answering,
)
from resolver.lab.catalogue import plans
from tests.scenarios.processes import ISOLATED, LabProcess, ResolverProcess, serving

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not ISOLATED, reason="the Unbound differential runs only inside tests/run-isolated"
    ),
    pytest.mark.skipif(not unbound_available(), reason="unbound is not installed"),
]

#: Seed of the generated questions: the same questions on every run.
SEED = 20250101
#: Random questions per lab zone.
RANDOM_PER_ZONE = 10
RANDOM_TYPES = ("A", "AAAA", "TXT", "MX", "NS", "SOA", "DS", "DNSKEY")
#: Seconds a resolver gets to answer one question (slow.com's dropping server included).
QUERY_TIMEOUT = 15.0
WORKERS = 16

#: Added to the benchmark's Unbound configuration (see the module docstring).
UNBOUND_EXTRA = """\
  ede: yes
  val-log-level: 2
  val-nsec3-keysize-iterations: "1024 100 2048 100 4096 100"
"""


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    rdtype: str
    cd: bool = False

    def __str__(self) -> str:
        return f"{self.name} {self.rdtype}{' +cd' if self.cd else ''}"


@dataclass(frozen=True, slots=True)
class Judgement:
    """What one resolver said: the rcode, the AD bit and any Extended DNS Errors."""

    rcode: str
    ad: bool
    ede: tuple[str, ...] = ()

    def agrees(self, other: Judgement) -> bool:
        return (self.rcode, self.ad) == (other.rcode, other.ad)

    def __str__(self) -> str:
        ede = f" EDE {'; '.join(self.ede)}" if self.ede else ""
        return f"{self.rcode}{' AD' if self.ad else ''}{ede}"


# -- the questions ---------------------------------------------------------

#: Every question named in testdata/lab/README.md ("Zones and expected answers"
#: and "What a validator should answer"), with a few neighbours.
CATALOGUE: tuple[tuple[str, str], ...] = (
    ("www.example.com.", "A"),
    ("www.example.com.", "AAAA"),
    ("www.example.com.", "MX"),
    ("example.com.", "MX"),
    ("example.com.", "TXT"),
    ("mail.example.com.", "A"),
    ("a.wild.example.com.", "A"),
    ("foo.wild.example.com.", "A"),
    ("a.wild.example.com.", "TXT"),
    ("alias.example.com.", "A"),
    ("alias.example.com.", "CNAME"),
    ("inzone.example.com.", "A"),
    ("sub.example.com.", "DNAME"),
    ("x.sub.example.com.", "A"),
    ("www.sub.example.com.", "A"),
    ("nx.example.com.", "A"),
    ("nx.example.com.", "TXT"),
    ("ttl2.example.com.", "A"),
    ("www.example.net.", "A"),
    ("www.example.org.", "A"),
    ("www.nsec3.org.", "A"),
    ("www.nsec3.org.", "TXT"),
    ("www.nsec3.org.", "MX"),
    ("nsec3.org.", "TXT"),
    ("a.wild.nsec3.org.", "A"),
    ("b.wild.nsec3.org.", "A"),
    ("a.wild.nsec3.org.", "TXT"),
    ("nx.nsec3.org.", "A"),
    ("nx.nsec3.org.", "TXT"),
    ("z.nsec3.org.", "A"),
    ("optout.nsec3.org.", "NS"),
    ("optout.nsec3.org.", "DS"),
    ("www.optout.nsec3.org.", "A"),
    ("www.insecure.com.", "A"),
    ("nx.insecure.com.", "A"),
    ("www.bogus.com.", "A"),
    ("www.expired.com.", "A"),
    ("www.noglue.com.", "A"),
    ("www.lame.com.", "A"),
    ("www.slow.com.", "A"),
    ("www.tcponly.com.", "A"),
    ("www.rsa.org.", "A"),
    ("www.ecdsa.org.", "A"),
    ("www.ed25519.org.", "A"),
    ("www.bench.com.", "A"),
    ("n0.bench.com.", "A"),
    ("n12345.bench.com.", "A"),
    ("n99999.bench.com.", "A"),
    ("n100000.bench.com.", "A"),
    ("www.rsasha1.org.", "A"),
    ("www.nsec3rsasha1.org.", "A"),
    ("nx.nsec3rsasha1.org.", "A"),
    ("www.rsasha512.org.", "A"),
    ("www.ecdsa384.org.", "A"),
    ("www.ed448.org.", "A"),
    ("www.nsec3-iter.org.", "A"),
    ("www.nsec3-iter.org.", "TXT"),
    ("nx.nsec3-iter.org.", "A"),
    ("www.keytrap.com.", "A"),
    ("nx.keytrap.com.", "A"),
    ("www.nosig.com.", "A"),
    ("www.badkey.com.", "A"),
    ("www.future.com.", "A"),
    ("www.nonsec.com.", "A"),
    ("www.nonsec.com.", "TXT"),
    ("nx.nonsec.com.", "A"),
    ("www.unknownalg.com.", "A"),
    ("www.unknowndigest.com.", "A"),
    ("www.outside.com.", "A"),
    # Issue 23: a parent and its children on the same servers (NSEC and NSEC3).
    *(
        (f"{label}{child}{parent}", rdtype)
        for parent in ("shared.com.", "shared3.com.")
        for child in ("", "insecure.", "signed.")
        for label, rdtype in (("www.", "A"), ("nx.", "A"), ("www.", "TXT"))
    ),
    ("insecure.shared.com.", "NS"),
    ("signed.shared3.com.", "NS"),
)

#: Asked again with CD=1, once every question above has been answered: a
#: resolver that skips validation for a CD query it has not seen yet (as
#: Unbound does) answers without AD, so a cold CD query would be a race.
CHECKING_DISABLED: tuple[tuple[str, str], ...] = (
    ("www.example.com.", "A"),
    ("nx.example.com.", "A"),
    ("www.insecure.com.", "A"),
    ("www.bogus.com.", "A"),
    ("www.expired.com.", "A"),
    ("www.future.com.", "A"),
    ("www.nosig.com.", "A"),
    ("www.badkey.com.", "A"),
    ("nx.nonsec.com.", "A"),
)

_SECURE = ("NOERROR", True)
_INSECURE = ("NOERROR", False)
_SERVFAIL = ("SERVFAIL", False)

#: "What a validator should answer" in testdata/lab/README.md, as (rcode, AD):
#: agreement alone would also pass if both resolvers were wrong the same way.
EXPECTED: dict[tuple[str, str], tuple[str, bool]] = {
    ("www.example.com.", "A"): _SECURE,
    ("a.wild.example.com.", "A"): _SECURE,
    ("nx.example.com.", "A"): ("NXDOMAIN", True),
    ("www.example.com.", "MX"): _SECURE,
    ("www.nsec3.org.", "A"): _SECURE,
    ("a.wild.nsec3.org.", "A"): _SECURE,
    ("nx.nsec3.org.", "A"): ("NXDOMAIN", True),
    ("www.nsec3.org.", "TXT"): _SECURE,
    ("a.wild.nsec3.org.", "TXT"): _SECURE,
    **{
        (f"www.{zone}.org.", "A"): _SECURE
        for zone in ("rsasha1", "nsec3rsasha1", "rsa", "rsasha512", "ecdsa", "ecdsa384",
                     "ed25519", "ed448")
    },
    ("nx.nsec3rsasha1.org.", "A"): ("NXDOMAIN", True),
    ("z.nsec3.org.", "A"): ("NXDOMAIN", False),
    ("www.optout.nsec3.org.", "A"): _INSECURE,
    ("www.insecure.com.", "A"): _INSECURE,
    ("www.nsec3-iter.org.", "A"): _SECURE,
    ("nx.nsec3-iter.org.", "A"): ("NXDOMAIN", False),
    ("www.nsec3-iter.org.", "TXT"): _INSECURE,
    ("www.unknownalg.com.", "A"): _INSECURE,
    ("www.unknowndigest.com.", "A"): _INSECURE,
    ("www.bogus.com.", "A"): _SERVFAIL,
    ("www.expired.com.", "A"): _SERVFAIL,
    ("www.future.com.", "A"): _SERVFAIL,
    ("www.badkey.com.", "A"): _SERVFAIL,
    ("www.nosig.com.", "A"): _SERVFAIL,
    ("nx.nonsec.com.", "A"): _SERVFAIL,
    ("www.nonsec.com.", "TXT"): _SERVFAIL,
    ("www.nonsec.com.", "A"): _SECURE,
    ("www.keytrap.com.", "A"): _SERVFAIL,
    ("nx.keytrap.com.", "A"): _SERVFAIL,
    **{
        (f"{label}{child}{parent}", "A"): (rcode, child != "insecure.")
        for parent in ("shared.com.", "shared3.com.")
        for child in ("", "insecure.", "signed.")
        for label, rcode in (("www.", "NOERROR"), ("nx.", "NXDOMAIN"))
    },
}


#: Attack zones, not compared: how soon a resolver gives up on them is each
#: one's own work limit (resolver/limits.py; Unbound's MAX_TARGET_COUNT), and
#: Unbound's answer there is a client timeout.
NOT_COMPARED = frozenset({"fanout.com."})


def lab_zones() -> list[str]:
    """Every zone the lab serves, from the catalogue itself (root included)."""
    return [zone.origin for zone in plans() if zone.served and zone.origin not in NOT_COMPARED]


def random_label(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))


def questions() -> list[Question]:
    """The catalogue's questions, every zone's apex and www, seeded random ones, then CD ones."""
    asked: list[Question] = [Question(name, rdtype) for name, rdtype in CATALOGUE]
    zones = lab_zones()
    for zone in zones:
        asked += [Question(zone, "SOA"), Question(zone, "NS"), Question(zone, "DNSKEY")]
        if zone != ".":
            asked += [Question(zone, "DS"), Question(f"www.{zone}", "A")]
    rng = random.Random(SEED)
    parents = [*zones, "wild.example.com.", "wild.nsec3.org.", "sub.example.com."]
    for parent in parents:
        for _ in range(RANDOM_PER_ZONE):
            label = random_label(rng)
            if parent == "bench.com." and rng.random() < 0.5:
                label = f"n{rng.randrange(100_000)}"
            name = f"{label}.{parent}" if parent != "." else f"{label}."
            asked.append(Question(name, rng.choice(RANDOM_TYPES)))
    asked += [Question(name, rdtype, cd=True) for name, rdtype in CHECKING_DISABLED]
    return list(dict.fromkeys(asked))


# -- asking ----------------------------------------------------------------


def ask(server: tuple[str, int], question: Question) -> Judgement:
    """``ask_once``, once more after a timeout: a loaded machine (the lab, two
    resolvers and the test share two cores) can delay one resolution past
    ``QUERY_TIMEOUT``; a second one is answered from what the first learned."""
    judgement = ask_once(server, question)
    return ask_once(server, question) if judgement.rcode == "TIMEOUT" else judgement


def ask_once(server: tuple[str, int], question: Question) -> Judgement:
    """Ask ``question`` with DO=1 (CD if the question says so), over TCP if truncated."""
    query = dns.message.make_query(
        question.name, question.rdtype, want_dnssec=True, use_edns=0, payload=1232
    )
    if question.cd:
        query.flags |= dns.flags.CD
    try:
        response, _ = dns.query.udp_with_fallback(
            query, server[0], port=server[1], timeout=QUERY_TIMEOUT
        )
    except dns.exception.Timeout:
        return Judgement("TIMEOUT", ad=False)
    except (OSError, dns.exception.DNSException) as failure:
        return Judgement(f"ERROR({type(failure).__name__})", ad=False)
    ede = tuple(
        f"{int(option.code)}{f' ({option.text})' if option.text else ''}"
        for option in response.options
        if isinstance(option, dns.edns.EDEOption)
    )
    return Judgement(
        dns.rcode.to_text(response.rcode()), bool(response.flags & dns.flags.AD), ede
    )


# -- the processes ---------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Laid out as ``bench.processes`` expects: the lab in ``lab/`` under it."""
    workdir = tmp_path_factory.mktemp("unbound-agreement")
    (workdir / "lab").mkdir()
    return workdir


@pytest.fixture(scope="module")
def lab(workdir: Path) -> Iterator[LabProcess]:
    with serving(LabProcess.start(workdir / "lab")) as lab:
        yield lab


@pytest.fixture(scope="module")
def holdfast(lab: LabProcess, workdir: Path) -> Iterator[ResolverProcess]:
    resolver_dir = workdir / "holdfast"
    resolver_dir.mkdir()
    with serving(ResolverProcess.start(lab, resolver_dir)) as resolver:
        yield resolver


@pytest.fixture(scope="module")
def unbound(lab: LabProcess, workdir: Path) -> Iterator[Started]:
    """Unbound with the benchmark's configuration plus ``UNBOUND_EXTRA``; stopped by PID."""
    config = workdir / "unbound.conf"
    config.write_text(unbound_config(workdir) + UNBOUND_EXTRA, encoding="utf-8")
    check = subprocess.run(
        ["unbound-checkconf", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, f"unbound-checkconf: {check.stderr or check.stdout}"
    log = workdir / "unbound.log"
    with log.open("wb") as output:
        popen = subprocess.Popen(
            ["unbound", "-d", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    started = Started("Unbound", popen, log, port=UNBOUND_PORT)
    try:
        wait_until_answering(started)
    except ProcessError:
        started.stop()
        pytest.fail(f"Unbound did not start:\n{log.read_text()}")
    yield started
    started.stop()


# -- the test ----------------------------------------------------------------


def ask_both(
    holdfast: ResolverProcess, unbound: Started, asked: list[Question]
) -> list[tuple[Judgement, Judgement]]:
    """Each question's answer from Holdfast and from Unbound, asked concurrently."""

    def both(question: Question) -> tuple[Judgement, Judgement]:
        return ask((holdfast.host, holdfast.port), question), ask(unbound.server, question)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(both, asked))


#: Zones where Holdfast differs from Unbound on purpose: signed only with an
#: RSA key past the bounds of dnssec/signatures.py (BIND's: exponent over 35
#: bits, modulus over 4096), which Holdfast treats as an unsupported
#: algorithm (insecure, EDE 1) and Unbound validates. The rcode must agree,
#: and Holdfast must not set AD.
REFUSED_KEY_ZONES = (dns.name.from_text("bigexp.org."), dns.name.from_text("rsa16k.org."))


def _agrees(question: Question, mine: Judgement, other: Judgement) -> bool:
    name = dns.name.from_text(question.name)
    parent_side = question.rdtype == "DS" and name in REFUSED_KEY_ZONES  # org's own DS
    if not parent_side and any(name.is_subdomain(zone) for zone in REFUSED_KEY_ZONES):
        return mine.rcode == other.rcode and not mine.ad
    return mine.agrees(other)


def test_holdfast_and_unbound_agree(holdfast: ResolverProcess, unbound: Started) -> None:
    plain = [q for q in questions() if not q.cd]
    checking_disabled = [q for q in questions() if q.cd]
    asked = plain + checking_disabled
    began = time.monotonic()
    # Two rounds: the CD questions only once the caches hold the validated answers.
    answers = ask_both(holdfast, unbound, plain) + ask_both(holdfast, unbound, checking_disabled)
    elapsed = time.monotonic() - began
    disagreements = [
        f"  {question}: Holdfast {mine}; Unbound {other}"
        for question, (mine, other) in zip(asked, answers, strict=True)
        if not _agrees(question, mine, other)
    ]
    both_wrong = [
        f"  {question}: both {mine}; the lab README expects "
        f"{expected[0]}{' AD' if expected[1] else ''}"
        for question, (mine, other) in zip(asked, answers, strict=True)
        if mine.agrees(other)
        and not question.cd
        and (expected := EXPECTED.get((question.name, question.rdtype))) is not None
        and (mine.rcode, mine.ad) != expected
    ]
    agreed = len(asked) - len(disagreements)
    summary = (
        f"Holdfast and Unbound agree on {agreed} of {len(asked)} queries "
        f"(rcode and AD, DO=1; asked in {elapsed:.1f} s)"
    )
    report = [summary]
    if disagreements:
        report += ["Disagreements:", *disagreements]
    if both_wrong:
        report += ["Agreed, but not what testdata/lab/README.md says:", *both_wrong]
    print("\n" + "\n".join(report))
    problems = disagreements + both_wrong
    assert not problems, "\n".join(report)
