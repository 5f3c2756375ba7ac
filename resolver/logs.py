"""Log output: readable lines by default, one JSON object per line on request.

Notable events are logged with ``extra={"event": "<name>", ...}`` (for
example ``zone_loaded``, ``zone_rejected``, ``zone_retired``,
``server_held_down``, ``config_reloaded``, ``config_refused``). In JSON
those names and extra fields are keys of their own, so a log pipeline can
match on ``event`` instead of on wording that may change; the human format
shows the same event name in brackets at the end of the line.

JSON keys, stable: ``ts`` (UTC, ISO 8601 with milliseconds), ``level``,
``logger``, ``message``, ``event`` when the record has one, then the
record's other extra fields, then ``exception`` with the traceback text.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any, TextIO

#: Names ``--log-format`` and ``[logging] format`` accept.
FORMATS = ("human", "json")
#: The name of the handler ``configure`` installs (and replaces).
_HANDLER_NAME = "holdfast"

#: Attributes every ``LogRecord`` has; anything else came in through ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, keys as in the module docstring."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ).replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class HumanFormatter(logging.Formatter):
    """``time LEVEL logger: message [event]``, the traceback after it."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        event = getattr(record, "event", None)
        if event is None:
            return line
        head, newline, tail = line.partition("\n")
        return f"{head} [{event}]{newline}{tail}"


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (it may be swapped)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(level: str, log_format: str, *, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (default: stderr) in ``log_format``.

    Called again (after the configuration is read, on a reload), it replaces
    the handler it installed before instead of adding a second one; handlers
    someone else installed (a test harness's) are left alone.
    """
    handler = _Stderr() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)


def set_level(level: str) -> None:
    """Change the level of every log record from now on (a reload does this)."""
    logging.getLogger().setLevel(level.upper())
