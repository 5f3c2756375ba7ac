"""One local root per host: the supervisor fetches and checks it, every worker adopts it.

With ``--workers N`` each worker used to run its own refresh task
(``rootzone.service``): N transfers of the root per refresh, N parses and
DNSSEC checks of the same 2 MB, and a bad candidate refused N times. Now,
when ``[local_root] sources`` are set, the supervisor runs the one refresh
task of the host (its checking process, the saved ``zonefile``, the SOA
timers, ``ctl local-root refresh``) and hands each copy it installs to the
workers:

* the copy, as the checking process returned it (``PickledCopy``, the
  records in parts), goes to a file in a directory only the user the
  workers run as may enter (made by the supervisor after the privilege
  drop); the control channel carries only a ``Handoff``: the file's name
  and the copy's serial, load and last refresh times. A copy is ~2 MB
  and a channel message at most 64 KiB (``control.MAX_REQUEST_BYTES``);
* a worker reads the file (a regular file, at most ``MAX_COPY_BYTES``,
  a name of the supervisor's own form in the directory it was given at
  start; never a path from elsewhere), rebuilds the copy a part at a time
  with its loop running (``restore_in_parts``), and installs it with the
  supervisor's times; a later ``Handoff`` for the same file only moves the
  last refresh (``LocalRoot.confirm``);
* a worker started later (a restart) gets the ``Handoff`` in force in its
  start message and installs it before it serves.

Every failure rule of the local root stays where it was, in each worker's
``LocalRoot``, at the point of use: the copy's retirement (SOA expire after
the last refresh, the earliest signature expiration less the margin,
``max_age`` from the supervisor's load) is computed from the times handed
over and checked at every question, so a worker whose supervisor stops
confirming retires its copy on time and resolves through the root servers;
``ctl local-root disable`` still switches every worker; bogus data from the
copy still sends that question to the root servers. A worker that cannot
read a handed copy keeps what it had (or none: the root servers) and tries
again at the next ``Handoff``. A refused candidate is refused once, by the
supervisor; no worker ever sees it.

Why the channel and a file, not the workers' LMDB map: the map is an
optional cache that is emptied when full or flushed, and the copy in force
must survive both. Knot Resolver shares the root the same way in spirit:
its ``prefill`` module imports the root zone into the one cache every kresd
instance maps, rather than each instance importing its own
(``modules/prefill``). Why pickle: it is how the checking process already
hands the copy back (``rootzone.service``); parsing zone text again in each
worker is the cost this module removes. The file is as trusted as the
worker's own memory: only its user can write the directory.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import re
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import trio

from dnssec.files import FileRefused, read_bytes
from resolver.control import Handler
from resolver.errors import HoldfastError
from rootzone.lifecycle import Installed, LocalRoot
from rootzone.model import PickledCopy, RootCopy
from rootzone.service import RootService, restore_in_parts
from rootzone.sources import MAX_OCTETS

log = logging.getLogger("holdfast.root_sharing")

#: Bytes of a handed copy a worker reads at most. A pickled copy is about
#: the size of the zone text (2.2 MB for the real root's 2.25 MB), and no
#: source delivers more than ``MAX_OCTETS``: twice that is ample.
MAX_COPY_BYTES = 2 * MAX_OCTETS
#: The names the supervisor gives its files; a worker reads no other.
_FILE_NAME = re.compile(r"root-[0-9]{1,10}-[0-9]{1,10}\.pickle")
#: The key of a ``Handoff`` in a channel message (no ctl command has it).
MESSAGE_KEY = "local_root"


class RootHandoffError(HoldfastError):
    """A handed copy could not be adopted: a bad message, or a file that is refused."""


@dataclass(frozen=True, slots=True)
class Handoff:
    """The copy in force, as the supervisor tells a worker (JSON over the channel).

    Attributes:
        name: Its file, in the directory the worker was given at start.
        serial: Its SOA serial (for logs and status).
        loaded_at: When the supervisor installed it (POSIX seconds).
        refreshed_at: Its last successful refresh (POSIX seconds).
    """

    name: str
    serial: int
    loaded_at: float
    refreshed_at: float

    def message(self) -> dict[str, Any]:
        """The channel request that hands this copy over."""
        return {MESSAGE_KEY: asdict(self)}

    @classmethod
    def from_message(cls, value: object) -> Handoff:
        """The ``Handoff`` in a request's ``local_root`` value, checked.

        Raises:
            RootHandoffError: not the supervisor's form.
        """
        if not isinstance(value, dict) or set(value) != {
            "name", "serial", "loaded_at", "refreshed_at"
        }:
            raise RootHandoffError(f"not a local root handoff: {value!r}")
        name, serial = value["name"], value["serial"]
        times = value["loaded_at"], value["refreshed_at"]
        if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
            raise RootHandoffError(f"not a handed copy's file name: {name!r}")
        if not isinstance(serial, int) or not all(isinstance(t, (int, float)) for t in times):
            raise RootHandoffError(f"not a local root handoff: {value!r}")
        return cls(name, serial, float(times[0]), float(times[1]))


# --- The supervisor's end ---------------------------------------------------------------


class RootPublisher:
    """The supervisor's end: turns what its refresh task installed into the ``Handoff`` in force.

    ``service.on_round`` wakes ``changed``; ``publish`` writes a new copy
    to the directory (keeping the one before, which a worker may still be
    reading) and returns the ``Handoff`` every worker should have.
    """

    def __init__(self, service: RootService, directory: Path) -> None:
        self.service = service
        self.directory = directory
        self.current: Handoff | None = None
        self._written: RootCopy | None = None
        self._numbers = itertools.count(1)
        self._changed = trio.Event()
        service.on_round = self._round_ended

    def _round_ended(self) -> None:
        self._changed.set()

    async def changed(self) -> None:
        """Wait until the refresh task ends a round."""
        await self._changed.wait()
        self._changed = trio.Event()

    async def publish(self) -> Handoff | None:
        """The ``Handoff`` of the copy in force now (None: none, or retired), its file written.

        Raises:
            OSError: the file could not be written (``current`` stays).
        """
        installed = self.service.local_root.installed
        if installed is None:
            self.current = None  # retired: each worker retires its own at the same moment
            return None
        if installed.copy is not self._written:
            # Pickled here, on the loop: ``PickledCopy.of`` empties the zone
            # for a moment, and the refresh task reads it (a candidate's baseline).
            data = pickle.dumps(PickledCopy.of(installed.copy), protocol=pickle.HIGHEST_PROTOCOL)
            name = f"root-{installed.copy.serial}-{next(self._numbers)}.pickle"
            await trio.to_thread.run_sync(self._write, name, data)
            self._written = installed.copy
            self.current = _handoff(name, installed)
        elif self.current is not None:
            self.current = _handoff(self.current.name, installed)
        return self.current

    def _write(self, name: str, data: bytes) -> None:
        """Write ``name`` whole (a temporary file, then rename); drop all but it and the last."""
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, self.directory / name)
        keep = {name} | ({self.current.name} if self.current is not None else set())
        for path in self.directory.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def summary(self) -> str:
        """One line for the supervisor's ``status``."""
        if self.service.unavailable is not None and self.current is None:
            return f"unavailable, resolving through the root servers: {self.service.unavailable}"
        state = self.service.local_root.state().value
        if self.current is None:
            return f"{state}, fetched and checked by the supervisor"
        return f"{state}, serial {self.current.serial}, fetched and checked by the supervisor"


