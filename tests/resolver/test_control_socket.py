"""The control socket is never taken from a live server, nor deleted from under one (issue 15)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio

from resolver.control import ControlSocketTaken, request, serve_control


def answer(message: dict[str, object]) -> str:
    return "pong"


async def test_a_live_server_s_socket_is_refused_and_keeps_answering(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_control, path, answer)
        with pytest.raises(ControlSocketTaken, match="another server answers"):
            await serve_control(path, answer)
        assert await trio.to_thread.run_sync(request, path, {"command": ["status"]}) == "pong"
        nursery.cancel_scope.cancel()
    assert not path.exists()


async def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))  # bound, never listening: what a killed server leaves
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_control, path, answer)
        assert await trio.to_thread.run_sync(request, path, {"command": ["status"]}) == "pong"
        nursery.cancel_scope.cancel()


async def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("an operator's file")
    with pytest.raises(ControlSocketTaken, match="not a socket"):
        await serve_control(path, answer)
    assert path.read_text() == "an operator's file"


async def test_on_exit_only_the_socket_we_bound_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_control, path, answer)
        path.unlink()  # someone else's server now has the path
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(str(path))
        other.listen(1)
        nursery.cancel_scope.cancel()
    try:
        assert path.exists(), "the other server's socket was deleted"
    finally:
        other.close()

