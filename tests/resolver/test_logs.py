"""Log output: the human format shows the event, JSON has stable keys."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from resolver import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was (pytest's capture handlers included)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(log_format: str, *, level: str = "info") -> str:
    stream = io.StringIO()
    logs.configure(level, log_format, stream=stream)
    log = logging.getLogger("holdfast.test")
    log.info("copy %s loaded", 2026112200,
             extra={"event": "local_root_loaded", "serial": 2026112200})
    log.debug("not shown at info")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("refresh failed")
    return stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_have_stable_keys_and_the_event_fields() -> None:
    first, second = (json.loads(line) for line in emit("json").splitlines() if line.startswith("{"))
    assert list(first) == ["ts", "level", "logger", "message", "event", "serial"]
    assert first["ts"].endswith("Z")
    assert first["level"] == "info"
    assert first["logger"] == "holdfast.test"
    assert first["message"] == "copy 2026112200 loaded"
    assert first["event"] == "local_root_loaded"
    assert first["serial"] == 2026112200
    assert second["level"] == "error"
    assert "ValueError: boom" in second["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_every_json_record_is_one_line() -> None:
    lines = emit("json").splitlines()
    assert len(lines) == 2  # the traceback is inside the second object, not after it
    assert all(json.loads(line) for line in lines)


@pytest.mark.usefixtures("restore_logging")
def test_the_human_format_shows_the_event_after_the_message() -> None:
    text = emit("human")
    assert "INFO holdfast.test: copy 2026112200 loaded [local_root_loaded]" in text
    assert "not shown" not in text
    assert "Traceback" in text


@pytest.mark.usefixtures("restore_logging")
def test_configure_replaces_its_handler_and_set_level_applies_at_once() -> None:
    stream = io.StringIO()
    logs.configure("warning", "human", stream=stream)
    logs.configure("warning", "human", stream=stream)
    log = logging.getLogger("holdfast.test")
    log.info("hidden")
    logs.set_level("info")
    log.info("shown")
    assert stream.getvalue().count("shown") == 1
    assert "hidden" not in stream.getvalue()


@pytest.fixture
def query_log_back() -> Iterator[None]:
    """Send the query log back to the event log after the test."""
    yield
    logs.configure_query_log("", "human")


@pytest.mark.usefixtures("restore_logging", "query_log_back")
def test_the_query_log_file_is_its_own_and_reopened_after_a_rename(tmp_path: Path) -> None:
    events = io.StringIO()
    logs.configure("warning", "json", stream=events)
    path = tmp_path / "queries.log"
    logs.configure_query_log(str(path), "json")
    query = logging.getLogger(logs.QUERY_LOGGER)

    query.info("first", extra={"event": "query"})
    path.rename(tmp_path / "queries.log.1")
    query.info("second, still in the renamed file", extra={"event": "query"})
    assert logs.reopen_query_log() == str(path)
    query.info("third", extra={"event": "query"})

    def messages(file: Path) -> list[str]:
        return [json.loads(line)["message"] for line in file.read_text().splitlines()]

    # Written although the event log is at warning, and not into the event log.
    assert messages(tmp_path / "queries.log.1") == ["first", "second, still in the renamed file"]
    assert messages(path) == ["third"]
    assert events.getvalue() == ""

    logs.configure_query_log("", "json")
    query.info("back with the events")
    assert logs.reopen_query_log() is None
    assert messages(path) == ["third"]


@pytest.mark.usefixtures("restore_logging", "query_log_back")
def test_a_query_log_file_that_cannot_be_reopened_keeps_the_old_one(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "queries.log"
    logs.configure_query_log(str(path), "human")
    path.rename(tmp_path / "queries.log.1")
    directory.rmdir()
    with pytest.raises(logs.QueryLogError, match=r"logging.query_log_target: cannot reopen "):
        logs.reopen_query_log()
    logging.getLogger(logs.QUERY_LOGGER).info("still written")
    assert "still written" in (tmp_path / "queries.log.1").read_text()


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("", None),
        ("syslog", None),
        ("relative.log", "'relative.log' is not \"\", \"syslog\" or an absolute file path"),
        ("/var/log/", "'/var/log/' is not \"\", \"syslog\" or an absolute file path"),
    ],
)
def test_the_query_log_target_form(target: str, problem: str | None) -> None:
    assert logs.query_target_error(target) == problem
