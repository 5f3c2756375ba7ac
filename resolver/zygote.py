"""``--workers``: workers forked from one preloaded process, not started afresh.

A worker exec'd fresh (``python -m resolver worker``) imports the whole
resolver and builds the same start-up heap as every other: 4 workers took
4.6 times the PSS of one process (bench/results/shared-cache-2026-12.md),
most of it identical code and data. Python servers answer this by loading
once and forking (gunicorn's ``--preload``; Android's zygote, which gave
the pattern its name): ``workers.serve`` forks one **zygote** before the
supervisor's Trio loop runs, a copy of the process with every module
imported, what the libraries load on first use loaded (``preload``), and
the start-up heap frozen (``heap.freeze_startup_heap``:
``gc.freeze`` keeps the collector from writing to those objects, so their
pages stay shared copy-on-write; it was added to CPython for this use).

* The zygote never runs a Trio loop, and nothing is forked from a process
  that does: a running loop's wakeup descriptors, threads and signal state
  would be copied into the child half-alive.
* It drops privileges at once (``[server] user``), leaves the terminal's
  session (as ``start_new_session`` did for exec'd workers), and then waits
  on a socket pair for the supervisor. A request carries a worker's control
  channel and socket set (SCM_RIGHTS) and the numbers those descriptors
  have in the supervisor, which its start message names; the zygote forks,
  and the child runs ``workers.worker_main`` exactly as ``holdfast worker``
  would (it reads its start message, builds its resolver, serves), with
  each number mapped to the descriptor it received. The zygote reports the
  child's pid, and later its exit status, which only the parent can reap.
* The supervisor watches a forked worker through a pidfd (``ForkedWorker``):
  its exit, and signals with no race against a reused pid, as ``trio``
  watches its own children. ``run_forked`` cancels as ``trio.run_process``
  does: SIGTERM, then SIGKILL after ``KILL_AFTER`` seconds.
* Restart, the heartbeat's SIGKILL and the socket hand-over are the
  supervisor's, unchanged. If the zygote cannot be forked or dies, workers
  are exec'd as before (``ZygoteGone``), and that is logged.
"""

from __future__ import annotations

import array
import contextlib
import functools
import logging
import os
import select
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any, NoReturn

import trio
import trio.lowlevel

from resolver.errors import HoldfastError
from resolver.heap import freeze_startup_heap
from resolver.preload import preload
from resolver.privileges import drop_privileges

log = logging.getLogger("holdfast.workers")

#: Seconds a cancelled worker gets between SIGTERM and SIGKILL (``trio.run_process``'s).
KILL_AFTER = 5.0
#: Seconds the zygote sleeps at most between looks for exited children.
_REAP_INTERVAL = 0.1
#: Descriptors one request may carry: a channel and a worker's sockets.
MAX_FDS = 253
#: Bytes of a request: ``fork`` and the supervisor's number of each descriptor.
_REQUEST_BYTES = 8 * (MAX_FDS + 1)
#: Seconds to wait for the exit status of a worker whose pidfd said it ended.
_STATUS_WAIT = 2.0

#: The signals that stop a process, with what a fresh Python does on each.
_STOPPING: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int] = {
    signal.SIGTERM: signal.SIG_DFL,
    signal.SIGINT: signal.default_int_handler,
    signal.SIGHUP: signal.SIG_DFL,
}

#: A forked worker's body: ``worker_main(channel_fd, fds)``, ``fds`` mapping the
#: supervisor's descriptor numbers to the child's.
RunWorker = Callable[[int, Mapping[int, int]], None]


class ZygoteRefused(HoldfastError):
    """A zygote was asked for where none may be forked (a Trio loop runs here)."""


class ZygoteGone(HoldfastError):
    """The zygote is not there (never started, or exited): exec the worker instead."""


# --- The zygote process ------------------------------------------------------------------


