"""The shared cache tier: a second level behind the cache, on Valkey/Redis.

Place in the query flow: ``Recursor`` asks ``SharedTier.fill`` before it
resolves a question the cache cannot answer fresh; what the tier holds for
the question (its RRset, a CNAME and what the CNAME points to, a denial) is
``Cache.adopt``-ed, and the iterator then finds it as its own. Every entry
the cache stores from a server is published (``Cache.on_store``) by a
background task. Records are sealed and keyed by ``resolver.tier_format``.

The rules, after what users of Unbound's cachedb suffered
(``../shared/anchors-2026-12.md`` section 2.4):

* **Never wait on the store for a cached answer.** Answers the cache (or the
  ready-made answer cache) holds are served before anything here runs; the
  tier is asked only on a miss, and publishing is queued, never awaited
  (a full queue drops the entry and counts it).
* **Short deadline, circuit breaker** (``resolver.breaker``): each call has
  ``timeout`` seconds; the first that fails opens the breaker and the tier
  is skipped, at no cost, until a background PING (every ``retry_after``
  seconds) succeeds. A dead, killed or SIGSTOPped Redis costs at most one
  deadline per question in flight when it went away.
* **The tier never outranks a local verdict.** A BOGUS verdict is not
  shared; it deletes the tier's copy, so no resolver adopts data that one of
  them has just seen fail (Unbound#1504), and each judges anew. Adoption
  keeps the writer's verdict (``Cache.adopt``).
* **Records live in Redis until their stale window ends**, with
  ``PX`` set from the absolute expiry, so serve-stale works from the tier
  and Redis never grows without bound (Unbound#836).
* **A flush reaches the tier.** ``holdfast ctl flush NAME`` and ``flush
  zone ZONE`` delete the tier's copies too. Its keys are HMACs that hide the
  names, so the copies are found by computing their keys: those of every
  entry the local cache held there before the flush, and, at the name (a
  zone's apex), those of the types resolvers cache most (``FLUSHED_TYPES``)
  whether held here or not. Unbound's cachedb cannot flush Redis at all (NLnetLabs/unbound#452),
  and its later ``flush +c`` deletes only the copies of what the local
  cache held (#1071); the common types go further because another host may
  have published a name this one never asked. ``flush all`` leaves Redis
  alone: it is every host's tier, the entries expire on their own, and a
  SCAN of the namespace would be a long stall behind the deadline.
* **Cluster and TLS** come from coredis (``RedisCluster``, anyio-based, so
  it runs under Trio): Unbound has neither (Unbound#1311, #1267). The
  client is ``resolver.redis_store``, imported only when a Redis is set.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import dns.name
import dns.rdatatype
import trio

from dnssec.errors import HoldfastError
from dnssec.files import FileRefused, read_text
from dnssec.status import Security
from resolver.breaker import CircuitBreaker
from resolver.cache import _NXDOMAIN_TYPE, Cache, _is_at_or_below, _key, owner_of
from resolver.clock import Clock
from resolver.config import Config, parse_endpoint
from resolver.counters import Histogram
from resolver.errors import ConfigError
from resolver.tier_format import Entry, TierFormatError, TierKeys, cname_target

log = logging.getLogger("holdfast.shared_tier")

#: The longest secret or password file read.
_MAX_SECRET_FILE = 4_096
#: CNAME links followed through the tier for one question.
_MAX_CHAIN = 8
#: The store's calls timed for the metrics, by method, with their label.
TIMED_CALLS = {"get_many": "get", "put": "put", "delete": "delete"}
#: The types whose copies ``ctl flush NAME`` deletes from Redis even when the
#: local cache did not hold them (``_NXDOMAIN_TYPE``: a name's NXDOMAIN).
FLUSHED_TYPES = (
    _NXDOMAIN_TYPE, *(dns.rdatatype.RdataType.make(text) for text in (
        "A", "AAAA", "CNAME", "DNAME", "NS", "SOA", "DS", "DNSKEY", "MX", "TXT", "PTR",
        "SRV", "NAPTR", "CAA", "TLSA", "SVCB", "HTTPS", "NSEC", "NSEC3")),
)
_T = TypeVar("_T")


class TierUnavailable(HoldfastError):
    """The store could not be reached or refused a command."""


class Store(Protocol):
    """What the tier needs of a key-value store (Redis here; a dict in tests)."""

    def connected(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the store's connections open for the life of the block."""
        ...

    async def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The values of ``keys``, None where absent."""
        ...

    async def put(self, key: bytes, value: bytes, lifetime_ms: int) -> None:
        """Set ``key`` to ``value`` for ``lifetime_ms`` milliseconds."""
        ...

    async def delete(self, key: bytes) -> None:
        """Remove ``key``."""
        ...

    async def ping(self) -> None:
        """Check that the store answers."""
        ...

    def forget(self, selects: Callable[[bytes], bool] | None) -> int | None:
        """Remove the records whose store key ``selects`` accepts (every one when None).

        Synchronous: ``holdfast ctl flush`` runs it. Returns how many were
        removed, or None when the store cannot find records by name.
        """
        ...


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Where the Redis/Valkey store is and how to talk to it (``[shared_cache]``)."""

    servers: tuple[tuple[str, int], ...]
    cluster: bool = False
    database: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca_file: str | None = None
    tls_server_name: str | None = None


