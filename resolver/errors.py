"""Holdfast's exception hierarchy, sorted by whose fault it is.

* ``QueryError``: the client sent something we will not answer normally; it
  carries the rcode to answer with (FORMERR, NOTIMP, REFUSED, ...).
* ``UpstreamError``: an authoritative server misbehaved or could not be
  reached. The iterator feeds it back into server selection and tries the
  next server; it never reaches a client as an exception.
* ``ConfigError``: a configuration or data file is unusable; fatal at start,
  refused (keeping the old one) at reload.

Anything else that escapes is a bug: the server logs it with its traceback
and answers SERVFAIL.
"""

from __future__ import annotations

from dnssec.errors import HoldfastError as HoldfastError


class QueryError(HoldfastError):
    """A client query that gets an error rcode instead of an answer."""

    def __init__(self, rcode: int, reason: str) -> None:
        super().__init__(reason)
        self.rcode = rcode
        self.reason = reason


class UpstreamError(HoldfastError):
    """An exchange with an authoritative server did not give a usable reply."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"{address}: {reason}")
        self.address = address
        self.reason = reason


class UpstreamTimeout(UpstreamError):
    """No matching reply arrived within the timeout."""


class EgressRefused(UpstreamError):
    """The address is outside the upstream allow-list: nothing was sent."""


class NetworkError(UpstreamError):
    """The socket layer failed (unreachable, connection reset, ...)."""


class MalformedResponse(UpstreamError):
    """The reply could not be parsed, or did not match the question."""


class ConfigError(HoldfastError):
    """A configuration or input file is unusable; names the file and line."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        where = source or ""
        if source is not None and line is not None:
            where = f"{source}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line
