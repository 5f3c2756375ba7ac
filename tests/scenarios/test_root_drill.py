"""The 4 October 2023 drill (``resolver/lab/rootdrill.py``) as a test of the outcome.

Expected (issue 7; shared/incidents.md S2): while no new root version can be
used, SERVFAIL stays at 0% in every simulated hour (1.1.1.1 saw 15%); the
stale alarm is raised within refresh + retry of the first unusable
publication; the copy is retired by SOA expire after its last successful
refresh, days before its signatures expire, and resolution falls back to
the root servers, which are never asked while a copy is in use; a usable
version is in use within one retry of its publication. An instance
restarted cold in the middle loads no unusable version and serves as well
through the root servers.
"""

from __future__ import annotations

import json

import dns.message
import dns.name
import dns.rdatatype
import pytest
import trio.testing

from dnssec.anchors import TrustAnchors
from resolver.cli import EXIT_CONFIG, main
from resolver.clock import FakeClock
from resolver.lab import Lab, LabError
from resolver.lab.rootdrill import (
    DAY,
    EXPIRE,
    FIRST_SERIAL,
    NEW_MNEMONIC,
    NEW_TYPE,
    PUBLISHED_NAME,
    REFRESH,
    RETRY,
    Publication,
    Schedule,
    VersionKind,
    root_zonemd_2023,
)
from resolver.lab.signing import Window
from rootzone.candidate import LoadPolicy, load_copy
from rootzone.errors import CandidateRejected
from rootzone.sources import Fetched

#: One client query every 20 simulated minutes, to each instance: the
#: lifetimes under test are hours and days, and the run stays short.
RATE = 0.05


async def test_a_stale_local_root_costs_clients_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    report = await root_zonemd_2023(queries_per_minute=RATE)
    assert report.failures() == []
    never_restarted, restarted = report.instances
    for instance in report.instances:
        assert instance.total("queries") > 0
        assert instance.worst_hour == 0.0
        assert instance.total("bogus_served") == instance.total("ad_missing") == 0
        assert instance.wrong_rcode == 0
        assert not report.unusable() & {serial for _, serial in instance.serials}
        assert set(instance.rejections) == {"parse", "zonemd"}
        # The root servers only when no copy is in use, and then they answer.
        assert instance.root_queries_with_copy == 0
        assert instance.root_queries_without_copy > 0
        recovery = report.recovery(instance)
        assert recovery is not None
        assert recovery <= RETRY
    first_bad = report.first_bad
    assert first_bad is not None
    # A: v1 from T0; the first unusable version refused at the next refresh
    # (ERROR), the stale alarm within refresh + retry, retired by SOA expire.
    assert never_restarted.first_refusal is not None
    assert never_restarted.first_refusal - first_bad <= REFRESH
    delay = report.stale_delay(never_restarted)
    assert delay is not None
    assert 0 <= delay <= REFRESH + RETRY
    assert never_restarted.serials[:2] == [(0.0, FIRST_SERIAL), (never_restarted.retired, None)]
    assert never_restarted.retired is not None
    assert never_restarted.retired <= first_bad + EXPIRE
    assert never_restarted.retire_reason.startswith("SOA expire")
    # B: cold in the bad period, no copy until the usable version.
    good = report.good_again
    assert good is not None
    assert restarted.started == pytest.approx(Schedule().restart, abs=1)
    assert restarted.serials[0][1] == good[1]
    assert restarted.stale_alarm is None


def test_holdfast_drill_prints_the_figures_and_exits_0_when_all_is_as_expected(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["drill", "root-zonemd-2023", "--days", "1", "--rate", "0.05", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["failures"] == []
    assert [instance["instance"] for instance in figures["instances"]] == ["A"]
    assert figures["instances"][0]["rejections"] == {"parse": 1}


def test_holdfast_drill_refuses_to_run_past_the_lab_signatures() -> None:
    assert main(["drill", "root-zonemd-2023", "--days", "14"]) == EXIT_CONFIG


def test_the_schedule_publishes_twice_a_day() -> None:
    publications = list(Schedule().publications())
    assert publications[0] == (0.0, VersionKind.GOOD)
    bad = [(at, kind) for at, kind in publications if kind is not VersionKind.GOOD]
    assert [at for at, _ in bad] == [day * DAY / 2 for day in range(1, 20)]
    assert [kind for _, kind in bad[:2]] == [
        VersionKind.UNKNOWN_MNEMONIC,
        VersionKind.BROKEN_ZONEMD,
    ]
    assert publications[-2:] == [(9.75 * DAY, VersionKind.GOOD), (10.25 * DAY, VersionKind.GOOD)]


async def test_each_kind_of_version_is_refused_for_its_own_reason(clock: FakeClock) -> None:
    lab = Lab.build(clock)
    publication = Publication(lab, clock, clock.wall())
    source = publication.source()
    anchors = TrustAnchors.from_text(lab.trust_anchor_text(), source="lab")
    outcomes = []
    for kind in (
        VersionKind.GOOD,
        VersionKind.UNKNOWN_MNEMONIC,
        VersionKind.BROKEN_ZONEMD,
        VersionKind.GOOD,
    ):
        publication.publish(kind, Window.valid(clock.wall()))
        fetched = await source.fetch()
        assert fetched is not None
        assert await source.fetch() is None
        outcomes.append(_load(fetched, anchors, clock))
    assert outcomes[0] == f"serial {FIRST_SERIAL}"
    assert outcomes[1].startswith(f"parse: {PUBLISHED_NAME}:")
    assert NEW_MNEMONIC in outcomes[1]
    assert outcomes[2].startswith("zonemd: ")
    assert outcomes[3] == f"serial {FIRST_SERIAL + 3}"


def test_the_root_servers_serve_the_new_type_on_the_wire(clock: FakeClock) -> None:
    lab = Lab.build(clock)
    publication = Publication(lab, clock, clock.wall())
    publication.publish(VersionKind.GOOD, Window.valid(clock.wall()))
    publication.publish(VersionKind.UNKNOWN_MNEMONIC, Window.valid(clock.wall()))
    query = dns.message.make_query(dns.name.root, NEW_TYPE, want_dnssec=True)
    reply = lab.handle("127.53.0.2", query.to_wire(), tcp=False)
    assert reply.wire is not None
    answer = dns.message.from_wire(reply.wire).answer
    assert {rrset.rdtype for rrset in answer} == {NEW_TYPE, dns.rdatatype.RRSIG}
    with pytest.raises(LabError):
        lab.zone(dns.name.from_text("absent."))


def _load(fetched: Fetched, anchors: TrustAnchors, clock: FakeClock) -> str:
    """``serial N`` of the copy ``fetched`` makes, or ``kind: reason`` of its refusal."""
    try:
        copy = load_copy(
            fetched.parse(),
            source=fetched.source,
            size=fetched.size,
            anchors=anchors,
            now=int(clock.wall()),
            policy=LoadPolicy(),
            current=None,
        )
    except CandidateRejected as error:
        return f"{error.kind}: {error}"
    return f"serial {copy.serial}"
