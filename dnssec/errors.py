"""The root of Holdfast's exceptions, and the DNSSEC package's own errors.

``HoldfastError`` is defined here, in the bottom layer, because the
dependency direction is ``dnssec`` <- ``rootzone`` <- ``resolver``: every
package can derive from it without importing upwards. ``resolver.errors``
re-exports it next to the resolver's own error classes.
"""

from __future__ import annotations


class HoldfastError(Exception):
    """Root of every error Holdfast raises on purpose."""


class RecordFileError(HoldfastError):
    """A file of DNS records (hints, trust anchors) could not be used.

    The message names the source and, where known, the line.
    """

    def __init__(self, message: str, *, source: str, line: int | None = None) -> None:
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