def _handoff(name: str, installed: Installed) -> Handoff:
    return Handoff(name, installed.copy.serial, installed.loaded_at, installed.refreshed_at)


# --- A worker's end ---------------------------------------------------------------------


def read_copy(directory: Path, name: str) -> PickledCopy:
    """The handed copy ``name`` in ``directory``, as pickled parts (blocking: run in a thread).

    Raises:
        RootHandoffError: the name is not one the supervisor gives, or the
            file is not a regular file of at most ``MAX_COPY_BYTES``, or
            does not hold a pickled copy.
    """
    if not _FILE_NAME.fullmatch(name):
        raise RootHandoffError(f"not a handed copy's file name: {name!r}")
    try:
        data = read_bytes(directory / name, limit=MAX_COPY_BYTES)
    except FileRefused as error:
        raise RootHandoffError(f"the handed local root copy: {error}") from error
    try:
        pickled = pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise RootHandoffError(f"{directory / name}: not a handed copy ({error})") from error
    if not isinstance(pickled, PickledCopy):
        raise RootHandoffError(f"{directory / name}: not a handed copy")
    return pickled


class RootFollower:
    """A worker's end: installs each copy its supervisor hands over in its ``LocalRoot``."""

    def __init__(self, local_root: LocalRoot, directory: Path) -> None:
        self.local_root = local_root
        self.directory = directory
        #: The copy adopted last and its file (to tell a new copy from a confirmation).
        self._adopted: RootCopy | None = None
        self._adopted_name = ""

    def handler(self, commands: Handler) -> Handler:
        """The channel's handler: handoffs here, every other request to ``commands``."""

        def handle(request: dict[str, Any]) -> Any:
            if MESSAGE_KEY in request:
                return self.follow(Handoff.from_message(request[MESSAGE_KEY]))
            return commands(request)

        return handle

    async def follow(self, handoff: Handoff) -> dict[str, Any]:
        """Adopt ``handoff``: install its copy, or only its times if the copy is the one in use.

        Raises:
            RootHandoffError: its file is refused; the copy in use stays.
        """
        if not self._confirms(handoff):
            pickled = await trio.to_thread.run_sync(read_copy, self.directory, handoff.name)
            self._install(await restore_in_parts(pickled), handoff)
        return {"serial": handoff.serial}

    def adopt_at_start(self, handoff: Handoff | None) -> None:
        """Before serving: install the copy in force, if any (a file refused is logged)."""
        if handoff is None:
            return
        try:
            steps = read_copy(self.directory, handoff.name).restore()
            self._install(_finish(steps), handoff)
        except RootHandoffError as error:
            log.error("the local root copy in force was not adopted: %s; resolving through the "
                      "root servers until the next", error,
                      extra={"event": "local_root_handoff_failed"})

    def _confirms(self, handoff: Handoff) -> bool:
        """Whether ``handoff`` is only a new refresh time of the copy in use (and apply it)."""
        if self._adopted is None or self.local_root.copy is not self._adopted:
            return False  # none yet, or it retired here: read the file again
        if handoff.name != self._adopted_name:
            return False
        self.local_root.confirm(refreshed_at=handoff.refreshed_at)
        return True

    def _install(self, copy: RootCopy, handoff: Handoff) -> None:
        self.local_root.install(copy, loaded_at=handoff.loaded_at,
                                refreshed_at=handoff.refreshed_at)
        self._adopted, self._adopted_name = copy, handoff.name


def _finish(steps: Generator[None, None, RootCopy]) -> RootCopy:
    """Drive ``PickledCopy.restore`` to its end (nothing else runs yet at start)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            copy: RootCopy = done.value
            return copy

