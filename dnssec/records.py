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
        return _parse(text)
    except dns.exception.DNSException as exc:
        line, message = _locate(text, exc)
        raise RecordFileError(message, source=source, line=line) from exc


def _parse(text: str) -> list[dns.rrset.RRset]:
    return dns.zonefile.read_rrsets(
        text, ttl=None, default_ttl=DEFAULT_TTL, rdclass=None, origin=dns.name.root,
        relativize=False,
    )


def _locate(text: str, error: dns.exception.DNSException) -> tuple[int | None, str]:
    """The line and message to report for a parse error.

    dnspython counts lines as its tokenizer goes, so an error in a record's
    data is reported on the line after it. Records here are one line each
    (unless parenthesised): the first line that fails on its own is the
    culprit, and its own error says what is wrong with it.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        if "(" in line:
            break
        try:
            _parse(line)
        except dns.exception.DNSException as exc:
            message = _LINE_IN_MESSAGE.sub("", str(exc))
            return number, f"{message} in {line.strip()!r}"
    message = str(error)
    match = _LINE_IN_MESSAGE.match(message)
    if match is None:
        return None, message
    return int(match.group(1)), message[match.end() :]
