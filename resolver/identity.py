"""Who answers: CHAOS TXT ``id.server``, ``hostname.bind``, ``version.bind``, ``version.server``.

Operators behind an anycast address ask ``dig CH TXT id.server`` which
instance answered (RFC 4892); ``version.bind`` is the traditional way to ask
for the software version. Both also tell an attacker what to aim at, so
peers recommend hiding them, and so do we by default
(``[server] hide_identity``, ``hide_version``, as Unbound's ``hide-identity``,
``hide-version``): a hidden name is answered REFUSED, like any other CHAOS
question. Shown, the answer is Unbound's (daemon/worker.c ``answer_chaos``):
one TXT record, TTL 0, for QTYPE TXT or ANY; the identity defaults to the
host name and the version to ``holdfast VERSION``.

Pure: ``Identity.record`` maps a CHAOS question to its TXT record or None.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from resolver import __version__

_IDENTITY_NAMES = frozenset(dns.name.from_text(n) for n in ("id.server.", "hostname.bind."))
_VERSION_NAMES = frozenset(dns.name.from_text(n) for n in ("version.server.", "version.bind."))
#: The longest text one TXT string carries (RFC 1035 3.3.14: a length octet).
MAX_TEXT = 255


@dataclass(frozen=True, slots=True)
class Identity:
    """What the CHAOS names say (empty: the host name / ``holdfast VERSION``), and
    which are hidden (REFUSED)."""

    identity: str = ""
    version: str = ""
    hide_identity: bool = True
    hide_version: bool = True

    def record(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        rdclass: dns.rdataclass.RdataClass,
    ) -> dns.rrset.RRset | None:
        """The TXT record answering this CHAOS question, or None (it is refused)."""
        if rdclass != dns.rdataclass.CH or rdtype not in (dns.rdatatype.TXT, dns.rdatatype.ANY):
            return None
        if name in _IDENTITY_NAMES and not self.hide_identity:
            text = self.identity or socket.gethostname()
        elif name in _VERSION_NAMES and not self.hide_version:
            text = self.version or f"holdfast {__version__}"
        else:
            return None
        txt = dns.rdtypes.ANY.TXT.TXT(
            dns.rdataclass.CH, dns.rdatatype.TXT, [text.encode()[:MAX_TEXT]]
        )
        rrset = dns.rrset.RRset(name, dns.rdataclass.CH, dns.rdatatype.TXT)
        rrset.add(txt, 0)
        return rrset


def text_error(value: str) -> str | None:
    """Check for ``[server] identity`` and ``version``: one TXT string, printable ASCII."""
    if len(value.encode()) > MAX_TEXT:
        return f"at most {MAX_TEXT} bytes (one TXT string), not {len(value.encode())}"
    if not value.isascii() or not value.isprintable():
        return "printable ASCII only"
    return None
