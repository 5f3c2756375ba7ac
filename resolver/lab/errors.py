"""The lab's one exception: a request the lab cannot carry out.

Raised for bad fault text, unknown server addresses or zones, and by the
control-socket client when the lab is not running or rejects a request. It
never escapes ``Lab.handle``: the authoritative core answers any bytes.
"""

from __future__ import annotations

from resolver.errors import HoldfastError


class LabError(HoldfastError):
    """The lab refused or could not perform a request; the message says why."""
