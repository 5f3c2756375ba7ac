"""The in-memory DoH session bench measures real exchanges (timings are not asserted)."""

from __future__ import annotations

from bench import doh_session
from resolver.doh import Http2Session


def test_the_client_bytes_are_requests_the_session_takes() -> None:
    session = Http2Session(doh_session.PATH, max_streams=100)
    requests = [request for data in [doh_session._PREFACE, *doh_session.h2_reads(24, 12)]
                for request in session.receive(data)]
    assert [request.stream for request in requests] == list(range(1, 48, 2))
    assert {request.wire for request in requests} == {doh_session._QUERY}
    assert not session.closed


def test_every_measure_runs_through() -> None:
    reads = doh_session.h2_reads(24, 12)
    assert len(doh_session.session_cost(reads)) == 2
    assert len(doh_session.h2_floor(reads)) == 2
    assert doh_session.http1_cost(24, 12) >= 0
