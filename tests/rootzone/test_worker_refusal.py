"""A candidate refused in the worker process arrives with its real reason (issue 16, item 8).

The refusal crosses the process boundary pickled; before ``HoldfastError``
could be unpickled, every refusal arrived as "the worker died: terminated
abruptly" (kind ``worker``).
"""

from __future__ import annotations

from pathlib import Path

from dnssec.anchors import TrustAnchors
from resolver.clock import FakeClock
from rootzone.candidate import LoadPolicy
from rootzone.lifecycle import LocalRoot
from rootzone.service import RootService, in_process
from rootzone.sources import FileSource


async def test_a_refusal_in_the_worker_process_keeps_its_kind_and_reason(
    lab_anchors: TrustAnchors, lab_root_text: str, lab_now: int, tmp_path: Path
) -> None:
    zone = tmp_path / "root.zone"
    zone.write_text(lab_root_text + "\nbroken.\t86400\tIN\tNOSUCHTYPE\t1 2 3\n")
    service = RootService(
        LocalRoot(FakeClock(lab_now).wall),
        [FileSource(zone)],
        anchors=lab_anchors,
        policy=LoadPolicy(),
        offload=in_process,
    )
    await service.refresh()
    rejection = service.local_root.last_rejection
    assert rejection is not None
    assert rejection.kind == "parse"
    assert "NOSUCHTYPE" in rejection.reason
    assert "died" not in rejection.reason
