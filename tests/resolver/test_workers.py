"""The ``--workers`` supervisor's parts without processes: back-off, replay log, combined
replies, the worker channel, and forwarding to workers over in-memory channels."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
import trio
import trio.lowlevel
import trio.testing

from resolver.config import Config, load_config
from resolver.control import Channel, ChannelClosed, ControlError, serve_stream
from resolver.errors import ConfigError
from resolver.workers import Backoff, ReplayLog, Reply, Supervisor, Worker, combine

NOW = 1_700_000_000.0
NONE: frozenset[str] = frozenset()


# -- Backoff -------------------------------------------------------------------------------


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    backoff = Backoff()
    assert [backoff.delay(ran_for=0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_backoff_starts_over_after_a_worker_ran_a_minute() -> None:
    backoff = Backoff()
    for _ in range(4):
        backoff.delay(ran_for=1)
    assert backoff.delay(ran_for=60) == 1
    assert backoff.delay(ran_for=59) == 2


# -- ReplayLog ----------------------------------------------------------------------------


def test_replay_keeps_the_last_route_command_per_zone() -> None:
    log = ReplayLog()
    log.record(["route", "add", "com", "--only", "192.0.2.1"], NOW, NONE)
    log.record(["route", "add", "COM.", "--avoid", "192.0.2.2", "192.0.2.3"], NOW, NONE)
    log.record(["route", "add", "net", "--prefer", "192.0.2.4"], NOW, NONE)

    assert log.commands(NOW, NONE) == [
        ["route", "add", "com.", "--avoid", "192.0.2.2", "192.0.2.3"],
        ["route", "add", "net.", "--prefer", "192.0.2.4"],
    ]


def test_replay_gives_a_route_only_the_time_it_has_left() -> None:
    log = ReplayLog()
    log.record(["route", "add", "com", "--only", "192.0.2.1", "--expires", "30m"], NOW, NONE)

    assert log.commands(NOW + 600, NONE) == [
        ["route", "add", "com.", "--only", "192.0.2.1", "--expires", "1200.000"]
    ]
    assert log.commands(NOW + 1800, NONE) == []  # lapsed: dropped for good
    assert log.commands(NOW, NONE) == []


def test_replay_forgets_a_deleted_control_route_but_deletes_a_configured_one() -> None:
    log = ReplayLog()
    log.record(["route", "add", "com", "--only", "192.0.2.1"], NOW, NONE)
    log.record(["route", "del", "com"], NOW, NONE)
    assert log.commands(NOW, NONE) == []

    configured = frozenset({"net."})
    log.record(["route", "del", "net"], NOW, configured)
    assert log.commands(NOW, configured) == [["route", "del", "net."]]
    # A reload that drops the configured route leaves nothing to delete.
    assert log.commands(NOW, NONE) == []


def test_replay_keeps_the_last_stub_or_forward_command_per_zone() -> None:
    log = ReplayLog()
    log.record(["forward", "add", "corp", "192.0.2.1@5353"], NOW, NONE)
    log.record(["stub", "add", "lab.example", "192.0.2.2"], NOW, NONE)
    log.record(["forward", "add", "CORP.", "192.0.2.3", "--first"], NOW, NONE)
    log.record(["stub", "remove", "lab.example."], NOW, NONE)
    assert log.commands(NOW, NONE) == [
        ["forward", "add", "CORP.", "192.0.2.3", "--first"],
        ["stub", "remove", "lab.example."],
    ]
    log.forget_local()  # a reload keeps what ctl set for stub and forward zones
    assert len(log.commands(NOW, NONE)) == 2


def test_replay_keeps_the_last_local_root_switch() -> None:
    log = ReplayLog()
    log.record(["local-root", "disable"], NOW, NONE)
    assert log.commands(NOW, NONE) == [["local-root", "disable"]]
    log.record(["local-root", "enable"], NOW, NONE)
    assert log.commands(NOW, NONE) == [["local-root", "enable"]]


@pytest.mark.parametrize(
    "words",
    [
        ["flush", "all"],
        ["holddown", "clear"],
        ["route", "list"],
        ["local-root", "refresh"],
        ["route", "add", "com", "--only", "not-an-ip"],
        ["route", "del", "com", "net"],
        ["reload"],
    ],
)
def test_replay_ignores_what_a_new_worker_does_not_need(words: list[str]) -> None:
    log = ReplayLog()
    log.record(words, NOW, NONE)
    assert log.commands(NOW, NONE) == []


def test_replay_is_bounded_by_the_zones_it_names() -> None:
    log = ReplayLog()
    for turn in range(3):
        for index in range(100):
            log.record(["route", "add", f"z{index}", "--only", "192.0.2.1"], NOW + turn, NONE)
            log.record(["route", "del", f"z{index}"], NOW + turn, NONE)
        log.record(["local-root", "disable" if turn % 2 else "enable"], NOW, NONE)
    assert log.commands(NOW, NONE) == [["local-root", "enable"]]


# -- combine ------------------------------------------------------------------------------


def test_combine_reports_how_many_workers_applied_a_command() -> None:
    replies = {0: Reply(True, {"cleared": 1}), 1: Reply(True, {"cleared": 0})}
    assert combine(replies) == {
        "workers": 2,
        "applied": 2,
        "results": {"0": {"cleared": 1}, "1": {"cleared": 0}},
    }


def test_combine_joins_text_results_under_a_line_per_worker() -> None:
    replies = {1: Reply(True, "b.\n"), 0: Reply(True, "a.\n")}
    assert combine(replies) == ";; worker 0\na.\n\n;; worker 1\nb.\n"


def test_combine_names_the_workers_that_failed_with_the_others_results() -> None:
    replies = {
        0: Reply(True, {"flushed": "all"}),
        1: Reply(False, "not running, restarting in 2 s"),
        2: Reply(False, "not running, restarting in 2 s"),
    }
    with pytest.raises(ControlError) as info:
        combine(replies)
    assert str(info.value) == (
        "not running, restarting in 2 s (workers 1, 2); "
        'applied by worker 0: {"0": {"flushed": "all"}}'
    )


def test_combine_gives_one_error_that_every_worker_gave_once() -> None:
    replies = {0: Reply(False, "no route for 'com'"), 1: Reply(False, "no route for 'com'")}
    with pytest.raises(ControlError, match=r"^no route for 'com' \(all 2 workers\)$"):
        combine(replies)


# -- The channel ----------------------------------------------------------------------------


async def test_channel_carries_requests_in_order_and_reports_errors() -> None:
    async def handler(request: dict[str, Any]) -> Any:
        words = request["command"]
        if words == ["boom"]:
            raise ControlError("no such thing")
        await trio.lowlevel.checkpoint()
        return {"echo": words}

    ours, theirs = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_stream, theirs, handler)
        channel = Channel(ours)
        assert await channel.request({"command": ["a"]}) == {"echo": ["a"]}
        with pytest.raises(ControlError, match="no such thing"):
            await channel.request({"command": ["boom"]})
        assert await channel.request({"command": ["b"]}) == {"echo": ["b"]}
        await ours.aclose()


async def test_a_late_reply_to_a_request_given_up_on_is_skipped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    release = trio.Event()

    async def handler(request: dict[str, Any]) -> Any:
        if request["command"] == ["slow"]:
            await release.wait()
        return request["command"][0]

    ours, theirs = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_stream, theirs, handler)
        channel = Channel(ours)
        with trio.move_on_after(1):
            await channel.request({"command": ["slow"]})
        release.set()
        assert await channel.request({"command": ["fast"]}) == "fast"
        await ours.aclose()


async def test_serve_stream_returns_when_the_other_end_closes() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    await ours.aclose()
    with trio.fail_after(1):
        await serve_stream(theirs, lambda request: None)


async def test_a_request_to_a_worker_that_is_gone_raises_channel_closed() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    await theirs.aclose()
    with pytest.raises(ChannelClosed):
        await Channel(ours).request({"command": ["status"]})


# -- Forwarding, with workers on in-memory channels -----------------------------------------


class FakeWorker:
    """The worker end of a channel: records the commands it got, answers like a worker."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.got: list[list[str]] = []

    def __call__(self, request: dict[str, Any]) -> Any:
        words = request["command"]
        self.got.append(words)
        if words == ["route", "del", "nowhere"]:
            raise ControlError("no route for 'nowhere'")
        return {"worker": self.index, "words": words}


