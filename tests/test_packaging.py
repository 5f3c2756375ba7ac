"""The installed product: build the wheel, install it as the README says, run it.

This is the production install of README's "Running in production", done
offline inside the test namespace: a fresh venv gets the runtime lock's
wheels (hash-checked, from the wheelhouse ``make`` fills beside the
project's venv) and then the wheel built from this checkout without its
dependencies, so ``pip check`` proves that the wheel's declared
dependencies are met by the lock. Then the console script must start, check
the sample configuration, and print nothing on stderr (no warning, no
traceback). It also pins down what the wheel ships.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"
#: What the wheel is built from: the product's sources and metadata only.
SOURCES = ("pyproject.toml", "README.md", "resolver", "rootzone", "dnssec")

pytestmark = pytest.mark.skipif(
    not WHEELHOUSE.is_dir(), reason=f"no wheelhouse at {WHEELHOUSE} (make fills it)"
)


def _run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True,
        timeout=300, check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (the checkout stays clean)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, "-m", "build", "--wheel", "--no-isolation",
                 "--outdir", dist, source, cwd=source)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "SetuptoolsDeprecationWarning" not in built.stdout + built.stderr
    (found,) = dist.glob("holdfast-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the runtime lock and the wheel, like /opt/holdfast."""
    target = tmp_path_factory.mktemp("opt") / "holdfast"
    venv.create(target, with_pip=True)
    pip = target / "bin" / "pip"
    lock = _run(pip, "install", "--no-index", "--find-links", WHEELHOUSE,
                "--require-hashes", "-r", ROOT / "requirements" / "runtime.lock")
    assert lock.returncode == 0, lock.stdout + lock.stderr
    product = _run(pip, "install", "--no-index", "--no-deps", wheel)
    assert product.returncode == 0, product.stdout + product.stderr
    return target


def test_the_wheel_ships_the_product_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("holdfast-")}
    assert tops == {"resolver", "rootzone", "dnssec"}
    assert "resolver/lab/lab.py" in names  # `holdfast demo` and the drills
    assert not [name for name in names if name.endswith(".pem")]  # test keys stay out
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text


def test_the_declared_dependencies_are_met_by_the_runtime_lock(installed: Path) -> None:
    check = _run(installed / "bin" / "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_installed_command_runs_and_prints_no_warning(installed: Path) -> None:
    holdfast = installed / "bin" / "holdfast"
    version = _run(holdfast, "--version")
    assert version.returncode == 0
    assert version.stdout.startswith("holdfast ")
    assert version.stderr == ""
    checked = _run(holdfast, "check-config", ROOT / "contrib" / "holdfast.toml")
    assert checked.returncode == 0, checked.stderr
    assert ": ok," in checked.stdout
    assert checked.stderr == ""


def test_the_installed_lab_makes_its_own_rsa_keys(installed: Path) -> None:
    """No testdata beside an installed package: the lab signs with fresh keys."""
    script = (
        "from resolver.lab import Lab\n"
        "from resolver.clock import SystemClock\n"
        "print(Lab.build(SystemClock()).trust_anchor_text())\n"
    )
    built = _run(installed / "bin" / "python", "-c", script, cwd=installed)
    assert built.returncode == 0, built.stderr
    assert " 8 2 " in built.stdout  # the lab root's DS: RSA/SHA-256, SHA-256
    assert built.stderr == ""


def test_the_systemd_unit_runs_the_documented_venv() -> None:
    unit = (ROOT / "contrib" / "holdfast.service").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "ExecStart=/opt/holdfast/bin/holdfast serve" in unit
    assert "python3 -m venv /opt/holdfast" in readme
