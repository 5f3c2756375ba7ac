"""The supervisor checks the local root once and hands it over; each worker adopts it (issue 22).

Without processes: the supervisor's ``RootPublisher`` over a refresh task
with a scripted source, and a worker's ``RootFollower`` with its own
``LocalRoot``, on one fake wall clock. ``tests/scenarios/
test_workers_local_root.py`` runs the real supervisor and workers.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from dnssec.anchors import TrustAnchors
from resolver import root_sharing
from resolver.clock import FakeClock
from resolver.root_sharing import (
    Handoff,
    RootFollower,
    RootHandoffError,
    RootPublisher,
    read_copy,
)
from rootzone.candidate import LoadPolicy
from rootzone.lifecycle import LifetimePolicy, LocalRoot, RootState
from rootzone.service import RootService, inline
from tests.rootzone.test_service import ScriptedSource

HOUR = 3600
POLICY = LifetimePolicy(max_age=2 * 86400)


@pytest.fixture
def wall(lab_now: int) -> FakeClock:
    return FakeClock(lab_now)


@pytest.fixture
def source(lab_root_text: str) -> ScriptedSource:
    return ScriptedSource("http://root.test/root.zone", lab_root_text)


@pytest.fixture
def publisher(
    source: ScriptedSource, lab_anchors: TrustAnchors, wall: FakeClock, tmp_path: Path
) -> RootPublisher:
    service = RootService(LocalRoot(wall.wall, POLICY), [source], anchors=lab_anchors,
                          policy=LoadPolicy(), offload=inline)
    directory = tmp_path / "handed"
    directory.mkdir(mode=0o700)
    return RootPublisher(service, directory)


def worker_root(wall: FakeClock, publisher: RootPublisher) -> tuple[LocalRoot, RootFollower]:
    local_root = LocalRoot(wall.wall, POLICY)
    return local_root, RootFollower(local_root, publisher.directory)


async def published(publisher: RootPublisher) -> Handoff:
    handoff = await publisher.publish()
    assert handoff is not None
    return handoff


async def test_a_worker_adopts_the_copy_with_the_supervisors_times(
    publisher: RootPublisher, wall: FakeClock
) -> None:
    await publisher.service.refresh()
    handoff = await published(publisher)
    wall.advance(HOUR)  # the worker starts an hour after the supervisor loaded the copy
    local_root, follower = worker_root(wall, publisher)

    assert await follower.follow(handoff) == {"serial": handoff.serial}

    theirs, ours = publisher.service.local_root.installed, local_root.installed
    assert theirs is not None
    assert ours is not None
    assert ours.copy.serial == theirs.copy.serial
    assert ours.copy is not theirs.copy  # rebuilt from the file, not shared
    # max_age counts from the supervisor's load: both retire at the same moment.
    assert (ours.loaded_at, ours.refreshed_at) == (theirs.loaded_at, theirs.refreshed_at)
    assert ours.retirement == theirs.retirement


async def test_a_refresh_with_nothing_new_moves_only_the_workers_refresh_time(
    publisher: RootPublisher, source: ScriptedSource, wall: FakeClock
) -> None:
    await publisher.service.refresh()
    first = await published(publisher)
    local_root, follower = worker_root(wall, publisher)
    await follower.follow(first)
    copy = local_root.copy

    wall.advance(HOUR)
    source._last = None  # the same zone fetched anew: the serial in use
    await publisher.service.refresh()
    second = await published(publisher)
    assert second.name == first.name  # no new file
    assert second.refreshed_at == wall.wall() > first.refreshed_at
    (publisher.directory / first.name).unlink()  # a confirmation reads nothing

    await follower.follow(second)
    assert local_root.copy is copy
    assert local_root.installed is not None
    assert local_root.installed.refreshed_at == second.refreshed_at


async def test_a_refused_candidate_never_reaches_the_workers(
    publisher: RootPublisher, source: ScriptedSource, lab_root_text: str
) -> None:
    await publisher.service.refresh()
    good = await published(publisher)
    # A new serial whose SOA signature no longer matches: DNSSEC refuses it.
    source.text = lab_root_text.replace(f" {good.serial} ", f" {good.serial + 1} ", 1)
    assert source.text != lab_root_text
    await publisher.service.refresh()

    assert publisher.service.local_root.rejections == {"dnssec": 1}
    assert await published(publisher) == good
    assert sorted(path.name for path in publisher.directory.iterdir()) == [good.name]


async def test_a_worker_that_missed_a_copy_reads_it_at_the_next_confirmation(
    publisher: RootPublisher, source: ScriptedSource, wall: FakeClock
) -> None:
    await publisher.service.refresh()
    handoff = await published(publisher)
    local_root, follower = worker_root(wall, publisher)
    path = publisher.directory / handoff.name
    path.rename(path.with_name("away"))
    with pytest.raises(RootHandoffError):
        await follower.follow(handoff)
    assert local_root.state() is RootState.NONE  # the root servers meanwhile
    path.with_name("away").rename(path)

    wall.advance(HOUR)
    source._last = None
    await publisher.service.refresh()
    confirmed = await published(publisher)
    assert confirmed.name == handoff.name
    await follower.follow(confirmed)
    assert local_root.state() is RootState.FRESH
    assert local_root.installed is not None
    assert local_root.installed.refreshed_at == confirmed.refreshed_at


async def test_a_file_refused_leaves_the_workers_copy_in_use(
    publisher: RootPublisher, wall: FakeClock
) -> None:
    await publisher.service.refresh()
    handoff = await published(publisher)
    local_root, follower = worker_root(wall, publisher)
    await follower.follow(handoff)
    copy = local_root.copy

    newer = Handoff("root-9-9.pickle", 9, wall.wall(), wall.wall())  # no such file
    with pytest.raises(RootHandoffError, match="cannot read"):
        await follower.follow(newer)
    assert local_root.copy is copy


async def test_only_the_copy_in_force_and_the_one_before_are_kept(
    publisher: RootPublisher, source: ScriptedSource, lab_root_text: str
) -> None:
    names = []
    for _ in range(3):  # three copies installed in turn (the same zone, loaded anew)
        publisher.service.local_root._installed = None
        source._last = None
        await publisher.service.refresh()
        names.append((await published(publisher)).name)
    assert len(set(names)) == 3
    assert sorted(path.name for path in publisher.directory.iterdir()) == sorted(names[1:])


# --- What a worker reads, and only that ---------------------------------------------------


def test_a_name_outside_the_directory_is_refused(tmp_path: Path) -> None:
    inside = tmp_path / "handed"
    inside.mkdir()
    (tmp_path / "root-1-1.pickle").write_bytes(pickle.dumps("outside"))
    with pytest.raises(RootHandoffError, match="file name"):
        read_copy(inside, "../root-1-1.pickle")
    with pytest.raises(RootHandoffError, match="file name"):
        Handoff.from_message({"name": "/etc/passwd", "serial": 1, "loaded_at": 0,
                              "refreshed_at": 0})


def test_a_device_behind_the_name_is_refused(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "root-1-1.pickle")
    with pytest.raises(RootHandoffError, match="not a regular file"):
        read_copy(tmp_path, "root-1-1.pickle")


def test_a_file_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "root-1-1.pickle").write_bytes(b"x" * 1001)
    monkeypatch.setattr(root_sharing, "MAX_COPY_BYTES", 1000)
    with pytest.raises(RootHandoffError, match="larger than the limit of 1000 bytes"):
        read_copy(tmp_path, "root-1-1.pickle")


def test_a_file_that_holds_no_copy_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root-1-1.pickle").write_bytes(pickle.dumps({"not": "a copy"}))
    with pytest.raises(RootHandoffError, match="not a handed copy"):
        read_copy(tmp_path, "root-1-1.pickle")
    (tmp_path / "root-1-2.pickle").write_bytes(b"\x80\x05garbage")
    with pytest.raises(RootHandoffError, match="not a handed copy"):
        read_copy(tmp_path, "root-1-2.pickle")


@pytest.mark.parametrize("value", [
    None,
    {"name": "root-1-1.pickle"},
    {"name": "root-1-1.pickle", "serial": "1", "loaded_at": 0, "refreshed_at": 0},
    {"name": "root-1-1.pickle", "serial": 1, "loaded_at": "0", "refreshed_at": 0},
    {"name": "root-1-1.pickle", "serial": 1, "loaded_at": 0, "refreshed_at": 0, "x": 1},
])
def test_a_message_not_of_the_supervisors_form_is_refused(value: object) -> None:
    with pytest.raises(RootHandoffError):
        Handoff.from_message(value)


def test_a_handoff_crosses_the_channel_unchanged() -> None:
    handoff = Handoff("root-2026120601-3.pickle", 2026120601, 1.5, 2.5)
    assert Handoff.from_message(handoff.message()["local_root"]) == handoff
