"""How a cache entry travels through the shared cache tier: keys and sealed records.

Several resolvers (workers on a host, hosts in a site) share one store
(``resolver.shared_tier``); what they put there must mean the same thing to
each of them, and nothing else may pass for it. So:

* **Keys are namespaced and keyed with a secret.** The store key of a cache
  key (lowercase wire name plus type, ``resolver.cache._key``) is
  ``NAMESPACE:`` and the hex HMAC-SHA256 of the cache key under the
  deployment's secret: two deployments sharing a Redis never read each
  other's entries, and the store never learns which names are asked (Unbound
  hashes its cachedb keys with ``secret-seed`` for the same reason).
* **Records are sealed.** Each record ends in an HMAC-SHA256 tag (128 bits)
  over the cache key and the record, under the same secret. Whoever can write
  to the store but does not hold the secret cannot plant a record that a
  resolver accepts as SECURE, nor move a record to another name.
* **Records carry what the entry means, not when it was written:** the
  absolute expiry (POSIX seconds, so every resolver with a synchronised clock
  computes the same remaining TTL; Unbound#1345 is what storing relative
  TTLs costs), the TTL it was given, the validation status and its Extended
  DNS Error, the server it came from, and the rank. A resolver that reads a
  record gets the entry the writer held, verdict included: unvalidated data
  stays INDETERMINATE and is never served as secure (Unbound#1504).
* **The format is small and versioned, and parsing is strict.** A two-byte
  magic and a version byte, fixed fields, length-prefixed blobs in the
  cache's own packed form (uncompressed wire RDATA, ``resolver.cache._pack``),
  nothing but ``struct`` and dnspython's wire parser on the way in (never
  pickle). Any record that is short, long, of another version or does not
  decode raises ``TierFormatError`` and is ignored by the caller.

The entry classes are the cache's own (``_Positive``, ``_Negative``): a
record is the entry itself, so the shared tier never holds a second model
of what the cache knows.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import dns.exception
import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.CNAME

from dnssec.errors import HoldfastError
from dnssec.status import ExtendedError, Security
from resolver.cache import Rank, _Negative, _Packed, _Positive, _rdatas

#: The first bytes of every record, and its format version.
MAGIC = b"HF"
VERSION = 1
#: The longest record accepted: a cache entry is at most a DNS message's worth.
MAX_RECORD = 3 * 65_535
_TAG_SIZE = 16
_KEY_DIGEST_SIZE = 16
_POSITIVE, _NEGATIVE = 1, 2
_NXDOMAIN, _RRSIGS, _ERROR = 1, 2, 4
#: magic, version, kind, security, rank, flags, expiry, TTL.
_HEAD = struct.Struct("!2sBBBBBdI")
_SECURITY = tuple(Security)
_RANKS = {int(rank) for rank in Rank}

Entry = _Positive | _Negative


class TierFormatError(HoldfastError):
    """A record from the shared tier is malformed, of another version, or not ours."""


class TierKeys:
    """Store keys and record seals for one deployment (its namespace and secret).

    Args:
        secret: The deployment's shared secret; at least 16 bytes.
        namespace: A readable prefix for the store keys.

    Raises:
        ValueError: If the secret is too short to key an HMAC safely.
    """

    def __init__(self, secret: bytes, namespace: str) -> None:
        if len(secret) < 16:
            raise ValueError("the shared cache secret must be at least 16 bytes")
        self._secret = secret
        self._prefix = f"{namespace}:".encode()

    def store_key(self, cache_key: bytes) -> bytes:
        """The store key under which the entry for ``cache_key`` lives."""
        digest = hmac.digest(self._secret, b"key\0" + cache_key, hashlib.sha256)
        return self._prefix + digest[:_KEY_DIGEST_SIZE].hex().encode()

    def seal(self, cache_key: bytes, entry: Entry) -> bytes:
        """The record for ``entry``, stored under ``cache_key``, tagged."""
        body = _encode(entry)
        return body + self._tag(cache_key, body)

    def open(self, cache_key: bytes, record: bytes) -> Entry:
        """The entry in ``record``, read from the store key of ``cache_key``.

        Raises:
            TierFormatError: If the tag does not match or the record is malformed.
        """
        if not _HEAD.size + _TAG_SIZE <= len(record) <= MAX_RECORD:
            raise TierFormatError(f"a record of {len(record)} bytes")
        body, tag = record[:-_TAG_SIZE], record[-_TAG_SIZE:]
        if not hmac.compare_digest(tag, self._tag(cache_key, body)):
            raise TierFormatError("the record's tag does not match (another secret or forged)")
        return _decode(body, int.from_bytes(cache_key[-2:], "big"))

    def _tag(self, cache_key: bytes, body: bytes) -> bytes:
        message = b"record\0" + len(cache_key).to_bytes(2, "big") + cache_key + body
        return hmac.digest(self._secret, message, hashlib.sha256)[:_TAG_SIZE]


def cname_target(entry: Entry, rdtype: int) -> dns.name.Name | None:
    """Where ``entry`` points if it is a CNAME RRset (``rdtype`` is its key's type)."""
    if not isinstance(entry, _Positive) or rdtype != dns.rdatatype.CNAME:
        return None
    for rdata in _rdatas(dns.rdatatype.CNAME, entry.rdata):
        if isinstance(rdata, dns.rdtypes.ANY.CNAME.CNAME):
            return rdata.target
    return None


def _encode(entry: Entry) -> bytes:
    flags = _ERROR if entry.error is not None else 0
    parts = [b""]
    if entry.error is not None:
        text = entry.error.text.encode()[:1024]
        parts.append(struct.pack("!HH", entry.error.code, len(text)) + text)
    source = (entry.source or "").encode()[:255]
    parts.append(bytes([len(source)]) + source)
    if isinstance(entry, _Positive):
        kind, rank = _POSITIVE, int(entry.rank)
        parts.append(_blob(entry.rdata))
        if entry.rrsigs is not None:
            flags |= _RRSIGS
            parts.append(_blob(entry.rrsigs))
    else:
        kind, rank = _NEGATIVE, 0
        flags |= _NXDOMAIN if entry.nxdomain else 0
        parts.append(_packed(entry.soa))
        parts.append(bytes([len(entry.proof)]) + b"".join(_packed(p) for p in entry.proof))
    parts[0] = _HEAD.pack(
        MAGIC, VERSION, kind, _SECURITY.index(entry.security), rank, flags,
        entry.expires_at, entry.ttl,
    )
    return b"".join(parts)


def _blob(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _packed(packed: _Packed) -> bytes:
    name, rdtype, blob = packed
    wire = name.to_wire()
    assert wire is not None
    return bytes([len(wire)]) + wire + int(rdtype).to_bytes(2, "big") + _blob(blob)


class _Reader:
    """Reads a record front to back; every short read is a ``TierFormatError``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise TierFormatError("the record ends early")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def blob(self, rdtype: int) -> bytes:
        data = self.take(self.number(4))
        try:
            _rdatas(dns.rdatatype.RdataType.make(rdtype), data)
        except (dns.exception.DNSException, ValueError) as error:
            raise TierFormatError(f"records of type {rdtype} that do not parse: {error}") from None
        return data

    def packed(self) -> _Packed:
        try:
            name = dns.name.from_wire(self.take(self.number(1)), 0)[0]
        except dns.exception.DNSException as error:
            raise TierFormatError(f"a bad owner name: {error}") from None
        rdtype = dns.rdatatype.RdataType.make(self.number(2))
        return name, rdtype, self.blob(rdtype)


def _decode(body: bytes, rdtype: int) -> Entry:
    """The entry in ``body``, a record for a key of ``rdtype`` (which its RDATA must parse as)."""
    reader = _Reader(body)
    magic, version, kind, security, rank, flags, expires_at, ttl = _HEAD.unpack(
        reader.take(_HEAD.size)
    )
    if magic != MAGIC or version != VERSION:
        raise TierFormatError(f"not a version {VERSION} record")
    if security >= len(_SECURITY) or kind not in (_POSITIVE, _NEGATIVE) or expires_at != expires_at:
        raise TierFormatError("a record with an unknown kind, status or expiry")
    error = None
    if flags & _ERROR:
        code = reader.number(2)
        error = ExtendedError(code, reader.take(reader.number(2)).decode(errors="replace"))
    source = reader.take(reader.number(1)).decode(errors="replace") or None
    common = {
        "ttl": ttl, "expires_at": expires_at, "security": _SECURITY[security],
        "source": source, "error": error,
    }
    entry: Entry
    if kind == _POSITIVE:
        if rank not in _RANKS or rdtype == 0:
            raise TierFormatError(f"an RRset record with rank {rank} under type {rdtype}")
        rdata = reader.blob(rdtype)
        rrsigs = reader.blob(dns.rdatatype.RRSIG) if flags & _RRSIGS else None
        entry = _Positive(**common, rdata=rdata, rrsigs=rrsigs, rank=Rank(rank))
    else:
        soa = reader.packed()
        proof = tuple(reader.packed() for _ in range(reader.number(1)))
        entry = _Negative(**common, nxdomain=bool(flags & _NXDOMAIN), soa=soa, proof=proof)
    if reader.offset != len(body):
        raise TierFormatError("bytes after the end of the record")
    return entry
