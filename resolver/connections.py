"""Client stream connections: the listener, the pool, the idle timer and the sender.

One copy for every stream transport clients use: plain TCP (``server.py``)
and DNS over TLS and HTTPS (``encrypted.py``). Their connections obey the
same rules, so they share the code that enforces them:

* a client is an IPv4 address or an IPv6 /64 (``client_key``): one
  subscriber's usual allocation (RFC 6177), so a client cannot dodge its
  per-client cap by cycling through the addresses of its prefix;
* connections form a pool (``ConnectionPool``) capped in total and per
  client. When a cap is reached, the connection idle longest gives way to
  the new one, and only when none is idle is the new one refused (RFC 7766
  section 6.2.3: a server under resource pressure closes idle connections,
  the least recently used first; Unbound incoming-num-tcp and
  tcp-connection-limit). Idle connections so cannot shut anyone out;
* a connection with no query in flight is closed ``idle_timeout`` after
  its last answer (``PooledConnection``): bytes that trickle in do not
  count, so a slowloris that never completes a query is cut off like an
  idle client;
* a client that stops reading its responses loses the connection after the
  same timeout (``Sender``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import trio

from resolver.errors import ConfigError

logger = logging.getLogger("holdfast.server")

Endpoint = tuple[str, int]

_TCP_BACKLOG = 128
#: Pause after accept() fails (e.g. out of file descriptors) before retrying.
_ACCEPT_BACKOFF = 0.1


class BindError(ConfigError):
    """A listen endpoint could not be bound; the message names it."""


def client_key(address: str) -> str:
    """Whose connection this is, for the per-client caps: the IPv4 address, or the IPv6 /64."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def show(endpoint: Endpoint) -> str:
    """``endpoint`` as an operator writes it: ``1.2.3.4:53``, ``[::1]:53``."""
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tcp_listener(
    family: socket.AddressFamily, endpoint: Endpoint, reuse_port: bool
) -> socket.socket:
    """A non-blocking TCP socket listening on ``endpoint``.

    ``reuse_port`` sets SO_REUSEPORT, for ``--workers`` (``server.bind_all``).

    Raises:
        OSError: it cannot be bound.
    """
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        sock.bind(endpoint)
        sock.listen(_TCP_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def bind_stream(endpoint: Endpoint, sockets: contextlib.ExitStack, reuse_port: bool
                ) -> tuple[Endpoint, socket.socket]:
    """A TCP listening socket on ``endpoint`` (port 0: any free one), closed with ``sockets``.

    Raises:
        BindError: not an address literal, or it cannot be bound.
    """
    host, _ = endpoint
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError as error:
        raise BindError(f"listen address {host!r} is not an IP address literal") from error
    try:
        sock = tcp_listener(family, endpoint, reuse_port)
    except OSError as error:
        raise BindError(f"cannot listen on TCP {show(endpoint)}: {error.strerror}") from error
    sockets.callback(sock.close)
    return (host, int(sock.getsockname()[1])), sock


async def accept_clients(
    listener: trio.SocketListener, what: str, take: Callable[[trio.SocketStream, str], bool]
) -> None:
    """Accept connections for ever; ``take(stream, client)`` False closes the stream at once.

    ``what`` names the listener in the log ("TCP", "dot", "doh").
    """
    while True:
        try:
            stream = await listener.accept()
        except OSError as error:
            logger.warning("%s accept failed: %s", what, error)
            await trio.sleep(_ACCEPT_BACKOFF)
            continue
        try:
            client = str(stream.socket.getpeername()[0])
        except OSError:  # reset before we got to it
            await trio.aclose_forcefully(stream)
            continue
        if not take(stream, client):
            await trio.aclose_forcefully(stream)


class PooledConnection:
    """A client connection in a pool: its client, its queries in flight, its idle timer.

    ``reading`` is the cancel scope its reader runs under: its deadline is
    the idle timeout while no query is in flight, and cancelling it
    (eviction, shutdown) stops the reading; queries already read are still
    answered.
    """

    def __init__(self, client: str, idle_timeout: float) -> None:
        self.client = client
        self.key = client_key(client)
        self.reading = trio.CancelScope(deadline=trio.current_time() + idle_timeout)
        self._idle_timeout = idle_timeout
        self._in_flight = 0
        #: Trio time since when no query has been in flight; None while one is.
        self.idle_since: float | None = trio.current_time()

    def stop_reading(self) -> None:
        """Read no more queries (shutdown, eviction); those read are still answered."""
        self.reading.cancel()

    def busy(self) -> None:
        """A query went in flight: no idle timeout until it is answered."""
        self._in_flight += 1
        self.idle_since = None
        self.reading.deadline = math.inf

    def done(self) -> None:
        """A query in flight was answered; the idle timer starts when it was the last."""
        self._in_flight -= 1
        self.answered()

    def answered(self) -> None:
        """An answer went out: with nothing in flight, the idle timer starts over."""
        if not self._in_flight:
            self.idle_since = trio.current_time()
            self.reading.deadline = self.idle_since + self._idle_timeout


Pooled = TypeVar("Pooled", bound=PooledConnection)


class ConnectionPool(Generic[Pooled]):
    """Every connection admitted and not yet closed, capped in total and per client."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self._connections: set[Pooled] = set()
        self._per_client: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._connections)

    def __iter__(self) -> Iterator[Pooled]:
        return iter(list(self._connections))

    def admit(self, connection: Pooled) -> int | None:
        """Add ``connection``, evicting an idle one if a cap is reached.

        Returns how many connections were evicted for it (0 or 1), or None:
        refused, a cap is reached and none is idle.
        """
        evicted = 0
        if self._per_client[connection.key] >= self.per_client:
            if not self._evict(connection.key):
                return None
            evicted += 1
        if len(self._connections) >= self.total:
            if not self._evict(None):
                return None
            evicted += 1
        self._connections.add(connection)
        self._per_client[connection.key] += 1
        return evicted

    def leave(self, connection: Pooled) -> bool:
        """Take ``connection`` out (it closed); False if it was out already (evicted)."""
        if connection not in self._connections:
            return False
        self._connections.discard(connection)
        self._per_client[connection.key] -= 1
        if not self._per_client[connection.key]:
            del self._per_client[connection.key]
        return True

    def _evict(self, key: str | None) -> bool:
        """Close the connection idle longest (of client ``key``, or any); False if none is idle."""
        idle = [c for c in self._connections
                if c.idle_since is not None and key in (None, c.key)]
        if not idle:
            return False
        victim = min(idle, key=_idle_since)
        self.leave(victim)
        victim.stop_reading()
        return True


def _idle_since(connection: PooledConnection) -> float:
    return math.inf if connection.idle_since is None else connection.idle_since


class GracefulStop:
    """How a server that holds a ``ConnectionPool`` stops (``DnsServer``, ``EncryptedServer``).

    ``shutdown(grace)`` asks. ``serve`` runs inside ``serving()``, awaits
    ``until_requested`` in its intake nursery (which it cancels: no new
    datagram or connection is taken), then ``drain``s: every pooled
    connection stops reading, and the queries already read get ``grace``
    seconds. ``shutdown`` returns once ``serve`` has ended.
    """

    def __init__(self) -> None:
        self._grace = 0.0
        self._requested = trio.Event()
        self._done = trio.Event()
        self._serving = False

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Around ``serve``: ``shutdown`` waits for its end only once it has begun."""
        self._serving = True
        try:
            yield
        finally:
            self._done.set()

    async def until_requested(self, intake: trio.Nursery) -> None:
        """Return once ``shutdown`` is called, with ``intake`` cancelled."""
        await self._requested.wait()
        intake.cancel_scope.cancel()

    def drain(self, pool: Iterable[PooledConnection], work: trio.Nursery) -> None:
        """Stop reading every connection; give ``work`` the grace, then cancel it."""
        for connection in pool:
            connection.stop_reading()
        work.cancel_scope.deadline = trio.current_time() + self._grace

    async def shutdown(self, grace: float) -> None:
        """Ask ``serve`` to stop, giving queries in flight ``grace`` seconds; wait for it."""
        self._grace = grace
        self._requested.set()
        if self._serving:
            await self._done.wait()


class Sender:
    """Sends on one connection, one write at a time; a client that stops reading loses it.

    ``connection`` is the cancel scope of the whole connection (its reader
    and its queries): it is cancelled when a send fails, or does not finish
    within ``timeout`` because the client's window stays shut.
    """

    def __init__(self, stream: trio.abc.SendStream, timeout: float) -> None:
        self._stream = stream
        self._timeout = timeout
        self._lock = trio.Lock()
        self.connection = trio.CancelScope()

    async def send(self, data: bytes | bytearray) -> None:
        if not data:
            return
        async with self._lock:
            with trio.move_on_after(self._timeout) as timer:
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.connection.cancel()
            if timer.cancelled_caught:
                self.connection.cancel()
