"""The root of Holdfast's exceptions, and the DNSSEC package's own errors.

``HoldfastError`` is defined here, in the bottom layer, because the
dependency direction is ``dnssec`` <- ``rootzone`` <- ``resolver``: every
package can derive from it without importing upwards. ``resolver.errors``
re-exports it next to the resolver's own error classes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dns.edns import EDECode

from dnssec.status import ExtendedError


class HoldfastError(Exception):
    """Root of every error Holdfast raises on purpose.

    Every one of them survives pickling, because some cross a process
    boundary: a local-root candidate is checked in a worker process, and
    ``concurrent.futures`` sends its exception back pickled. The default
    (``BaseException.__reduce__``) rebuilds an exception by calling its
    class with ``args``, which fails for any ``__init__`` that takes other
    arguments (``CandidateRejected(kind, message)``); the failure surfaced
    as "the worker died: terminated abruptly" and the real reason was lost.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        """Rebuild without calling ``__init__``: the same ``args`` and attributes."""
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[HoldfastError], args: tuple[Any, ...]) -> HoldfastError:
    """An instance of ``cls`` with ``args``, its attributes restored by pickle afterwards."""
    return cls.__new__(cls, *args)


class RecordFileError(HoldfastError):
    """A file of DNS records (hints, trust anchors) could not be used.

    The message names the source and, where known, the line.
    """

    def __init__(self, message: str, *, source: str, line: int | None = None) -> None:
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line


class Bogus(HoldfastError):
    """Data that should have validated did not (RFC 4035 section 4.3).

    Each subclass is one reason a client can be told, as the Extended DNS
    Error ``code`` (RFC 8914); the message is the EXTRA-TEXT and names the
    zone and RRset that failed.
    """

    code: ClassVar[int] = EDECode.DNSSEC_BOGUS

    def error(self) -> ExtendedError:
        """The Extended DNS Error that tells a client why."""
        return ExtendedError(self.code, str(self))


class BogusExpired(Bogus):
    """Every usable signature had expired."""

    code = EDECode.SIGNATURE_EXPIRED


class BogusNotYetValid(Bogus):
    """Every usable signature had an inception in the future."""

    code = EDECode.SIGNATURE_NOT_YET_VALID


class BogusNoKey(Bogus):
    """No trusted key fits: no DNSKEY matches the DS, or none signed the data."""

    code = EDECode.DNSKEY_MISSING


class BogusNoSignatures(Bogus):
    """Data from a signed zone came without RRSIGs."""

    code = EDECode.RRSIGS_MISSING


class BogusNoDenial(Bogus):
    """A negative answer from a signed zone came without a valid NSEC/NSEC3 proof."""

    code = EDECode.NSEC_MISSING


class BogusUnsupportedAlgorithm(Bogus):
    """A secure zone's data is signed only with algorithms we cannot check."""

    code = EDECode.UNSUPPORTED_DNSKEY_ALGORITHM


class ValidationWorkExceeded(Bogus):
    """Validating would take more signature checks or NSEC3 hashes than allowed.

    KeyTrap (CVE-2023-50387) and the NSEC3 closest-encloser attack
    (CVE-2023-50868) make a resolver burn CPU on one answer; the answer is
    treated as bogus instead.
    """
