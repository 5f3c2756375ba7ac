"""The dependency direction is dnssec <- rootzone <- resolver, and Trio stays in the shell.

Read from the source (no imports executed), in the spirit of trio's
test_exports: a violation names the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The only modules allowed to import Trio: sockets, timers, nurseries.
TRIO_SHELL = {
    "resolver/server.py",
    "resolver/loopwatch.py",
    "resolver/encrypted.py",
    "resolver/tls_stream.py",
    "resolver/connections.py",
    "resolver/transport.py",
    "resolver/upstream_tcp.py",
    "resolver/driver.py",
    "resolver/framing.py",
    "resolver/recursor.py",
    "resolver/shared_tier.py",
    "resolver/control.py",
    "resolver/commands.py",
    "resolver/daemon.py",
    "resolver/workers.py",
    "resolver/root_sharing.py",
    "resolver/zygote.py",
    "resolver/metrics_endpoint.py",
    "resolver/dnstap_output.py",
    "resolver/anchor_refresh.py",
    "resolver/signaling.py",
    "resolver/cli.py",
    "resolver/lab/network.py",
    "resolver/lab/server.py",
    "resolver/lab/drill.py",
    "resolver/lab/rootdrill.py",
    "rootzone/sources.py",
    "rootzone/service.py",
}

FORBIDDEN = {"dnssec": {"resolver", "rootzone"}, "rootzone": {"resolver"}, "resolver": set()}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


SOURCES = sorted(p for package in FORBIDDEN for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    package = relative.split("/")[0]
    imports = _imports(path)
    assert not imports & FORBIDDEN[package], f"{relative} imports upwards"
    if "trio" in imports:
        assert relative in TRIO_SHELL, f"{relative} imports trio outside the I/O shell"


#: The stages of resolution (issue 19): the iterator uses them, never the other way round.
STAGES = (
    "resolver/plan.py",
    "resolver/assemble.py",
    "resolver/cache_writes.py",
    "resolver/servers.py",
    "resolver/evidence.py",
    "resolver/parallel.py",
)


def _resolver_modules(path: Path) -> set[str]:
    """The ``resolver.*`` modules ``path`` imports, by dotted name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("resolver.")}


@pytest.mark.parametrize("relative", STAGES)
def test_stages_do_not_reach_back_into_the_iterator(relative: str) -> None:
    imports = _resolver_modules(ROOT / relative)
    assert "resolver.iterator" not in imports, f"{relative} imports the iterator"
    assert "trio" not in _imports(ROOT / relative), f"{relative} is sans-I/O"