State = Literal["starting", "running", "down"]


async def supervisor_with(
    nursery: trio.Nursery, config: Config, states: list[State]
) -> tuple[Supervisor, list[FakeWorker]]:
    """A supervisor whose workers are ``FakeWorker``s, running or not as ``states`` say."""
    supervisor = Supervisor(config)
    fakes = []
    for index, state in enumerate(states):
        worker = Worker(index, [])
        fake = FakeWorker(index)
        fakes.append(fake)
        if state == "running":
            ours, theirs = trio.testing.memory_stream_pair()
            nursery.start_soon(serve_stream, theirs, fake)
            worker.channel = Channel(ours)
            worker.ready.set()
        worker.state = state
        supervisor.workers.append(worker)
    return supervisor, fakes


async def test_a_command_goes_to_every_worker_and_overrides_are_kept_for_new_ones() -> None:
    async with trio.open_nursery() as nursery:
        supervisor, fakes = await supervisor_with(nursery, Config.defaults(), ["running"] * 2)
        words = ["route", "add", "com", "--only", "192.0.2.1"]
        reply = await supervisor.handle({"command": words})
        assert reply["applied"] == 2
        assert [fake.got for fake in fakes] == [[words], [words]]
        assert supervisor.replay.commands(NOW, NONE) == [
            ["route", "add", "com.", "--only", "192.0.2.1"]
        ]
        with pytest.raises(ControlError, match=r"no route for 'nowhere' \(all 2 workers\)"):
            await supervisor.handle({"command": ["route", "del", "nowhere"]})
        nursery.cancel_scope.cancel()


