"""Names in canonical (lowercase) form, made once per recent name, and compared as such.

A cold answer compares and looks up the same few names (its zone, the NS
names, the question's) dozens of times: the cache keys them by their
lowercase wire form, the scrubbing stage asks whether each owner is inside
the zone asked and on the question's chain. dnspython's ``Name`` lowercases
every label again on each ``==``, ``hash`` and ``is_subdomain``; here a
name's lowercase labels are made once (``resolver.recent``, by the labels
as read, case kept) and the tests are tuple comparisons. Unbound compares
names the same way, by their canonical wire labels (``util/data/dname.c``
``dname_subdomain_c``, ``query_dname_compare``).
"""

from __future__ import annotations

import dns.name

from resolver.recent import Recent

#: Lowercase wire form and lowercase ``Name`` by a name's labels (case
#: kept): a cold query looks the same zone, NS and glue names up about ten
#: times, and rendering and lowercasing them was a third of each lookup.
_CANONICAL: Recent[tuple[bytes, ...], tuple[bytes, dns.name.Name]] = Recent(4096)


def canonical(name: dns.name.Name) -> tuple[bytes, dns.name.Name]:
    """``name.to_digestable()`` and ``name.canonicalize()``, made once per recent name."""
    known = _CANONICAL.entries.get(name.labels)
    if known is None:
        known = (name.to_digestable(), name.canonicalize())
        _CANONICAL.put(name.labels, known)
    return known


def lowered(name: dns.name.Name) -> tuple[bytes, ...]:
    """``name``'s labels in lowercase: equal for names dnspython calls equal."""
    return canonical(name)[1].labels


def within(name: tuple[bytes, ...], zone: tuple[bytes, ...]) -> bool:
    """``Name.is_subdomain`` on lowercase labels (``lowered``): ``name`` is ``zone`` or below it."""
    return name[len(name) - len(zone):] == zone if len(name) >= len(zone) else False
