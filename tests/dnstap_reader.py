"""A dnstap collector for the tests: Frame Streams on a Unix socket, and a protobuf decoder.

What ``fstrm_capture`` does, small enough to read: it accepts connections
in a thread, answers READY with ACCEPT and STOP with FINISH (the
bidirectional handshake ``resolver/dnstap_output.py`` speaks), and keeps
every data frame. ``decode`` reads protobuf wire format into {field: value}
without the schema, enough to check what ``resolver/dnstap.py`` wrote.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from resolver.dnstap import CONTENT_TYPE, Control

#: Seconds a collector waits for anything before it gives up on a connection.
IDLE_TIMEOUT = 30.0
#: The largest frame accepted: a DNS message and its dnstap fields fit well within.
MAX_FRAME = 1 << 20


def decode(data: bytes) -> dict[int, Any]:
    """A protobuf message as {field: value}; nested messages are left as bytes."""
    fields: dict[int, Any] = {}
    at = 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while at < len(data):
        key = varint()
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            fields[field] = varint()
        elif wire_type == 5:
            fields[field] = struct.unpack_from("<I", data, at)[0]
            at += 4
        else:
            assert wire_type == 2
            size = varint()
            fields[field] = data[at : at + size]
            at += size
    return fields


def message_of(frame: bytes) -> dict[int, Any]:
    """The ``Message`` fields of one ``Dnstap`` frame."""
    outer = decode(frame)
    assert outer[15] == 1  # Dnstap.Type MESSAGE
    return decode(outer[14])


class Collector:
    """Frame Streams reader on ``path``, in a thread; ``frames`` grows as data comes.

    A context manager: the socket is bound on entry (so a writer started
    afterwards finds it), closed and the thread joined on exit. With
    ``hang_up`` it closes each connection right after START, as a collector
    that goes away does.
    """

    def __init__(self, path: Path, *, hang_up: bool = False) -> None:
        self.path = path
        self.frames: list[bytes] = []
        #: Set when a writer sent STOP and got FINISH.
        self.finished = threading.Event()
        self.hang_up = hang_up
        #: Set when it hung up on a writer (``hang_up``).
        self.hung_up = threading.Event()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._closing = False

    def __enter__(self) -> Collector:
        self._listener.bind(str(self.path))
        self._listener.listen(1)
        self._listener.settimeout(0.2)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._closing = True
        self._thread.join(timeout=IDLE_TIMEOUT)
        self._listener.close()

    def messages(self) -> list[dict[int, Any]]:
        return [message_of(frame) for frame in list(self.frames)]

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` frames came."""
        deadline = time.monotonic() + timeout
        while len(self.frames) < count:
            assert time.monotonic() < deadline, f"{len(self.frames)} dnstap frames, not {count}"
            time.sleep(0.02)

    def _accept(self) -> None:
        while not self._closing:
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(IDLE_TIMEOUT)
                self._read(connection)
            if self.hang_up:
                self.hung_up.set()  # closed: the writer's next send fails

    def _read(self, connection: socket.socket) -> None:
        while True:
            head = _exactly(connection, 4)
            if head is None:
                return
            (length,) = struct.unpack(">I", head)
            if length:
                assert length <= MAX_FRAME, f"a {length}-byte frame"
                frame = _exactly(connection, length)
                assert frame is not None, "closed in a frame"
                self.frames.append(frame)
                continue
            size = _exactly(connection, 4)
            assert size is not None, "closed in a control frame"
            body = _exactly(connection, min(struct.unpack(">I", size)[0], 512))
            assert body is not None, "closed in a control frame"
            kind = struct.unpack_from(">I", body)[0]
            if kind == Control.READY:
                assert CONTENT_TYPE in body
                accept = struct.pack(">III", Control.ACCEPT, 1, len(CONTENT_TYPE)) + CONTENT_TYPE
                connection.sendall(struct.pack(">II", 0, len(accept)) + accept)
            elif kind == Control.START and self.hang_up:
                return
            elif kind == Control.STOP:
                connection.sendall(struct.pack(">III", 0, 4, Control.FINISH))
                self.finished.set()
                return


def _exactly(connection: socket.socket, size: int) -> bytes | None:
    """``size`` bytes, or None if the writer closed before the first."""
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            assert not data, "closed in the middle of a frame"
            return None
        data += chunk
    return data
