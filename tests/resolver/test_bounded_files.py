"""Files an operator names are read only if regular, and only up to a cap (``dnssec.files``).

Issue 16: a reload through a symlink to /dev/zero read until the OOM killer
came at 23.6 GB, and a FIFO blocked the open itself, freezing DNS and the
control socket. Run under ``prlimit --as=3G`` when trying changes here.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import trio

from dnssec.anchors import TrustAnchors
from dnssec.files import MAX_RECORD_FILE_BYTES, FileRefused, read_bytes, read_text
from rootzone.hints import RootHints


def test_a_regular_file_is_read() -> None:
    assert read_bytes(__file__, limit=1 << 20).startswith(b'"""Files an operator')


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match=r"fifo: a FIFO, not a regular file"):
        read_bytes(fifo, limit=10)


def test_dev_zero_behind_a_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "zone"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match=r"zone: a character device, not a regular file"):
        read_bytes(link, limit=10)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match="a directory, not a regular file"):
        read_bytes(tmp_path, limit=10)


def test_the_cap_holds_on_the_bytes_read_not_on_the_size_claimed() -> None:
    # procfs files are regular and claim a size of 0.
    assert os.stat("/proc/self/maps").st_size == 0
    with pytest.raises(FileRefused, match="larger than the limit of 10 bytes"):
        read_bytes("/proc/self/maps", limit=10)


def test_a_file_at_the_cap_is_read_one_byte_more_is_not(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert len(read_bytes(path, limit=100)) == 100
    with pytest.raises(FileRefused, match="larger than the limit of 99 bytes"):
        read_bytes(path, limit=99)


def test_missing_and_non_utf8_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match=r"absent: cannot read: No such file"):
        read_text(tmp_path / "absent", limit=10)
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    with pytest.raises(FileRefused, match=r"latin1: not UTF-8 text at byte 3"):
        read_text(tmp_path / "latin1", limit=10)


def test_the_refusal_survives_pickling() -> None:
    refused = pickle.loads(pickle.dumps(FileRefused("/etc/x", "a FIFO")))
    assert (str(refused), refused.path, refused.reason) == ("/etc/x: a FIFO", "/etc/x", "a FIFO")


@pytest.mark.parametrize("kind", [TrustAnchors, RootHints], ids=["anchors", "hints"])
def test_anchor_and_hints_files_are_bounded(
    tmp_path: Path, kind: type[TrustAnchors] | type[RootHints]
) -> None:
    big = tmp_path / "big"
    big.write_text("; padding\n" * (MAX_RECORD_FILE_BYTES // 10 + 1))
    with pytest.raises(FileRefused, match=f"big: larger than the limit of {MAX_RECORD_FILE_BYTES}"):
        kind.from_file(big)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match="a FIFO"):
        kind.from_file(fifo)


async def test_a_fifo_does_not_block_a_thread_either(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with trio.fail_after(5), pytest.raises(FileRefused):
        await trio.to_thread.run_sync(lambda: read_bytes(fifo, limit=10))
