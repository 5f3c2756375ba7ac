"""What the zygote loads before it freezes its heap, so that no worker loads it again.

A worker forked from the zygote (``resolver.zygote``) shares the zygote's
pages until it writes to them; whatever it imports or initialises itself
is its own, once per worker. Measured in a worker of ``serve --workers 4``
after a name mix (bench/results/shared-cache-2026-12.md, "Where a worker's
memory goes"): every module the resolver names at the top of a file was
already the zygote's, but two libraries load parts of themselves on first
use, after the fork, and one module of ours is imported only when used:

* ``cryptography`` imports its OpenSSL backend at the first public key it
  builds (the first DNSSEC signature checked): about 2.9 MiB of private
  pages in each worker, most of it OpenSSL's own state;
* dnspython imports the module of an RR type when it first parses one
  (``dns.rdata.get_rdata_class``): PTR, AAAA, and any other type a client
  or a zone brings, up to about 3 MiB across all the types it knows;
* with a Redis tier configured, ``resolver.redis_store`` (coredis), which
  the resolver imports only then, in ``daemon.build``: after the fork, it
  would be about 20 MiB in each worker.

Loading them here costs that memory once per host instead of once per
worker, and a single process (no zygote) is left as it was. gunicorn's
``--preload`` does the same for an application's imports; Android's
zygote preloads its classes for the same reason.
"""

from __future__ import annotations

import importlib

import dns.rdata
from cryptography.hazmat.backends import default_backend


def preload(*, redis: bool) -> None:
    """Import what a worker would import on first use; the Redis client when ``redis``.

    ``redis``: ``[shared_cache] servers`` is set (a change takes a restart).

    ``dns.rdata.load_all_types`` is dnspython's own call for this ("loading
    all types at an application-controlled time"); it also stops dnspython
    from trying two imports for each type code it does not know, which then
    is generic data at once, as it would have been after the failed imports.
    """
    default_backend()
    dns.rdata.load_all_types()  # type: ignore[no-untyped-call]  # dnspython leaves it untyped
    if redis:
        importlib.import_module("resolver.redis_store")
