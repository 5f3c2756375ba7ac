"""The zygote's rules that need no worker: where it may be forked, how it reports.

``tests/scenarios/test_workers_zygote.py`` runs the real supervisor, zygote
and workers.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import pytest

from resolver.zygote import ZygoteRefused, _receive_fds, start_zygote


def never(channel_fd: int, fds: Mapping[int, int]) -> None:
    raise AssertionError("no worker is forked here")


async def test_no_zygote_is_forked_from_a_process_that_runs_a_trio_loop() -> None:
    with pytest.raises(ZygoteRefused, match="before any Trio loop runs"):
        start_zygote("", never)


def test_a_request_brings_its_descriptors_and_the_supervisors_numbers() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    read, write = os.pipe()
    with ours, theirs:
        socket.send_fds(ours, [b"fork 41"], [write])
        data, fds = _receive_fds(theirs)
    os.close(write)
    assert data == b"fork 41"
    assert len(fds) == 1
    os.write(fds[0], b"x")  # the same pipe, under the number this process gave it
    assert os.read(read, 1) == b"x"
    os.close(fds[0])
    os.close(read)
