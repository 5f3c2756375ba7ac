"""One cache for all workers of a host: the shared tier over an LMDB map.

With ``--workers N`` every worker keeps its own in-process cache, so N
workers would ask upstream up to N times for the same names. Each worker's
``SharedTier`` (``resolver.shared_tier``) is therefore given, when no Redis
is configured, a store that all workers of the supervisor map into memory:
an LMDB environment in a private directory the supervisor makes. A miss in
one worker's cache is looked up there before going upstream; every entry a
worker learns is written there. Hold-downs (``holddown_sharing``) and the
local root (``root_sharing``) are shared over the supervisor's channels.

Why LMDB, and not the supervisor as the owner or a local Redis:

* **Reads take no lock and make no round trip.** LMDB readers are MVCC
  snapshots of a shared memory map: a lookup is a B-tree walk in this
  process, microseconds, with no lock held and nothing to wait for across a
  socket. A supervisor-owned store would cost every miss of every worker a
  round trip through one single-threaded Python process, which then becomes
  the bottleneck of the host; a local Redis is a daemon more to run.
* **Writes hold LMDB's writer mutex only for an in-memory put** (the map is
  opened with ``writemap`` and no syncing, as Knot Resolver opens its cache:
  ``MDB_WRITEMAP | MDB_MAPASYNC``, lib/cache/cdb_lmdb.c), never across any
  I/O; and they are made by the tier's publishing task, not on a client's
  path.
* **It is what the peer that shares a cache between processes does**:
  Knot Resolver's workers share one LMDB cache (``../shared/anchors-2026-12.md``
  section 1.15), and the ``lmdb`` binding is well kept.

The records are the tier's sealed records (``resolver.tier_format``),
sealed with a secret the supervisor draws at start and stored under the
cache key in clear (``_PlainKeys``), so the rules of the tier hold here too:
absolute expiry, verdict and source travel with each entry, a local BOGUS
verdict is never overridden, a BOGUS verdict deletes the shared copy, and
``holdfast ctl flush`` (and a negative trust anchor's flush) removes the
map's records as well as the local ones (``LmdbStore.forget``). Expired
records are not swept: ``Cache.adopt`` refuses them, a newer record
overwrites them, and a full map is emptied at once, as Knot
Resolver's ``cdb_clear`` does (``mdb_drop``) when a write finds no room.
The data file is allocated in full when made (``posix_fallocate``, as Knot
does), so a full filesystem refuses the cache at start instead of killing
a worker with SIGBUS later (CZ-NIC/knot-resolver#113); it lives on
``/dev/shm`` when there is one (tmpfs: no disk writes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.name
import lmdb

from resolver.cache import Cache
from resolver.clock import Clock
from resolver.config import Config
from resolver.shared_tier import SharedTier, TierUnavailable
from resolver.tier_format import TierKeys

log = logging.getLogger("holdfast.host_cache")

#: Where the map goes when the host has it: tmpfs, so no disk writes.
_SHM = Path("/dev/shm")
#: Deadline of one call: generous, as a call is a local memory operation.
_TIMEOUT = 0.05


@dataclass(frozen=True, slots=True)
class HostCache:
    """The host's shared map, as the supervisor hands it to each worker.

    Attributes:
        path: The directory holding the LMDB environment.
        secret: Keys and seals the records (drawn by the supervisor at start).
        map_size: The most bytes the map may hold.
    """

    path: str
    secret: bytes
    map_size: int

    def tier(
        self,
        cache: Cache,
        clock: Clock,
        withheld: Callable[[dns.name.Name], object] | None = None,
    ) -> SharedTier:
        """The shared tier of one worker over this map (``withheld``: see ``SharedTier``)."""
        keys = _PlainKeys(self.secret, "host")
        return SharedTier(cache, keys, LmdbStore(Path(self.path), self.map_size), clock,
                          timeout=_TIMEOUT, retry_after=1.0, kind="host", withheld=withheld)


class _PlainKeys(TierKeys):
    """The map's keys are the cache keys themselves (records stay sealed).

    A Redis tier hides the names behind an HMAC from whoever else can read
    the store; this map is readable only by the user the workers run as (a
    0700 directory), who reads their memory anyway. Names in clear are what
    lets ``holdfast ctl flush`` find a name's or a zone's records here.
    """

    def store_key(self, cache_key: bytes) -> bytes:
        return cache_key


@contextlib.contextmanager
def host_cache(map_size: int) -> Iterator[HostCache | None]:
    """Make the host's shared map for the life of the block; None if the host cannot hold it.

    The directory is private to the user we run as and removed afterwards.
    """
    with private_directory("holdfast-cache-") as directory:
        try:
            with _open_map(directory, map_size) as env, env.begin(write=True):
                pass
            with open(Path(directory) / "data.mdb", "r+b") as data:
                os.posix_fallocate(data.fileno(), 0, map_size)
        except (lmdb.Error, OSError) as error:
            log.warning("no cache shared by the workers (each keeps its own): %s in %s",
                        error, directory)
            yield None
            return
        yield HostCache(directory, secrets.token_bytes(32), map_size)


#: The share of the RRset cache's part of ``[cache] max_bytes`` that the
#: in-process RRset caches of all the workers take together when the map is
#: behind them (``cache_shares``).
FRONT_SHARE = 0.125


def cache_shares(config: Config, host: HostCache | None) -> tuple[float, float]:
    """The shares of ``[cache] max_bytes`` one worker's caches get: RRsets, ready-made answers.

    Without the map (turned off, or a Redis tier, a network call away, in
    its place) each worker is a whole cache, as one process is: all of it.

    With the map, the map is the host's RRset cache and a worker's RRset
    cache only its front: the workers split ``FRONT_SHARE`` of the RRsets'
    part. Fronts holding every entry they learned would hold the host's
    RRsets twice, once in the fronts and once in the map, in about the same
    room (a signed A RRset: some 420 bytes accounted in a front, 340 in the
    map). And a large front earns little: a name comes back to the worker
    that resolved it only one time in N (SO_REUSEPORT spreads the clients),
    so the tail is found in the map the other times anyway, at the cost of
    one local lookup (some 70 microseconds of CPU against 8 for a front
    hit, where a cached answer off the fast path costs about 500) and no
    upstream query (bench/results/shared-cache-2026-12.md, "Large warm
    cache"). An eighth still keeps the hot set: 12 MiB a worker for 4
    workers at the default 512 MiB, some 30,000 RRsets. Knot Resolver's
    workers keep nothing beyond their LMDB cache; Unbound's threads share
    one ``rrset-cache-size``.

    The ready-made answers are not in the map (each worker makes its own
    from the RRsets): the workers split their part as one process's, so the
    fast path covers as many questions per host as before.
    """
    workers: int = config["workers.count"]
    if host is None:
        return 1.0, 1.0
    return FRONT_SHARE / workers, 1.0 / workers


def private_directory(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A new directory only this user may enter (0700), removed when its block ends.

    On ``/dev/shm`` when the host has one we may write (tmpfs: no disk
    writes), else in the temporary directory. Made after the privilege
    drop, it belongs to the user the workers run as.

    Raises:
        OSError: it cannot be made.
    """
    parent = _SHM if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None
    return tempfile.TemporaryDirectory(prefix=prefix, dir=parent)


def _open_map(path: str, map_size: int) -> lmdb.Environment:
    """Open the map as every process does.

    No durability (it is a cache), one database, readers not tied to
    threads (Trio runs every task in one).
    """
    return lmdb.open(
        path, map_size=map_size, subdir=True, writemap=True, map_async=True, sync=False,
        metasync=False, readahead=False, lock=True, max_dbs=0, create=True,
    )


class LmdbStore:
    """The tier's ``Store`` over an LMDB map shared by the workers of a host.

    Calls are synchronous (memory operations); they are ``async`` only to be
    a ``Store``. ``lifetime_ms`` is not kept: each record carries its own
    absolute expiry, which ``Cache.adopt`` judges.
    """

    def __init__(self, path: Path, map_size: int) -> None:
        self._path = path
        self._map_size = map_size
        self._env: lmdb.Environment | None = None
        #: How many times a full map was emptied.
        self.clears = 0

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        try:
            self._env = _open_map(str(self._path), self._map_size)
        except lmdb.Error as error:
            raise TierUnavailable(f"host cache {self._path}: {error}") from None
        try:
            yield
        finally:
            env, self._env = self._env, None
            env.close()

    def _open(self) -> lmdb.Environment:
        if self._env is None:
            raise TierUnavailable("host cache not open")
        return self._env

    async def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        env = self._open()
        try:
            with env.begin() as txn:
                return [txn.get(key) for key in keys]
        except lmdb.Error as error:
            raise TierUnavailable(str(error)) from None

    async def put(self, key: bytes, value: bytes, lifetime_ms: int) -> None:
        env = self._open()
        try:
            try:
                with env.begin(write=True) as txn:
                    txn.put(key, value)
            except lmdb.MapFullError:
                # Knot Resolver's rule when its cache is full: empty it.
                with env.begin(write=True) as txn:
                    txn.drop(env.open_db(), delete=False)
                self.clears += 1
                log.info("host cache full (%d bytes): emptied", self._map_size)
                with env.begin(write=True) as txn:
                    txn.put(key, value)
        except lmdb.Error as error:
            raise TierUnavailable(str(error)) from None

    async def delete(self, key: bytes) -> None:
        env = self._open()
        try:
            with env.begin(write=True) as txn:
                txn.delete(key)
        except lmdb.Error as error:
            raise TierUnavailable(str(error)) from None

    async def ping(self) -> None:
        self._open()

    def forget(self, selects: Callable[[bytes], bool] | None) -> int:
        """Remove the records whose key ``selects`` accepts; every record when None.

        The keys are found in a read snapshot (no lock), then deleted in one
        short write transaction: the writer mutex is never held across the
        scan, which would stall the other workers' publishing.
        """
        env = self._open()
        try:
            if selects is None:
                with env.begin(write=True) as txn:
                    removed = int(txn.stat(env.open_db())["entries"])
                    txn.drop(env.open_db(), delete=False)
                return removed
            with env.begin() as txn:
                doomed = [bytes(key) for key in txn.cursor().iternext(keys=True, values=False)
                          if selects(bytes(key))]
            with env.begin(write=True) as txn:
                return sum(txn.delete(key) for key in doomed)
        except lmdb.Error as error:
            raise TierUnavailable(str(error)) from None
