"""The shared tier's Redis, Valkey or Redis Cluster store, through coredis.

Apart from ``resolver.shared_tier`` so that a resolver with no Redis never
imports coredis: with its dependencies (beartype, anyio, asyncio, wrapt) it
is some 700 modules and about 20 MiB of heap, half the start-up heap of a
resolver process (bench/results/shared-cache-2026-12.md, "Where a worker's
memory goes"), loaded by every process of ``serve --workers N`` and by the
single process alike. ``shared_tier.shared_tier_for`` imports this module
when ``[shared_cache] servers`` is set, and with ``--workers`` the zygote
imports it before the fork (``resolver.preload``), so that the workers share
it instead of each importing its own.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import coredis
import coredis.exceptions
from coredis.connection import TCPLocation
from coredis.retry import NoRetryPolicy

from resolver.shared_tier import RedisSettings, TierUnavailable


class RedisStore:
    """A Redis, Valkey or Redis Cluster store through coredis.

    coredis retries nothing here (``NoRetryPolicy``): the deadline and the
    circuit breaker in ``SharedTier`` decide when to try again.
    """

    def __init__(self, settings: RedisSettings, timeout: float) -> None:
        context = None
        if settings.tls:
            context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
            if settings.tls_ca_file is None:
                context.load_default_certs()
            else:
                context.load_verify_locations(settings.tls_ca_file)
            context.server_name = settings.tls_server_name
            context.check_hostname = settings.tls_server_name is not None
        common: dict[str, Any] = {
            "username": settings.username,
            "password": settings.password,
            "connect_timeout": timeout,
            "stream_timeout": timeout,
            "ssl": settings.tls,
            "ssl_context": context,
            "retry_policy": NoRetryPolicy(),
        }
        self._client: coredis.Redis[bytes] | coredis.RedisCluster[bytes]
        if settings.cluster:
            nodes = [TCPLocation(host, port) for host, port in settings.servers]
            self._client = coredis.RedisCluster(startup_nodes=nodes, **common)
        else:
            host, port = settings.servers[0]
            self._client = coredis.Redis(host, port, settings.database, **common)

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        try:
            async with self._client:
                yield
        except coredis.exceptions.RedisError as error:
            raise TierUnavailable(f"shared cache store: {error}") from None

    async def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        with _unavailable():
            return list(await self._client.mget(keys))

    async def put(self, key: bytes, value: bytes, lifetime_ms: int) -> None:
        with _unavailable():
            await self._client.set(key, value, px=lifetime_ms)

    async def delete(self, key: bytes) -> None:
        with _unavailable():
            await self._client.delete([key])

    async def ping(self) -> None:
        with _unavailable():
            await self._client.ping()

    def forget(self, selects: Callable[[bytes], bool] | None) -> None:
        """Nothing: the keys are HMACs that hide the names (``tier_format``).

        So a flush cannot find a name's records, and a FLUSHDB or a SCAN of
        the namespace would empty the tier of every host of the deployment.
        Unbound's cachedb does not flush Redis either (NLnetLabs/unbound#452;
        its later ``flush +c`` deletes only the copies of what the local cache
        held, #1071), and other hosts would publish their copies again.
        """
        return None


class _NamedContext(ssl.SSLContext):
    """A client TLS context that checks the certificate against a configured name.

    Servers are configured by address (no name lookup, which could need this
    very resolver); anyio hands ``wrap_bio`` the address dialled, and this
    puts the operator's ``tls_server_name`` in its place (for SNI and the
    certificate check).
    """

    server_name: str | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side,
                                self.server_name or server_hostname, session)


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """Turn the client's errors (and socket errors) into ``TierUnavailable``."""
    try:
        yield
    except (coredis.exceptions.RedisError, OSError) as error:
        raise TierUnavailable(str(error)) from None
