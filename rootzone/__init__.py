"""The local copy of the root zone (RFC 8806): obtain, check, hold and retire it.

* ``sources``: where candidates come from (file, AXFR, HTTP);
* ``zonefile`` and ``candidate``: parse a candidate and run every check on it
  (guardrails, serial, DNSSEC, ZONEMD policy in ``verify``);
* ``lookup``: answer root questions from a checked copy (``model.RootCopy``);
* ``lifecycle``: the ``LocalRoot`` every code path asks, with the copy's
  stale and retirement bounds;
* ``service``: the refresh task (the package's only Trio code besides sources);
* ``hints``: the root servers, the fallback that is always there.
"""

import dnssec as _dnssec  # noqa: F401  (first: its warning filter, see dnssec/__init__)
