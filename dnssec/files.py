"""Reading a file an operator names, bounded: regular files only, and only so many bytes.

Why: every file Holdfast reads is named by a configuration or a flag (the
configuration itself, trust anchors, root hints, local-root copies), and a
name can point anywhere. A reload through a symlink to ``/dev/zero`` once
read until the kernel killed the process at 23.6 GB; a FIFO blocked the
``open`` itself, freezing DNS and the control socket with it. So a file is

* opened with ``O_NONBLOCK`` (opening a FIFO or a device then returns at
  once instead of waiting for a writer or a carrier) and ``O_NOCTTY``;
* checked with ``fstat`` on the opened descriptor, not ``stat`` on the name,
  so what is checked is what is read (no race with a rename or a symlink
  swapped in between): anything but a regular file is refused, naming what
  it is;
* read to at most ``limit + 1`` bytes, and refused if the extra byte came:
  the cap holds on the bytes actually read, whatever ``st_size`` claims
  (procfs and sysfs files say 0, a file may grow while it is read).

Callers in async code run these functions with ``trio.to_thread.run_sync``:
a regular file on a slow or hung disk must not stall the event loop either.

It lives in ``dnssec``, the bottom layer, because ``dnssec.anchors``,
``rootzone`` and ``resolver`` all read such files (``tests/test_layering``).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from dnssec.errors import HoldfastError

#: Trust anchor and root hints files: a few DS/DNSKEY or NS/A/AAAA records,
#: a few kilobytes at most (the IANA hints are 3 KB).
MAX_RECORD_FILE_BYTES = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(HoldfastError):
    """A named file was not read: missing, unreadable, not a regular file, or too large.

    The message is ``PATH: reason``; ``reason`` alone is there for callers
    that name the file their own way.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[FileRefused], tuple[str, str]]:
        # It may cross a process boundary (the local root's worker); keep both arguments.
        return (type(self), (self.path, self.reason))


@contextlib.contextmanager
def open_regular(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """``path`` opened for reading, if it is a regular file (checked on the open descriptor).

    Raises:
        FileRefused: it cannot be opened, or it is not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        raise FileRefused(path, f"cannot read: {error.strerror or error}") from error
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a file")
            raise FileRefused(path, f"{kind}, not a regular file; refusing to read it")
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        yield file


def read_capped(file: BinaryIO, path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit`` bytes of an open ``file``; more than that refuses it.

    Raises:
        FileRefused: the file holds more than ``limit`` bytes, or a read failed.
    """
    try:
        data = file.read(limit + 1)
    except OSError as error:
        raise FileRefused(path, f"cannot read: {error.strerror or error}") from error
    if len(data) > limit:
        raise FileRefused(path, f"larger than the limit of {limit} bytes; refusing it")
    return data


def read_bytes(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes.

    Raises:
        FileRefused: see ``open_regular`` and ``read_capped``.
    """
    with open_regular(path) as file:
        return read_capped(file, path, limit)


def read_text(path: str | os.PathLike[str], *, limit: int) -> str:
    """``read_bytes`` decoded as UTF-8.

    Raises:
        FileRefused: see ``read_bytes``, or the bytes are not UTF-8.
    """
    data = read_bytes(path, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileRefused(path, f"not UTF-8 text at byte {error.start}") from error
