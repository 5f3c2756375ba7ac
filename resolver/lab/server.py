"""The lab on real sockets: UDP and TCP on every lab address, and its files.

``serve_lab`` is what ``holdfast lab`` runs: it binds 127.53.x.y:port for
each lab server, answers through ``Lab.handle`` (UDP replies are sent from
their own task so a delayed reply never holds up others; TCP takes
length-prefixed queries, several per connection, AXFR included), publishes
the files a resolver needs to use the lab (``root.hints``,
``trust-anchor.ds``, ``root.zone``, ``lab.json``) and serves the control
socket ``lab.sock`` (see ``control.py``).
"""

from __future__ import annotations

import contextlib
import socket
from functools import partial
from pathlib import Path

import trio

from resolver.control import serve_control
from resolver.framing import frame, read_frames
from resolver.lab.control import SOCKET_NAME, apply_request
from resolver.lab.lab import TCP_LIMIT, Lab
from resolver.server import BindError


async def serve_lab(
    lab: Lab,
    *,
    directory: Path,
    port: int = 53,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``lab`` until cancelled; ``task_status.started()`` once ready.

    Raises:
        BindError: an address could not be bound (e.g. port in use, no
            privilege for a port below 1024, or 127.53/16 not local).
        OSError: ``directory`` is not writable.
    """
    control_path = directory / SOCKET_NAME
    async with trio.open_nursery() as nursery:
        for server in lab.servers:
            udp = await _bind(socket.SOCK_DGRAM, (server.address, port))
            nursery.start_soon(_serve_udp, lab, server.address, udp)
            tcp = await _bind(socket.SOCK_STREAM, (server.address, port))
            nursery.start_soon(
                partial(trio.serve_listeners, partial(_serve_tcp, lab, server.address)),
                [trio.SocketListener(tcp)],
            )
        await _publish(lab, directory)
        await nursery.start(serve_control, control_path, partial(apply_request, lab))
        task_status.started()


async def _bind(kind: int, address: tuple[str, int]) -> trio.socket.SocketType:
    """A socket bound to ``address`` (listening, if a stream socket).

    Raises:
        BindError: naming the protocol, the address and the system's reason
            (the original ``OSError`` is its cause, for the errno).
    """
    sock = trio.socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen(64)
    except OSError as error:
        sock.close()
        protocol = "TCP" if kind == socket.SOCK_STREAM else "UDP"
        raise BindError(f"the lab cannot listen on {protocol} {address[0]}:{address[1]}: "
                        f"{error.strerror}") from error
    except BaseException:
        sock.close()
        raise
    return sock


async def _publish(lab: Lab, directory: Path) -> None:
    """Write the files a resolver needs to use the lab."""
    await trio.Path(directory).mkdir(parents=True, exist_ok=True)
    files = {
        "root.hints": lab.root_hints_text(),
        "trust-anchor.ds": lab.trust_anchor_text(),
        "root.zone": lab.root_zone_text(),
        "lab.json": lab.lab_json_text(),
    }
    for name, text in files.items():
        await trio.Path(directory / name).write_text(text)


async def _serve_udp(lab: Lab, address: str, sock: trio.socket.SocketType) -> None:
    with sock:
        async with trio.open_nursery() as replies:
            while True:
                wire, peer = await sock.recvfrom(TCP_LIMIT)
                replies.start_soon(_reply_udp, lab, address, sock, wire, peer)


async def _reply_udp(
    lab: Lab, address: str, sock: trio.socket.SocketType, wire: bytes, peer: tuple[object, ...]
) -> None:
    reply = lab.handle(address, wire, tcp=False)
    if reply.wire is None:
        return
    await trio.sleep(reply.delay)
    try:
        await sock.sendto(reply.wire, peer)
    except OSError:
        return  # the client went away; UDP has nobody to tell


async def _serve_tcp(lab: Lab, address: str, stream: trio.SocketStream) -> None:
    """Answer length-prefixed queries until the client closes (RFC 7766)."""
    async with stream:
        try:
            async with contextlib.aclosing(read_frames(stream)) as frames:
                async for wire in frames:
                    reply = lab.handle(address, wire, tcp=True)
                    if reply.wire is None:
                        return
                    await trio.sleep(reply.delay)
                    await stream.send_all(frame(reply.wire))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
