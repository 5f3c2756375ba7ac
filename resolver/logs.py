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

The query log (logger ``holdfast.query``) goes with the event log unless
``[logging] query_log_target`` sends it elsewhere (``configure_query_log``):
``syslog`` (``/dev/log``, facility daemon, as Unbound's ``use-syslog``) or a
file (Unbound's ``logfile``, Knot's ``log-target``), in the same format.
A file is reopened by ``reopen_query_log`` (SIGHUP, ``holdfast ctl
log-reopen``), so logrotate can rename it without ``copytruncate``.
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.handlers
import os
import stat
import sys
from typing import Any, TextIO

from dnssec.errors import HoldfastError

#: Names ``--log-format`` and ``[logging] format`` accept.
FORMATS = ("human", "json")
#: The name of the handler ``configure`` installs (and replaces).
_HANDLER_NAME = "holdfast"
#: The query log's logger, and the name of the handler ``configure_query_log`` installs.
QUERY_LOGGER = "holdfast.query"
_QUERY_HANDLER_NAME = "holdfast-query"
#: ``[logging] query_log_target`` for the system log, and where that is.
SYSLOG = "syslog"
SYSLOG_SOCKET = "/dev/log"

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


class QueryLogError(HoldfastError):
    """The query log's destination cannot be used."""


def query_target_error(target: str) -> str | None:
    """Why ``target`` (``[logging] query_log_target``) is not usable as written, or None.

    Only its form: whether the file can be written is ``query_target_problem``'s.
    """
    if target in ("", SYSLOG):
        return None
    if not os.path.isabs(target) or target.endswith("/") or "\0" in target:
        return f'{target!r} is not "", "syslog" or an absolute file path'
    return None


def query_target_problem(target: str) -> str | None:
    """What stops the query log being written to ``target`` now, or None (check-config).

    A file must be a regular file we may append to, or a new name in a
    directory we may write (reopening after logrotate creates it there).
    """
    if target == "":
        return None
    if target == SYSLOG:
        if not os.path.exists(SYSLOG_SOCKET):
            return f"no system log socket at {SYSLOG_SOCKET}"
        return None
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        directory = os.path.dirname(target)
        if not os.path.isdir(directory):
            return f"{target}: the directory {directory} does not exist"
        if not os.access(directory, os.W_OK | os.X_OK):
            return f"{target}: the directory {directory} is not writable"
        return None
    except OSError as error:
        return f"{target}: {error.strerror}"
    if not stat.S_ISREG(mode):
        return f"{target} is not a regular file"
    if not os.access(target, os.W_OK):
        return f"{target} is not writable"
    return None


class _QueryFile(logging.FileHandler):
    """A file the query log is appended to, reopened on request (after logrotate renamed it)."""

    def reopen(self) -> None:
        """Write to a file of this name from now on; the old one is closed.

        Raises:
            QueryLogError: it cannot be opened (the old one is kept).
        """
        self.acquire()
        try:
            try:
                fresh = self._open()
            except OSError as error:
                raise QueryLogError(
                    f"logging.query_log_target: cannot reopen {self.baseFilename}: "
                    f"{error.strerror}") from error
            old, self.stream = self.stream, fresh
            if old is not None:
                old.close()
        finally:
            self.release()


def configure_query_log(target: str, log_format: str) -> None:
    """Send the query log to ``target`` ("": with the event log; ``syslog``; a file path).

    Raises:
        QueryLogError: the file or the system log cannot be opened (naming the option).
    """
    use_query_log(query_log_handler(target, log_format))


def query_log_handler(target: str, log_format: str) -> logging.Handler | None:
    """A handler writing to ``target`` in ``log_format``; None for "" (the event log).

    Raises:
        QueryLogError: the file or the system log cannot be opened (naming the option).
    """
    handler: logging.Handler
    try:
        if target == "":
            return None
        if target == SYSLOG:
            handler = logging.handlers.SysLogHandler(
                SYSLOG_SOCKET, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
            handler.ident = "holdfast: "
        else:
            handler = _QueryFile(target, mode="a", encoding="utf-8")
    except OSError as error:
        raise QueryLogError(f"logging.query_log_target: cannot open {target}: "
                            f"{error.strerror or error}") from error
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif target == SYSLOG:  # syslog adds the time and host
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler.setFormatter(HumanFormatter())
    handler.set_name(_QUERY_HANDLER_NAME)
    return handler


def use_query_log(handler: logging.Handler | None) -> None:
    """Put ``handler`` (from ``query_log_handler``) in place of the one installed before.

    With a destination of its own the query log is written whatever the
    event log's level, and no longer goes to the event log (propagate=False).
    """
    logger = logging.getLogger(QUERY_LOGGER)
    for old in [h for h in logger.handlers if h.get_name() == _QUERY_HANDLER_NAME]:
        logger.removeHandler(old)
        old.close()
    if handler is None:
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        return
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def reopen_query_log() -> str | None:
    """Reopen the query log file, if it goes to one; its path, or None.

    Raises:
        QueryLogError: it cannot be reopened (writing goes on to the old one).
    """
    for handler in logging.getLogger(QUERY_LOGGER).handlers:
        if isinstance(handler, _QueryFile):
            handler.reopen()
            return handler.baseFilename
    return None
