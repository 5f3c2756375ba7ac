"""A server-side TLS stream whose reads return every record that has arrived, not one.

Why not ``trio.SSLStream``: its ``receive_some`` returns the contents of one
TLS record per call (OpenSSL's ``SSL_read`` stops at a record boundary),
with a pass through the scheduler each time. DNS clients write each query
in a record of its own (dnsperf, kdig, and HTTP/2 clients write HEADERS and
DATA as two), so a DoT connection with 100 queries pipelined cost 100 reads,
100 passes through the parser and 100 encrypted writes of one answer each;
``bench.encrypted`` measured DoT at 0.1x and DoH at 0.02x of UDP with one
dnsperf connection. Here a read feeds OpenSSL everything the socket holds
and decrypts every complete record of it, so the connection handlers see
whole batches and answer them in one write. Knot Resolver does the same:
``tls_process_input_data`` (daemon/tls.c) calls ``gnutls_record_recv``
until it would block, consuming all the bytes of one socket read, and
hands every query decrypted to the session at once.

It is a ``trio.abc.Stream`` over a transport stream, with ``ssl.SSLObject``
and memory BIOs doing the TLS: the handshake, then reads and writes. Like
``trio.SSLStream(https_compatible=True)``, an end of stream without the
peer's close_notify is a normal end (RFC 8446 section 6.1 allows it and
clients do it), and closing sends our close_notify without waiting for
theirs. TLS errors surface as ``trio.BrokenResourceError``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

import trio

#: Bytes read from the transport at a time: several full TLS records.
_TRANSPORT_READ = 65536
#: Linux's option to acknowledge received data at once (None elsewhere).
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class TlsStream(trio.abc.Stream):
    """The server side of one TLS connection over ``transport`` (see the module docstring)."""

    def __init__(self, transport: trio.abc.Stream, context: ssl.SSLContext) -> None:
        self.transport_stream = transport
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        #: Sends of our records go out whole and in order: the handshake and
        #: the records a read provokes (TLS 1.3 tickets, KeyUpdate) share it
        #: with ``send_all``.
        self._sending = trio.Lock()
        self._eof = False
        self._closed = False

    def selected_alpn_protocol(self) -> str | None:
        return self._tls.selected_alpn_protocol()

    async def do_handshake(self) -> None:
        """Complete the TLS handshake.

        Raises:
            trio.BrokenResourceError: the peer broke it off or sent something that is not TLS.
        """
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as error:
                await self._send_pending_quietly()  # the alert tells the client why
                raise trio.BrokenResourceError(f"TLS handshake failed: {error}") from error
            else:
                await self._send_pending()
                return
            await self._send_pending()
            if not await self._receive_transport():
                raise trio.BrokenResourceError("the peer left during the TLS handshake")

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Everything decrypted from what has arrived (``max_bytes`` at most); b"" at the end.

        Raises:
            trio.BrokenResourceError: the peer's TLS is broken.
            trio.ClosedResourceError: this stream was closed.
        """
        limit = max_bytes or _TRANSPORT_READ
        waited = False
        while True:
            if self._closed:
                raise trio.ClosedResourceError("the TLS stream is closed")
            data = self._decrypt(limit)
            if self._outgoing.pending:  # what reading made OpenSSL say (tickets, KeyUpdate)
                await self._send_pending()
                waited = True
            if data or self._eof:
                if not waited:
                    await trio.lowlevel.checkpoint()
                return data
            if not await self._receive_transport():
                self._incoming.write_eof()
            waited = True

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` and send it, after what ``encrypt`` left waiting.

        Raises:
            trio.BrokenResourceError: the connection or its TLS is broken.
            trio.ClosedResourceError: this stream was closed.
        """
        self.encrypt(data)
        await self._send_pending()

    def encrypt(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` now, in records of its own, sent by the next ``send_all``.

        Several responses then leave in one transport write, one record each
        (see ``encrypted._read_http``). Records go out in the order they were
        made, whoever sends them: the outgoing buffer is one queue.

        Raises:
            trio.BrokenResourceError: the connection's TLS is broken.
            trio.ClosedResourceError: this stream was closed.
        """
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream is closed")
        try:
            self._tls.write(data)
        except ssl.SSLError as error:
            raise trio.BrokenResourceError(f"TLS write failed: {error}") from error

    def acknowledge(self) -> None:
        """Have the kernel acknowledge what has arrived now, not after its delayed-ACK wait.

        For a read that is answered with nothing (yet): a client with
        Nagle's algorithm on holds its next small writes until this ACK,
        which Linux otherwise delays by up to 40 ms when it has no data to
        carry it on (TCP_QUICKACK, which sends a pending ACK at once; a
        no-op on other systems and other transports).
        """
        if _QUICKACK is not None and isinstance(self.transport_stream, trio.SocketStream):
            with contextlib.suppress(OSError):
                self.transport_stream.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        """Send close_notify (best effort, not waiting for the peer's) and close the transport."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        try:
            with contextlib.suppress(ssl.SSLError):  # SSLWantReadError: their close_notify
                self._tls.unwrap()
            await self._send_pending_quietly()
        finally:
            await self.transport_stream.aclose()

    def _decrypt(self, limit: int) -> bytes:
        """The plaintext of every complete record received, up to ``limit`` bytes."""
        chunks: list[bytes] = []
        size = 0
        while size < limit and not self._eof:
            try:
                chunk = self._tls.read(limit - size)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._eof = True  # close_notify, or the end without it (https_compatible)
                break
            except ssl.SSLError as error:
                raise trio.BrokenResourceError(f"TLS read failed: {error}") from error
            if not chunk:
                self._eof = True
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    async def _receive_transport(self) -> bool:
        """Feed OpenSSL the next bytes from the transport; False at its end."""
        raw = await self.transport_stream.receive_some(_TRANSPORT_READ)
        if not raw:
            return False
        self._incoming.write(raw)
        return True

    async def _send_pending(self) -> None:
        """Send the records OpenSSL has written, in order."""
        async with self._sending:
            pending = self._outgoing.read()
            if pending:
                await self.transport_stream.send_all(pending)

    async def _send_pending_quietly(self) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._send_pending()
