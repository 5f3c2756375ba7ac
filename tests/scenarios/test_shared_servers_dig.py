"""End to end, issue 23: a parent and its children on the same servers, asked with dig.

A real lab and a real ``holdfast serve``, with QNAME minimisation on and
off (``[upstream] qname_minimisation``). The lab's ``shared.com.`` (NSEC) and
``shared3.com.`` (NSEC3) serve, from their own two servers, an unsigned
child without DS and a signed child with DS: the insecure child answers
NOERROR without AD, the signed one NOERROR with AD, nothing is SERVFAIL and
no server is held down.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from resolver.control_client import request
from tests.scenarios.processes import NEEDS_DIG, LabProcess, ResolverProcess, serving

pytestmark = [pytest.mark.integration, NEEDS_DIG]

#: (name, answer, secure)
CASES = [
    ("www.shared.com", "192.0.2.60", True),
    ("www.insecure.shared.com", "192.0.2.61", False),
    ("www.signed.shared.com", "192.0.2.62", True),
    ("www.shared3.com", "192.0.2.63", True),
    ("www.insecure.shared3.com", "192.0.2.64", False),
    ("www.signed.shared3.com", "192.0.2.65", True),
]


@pytest.fixture(scope="module", params=[True, False], ids=["qmin", "no-qmin"])
def resolver(
    request: pytest.FixtureRequest, lab: LabProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResolverProcess]:
    workdir = tmp_path_factory.mktemp("resolver")
    config = Path(workdir / "holdfast.toml")
    minimise = "true" if request.param else "false"
    config.write_text(f"[upstream]\nqname_minimisation = {minimise}\n", encoding="utf-8")
    with serving(ResolverProcess.start(lab, workdir, "--config", str(config))) as resolver:
        yield resolver


@pytest.mark.parametrize(("question", "answer", "secure"), CASES)
def test_children_on_their_parents_servers(
    resolver: ResolverProcess, question: str, answer: str, secure: bool
) -> None:
    reply = resolver.dig(question, "A", "+dnssec")
    assert reply.status == "NOERROR", reply.output
    assert reply.answers("A") == [answer]
    assert ("ad" in reply.flags) is secure
    assert reply.ede == ""


@pytest.mark.parametrize("child", ["insecure", "signed"])
@pytest.mark.parametrize("parent", ["shared", "shared3"])
def test_a_childs_nxdomain(resolver: ResolverProcess, parent: str, child: str) -> None:
    reply = resolver.dig(f"nx.{child}.{parent}.com", "A", "+dnssec")
    assert reply.status == "NXDOMAIN", reply.output
    assert ("ad" in reply.flags) is (child == "signed")


def test_no_server_was_held_down(resolver: ResolverProcess) -> None:
    for question, _, _ in CASES:
        resolver.dig(question, "A")
    listed = request(resolver.control, {"command": ["holddown", "list"]}, timeout=5)
    assert "127.53.3." not in str(listed)
