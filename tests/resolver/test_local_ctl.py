"""``holdfast ctl local-data`` and ``local-zone`` on a resolver over the in-memory lab,
and their replay to a worker started later (``workers.ReplayLog``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import pytest
import trio

from resolver import daemon, workers
from resolver.clock import FakeClock
from resolver.config import Config, load_config
from resolver.control import ControlError
from resolver.lab import Lab, LabTransport
from resolver.lab.drill import ask, lab_resolver
from resolver.workers import ReplayLog
from tests.resolver.test_workers import supervisor_with

NOW = 1_700_000_000.0
NONE: frozenset[str] = frozenset()


class Local:
    """A lab resolver and its ctl, with the upstream queries counted."""

    def __init__(self, lab: Lab, clock: FakeClock, directory: Path) -> None:
        self.transport = LabTransport(lab)
        self.resolver = lab_resolver(lab, clock, directory, self.transport)
        self.commands = daemon.commands(self.resolver)

    def __call__(self, *words: str) -> Any:
        return self.commands({"command": list(words)})

    def refused(self, *words: str) -> str:
        with pytest.raises(ControlError) as info:
            self(*words)
        return str(info.value)

    async def a(self, name: str) -> tuple[str, list[str], bool]:
        """The rcode, the A records' addresses and AD of the answer to ``name`` A."""
        reply = await ask(self.resolver, name)
        found = [rdata.to_text() for rrset in reply.answer for rdata in rrset
                 if rrset.rdtype == dns.rdatatype.A]
        return dns.rcode.to_text(reply.rcode()), found, bool(reply.flags & dns.flags.AD)


@pytest.fixture
async def local(lab: Lab, clock: FakeClock, tmp_path: Path, nursery: trio.Nursery) -> Local:
    local = Local(lab, clock, tmp_path)
    await nursery.start(local.resolver.recursor.run)
    return local


async def test_local_data_added_replaces_a_ready_made_answer_and_removed_gives_it_back(
    local: Local,
) -> None:
    assert await local.a("www.example.com.") == ("NOERROR", ["192.0.2.1"], True)
    await local.a("www.example.com.")  # now a ready-made response
    assert local.resolver.answers is not None
    assert local.resolver.answers.stats.hits == 1

    added = local("local-data", "add", "www.example.com. 60 IN A 10.9.9.9")

    assert added == {"added": ["www.example.com. 60 IN A 10.9.9.9"]}
    # Without clearing the ready-made responses the old answer would come back.
    assert await local.a("www.example.com.") == ("NOERROR", ["10.9.9.9"], False)
    assert "www.example.com. 60 IN A 10.9.9.9" in local("local-data", "list")

    assert local("local-data", "remove", "www.example.com", "A") == {"removed": 1}
    assert await local.a("www.example.com.") == ("NOERROR", ["192.0.2.1"], True)


async def test_a_record_may_come_as_several_words_and_without_ttl_or_class(local: Local) -> None:
    local("local-data", "add", "printer.corp.", "A", "10.1.2.3")
    assert await local.a("printer.corp.") == ("NOERROR", ["10.1.2.3"], False)
    assert {"zone": "printer.corp.", "type": "transparent"} in local("local-zone", "list")
    assert local("local-data", "remove", "printer.corp") == {"removed": 1}
    assert {"zone": "printer.corp.", "type": "transparent"} not in local("local-zone", "list")


async def test_a_local_zone_added_and_removed(local: Local) -> None:
    assert (await local.a("www.example.com."))[0] == "NOERROR"

    added = local("local-zone", "add", "example.com", "always_nxdomain")

    assert added == {"added": {"zone": "example.com.", "type": "always_nxdomain"},
                     "replaced": None}
    assert (await local.a("www.example.com."))[0] == "NXDOMAIN"
    assert local("local-zone", "remove", "example.com.") == {
        "removed": {"zone": "example.com.", "type": "always_nxdomain"}}
    assert await local.a("www.example.com.") == ("NOERROR", ["192.0.2.1"], True)


