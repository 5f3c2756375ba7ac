"""Upstream TCP connections kept open after a reply, for the next query to the server.

Why: opening a TCP connection costs the server a handshake and a socket per
query; RFC 7766 (section 6.2.1) asks clients to reuse connections instead,
and both peers do: Unbound keeps an outgoing connection open for reuse for
``tcp-reuse-timeout`` (60 s) and up to ``max-reuse-tcp-queries`` (200)
queries; Knot Resolver keeps its outgoing TCP connections open between
queries too. A resolver that closes at once also trips servers that treat
the close as an error (Deckard's scenario server stops answering after a
client closes its TCP connection: the black-lies scenarios, whose bogus
UDP replies Holdfast re-asks over TCP).

What is kept: at most ``MAX_IDLE`` connections, one per server address, each
for ``IDLE_TIMEOUT`` seconds and ``MAX_QUERIES`` queries; only a connection
whose last exchange ended with its matching reply and nothing left unread,
so the next query starts on a clean stream. A kept connection is used by
one query at a time (no pipelining). The server may close it meanwhile: the
transport then asks once more on a fresh connection. Nothing else changes
for security: TCP replies cannot be raced off-path, and every reply still
passes the transport's ``ReplyFilter``.

Each idle connection is watched by a Trio system task that closes it when
its time is up, or when the run ends.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import trio

from resolver.framing import frame, take_frames

#: Seconds an idle connection is kept (Unbound ``tcp-reuse-timeout``: 60 s).
IDLE_TIMEOUT = 60.0
#: Queries one connection carries before it is closed (Unbound ``max-reuse-tcp-queries``).
MAX_QUERIES = 200
#: Idle connections kept in all; the least recently used is closed first.
MAX_IDLE = 32

_RECEIVE_SIZE = 65536

Server = tuple[str, int]


class TcpConnection:
    """One TCP stream to a server, with the RFC 1035 4.2.2 framing read off it."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.queries = 0
        self._buffer = bytearray()
        self._messages: collections.deque[bytes] = collections.deque()
        #: Set when the pool hands the connection out again (or drops it).
        self.taken = trio.Event()

    async def send(self, wire: bytes) -> None:
        """Send one message."""
        self.queries += 1
        await self.stream.send_all(frame(wire))

    async def receive(self) -> bytes | None:
        """The next message, or None once the server has closed the connection."""
        while not self._messages:
            data = await self.stream.receive_some(_RECEIVE_SIZE)
            if not data:
                return None
            self._buffer += data
            self._messages.extend(take_frames(self._buffer))
        return self._messages.popleft()

    @property
    def clean(self) -> bool:
        """Whether nothing is left unread: the next query can start on it."""
        return not self._buffer and not self._messages

    def close(self) -> None:
        """Close the socket now (synchronous: callable from a ``finally``)."""
        self.stream.socket.close()


class IdleConnections:
    """The kept connections, by server, least recently used first."""

    def __init__(
        self,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_idle: int = MAX_IDLE,
        spawn: Callable[..., object] = trio.lowlevel.spawn_system_task,
    ) -> None:
        self._idle_timeout = idle_timeout
        self._max_idle = max_idle
        self._spawn = spawn
        self._idle: collections.OrderedDict[Server, TcpConnection] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._idle)

    def take(self, server: Server) -> TcpConnection | None:
        """The idle connection to ``server``, now in the caller's hands, if one is kept."""
        connection = self._idle.pop(server, None)
        if connection is not None:
            connection.taken.set()
        return connection

    def keep(self, server: Server, connection: TcpConnection) -> None:
        """Keep ``connection`` for the next query to ``server``, or close it if it
        cannot be reused (unread data, its query allowance spent)."""
        if not connection.clean or connection.queries >= MAX_QUERIES:
            connection.close()
            return
        previous = self.take(server)
        if previous is not None:
            previous.close()
        connection.taken = trio.Event()
        self._idle[server] = connection
        while len(self._idle) > self._max_idle:
            _, oldest = self._idle.popitem(last=False)
            oldest.taken.set()
            oldest.close()
        self._spawn(self._watch, server, connection)

    async def _watch(self, server: Server, connection: TcpConnection) -> None:
        """Close ``connection`` after ``idle_timeout`` unless it was taken; at the end
        of the run (this system task is cancelled) close it too."""
        try:
            with trio.move_on_after(self._idle_timeout):
                await connection.taken.wait()
        finally:
            if not connection.taken.is_set():
                if self._idle.get(server) is connection:
                    del self._idle[server]
                connection.close()