def start_zygote(user: str, run_worker: RunWorker, *, redis: bool = False) -> Zygote | None:
    """Fork the zygote now (no Trio loop may be running); None if it cannot be forked.

    ``run_worker`` is what each forked child runs; ``redis``: the workers
    will use a Redis tier (``load_before_fork``).

    Raises:
        ZygoteRefused: a Trio loop runs in this process.
    """
    if trio.lowlevel.in_trio_run():
        raise ZygoteRefused("the zygote must be forked before any Trio loop runs: a child "
                            "would inherit the loop's wakeup descriptors and signal state")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    load_before_fork(redis=redis)
    try:
        pid = os.fork()
    except OSError as error:
        log.warning("workers are started afresh: the zygote cannot be forked: %s", error)
        ours.close()
        theirs.close()
        return None
    if pid == 0:
        ours.close()
        _exit_with(functools.partial(_zygote, theirs, user, run_worker))
    theirs.close()
    return Zygote(ours, pid)


def load_before_fork(*, redis: bool) -> None:
    """Load what every worker would load on first use, then freeze the heap for sharing.

    ``preload`` (the libraries' parts loaded lazily) first, so that what it
    loads is frozen too; the freeze before the fork, so that the supervisor,
    the zygote and every worker share these pages.
    """
    preload(redis=redis)
    freeze_startup_heap()


def _exit_with(body: Callable[[], None]) -> NoReturn:
    """Run ``body`` in a forked child and leave with its outcome, never back into the caller."""
    code = 0
    try:
        body()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        # What a normal interpreter exit does and ``os._exit`` skips: the
        # log handlers (a query log file among them) flushed and closed.
        with contextlib.suppress(Exception):
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(code)