async def test_a_worker_that_is_down_is_named_and_the_override_waits_for_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        supervisor, _ = await supervisor_with(nursery, Config.defaults(), ["running", "down"])
        supervisor.workers[1].retry_at = trio.current_time() + 3.5
        with pytest.raises(ControlError) as info:
            await supervisor.handle({"command": ["local-root", "disable"]})
        message = str(info.value)
        assert message.startswith(
            "not running, restarting in 4 s, and gets this when it starts (worker 1); "
            "applied by worker 0: "
        )
        assert supervisor.replay.commands(NOW, NONE) == [["local-root", "disable"]]
        nursery.cancel_scope.cancel()


async def test_a_command_waits_a_bounded_time_for_a_starting_worker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        supervisor, _ = await supervisor_with(nursery, Config.defaults(), ["running", "starting"])
        began = trio.current_time()
        replies = await supervisor.forward(["status"])
        assert trio.current_time() - began == pytest.approx(4.0)
        assert replies[0].ok
        assert replies[1] == Reply(False, "still starting")
        status = await supervisor.status()
        assert status["workers"] == 2
        assert status["applied"] == 1
        assert status["errors"] == {"1": "still starting"}
        assert [w["state"] for w in status["worker_processes"]] == ["running", "starting"]
        nursery.cancel_scope.cancel()


async def test_a_broken_file_is_refused_before_any_worker_hears_of_it(tmp_path: Path) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text("[cache]\nmax_entries = 10\n")
    config = load_config(path)
    async with trio.open_nursery() as nursery:
        supervisor, fakes = await supervisor_with(nursery, config, ["running"] * 2)
        path.write_text("[cache]\nmax_entrys = 10\n")
        with pytest.raises(ConfigError, match=r"refused, the running configuration stays: .*"
                           r"unknown option cache\.max_entrys"):
            await supervisor.handle({"command": ["reload"]})
        assert [fake.got for fake in fakes] == [[], []]
        assert supervisor.config is config

        path.write_text("[cache]\nmax_entries = 20\nmin_ttl = 5\n")
        reply = await supervisor.handle({"command": ["reload"]})
        assert reply["applied"] == 2
        assert [fake.got for fake in fakes] == [[["reload"]], [["reload"]]]
        # New workers get what the running ones apply: min_ttl, not max_entries.
        assert supervisor.config["cache.min_ttl"] == 5
        assert supervisor.config["cache.max_entries"] == 10
        nursery.cancel_scope.cancel()


async def test_sighup_reopens_the_workers_query_logs_then_reloads() -> None:
    async with trio.open_nursery() as nursery:
        supervisor, fakes = await supervisor_with(nursery, Config.defaults(), ["running"] * 2)
        await supervisor._reload_on_signal()
        # The reopen comes first, and would come even if the file were refused.
        assert [fake.got for fake in fakes] == [[["log-reopen"], ["reload"]]] * 2
        nursery.cancel_scope.cancel()
