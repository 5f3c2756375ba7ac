"""The refresh task: sources in order, refusals remembered, the saved copy, the timers."""

from __future__ import annotations

import functools
import gc
import hashlib
import os
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest
import trio
import trio.testing

from dnssec.anchors import TrustAnchors
from resolver.clock import FakeClock
from rootzone.candidate import LoadPolicy, check_candidate, records_from_text
from rootzone.errors import SourceError
from rootzone.lifecycle import LocalRoot, RootState
from rootzone.model import RootCopy
from rootzone.service import Offload, RootService, in_process, inline
from rootzone.sources import Fetched
from rootzone.zonefile import Record

DAY = 86400


class ScriptedSource:
    """A source serving whatever text the test publishes; counts the parses it is asked for."""

    def __init__(self, name: str, text: str | None = None) -> None:
        self.name = name
        self.text = text
        self.failure: str | None = None
        self.parses = 0
        self._last: str | None = None

    async def fetch(self) -> Fetched | None:
        if self.failure is not None:
            raise SourceError(f"{self.name}: {self.failure}")
        if self.text is None:
            raise SourceError(f"{self.name}: nothing published")
        if self.text == self._last:
            return None
        self._last = text = self.text
        fingerprint = hashlib.sha256(text.encode()).hexdigest()
        return Fetched(self.name, len(text), fingerprint, lambda: self._parse(text))

    def _parse(self, text: str) -> list[Record]:
        self.parses += 1
        return records_from_text(text, source=self.name)


@pytest.fixture
def wall(lab_now: int) -> FakeClock:
    return FakeClock(lab_now)


def service_for(
    wall: FakeClock,
    anchors: TrustAnchors,
    *sources: ScriptedSource,
    zonefile: Path | None = None,
    offload: Offload = inline,
) -> RootService:
    return RootService(
        LocalRoot(wall.wall),
        sources,
        anchors=anchors,
        policy=LoadPolicy(),
        zonefile=zonefile,
        offload=offload,
    )


async def test_a_good_copy_loads_and_an_unchanged_source_is_a_refresh(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str
) -> None:
    source = ScriptedSource("primary", lab_root_text)
    service = service_for(wall, lab_anchors, source)
    await service.refresh()
    installed = service.local_root.installed
    assert installed is not None
    wall.advance(7200)
    await service.refresh()
    refreshed = service.local_root.installed
    assert refreshed is not None
    assert refreshed.refreshed_at == installed.refreshed_at + 7200
    assert source.parses == 1


async def test_a_refused_candidate_is_not_parsed_again_and_the_copy_stays(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str
) -> None:
    source = ScriptedSource("primary", lab_root_text)
    service = service_for(wall, lab_anchors, source)
    await service.refresh()
    good = service.local_root.copy
    bad = lab_root_text + ". 86400 IN NEWTYPE 1 2 3\n"
    source.text = bad
    await service.refresh()
    assert service.local_root.copy is good
    rejection = service.local_root.last_rejection
    assert rejection is not None
    assert rejection.kind == "parse"
    assert "NEWTYPE" in rejection.reason
    # Published again (e.g. the file touched): recognised, not parsed again,
    # and not counted or logged as a new refusal.
    source._last = None
    await service.refresh()
    assert source.parses == 2
    assert service.local_root.rejections["parse"] == 1
    assert service.local_root.copy is good


async def test_a_source_still_holding_a_refused_copy_does_not_keep_the_copy_fresh(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str
) -> None:
    """Nothing new since a refused candidate is not a successful refresh: the alarm must come."""
    source = ScriptedSource("primary", lab_root_text)
    service = service_for(wall, lab_anchors, source)
    await service.refresh()
    source.text = lab_root_text + ". 86400 IN NEWTYPE 1 2 3\n"
    await service.refresh()
    copy = service.local_root.copy
    assert copy is not None
    for _ in range(4):
        wall.advance(copy.retry)
        await service.refresh()  # the source says "nothing new"
    assert service.local_root.state() is RootState.STALE
    assert source.parses == 2


async def test_the_same_serial_fetched_anew_is_a_refresh(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str
) -> None:
    source = ScriptedSource("primary", lab_root_text)
    service = service_for(wall, lab_anchors, source)
    await service.refresh()
    source.text = "; the same zone, with a comment\n" + lab_root_text
    wall.advance(7200)
    await service.refresh()
    installed = service.local_root.installed
    assert installed is not None
    assert installed.refreshed_at == wall.wall()
    assert service.local_root.last_rejection is None


async def test_sources_are_tried_in_order(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str
) -> None:
    broken = ScriptedSource("first")
    broken.failure = "connection refused"
    working = ScriptedSource("second", lab_root_text)
    service = service_for(wall, lab_anchors, broken, working)
    await service.refresh()
    copy = service.local_root.copy
    assert copy is not None
    assert copy.source == "second"
    rejection = service.local_root.last_rejection
    assert rejection is not None
    assert (rejection.source, rejection.kind) == ("first", "source")