@dataclass(slots=True)
class TierStats:
    """Counters for ``holdfast ctl status`` and the metrics."""

    #: Questions the tier was asked about (local misses), and how each went:
    #: adopted something (hit), found nothing usable (miss), not asked
    #: because the breaker was open (skipped), or a call failed (failed).
    lookups: int = 0
    hits: int = 0
    misses: int = 0
    skipped: int = 0
    failed: int = 0
    #: Entries taken from the tier into the cache.
    adopted: int = 0
    #: Records ignored: malformed, another deployment's or forged.
    rejected: int = 0
    #: Entries written to the tier, and BOGUS verdicts that deleted its copy.
    published: int = 0
    deleted: int = 0
    #: Deletions sent to the store by ``ctl flush`` (Redis: one per computed
    #: key, ``FLUSHED_TYPES``, whether a copy was there or not).
    flushed: int = 0
    #: Entries not published: the queue was full or the store unavailable.
    dropped: int = 0
    #: Entries not published: their owner is under a negative trust anchor.
    withheld: int = 0
    #: Calls on the query or publishing path that failed or ran out of time
    #: (not the background probes); ``timeouts`` of them ran out of time.
    failures: int = 0
    timeouts: int = 0


class SharedTier:
    """A second-level cache shared by resolvers, behind a circuit breaker.

    Args:
        cache: The local cache it fills and publishes from.
        keys: The deployment's namespace and secret.
        store: Where the records live.
        timeout: Deadline of each call to the store, seconds.
        retry_after: Seconds between probes while the store is unavailable.
        queue: Entries waiting to be published at most.
        clock: The wall clock the cache's expiries count against.
        kind: What the store is, for the metrics: "redis" (``[shared_cache]``)
            or "host" (the workers' map, ``resolver.host_cache``).
        withheld: Whether an owner name is under a negative trust anchor
            here (``Validator.negative_anchors``): what this resolver judged
            insecure only because of its own NTA is not published, so a
            resolver without that NTA never adopts it as insecure.
    """

    def __init__(
        self,
        cache: Cache,
        keys: TierKeys,
        store: Store,
        clock: Clock,
        *,
        timeout: float = 0.05,
        retry_after: float = 5.0,
        queue: int = 10_000,
        kind: str = "redis",
        withheld: Callable[[dns.name.Name], object] | None = None,
    ) -> None:
        self.kind = kind
        self._withheld = withheld
        self._cache = cache
        self._keys = keys
        self._store = store
        self._clock = clock
        self.timeout = timeout
        # Open until the first probe: nothing waits on a store not yet reached.
        self.breaker = CircuitBreaker(retry_after, opened_at=0.0)
        self.stats = TierStats()
        #: How long each call to the store took (failed and timed-out ones too), by label.
        self.call_latency = {label: Histogram() for label in TIMED_CALLS.values()}
        #: Entries to publish, or None: a copy to delete (``ctl flush``).
        self._outbox, self._inbox = trio.open_memory_channel[tuple[bytes, Entry | None]](queue)
        cache.on_store = self.published

    def published(self, key: bytes, entry: Entry) -> None:
        """Queue ``entry``, just stored under ``key``, for the tier (never blocks)."""
        if self._withheld is not None and self._withheld(owner_of(key)):
            self.stats.withheld += 1
            return
        if not self.breaker.closed:
            self.stats.dropped += 1
            return
        try:
            self._outbox.send_nowait((key, entry))
        except trio.WouldBlock:
            self.stats.dropped += 1

    async def fill(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> None:
        """Adopt what the tier holds for ``name``/``rdtype``, following CNAMEs.

        Costs nothing while the breaker is open, at most ``timeout`` per
        round trip otherwise.
        """
        self.stats.lookups += 1
        if not self.breaker.allows():
            self.stats.skipped += 1
            return
        adopted = self.stats.adopted
        outcome = await self._follow(name, rdtype)
        if self.stats.adopted > adopted:
            self.stats.hits += 1
        elif outcome:
            self.stats.misses += 1
        else:
            self.stats.failed += 1

    async def _follow(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> bool:
        """Adopt along the CNAME chain; False if a call to the store failed."""
        for _ in range(_MAX_CHAIN):
            keys = list(dict.fromkeys(
                _key(name, kind) for kind in (rdtype, dns.rdatatype.CNAME, _NXDOMAIN_TYPE)
            ))
            found = await self._call(
                self._store.get_many, [self._keys.store_key(key) for key in keys]
            )
            if found is None:
                return False
            target = None
            for key, record in zip(keys, found[0], strict=True):
                entry = self._open(key, record)
                if entry is None:
                    continue
                if self._cache.adopt(key, entry):
                    self.stats.adopted += 1
                target = cname_target(entry, int.from_bytes(key[-2:], "big")) or target
            if target is None or rdtype == dns.rdatatype.CNAME:
                return True
            name = target
        return True

    def forget(
        self, name: dns.name.Name | None, *, below: bool = False, held: Sequence[bytes] = ()
    ) -> int | str:
        """Remove the store's records for ``name`` (and below it with ``below``; all if None).

        ``holdfast ctl flush`` and the negative trust anchor commands call
        it after flushing the local cache: without it a worker would adopt
        from the workers' map, at its next miss, what the operator has just
        flushed (or data judged insecure under an anchor just deleted). A
        store that cannot find records by name (Redis) gets deletions of the
        copies of ``held`` (the cache keys the local cache held there) and of
        ``FLUSHED_TYPES`` at ``name``, queued like publications.

        Returns:
            How many records were removed, or what was done instead.
        """
        selects: Callable[[bytes], bool] | None = None
        if name is not None:
            owner = name.to_digestable()
            selects = ((lambda key: _is_at_or_below(key[:-2], owner)) if below
                       else (lambda key: key[:-2] == owner))
        try:
            removed = self._store.forget(selects)
        except TierUnavailable as error:
            return f"not flushed: {error}"
        if removed is None:
            return self._delete_copies(name, held)
        return removed

    def _delete_copies(self, name: dns.name.Name | None, held: Sequence[bytes]) -> str:
        """Queue deletions of the copies of ``held`` and of ``name``'s common types."""
        if name is None:
            return ("not flushed: flush all leaves Redis (every host's tier; the records "
                    "expire on their own)")
        doomed = dict.fromkeys([*held, *(_key(name, rdtype) for rdtype in FLUSHED_TYPES)])
        queued = 0
        for key in doomed:
            try:
                self._outbox.send_nowait((key, None))
            except trio.WouldBlock:
                self.stats.dropped += 1
            else:
                queued += 1
        return f"{queued} copies queued for deletion in Redis (Redis keys hide the names)"

    def _open(self, key: bytes, record: bytes | None) -> Entry | None:
        if record is None:
            return None
        try:
            return self._keys.open(key, record)
        except TierFormatError as error:
            self.stats.rejected += 1
            log.debug("shared cache record ignored: %s", error)
            return None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Publish queued entries and probe the store, until cancelled."""
        task_status.started()
        while True:
            try:
                async with self._store.connected(), trio.open_nursery() as nursery:
                    nursery.start_soon(self._publish)
                    await self._probe()
            except TierUnavailable as error:
                # The client's connections broke (or never came up): connect
                # afresh after a pause; meanwhile nothing asks the store.
                if self.breaker.closed:
                    log.warning("shared cache store unavailable: %s", error)
                self.breaker.failed(trio.current_time())
            await trio.sleep(self.breaker.retry_after)

    async def _probe(self) -> None:
        """PING the store whenever the breaker is open and a probe is due."""
        while True:
            if self.breaker.probe_due(trio.current_time()):
                try:
                    with trio.fail_after(self.timeout):
                        await self._store.ping()
                except (TierUnavailable, trio.TooSlowError):
                    self.breaker.failed(trio.current_time())  # not a query's failure
                else:
                    if not self.breaker.closed:
                        log.info("shared cache store reachable again")
                    self.breaker.succeeded()
            await trio.sleep(min(self.breaker.retry_after, 1.0) / 4)

    async def _publish(self) -> None:
        async for key, entry in self._inbox:
            store_key = self._keys.store_key(key)
            if entry is None:  # flushed
                if await self._call(self._store.delete, store_key) is not None:
                    self.stats.flushed += 1
                continue
            if entry.security is Security.BOGUS:
                if await self._call(self._store.delete, store_key) is not None:
                    self.stats.deleted += 1
                continue
            lifetime = self._cache.lifetimes.stale_window + entry.expires_at - self._clock.wall()
            if lifetime <= 0:
                continue
            record = self._keys.seal(key, entry)
            lifetime_ms = max(1, int(lifetime * 1000))
            if await self._call(self._store.put, store_key, record, lifetime_ms) is None:
                self.stats.dropped += 1
            else:
                self.stats.published += 1

    async def _call(self, call: Callable[..., Awaitable[_T]], *args: Any) -> tuple[_T] | None:
        """``call(*args)`` within the deadline, its result in a 1-tuple.

        None when the breaker is open, or when the call fails or runs out of
        time (which opens the breaker).
        """
        if not self.breaker.allows():
            return None
        began = trio.current_time()
        try:
            with trio.fail_after(self.timeout):
                result = await call(*args)
        except (TierUnavailable, trio.TooSlowError) as error:
            self._failed(error)
            return None
        finally:
            self.call_latency[TIMED_CALLS[call.__name__]].observe(trio.current_time() - began)
        return (result,)

    def _failed(self, error: Exception) -> None:
        self.stats.failures += 1
        self.stats.timeouts += isinstance(error, trio.TooSlowError)
        if self.breaker.closed:
            log.warning("shared cache store unavailable, skipped until it answers again: %s",
                        str(error) or "no answer within the deadline")
        self.breaker.failed(trio.current_time())


def shared_settings(config: Config) -> tuple[RedisSettings, TierKeys] | None:
    """The ``[shared_cache]`` section: where the store is and the deployment's keys.

    None when no servers are set. ``holdfast check-config`` calls it too.

    Raises:
        ConfigError: The secret is missing, unreadable or short, or the
            password file is unreadable.
    """
    servers = tuple(parse_endpoint(text) for text in config["shared_cache.servers"])
    if not servers:
        return None
    if not config["shared_cache.secret_file"]:
        raise ConfigError("shared_cache.secret_file must be set when shared_cache.servers is")
    secret = _secret(config, "shared_cache.secret_file")
    try:
        keys = TierKeys(secret.encode(), config["shared_cache.namespace"])
    except ValueError as error:
        raise ConfigError(f"shared_cache.secret_file: {error}") from None
    password = _secret(config, "shared_cache.password_file") or None
    return RedisSettings(
        servers=servers,
        cluster=config["shared_cache.cluster"],
        database=config["shared_cache.database"],
        username=config["shared_cache.username"] or None,
        password=password,
        tls=config["shared_cache.tls"],
        tls_ca_file=config["shared_cache.tls_ca_file"] or None,
        tls_server_name=config["shared_cache.tls_server_name"] or None,
    ), keys


def _secret(config: Config, option: str) -> str:
    """The first line of the file ``option`` names, or "" when it names none."""
    path = config[option]
    if not path:
        return ""
    try:
        text = read_text(path, limit=_MAX_SECRET_FILE)
    except FileRefused as error:
        raise ConfigError(f"{option}: {error}") from None
    return text.strip()


def shared_tier_for(
    config: Config,
    cache: Cache,
    clock: Clock,
    withheld: Callable[[dns.name.Name], object] | None = None,
) -> SharedTier | None:
    """The shared tier ``[shared_cache]`` describes, publishing from ``cache``; None if none.

    Raises:
        ConfigError: see ``shared_settings``.
    """
    settings = shared_settings(config)
    if settings is None:
        return None
    # Imported here, and by the zygote before the fork when Redis is configured
    # (``resolver.preload``): coredis is half the start-up heap of a resolver
    # that has no Redis (``resolver.redis_store``).
    from resolver.redis_store import RedisStore

    redis, keys = settings
    timeout = config["shared_cache.timeout"]
    return SharedTier(
        cache, keys, RedisStore(redis, timeout), clock,
        timeout=timeout,
        retry_after=config["shared_cache.retry_after"],
        queue=config["shared_cache.queue"],
        withheld=withheld,
    )
