"""Reading small files of DNS records written by people.

Root hints and trust anchors are zone-file text in which TTL and class may be
omitted (``k.root-servers.net. A 193.0.14.129`` and
``. DS 20326 8 2 E06D...`` are both fine). Names must be absolute: there is
no ``$ORIGIN`` guesswork in a file that decides where the resolver sends its
first query. Unknown types in the generic ``TYPEnnn \\# len hex`` form are
accepted (RFC 3597).
"""

from __future__ import annotations

import re

import dns.exception
import dns.name
import dns.rrset
import dns.zonefile

from dnssec.errors import RecordFileError

#: TTL used for records that give none.
DEFAULT_TTL = 3600

_LINE_IN_MESSAGE = re.compile(r"^<input>:(\d+): ")


def read_records(text: str, *, source: str) -> list[dns.rrset.RRset]:
    """Parse zone-file text into RRsets of class IN.

    Args:
        text: the file's content.
        source: the file name, used in error messages.

    Raises:
        RecordFileError: a line does not parse; the error names source and line.
    """
    try:
        return dns.zonefile.read_rrsets(
            text,
            ttl=None,
            default_ttl=DEFAULT_TTL,
            rdclass=None,
            origin=dns.name.root,
            relativize=False,
        )
    except dns.exception.DNSException as exc:
        message = str(exc)
        match = _LINE_IN_MESSAGE.match(message)
        if match is None:
            raise RecordFileError(message, source=source) from exc
        raise RecordFileError(
            message[match.end() :], source=source, line=int(match.group(1))
        ) from exc
