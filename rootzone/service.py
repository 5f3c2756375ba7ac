"""The refresh task: fetch candidates, load them off the event loop, swap them in.

This is the local root's only Trio code. It runs for the life of the
resolver and, on the SOA timers that ``LocalRoot.next_check`` computes (or
at once when the operator asks, ``ctl local-root refresh``), tries the
configured sources in order:

* a source with nothing new (file unchanged, same SOA serial) is a
  successful refresh (``LocalRoot.confirm``);
* a new candidate is parsed and verified in a worker thread
  (``rootzone.candidate.load_copy``), so a 2 MB zone never stalls serving,
  and either swapped in (``LocalRoot.install``) or refused with its reason
  (``LocalRoot.reject``); the copy in use keeps serving;
* a candidate already refused (same fingerprint) is not parsed again.

If the worker process cannot be started at all (``WorkerUnavailable``:
after the privilege drop the user cannot read the interpreter's files, or a
module it needs), the local root is unavailable: that is logged once, shown
by ``ctl local-root status``, resolution goes through the root servers, and
only the operator's ``ctl local-root refresh`` tries again.

The first source that yields a copy or confirms the current one ends the
round. A copy saved by a previous run (``zonefile``) is loaded first, with
every check at the current time: its signatures may have expired while
Holdfast was down. Copies from transfers and downloads are saved there.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

import trio
import trio.lowlevel

from dnssec.anchors import TrustAnchors
from dnssec.files import FileRefused, read_text
from rootzone.candidate import LoadPolicy, check_candidate, records_from_text
from rootzone.errors import CandidateRejected, RootZoneError, SourceError
from rootzone.lifecycle import LocalRoot
from rootzone.model import PickledCopy, RootCopy, zone_text
from rootzone.sources import MAX_OCTETS, Fetched, FileSource, Source
from rootzone.zonefile import Record

log = logging.getLogger("holdfast.rootzone")

T = TypeVar("T")
#: Runs CPU-bound work away from the event loop; the drill runs it inline
#: so that simulated time is reproducible.
Offload = Callable[[Callable[[], RootCopy | None]], Awaitable[RootCopy | None]]

#: Added to the worker process's niceness where SCHED_IDLE is missing.
WORKER_NICENESS = 10
#: Fingerprints of refused candidates remembered, so none is parsed twice.
MAX_REFUSED = 64


class WorkerUnavailable(RootZoneError):
    """The worker process that checks candidates cannot be started at all.

    Unlike a worker that dies on one candidate (refused, kind ``worker``),
    this holds for every candidate until the operator fixes the cause.
    """


def idle_pool() -> Executor:
    """One worker process, started fresh (spawn) at idle priority."""
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_lower_priority,
    )


def process_offload(start_pool: Callable[[], Executor] = idle_pool) -> Offload:
    """An ``offload`` that runs each candidate's work in a fresh pool from ``start_pool``.

    The pool is started when a candidate comes, so after the privilege drop
    (``daemon.run``), as the unprivileged user: the zone parser never runs
    as root on data fetched from the network, and a pool started before the
    drop would have to be started again after it anyway (the worker is not
    kept between candidates, and a crashed one is replaced). So the
    failure is handled instead: a pool that cannot start, or whose worker
    dies before it runs anything, raises ``WorkerUnavailable``, which the
    refresh task turns into "local root unavailable", never an exit.
    """

    async def offload(work: Callable[[], RootCopy | None]) -> RootCopy | None:
        pickled = await trio.to_thread.run_sync(
            functools.partial(_run_in_pool, start_pool, work), abandon_on_cancel=True
        )
        return None if pickled is None else await restore_in_parts(pickled)

    return offload


def _run_in_pool(
    start_pool: Callable[[], Executor], work: Callable[[], RootCopy | None]
) -> PickledCopy | None:
    """``work`` in a new pool; a pool that fails before ``work`` starts is ``WorkerUnavailable``.

    A first, empty task proves the worker starts (it can read the
    interpreter and import what it needs as the current user) before the
    candidate goes: a worker that dies on the candidate itself is that
    candidate's refusal (``BrokenProcessPool``, which the caller handles).
    """
    try:
        pool = start_pool()
    except (OSError, ImportError) as error:
        raise _unavailable(error) from error
    with pool:
        try:
            with _interrupts_blocked():
                pool.submit(os.getpid).result()
        except (OSError, ImportError, BrokenProcessPool) as error:
            raise _unavailable(error) from error
        pickled: PickledCopy | None = pool.submit(_in_parts, work).result()
        return pickled


def _unavailable(error: BaseException) -> WorkerUnavailable:
    return WorkerUnavailable(
        f"the local root's worker process cannot start as uid {os.getuid()} "
        f"({type(error).__name__}: {error}); the interpreter and Holdfast's files must be "
        "readable by that user"
    )


@contextlib.contextmanager
def _interrupts_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while it starts the worker, which inherits the mask.

    Ctrl-C reaches the whole process group; the server stops on it, and the
    worker with it, so the worker itself must not print a KeyboardInterrupt
    traceback over the terminal.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


async def restore_in_parts(pickled: PickledCopy) -> RootCopy:
    """Rebuild the copy a part at a time, with the event loop running in between.

    Also how a ``--workers`` worker adopts the copy its supervisor checked
    (``resolver.root_sharing``).
    """
    # Rebuilding allocates some 60,000 objects (the real root): collected
    # as they come, they would set off a full collection halfway, one
    # pause as long as the one the parts avoid. They are long-lived; the
    # collector meets them afterwards, in its young generation, in a few ms.
    steps = pickled.restore()
    collecting = gc.isenabled()
    gc.disable()
    try:
        while True:
            try:
                next(steps)
            except StopIteration as done:
                copy: RootCopy = done.value
                return copy
            await trio.lowlevel.checkpoint()
    finally:
        if collecting:
            gc.enable()


def _in_parts(work: Callable[[], RootCopy | None]) -> PickledCopy | None:
    """``work``, run in the worker process, with its copy pickled in parts."""
    copy = work()
    return None if copy is None else PickledCopy.of(copy)


#: The daemon's ``offload``: each candidate in a fresh worker process at idle priority.
#: Parsing and verifying a 2 MB root zone holds the GIL for 0.3 s, with
#: single C calls of up to 40 ms; in a thread of the serving process that
#: stalls the event loop by as much. A fresh process per candidate (the
#: root changes about twice a day) costs about half a second to start and
#: leaves nothing running between loads. The copy comes back pickled in
#: parts (``PickledCopy``) and is rebuilt a part at a time (``restore_in_parts``).
in_process = process_offload()


def _lower_priority() -> None:
    """Let the kernel run the worker only when the server has nothing to do (SCHED_IDLE).

    Where that scheduling class is missing, a high niceness instead.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(WORKER_NICENESS)


