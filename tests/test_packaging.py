"""The wheel pip builds from this tree: what a user's ``pip install`` gets."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # A copy: building in the checkout would leave build/ and *.egg-info beside the sources.
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    (path,) = out.glob("microrack-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_ships_py_typed_and_the_package_data(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "microrack/py.typed" in names  # PEP 561: type checkers use the package's hints
    assert "microrack/hub/static/index.html" in names
    assert any(n.startswith("microrack/catalog/data/") for n in names)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
