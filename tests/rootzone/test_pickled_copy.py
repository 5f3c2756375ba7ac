"""A copy crosses from the worker process in parts, and is rebuilt exactly."""

from __future__ import annotations

import pickle

import dns.name
import dns.rdatatype

from dnssec.anchors import TrustAnchors
from rootzone.candidate import LoadPolicy, load_copy, records_from_text
from rootzone.model import PickledCopy, RootCopy


def lab_copy(text: str, anchors: TrustAnchors, now: int) -> RootCopy:
    return load_copy(records_from_text(text, source="lab"), source="lab", size=len(text),
                     anchors=anchors, now=now, policy=LoadPolicy(), current=None)


def rebuilt(pickled: PickledCopy) -> tuple[RootCopy, int]:
    """Drive ``restore`` to the end; the copy and how often it paused."""
    steps, pauses = pickled.restore(), 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            copy: RootCopy = done.value
            return copy, pauses
        pauses += 1


def test_the_copy_comes_back_whole_and_the_original_is_untouched(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    original = lab_copy(lab_root_text, lab_anchors, lab_now)
    before = dict(original.zone.rrsets), dict(original.zone.lines)
    pickled = PickledCopy.of(original, part_size=7)
    assert (original.zone.rrsets, original.zone.lines) == before
    copy, pauses = rebuilt(pickle.loads(pickle.dumps(pickled)))  # as from the worker
    assert pauses == len(pickled.parts) == -(-len(original.zone.rrsets) // 7)
    assert list(copy.zone.rrsets.items()) == list(original.zone.rrsets.items())  # order too
    assert copy.zone.lines == original.zone.lines
    assert (copy.serial, copy.source, copy.size, copy.zonemd) == (
        original.serial, original.source, original.size, original.zonemd)
    assert copy.answers.zone is copy.zone
    question = (dns.name.from_text("com."), dns.rdatatype.DS)
    assert copy.answers.answer(*question).to_wire() == original.answers.answer(*question).to_wire()


def test_the_shell_leaves_the_records_to_the_parts(
    lab_root_text: str, lab_anchors: TrustAnchors, lab_now: int
) -> None:
    original = lab_copy(lab_root_text, lab_anchors, lab_now)
    pickled = PickledCopy.of(original)
    shell: RootCopy = pickle.loads(pickled.shell)
    assert shell.zone.rrsets == {}
    assert len(pickled.parts) == 1  # the lab root is smaller than one part