async def test_a_default_zone_can_be_removed_and_replaced(local: Local) -> None:
    assert await local.a("localhost.") == ("NOERROR", ["127.0.0.1"], False)
    replaced = local("local-zone", "add", "localhost", "always_refuse")
    assert replaced["replaced"] == {"zone": "localhost.", "type": "redirect"}
    assert (await local.a("localhost."))[0] == "REFUSED"


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["local-data", "add", "www.example.com.", "A", "not-an-address"],
         "'www.example.com. A not-an-address': "),
        (["local-data", "add", "x.corp", "CH", "A", "1.2.3.4"],
         "only class IN is served from local data"),
        (["local-data", "add", "x.corp."], "is not NAME [TTL] [IN] TYPE RDATA"),
        (["local-data", "remove", "x.corp", "NOTATYPE"], "'NOTATYPE' is not a record type"),
        (["local-data", "remove", "nothing.corp"],
         "no local data for nothing.corp.; see: holdfast ctl local-data list"),
        (["local-data", "remove", "localhost", "MX"],
         "no local data for localhost. MX; see: holdfast ctl local-data list"),
        (["local-data"], "usage: local-data add 'NAME [TTL] [IN] TYPE RDATA' | "),
        (["local-zone", "add", "corp", "sometimes"], "type must be one of static, transparent"),
        (["local-zone", "add", "corp"], "usage: local-zone add ZONE TYPE | "),
        (["local-zone", "remove", "corp"],
         "no local zone 'corp'; see: holdfast ctl local-zone list"),
        (["local-zone", "remove", "a..b"], "'a..b' is not a zone name"),
    ],
)
async def test_bad_local_commands_get_one_line_saying_what_is_wrong(
    local: Local, words: list[str], message: str
) -> None:
    refusal = local.refused(*words)
    assert message in refusal
    assert "\n" not in refusal


# -- Fan-out and replay ------------------------------------------------------------------


def test_local_changes_are_replayed_in_order_after_the_overrides() -> None:
    log = ReplayLog()
    changes = [
        ["local-data", "add", "foo.corp. A 10.0.0.1"],
        ["local-zone", "add", "corp", "static"],
        ["local-data", "remove", "foo.corp"],
        ["local-zone", "remove", "corp"],
    ]
    for words in changes:
        log.record(words, NOW, NONE)
    log.record(["local-root", "disable"], NOW, NONE)
    log.record(["local-data", "list"], NOW, NONE)
    log.record(["local-zone", "list"], NOW, NONE)

    assert log.commands(NOW, NONE) == [["local-root", "disable"], *changes]

    log.forget_local()
    assert log.commands(NOW, NONE) == [["local-root", "disable"]]


async def test_a_local_change_reaches_every_worker_and_a_later_one(tmp_path: Path) -> None:
    path = tmp_path / "holdfast.toml"
    path.write_text("[cache]\nmax_entries = 10\n")
    words = ["local-data", "add", "printer.corp. A 10.1.2.3"]
    async with trio.open_nursery() as nursery:
        supervisor, fakes = await supervisor_with(nursery, load_config(path), ["running"] * 2)
        assert (await supervisor.handle({"command": words}))["applied"] == 2
        assert [fake.got for fake in fakes] == [[words], [words]]
        assert supervisor.replay.commands(NOW, NONE) == [words]

        path.write_text("[cache]\nmax_entries = 10\nmin_ttl = 5\n")  # local zones untouched
        await supervisor.handle({"command": ["reload"]})
        assert supervisor.replay.commands(NOW, NONE) == [words]

        # The workers rebuild their local zones from the file: ctl's changes are gone.
        path.write_text('[cache]\nmax_entries = 10\nmin_ttl = 5\n'
                        '[[local_data]]\nrecord = "scanner.corp. A 10.1.2.4"\n')
        await supervisor.handle({"command": ["reload"]})
        assert supervisor.replay.commands(NOW, NONE) == []
        nursery.cancel_scope.cancel()


async def test_local_changes_beyond_the_bound_are_refused_before_any_worker_hears(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "MAX_LOCAL_CHANGES", 2)
    async with trio.open_nursery() as nursery:
        supervisor, fakes = await supervisor_with(nursery, Config.defaults(), ["running"])
        for index in range(2):
            await supervisor.handle({"command": ["local-zone", "add", f"z{index}", "static"]})
        refusal = (r"2 local-data/local-zone changes since the last reload are kept .* "
                   r"write them in the configuration file and reload")
        with pytest.raises(ControlError, match=refusal):
            await supervisor.handle({"command": ["local-zone", "add", "z2", "static"]})
        assert len(fakes[0].got) == 2
        await supervisor.handle({"command": ["local-zone", "list"]})  # not a change
        nursery.cancel_scope.cancel()