async def test_a_transferred_copy_is_saved_and_loaded_at_the_next_start(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str, tmp_path: Path
) -> None:
    zonefile = tmp_path / "root.zone"
    first = service_for(wall, lab_anchors, ScriptedSource("axfr", lab_root_text), zonefile=zonefile)
    await first.refresh()
    assert zonefile.exists()
    wall.advance(DAY)
    # The next run finds no source working, but its saved copy, dated by
    # its last successful refresh.
    unreachable = ScriptedSource("axfr")
    second = service_for(wall, lab_anchors, unreachable, zonefile=zonefile)
    await second.load_saved()
    installed = second.local_root.installed
    assert installed is not None
    assert installed.refreshed_at == wall.wall() - DAY
    assert second.local_root.copy is not None
    assert second.local_root.copy.serial == first.local_root.copy.serial  # type: ignore[union-attr]


@pytest.mark.parametrize("special", ["fifo", "dev-zero"])
async def test_a_saved_copy_that_is_not_a_regular_file_is_refused_at_once(
    wall: FakeClock, lab_anchors: TrustAnchors, tmp_path: Path, special: str
) -> None:
    """Issue 16: a FIFO blocked the read, /dev/zero was read without end."""
    zonefile = tmp_path / "root.zone"
    if special == "fifo":
        os.mkfifo(zonefile)
    else:
        zonefile.symlink_to("/dev/zero")
    restarted = service_for(wall, lab_anchors, ScriptedSource("axfr"), zonefile=zonefile)
    with trio.fail_after(5):
        await restarted.load_saved()
    rejection = restarted.local_root.last_rejection
    assert rejection is not None
    assert "not a regular file" in rejection.reason


async def test_a_saved_copy_whose_signatures_expired_meanwhile_is_refused(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str, tmp_path: Path
) -> None:
    zonefile = tmp_path / "root.zone"
    await service_for(
        wall, lab_anchors, ScriptedSource("axfr", lab_root_text), zonefile=zonefile
    ).refresh()
    wall.advance(30 * DAY)
    restarted = service_for(wall, lab_anchors, ScriptedSource("axfr"), zonefile=zonefile)
    await restarted.load_saved()
    assert restarted.local_root.copy is None
    rejection = restarted.local_root.last_rejection
    assert rejection is not None
    assert rejection.kind == "dnssec"
    assert restarted.local_root.state() is RootState.NONE


async def test_the_task_follows_the_timers_and_wakes_on_request(
    wall: FakeClock,
    lab_anchors: TrustAnchors,
    lab_root_text: str,
    autojump_clock: trio.testing.MockClock,
) -> None:
    source = ScriptedSource("primary", lab_root_text)
    service = service_for(wall, lab_anchors, source)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        await trio.sleep(1)
        assert service.rounds == 1
        service.request_refresh()
        await trio.sleep(1)
        assert service.rounds == 2
        # Without a request, the next round comes at SOA refresh (7200 s).
        await trio.sleep(7198)
        assert service.rounds == 2
        await trio.sleep(2)
        assert service.rounds == 3
        nursery.cancel_scope.cancel()



def lab_candidate(text: str, anchors: TrustAnchors, now: int) -> Callable[[], RootCopy | None]:
    """The daemon's work for one candidate, as it goes to the worker process."""
    return functools.partial(
        check_candidate,
        functools.partial(records_from_text, text, source="lab"),
        source="lab",
        size=len(text),
        anchors=anchors,
        now=now,
        policy=LoadPolicy(),
        current=None,
    )


async def test_the_daemon_checks_candidates_in_a_worker_process(
    lab_anchors: TrustAnchors, lab_root_text: str, lab_now: int
) -> None:
    """What ``in_process`` runs must survive pickling both ways (spawn start method)."""
    copy = await in_process(lab_candidate(lab_root_text, lab_anchors, lab_now))
    assert copy is not None
    assert copy.zonemd.status.value == "verified"
    assert copy.answers.answer(dns.name.root, dns.rdatatype.SOA).answer


async def test_the_rebuild_gives_the_collector_back_as_it_found_it(
    lab_anchors: TrustAnchors, lab_root_text: str, lab_now: int
) -> None:
    """``in_process`` pauses the cyclic collector while it rebuilds the copy, no longer."""
    work = lab_candidate(lab_root_text, lab_anchors, lab_now)
    assert gc.isenabled()
    assert await in_process(work) is not None
    assert gc.isenabled()
    gc.disable()
    try:
        assert await in_process(work) is not None
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_the_saved_copy_is_checked_in_the_worker_process_too(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str, tmp_path: Path
) -> None:
    """The saved copy goes through the daemon's offload like any candidate (picklable work)."""
    zonefile = tmp_path / "root.zone"
    await service_for(
        wall, lab_anchors, ScriptedSource("axfr", lab_root_text), zonefile=zonefile
    ).refresh()
    restarted = service_for(
        wall, lab_anchors, ScriptedSource("axfr"), zonefile=zonefile, offload=in_process
    )
    await restarted.load_saved()
    assert restarted.local_root.installed is not None


async def test_a_worker_that_dies_refuses_the_candidate_and_the_task_goes_on(
    wall: FakeClock, lab_anchors: TrustAnchors, lab_root_text: str
) -> None:
    async def killed(work: object) -> None:
        raise BrokenProcessPool("the worker was killed")

    source = ScriptedSource("primary", lab_root_text)
    service = service_for(wall, lab_anchors, source)
    service._offload = killed
    await service.refresh()
    assert service.local_root.copy is None
    rejection = service.local_root.last_rejection
    assert rejection is not None
    assert rejection.kind == "worker"
    assert "killed" in rejection.reason
