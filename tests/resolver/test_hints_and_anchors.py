"""Root hints and trust anchor files: lenient syntax, strict content."""

from __future__ import annotations

import logging

import dns.name
import dns.rdatatype
import pytest

from dnssec.anchors import TrustAnchors
from dnssec.errors import RecordFileError
from rootzone.hints import RootHints


def test_builtin_hints_name_thirteen_root_servers() -> None:
    hints = RootHints.builtin()
    assert len(hints.ns) == 13
    assert "198.41.0.4" in hints.all_addresses()


def test_ttl_and_class_may_be_omitted() -> None:
    hints = RootHints.from_text(
        ". NS a.lab.\na.lab. A 127.53.0.1\n. 3600 IN NS b.lab.\nb.lab. 60 AAAA ::1\n", source="x"
    )
    assert hints.addresses == {
        dns.name.from_text("a.lab."): ("127.53.0.1",),
        dns.name.from_text("b.lab."): ("::1",),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.lab. A 127.53.0.1\n", "no NS record for the root"),
        (". NS a.lab.\n", "no address for a.lab."),
        (". NS a.lab.\na.lab. A 127.53.0.1\nx. MX 10 y.\n", "only the root's NS records"),
        (". NS a.lab.\na.lab. A 300.1.1.1\n", "hints.txt:2"),
        (". NS a.lab.\na.lab. BOGUSTYPE 1\n", "hints.txt:2: unknown rdatatype 'BOGUSTYPE'"),
    ],
)
def test_bad_hints_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(RecordFileError) as caught:
        RootHints.from_text(text, source="hints.txt")
    assert message in str(caught.value)


def test_builtin_anchors_are_the_iana_root_ksks() -> None:
    anchors = TrustAnchors.builtin()
    tags = sorted(rdata.key_tag for rrset in anchors.rrsets for rdata in rrset)
    assert tags == [20326, 38696]
    assert anchors.zones() == (dns.name.root,)


def test_anchor_at_any_name_and_dnskey_anchors() -> None:
    anchors = TrustAnchors.from_text(
        "example. DS 12345 13 2 " + "AB" * 32 + "\n"
        ". DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckH"
        "AeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n",
        source="anchors",
    )
    assert anchors.zones() == (dns.name.from_text("example."), dns.name.root)
    assert {rrset.rdtype for rrset in anchors.rrsets} == {dns.rdatatype.DS, dns.rdatatype.DNSKEY}


@pytest.mark.parametrize(
    ("text", "message"), [("", "no DS or DNSKEY"), ("x. A 192.0.2.1\n", "must be a DS or DNSKEY")]
)
def test_bad_anchor_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(RecordFileError, match=message):
        TrustAnchors.from_text(text, source="anchors")


DSA_ANCHOR = "example.com. DS 2854 3 1 46e4ffc6e9a4793b488954bd3f0cc6af0dfb201b\n"
USABLE_ANCHOR = "example.com. DS 12345 13 2 " + "AB" * 32 + "\n"


@pytest.mark.parametrize(
    ("text", "warned"),
    [
        (DSA_ANCHOR, True),  # DSA: RFC 8624 MUST NOT validate
        ("example.com. DS 12345 13 3 " + "AB" * 32 + "\n", True),  # GOST digest
        (DSA_ANCHOR + USABLE_ANCHOR, False),  # one usable record is enough
        (USABLE_ANCHOR, False),
    ],
)
def test_an_anchor_with_no_supported_algorithm_is_kept_with_a_warning(
    text: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Its zone is answered insecure, as Unbound ignores it (val_anchor.c): say so."""
    with caplog.at_level(logging.WARNING, logger="holdfast.anchors"):
        anchors = TrustAnchors.from_text(text, source="anchors")

    assert anchors.zones() == (dns.name.from_text("example.com."),)
    said = [r.getMessage() for r in caplog.records if "no supported algorithm" in r.getMessage()]
    assert said == (["anchors: trust anchor example.com. has no supported algorithm or "
                     "digest type; names under it are answered insecure"] if warned else [])