def _zygote(sock: socket.socket, user: str, run_worker: RunWorker) -> None:
    """The zygote's loop: fork a worker per request, report pids and exits, until EOF."""
    os.setsid()  # a terminal's Ctrl-C reaches the supervisor only
    # Its life is the supervisor's socket: a SIGTERM to the whole group
    # (systemd's KillMode=control-group) must not end it before the workers.
    for signum in _STOPPING:
        signal.signal(signum, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    drop_privileges(user)
    while True:
        readable, _, _ = select.select([sock], [], [], _REAP_INTERVAL)
        _report_exits(sock)
        if not readable:
            continue
        data, fds = _receive_fds(sock)
        if not data:
            return  # the supervisor is gone; its workers stop when their channels close
        numbers = [int(word) for word in data.split()[1:]]
        try:
            pid = os.fork() if fds and len(numbers) == len(fds) else -1
        except OSError:
            pid = -1
        if pid == 0:
            sock.close()
            for signum, handler in _STOPPING.items():  # a worker stops on them, as when exec'd
                signal.signal(signum, handler)
            _exit_with(functools.partial(run_worker, fds[0], dict(zip(numbers, fds, strict=True))))
        for fd in fds:
            os.close(fd)
        sock.send(b"forked %d" % pid)


def _receive_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    data, ancillary, _, _ = sock.recvmsg(_REQUEST_BYTES, socket.CMSG_SPACE(MAX_FDS * 4))
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def _report_exits(sock: socket.socket) -> None:
    """Reap every child that ended and tell the supervisor (status as ``trio.Process``'s)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        with contextlib.suppress(OSError):
            sock.send(b"exited %d %d" % (pid, os.waitstatus_to_exitcode(status)))


# --- The supervisor's side -----------------------------------------------------------------


class Zygote:
    """The supervisor's handle on its zygote: fork workers, learn how they ended."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.pid = pid
        self._stdlib_socket = sock
        self._sock: trio.socket.SocketType | None = None
        self._lock = trio.Lock()
        self._forked: trio.MemorySendChannel[int] | None = None
        self._replies: trio.MemoryReceiveChannel[int] | None = None
        #: Exit statuses reported and not yet collected, and who waits for them.
        self._statuses: dict[int, int] = {}
        self._reported: dict[int, trio.Event] = {}
        self.gone = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read the zygote's reports until it exits (then workers are exec'd instead)."""
        self._sock = trio.socket.from_stdlib_socket(self._stdlib_socket)
        self._forked, self._replies = trio.open_memory_channel[int](1)
        task_status.started()
        try:
            while data := await self._sock.recv(64):
                kind, *numbers = data.split()
                if kind == b"forked":
                    await self._forked.send(int(numbers[0]))
                elif kind == b"exited":
                    pid, status = int(numbers[0]), int(numbers[1])
                    self._statuses[pid] = status
                    self._reported.setdefault(pid, trio.Event()).set()
        except OSError:
            pass
        self.gone = True
        self._forked.close()
        for event in self._reported.values():
            event.set()
        log.error("the zygote (pid %d) exited: workers are started afresh from now on",
                  self.pid, extra={"event": "zygote_gone", "pid": self.pid})
        await trio.to_thread.run_sync(_reap, self.pid)

    async def fork(self, fds: Sequence[int]) -> ForkedWorker:
        """A worker forked with ``fds`` (its channel first), as the supervisor's to watch.

        Raises:
            ZygoteGone: the zygote is not there, or could not fork.
        """
        if self.gone or self._sock is None or self._replies is None:
            raise ZygoteGone("no zygote")
        async with self._lock:
            try:
                await self._sock.sendmsg(
                    [b" ".join([b"fork", *(b"%d" % fd for fd in fds)])],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
                pid = await self._replies.receive()
            except (OSError, trio.EndOfChannel) as error:
                raise ZygoteGone(f"the zygote is gone: {error}") from error
        if pid < 0:
            raise ZygoteGone("the zygote could not fork")
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            pidfd = None  # already ended and reaped: its status is on the way
        return ForkedWorker(self, pid, pidfd)

    async def status_of(self, pid: int) -> int | None:
        """The exit status the zygote reports for ``pid`` (None: it cannot any more)."""
        event = self._reported.setdefault(pid, trio.Event())
        with trio.move_on_after(_STATUS_WAIT):
            await event.wait()
        self._reported.pop(pid, None)
        return self._statuses.pop(pid, None)

    def close(self) -> None:
        """Tell the zygote to exit (end of its socket) and reap it."""
        self._stdlib_socket.close()
        _reap(self.pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class ForkedWorker:
    """A worker the zygote forked, as ``trio.Process`` is for an exec'd one: pid, wait, kill."""

    def __init__(self, zygote: Zygote, pid: int, pidfd: int | None) -> None:
        self.pid = pid
        self._zygote = zygote
        self._pidfd = pidfd
        #: Several tasks may wait (``run_forked`` and the supervisor's watch),
        #: and only one task may wait on a descriptor: they take turns.
        self._waiting = trio.Lock()
        self.ended = False
        #: Its exit status once ended (negative: the signal that killed it);
        #: None if the zygote could not tell (it is gone).
        self.returncode: int | None = None

    async def wait(self) -> int | None:
        """Wait until it ends; its ``returncode``."""
        async with self._waiting:
            if not self.ended:
                if self._pidfd is not None:
                    await trio.lowlevel.wait_readable(self._pidfd)
                    os.close(self._pidfd)
                    self._pidfd = None
                self.returncode = await self._zygote.status_of(self.pid)
                self.ended = True
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self._pidfd is not None:  # closed once it ended: never a reused pid
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


async def run_forked(
    zygote: Zygote, fds: Sequence[int], *, task_status: trio.TaskStatus[ForkedWorker]
) -> None:
    """Fork a worker and wait for it to end; cancelled: SIGTERM, then SIGKILL after ``KILL_AFTER``.

    Raises:
        ZygoteGone: it could not be forked (before ``task_status.started``).
    """
    worker = await zygote.fork(fds)
    task_status.started(worker)
    try:
        await worker.wait()
    finally:
        if not worker.ended:
            worker.terminate()
            with trio.CancelScope(shield=True):
                with trio.move_on_after(KILL_AFTER):
                    await worker.wait()
                if not worker.ended:
                    worker.kill()
                    await worker.wait()