async def in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` in a worker thread (tests: quicker to start than a process)."""
    return await trio.to_thread.run_sync(work)


async def inline(work: Callable[[], T]) -> T:
    """Run ``work`` on the loop: for drills under a simulated clock."""
    return work()


class RootService:
    """Keeps the ``LocalRoot`` supplied with fresh copies from its sources."""

    def __init__(
        self,
        local_root: LocalRoot,
        sources: Sequence[Source],
        *,
        anchors: TrustAnchors,
        policy: LoadPolicy,
        zonefile: Path | None = None,
        offload: Offload = in_process,
    ) -> None:
        self.local_root = local_root
        self.sources = tuple(sources)
        self.anchors = anchors
        self.policy = policy
        self.zonefile = zonefile
        self._offload = offload
        self._refused: dict[str, CandidateRejected] = {}
        #: Fingerprint of each source's last fetch, and those known to be the copy in use.
        self._latest: dict[str, str] = {}
        self._in_use: set[str] = set()
        self._wake = trio.Event()
        self.rounds = 0
        #: Why the worker process cannot start, while it cannot (``WorkerUnavailable``).
        self.unavailable: str | None = None
        #: Candidates fetched, by source name, that no worker could check.
        self._unchecked: dict[str, Fetched] = {}
        #: Called after every round (the saved copy's load, each refresh), whatever
        #: came of it: a ``--workers`` supervisor hands the outcome to its workers.
        self.on_round: Callable[[], object] | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the saved copy, then refresh on the SOA timers until cancelled.

        While the worker process cannot start, no timer fires: the cause is
        logged once, and only ``ctl local-root refresh`` tries again.
        """
        task_status.started()
        try:
            await self.load_saved()
        except WorkerUnavailable as error:
            await self._until_asked(error)
        else:
            self._round_done()
        while True:
            try:
                await self.refresh()
            except WorkerUnavailable as error:
                await self._until_asked(error)
                continue
            self._round_done()
            self.local_root.state()  # logs the stale alarm when it is due
            delay = self.local_root.next_check() - self.local_root.now()
            with trio.move_on_after(max(delay, 0.0)):
                await self._wake.wait()
            self._wake = trio.Event()

    async def _until_asked(self, error: WorkerUnavailable) -> None:
        """Mark the local root unavailable (the root servers are asked) until a refresh request."""
        self.unavailable = str(error)
        self.local_root.attempt_failed()
        self._round_done()
        log.error("local root unavailable, resolving through the root servers: %s; "
                  "fix it, then: holdfast ctl local-root refresh", error,
                  extra={"event": "local_root_unavailable"})
        await self._wake.wait()
        self._wake = trio.Event()
        self.unavailable = None  # tried again now; set again if it still cannot start

    def request_refresh(self) -> None:
        """Wake the task now (``ctl local-root refresh``)."""
        self._wake.set()

    def status(self) -> dict[str, object]:
        """``ctl local-root status``: the holder's view, the sources, why none can be checked."""
        status = self.local_root.status()
        status["sources"] = [source.name for source in self.sources]
        if self.unavailable is not None:
            status["unavailable"] = self.unavailable  # the worker cannot start
        return status

    def _round_done(self) -> None:
        if self.on_round is not None:
            self.on_round()

    async def load_saved(self) -> None:
        """Load the copy a previous run saved, if any, dated by the file's mtime."""
        path = self.zonefile
        if path is None:
            return
        try:
            stat = await trio.to_thread.run_sync(path.stat)
            # A regular file of at most MAX_OCTETS, as from a file source (dnssec.files).
            read = functools.partial(read_text, path, limit=MAX_OCTETS)
            text = await trio.to_thread.run_sync(read)
        except FileNotFoundError:
            return
        except (OSError, FileRefused) as error:
            self.local_root.reject(str(path), "source", f"cannot read the saved copy: {error}")
            return
        source = str(path)
        try:
            parse = functools.partial(records_from_text, text, source=source)
            copy = await self._load(parse, source, len(text.encode()))
        except CandidateRejected as error:
            self.local_root.reject(source, error.kind, f"saved copy {source}: {error}")
            return
        if copy is not None:
            self.local_root.install(copy, refreshed_at=stat.st_mtime)

    async def refresh(self) -> None:
        """One round over the sources, in order, until one has a copy or has nothing newer.

        A source with nothing new since its last fetch confirms the copy in
        use only if that fetch was the copy in use; if it was a refused
        candidate, the refusal stands (without being parsed or logged at
        ERROR again), so the copy goes stale on time. A candidate fetched
        while the worker could not start is kept, and tried at the next round
        even though its source has nothing newer.

        Raises:
            WorkerUnavailable: the worker process cannot start.
        """
        self.rounds += 1
        for source in self.sources:
            try:
                fetched = await source.fetch() or self._unchecked.pop(source.name, None)
            except SourceError as error:
                self.local_root.reject(source.name, "source", str(error))
                continue
            if fetched is not None:
                self._latest[source.name] = fetched.fingerprint
                try:
                    if await self._try(fetched, saves=not isinstance(source, FileSource)):
                        return
                except WorkerUnavailable:
                    self._unchecked[source.name] = fetched
                    raise
                continue
            fingerprint = self._latest.get(source.name)
            if fingerprint in self._in_use and self.local_root.installed is not None:
                self._confirm()
                return
            refused = self._refused.get(fingerprint or "")
            if refused is not None:
                self.local_root.reject(source.name, refused.kind, str(refused), repeat=True)
        self.local_root.attempt_failed()

    async def _try(self, fetched: Fetched, *, saves: bool) -> bool:
        """Load one candidate; True if it is now in use or is the copy in use."""
        if fetched.fingerprint in self._in_use and self.local_root.installed is not None:
            self._confirm()
            return True
        refused = self._refused.get(fetched.fingerprint)
        if refused is not None:
            self.local_root.reject(fetched.source, refused.kind, str(refused), repeat=True)
            return False
        try:
            copy = await self._load(fetched.parse, fetched.source, fetched.size)
        except CandidateRejected as error:
            self._remember(fetched.fingerprint, error)
            self.local_root.reject(fetched.source, error.kind, str(error))
            return False
        if copy is None:  # the serial in use, fetched anew: nothing new
            self._in_use.add(fetched.fingerprint)
            self._confirm()
            return True
        self.local_root.install(copy)
        self._in_use = {fetched.fingerprint}
        if saves and self.zonefile is not None:
            await self._save(copy)
        return True

    def _confirm(self) -> None:
        self.local_root.confirm()
        self._touch_saved()

    async def _load(
        self, parse: Callable[[], list[Record]], source: str, size: int
    ) -> RootCopy | None:
        """Parse and check a candidate off the loop; None if it has the serial in use."""
        current = self.local_root.copy
        work = functools.partial(
            check_candidate,
            parse,
            source=source,
            size=size,
            anchors=self.anchors,
            now=int(self.local_root.now()),
            policy=self.policy,
            current=None if current is None else current.summary(),
        )
        try:
            return await self._offload(work)
        except BrokenProcessPool as error:
            # The worker died (killed, out of memory): the candidate is
            # refused like any other, and the server goes on.
            message = f"the worker checking {source} died: {error}"
            raise CandidateRejected("worker", message) from error

    def _remember(self, fingerprint: str, error: CandidateRejected) -> None:
        if len(self._refused) >= MAX_REFUSED:
            self._refused.pop(next(iter(self._refused)))
        self._refused[fingerprint] = error

    async def _save(self, copy: RootCopy) -> None:
        """Write ``copy`` to the zonefile atomically (temporary file, then rename)."""
        assert self.zonefile is not None
        path = self.zonefile
        # One name per process: a file another process is still writing is never replaced.
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")

        now = self.local_root.now()

        def write() -> None:
            temporary.write_text(zone_text(copy.zone), encoding="utf-8")
            os.utime(temporary, (now, now))
            os.replace(temporary, path)

        try:
            await trio.to_thread.run_sync(write)
        except OSError as error:
            log.error("cannot save the local root copy to %s: %s", path, error)

    def _touch_saved(self) -> None:
        """Date the saved copy by its last successful refresh, for the next start."""
        if self.zonefile is not None and self.zonefile.exists():
            try:
                now = self.local_root.now()
                os.utime(self.zonefile, (now, now))
            except OSError as error:
                log.warning("cannot touch %s: %s", self.zonefile, error)
