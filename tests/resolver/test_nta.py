"""Negative trust anchors (RFC 7646, ``resolver.nta``): a zone set aside is answered
insecure, without AD and without SERVFAIL; everything else stays validated."""

from __future__ import annotations

import dns.name
import dns.rcode
import pytest

from dnssec.status import Security
from resolver.cache import Cache
from resolver.clock import FakeClock
from resolver.commands import Commands
from resolver.control import ControlError
from resolver.lab import Lab
from resolver.nta import MAX_LIFETIME, NegativeTrustAnchors, NtaError
from resolver.routes import RouteTable
from resolver.selection import ServerSelection
from resolver.workers import ReplayLog
from rootzone.lifecycle import LocalRoot
from tests.resolver.test_commands import STATUS
from tests.resolver.test_iterator import Harness, addresses

BOGUS = dns.name.from_text("bogus.com.")


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def test_an_anchor_covers_its_zone_and_everything_below() -> None:
    anchors = NegativeTrustAnchors(FakeClock(), [name("Example.COM.")])
    for inside in ("example.com.", "www.example.com.", "a.b.example.com."):
        covering = anchors.covering(name(inside))
        assert covering is not None
        assert covering.zone == name("example.com.")
    for outside in ("com.", "example.net.", "notexample.com."):
        assert anchors.covering(name(outside)) is None


def test_a_run_time_anchor_expires_a_configured_one_does_not() -> None:
    clock = FakeClock()
    anchors = NegativeTrustAnchors(clock, [name("example.com.")])
    anchors.add(name("example.net."), 60)
    clock.advance(59)
    assert anchors.covering(name("www.example.net.")) is not None
    clock.advance(1)
    assert anchors.covering(name("www.example.net.")) is None
    assert [anchor.zone for anchor in anchors.anchors()] == [name("example.com.")]
    anchors.configure([])
    assert len(anchors) == 0


@pytest.mark.parametrize("lifetime", [0, -1, MAX_LIFETIME + 1, float("inf")])
def test_a_lifetime_out_of_range_is_refused(lifetime: float) -> None:
    with pytest.raises(NtaError):
        NegativeTrustAnchors(FakeClock()).add(name("example.com."), lifetime)


async def test_a_bogus_zone_under_an_anchor_is_answered_insecure(
    lab: Lab, clock: FakeClock
) -> None:
    harness = Harness(lab, clock)
    harness.iterator.validator.negative_anchors = NegativeTrustAnchors(clock, [BOGUS])
    outcome = await harness.ask("www.bogus.com.")
    assert outcome.rcode == dns.rcode.NOERROR
    assert addresses(outcome) == {"192.0.2.13"}
    assert outcome.security is Security.INSECURE
    secure = await harness.ask("www.example.com.")
    assert secure.security is Security.SECURE


async def test_without_the_anchor_the_zone_is_bogus(lab: Lab, clock: FakeClock) -> None:
    outcome = await Harness(lab, clock).ask("www.bogus.com.")
    assert outcome.security is Security.BOGUS


def ctl_with_anchors() -> Commands:
    clock = FakeClock()
    commands = Commands(
        status=lambda: dict(STATUS),
        routes=RouteTable(clock),
        selection=ServerSelection(clock),
        clock=clock,
        local_root=LocalRoot(clock.wall),
        cache=Cache(clock),
        negative_anchors=NegativeTrustAnchors(clock, [name("example.com.")]),
    )
    return commands


def test_ctl_nta_add_list_del() -> None:
    commands = ctl_with_anchors()
    added = commands({"command": ["nta", "add", "Bogus.com", "--expires", "1h"]})
    assert added["added"]["zone"] == "bogus.com."
    assert added["added"]["expires_in"] == 3600
    listed = commands({"command": ["nta", "list"]})
    assert [(a["zone"], a["origin"]) for a in listed] == [
        ("bogus.com.", "ctl"),
        ("example.com.", "config"),
    ]
    assert commands({"command": ["nta", "del", "bogus.com."]})["deleted"]["zone"] == "bogus.com."
    assert [a["zone"] for a in commands({"command": ["nta", "list"]})] == ["example.com."]


@pytest.mark.parametrize(
    "words",
    [["nta"], ["nta", "add"], ["nta", "add", "x.", "--expires"], ["nta", "add", "x.", "--for", "1"],
     ["nta", "add", "x.", "--expires", "8d"], ["nta", "add", "x.", "--expires", "soon"],
     ["nta", "del", "nothere."], ["nta", "list", "x."]],
)
def test_ctl_nta_refuses_what_it_cannot_do(words: list[str]) -> None:
    commands = ctl_with_anchors()
    with pytest.raises(ControlError):
        commands({"command": words})


async def test_no_denial_is_synthesised_under_an_anchor(lab: Lab, clock: FakeClock) -> None:
    """RFC 8198 synthesis needs a zone that is validated: under a negative trust
    anchor the cached NSECs answer nothing, the question goes upstream."""
    harness = Harness(lab, clock)
    assert (await harness.ask("nx.example.com.")).rcode == dns.rcode.NXDOMAIN
    harness.iterator.validator.negative_anchors = NegativeTrustAnchors(
        clock, [name("example.com.")]
    )
    before = len(harness.sent)
    outcome = await harness.ask("ny.example.com.")
    assert outcome.rcode == dns.rcode.NXDOMAIN
    assert outcome.security is Security.INSECURE
    assert len(harness.sent) > before
    assert harness.iterator.synthesised == 0


def test_a_worker_started_later_gets_the_anchors_ctl_changed() -> None:
    """``workers.ReplayLog``: an added anchor with the time it has left, a deleted
    configured one deleted again; one ctl added and deleted leaves nothing."""
    log = ReplayLog()
    now = 1_000_000.0
    log.record(["nta", "add", "Example.com", "--expires", "1h"], now, frozenset())
    log.record(["nta", "add", "gone.example."], now, frozenset())
    log.record(["nta", "del", "gone.example."], now, frozenset())
    log.record(["nta", "del", "configured.example."], now, frozenset())
    assert log.commands(now + 600, frozenset()) == [
        ["nta", "add", "example.com.", "--expires", "3000.000"],
        ["nta", "del", "configured.example."],
    ]
    assert log.commands(now + 3600, frozenset()) == [["nta", "del", "configured.example."]]
