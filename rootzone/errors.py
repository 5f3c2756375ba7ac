"""The local root's errors: why a candidate copy was refused, why a source failed.

Each refusal has a ``kind`` (a stable word for logs, metrics and status) and a
message that names what was wrong, so an operator reading
``holdfast ctl local-root status`` knows which copy was refused and why,
while the copy in use keeps serving.
"""

from __future__ import annotations

from dnssec.errors import HoldfastError


class RootZoneError(HoldfastError):
    """Root of the local root's errors."""


class CandidateRejected(RootZoneError):
    """A candidate copy of the root zone will not be used; ``kind`` says at which check.

    Kinds: ``parse`` (a line or record does not parse), ``structure`` (not
    one zone), ``guardrail`` (absurd size, duplicates, too many TLDs added or
    dropped), ``serial`` (not newer than the copy in use), ``dnssec`` (apex
    keys or an RRSIG fail at the current time), ``zonemd`` (the digest or
    the ZONEMD RRset is wrong, or missing under ``require``), ``worker`` (the
    process checking it died, e.g. out of memory).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SourceError(RootZoneError):
    """A source could not deliver a copy (file missing, transfer or download failed)."""
