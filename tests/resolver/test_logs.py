"""Log output: the human format shows the event, JSON has stable keys."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

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
