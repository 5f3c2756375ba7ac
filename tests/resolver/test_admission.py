"""Cold-query admission: a bounded FIFO, a count cap, and a window driven by CoDel's lateness."""

from __future__ import annotations

from resolver.admission import Admission, AdmissionLimits

LIMITS = AdmissionLimits(
    max_in_flight=8, min_in_flight=2, max_waiting=20, max_wait=0.5, target_delay=0.005,
    interval=0.1,
)


def admission_with(items: str, limits: AdmissionLimits = LIMITS) -> Admission[str]:
    admission: Admission[str] = Admission(limits)
    for item in items:
        admission.arrive(item, now=0.0)
    return admission


def test_queries_start_in_order_up_to_the_in_flight_cap() -> None:
    admission = admission_with("abcdefghij")

    assert admission.take(now=0.0) == list("abcdefgh")
    assert admission.take(now=0.0) == []
    admission.finished()
    assert admission.take(now=0.1) == ["i"]
    assert admission.in_flight == 8


def test_a_full_queue_drops_its_oldest() -> None:
    admission = admission_with("abcde", AdmissionLimits(max_in_flight=2, max_waiting=3))

    assert admission.stats.dropped_full == 2
    assert admission.take(now=0.0) == ["c", "d"]


def test_a_query_that_waited_too_long_is_dropped_when_its_turn_comes() -> None:
    admission: Admission[str] = Admission(LIMITS)
    admission.arrive("old", now=0.0)
    admission.arrive("new", now=0.4)

    assert admission.take(now=0.6) == ["new"]
    assert admission.stats.dropped_stale == 1


def test_a_late_read_halves_the_window_once_per_interval() -> None:
    """The rule that keeps cached answers flowing: fewer resolutions while the reader is late."""
    admission = admission_with("abcdefgh" + "ijkl")
    assert len(admission.take(now=0.0)) == 8

    admission.sojourn(0.050, now=0.0)
    admission.sojourn(0.050, now=0.05)  # the same late spell
    assert admission.window == 4.0
    for _ in range(5):
        admission.finished()
    assert admission.take(now=0.06) == ["i"]  # 3 in flight, a window of 4
    admission.sojourn(0.050, now=0.11)
    assert admission.window == 2.0
    admission.sojourn(0.050, now=0.22)
    assert admission.window == 2.0  # never below min_in_flight: cold queries still progress


def test_on_time_reads_grow_a_full_window_back_by_one() -> None:
    admission = admission_with("abcdefgh" + "ij")
    admission.take(now=0.0)
    admission.sojourn(0.050, now=0.0)
    assert admission.window == 4.0

    admission.sojourn(0.001, now=0.01)  # 8 in flight: the window is full
    assert admission.window == 5.0
    for _ in range(8):
        admission.finished()
    admission.sojourn(0.001, now=0.02)  # nothing in flight: no reason to grow
    assert admission.window == 5.0
    assert admission.take(now=0.02) == ["i", "j"]
