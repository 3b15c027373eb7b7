"""``microrack build agent``: the single file itself, run by Debian's own python3."""

from __future__ import annotations

import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from pyz import build_pyz

from support import require_binary


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pyz(tmp_path_factory.mktemp("pyz") / "microrack-agent.pyz", "amd64", "arm64")


def _run(pyz: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The single file run by Debian's interpreter, not this venv's (it must need nothing
    installed), isolated (``-I``) and with only ``env``."""
    python = require_binary("python3.11", "/usr/bin/python3.11")
    return subprocess.run(
        [python, "-I", str(pyz), *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_same_inputs_same_bytes(pyz: Path, tmp_path: Path) -> None:
    again = build_pyz(tmp_path / "again.pyz", "amd64", "arm64")
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(pyz.read_bytes()).digest()


def test_contents(pyz: Path) -> None:
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(pyz, os.X_OK)
    names = zipfile.ZipFile(pyz).namelist()
    assert "__main__.py" in names and "lib/microrack/cli/__init__.py" in names
    assert "lib/microrack/catalog/data/boards.yaml" in names or any(
        n.startswith("lib/microrack/catalog/data/") for n in names
    )
    native = sorted(n for n in names if n.endswith(".so"))
    # pydantic's core for each architecture and Python asked for; nothing else compiled
    # (PyYAML runs its pure-Python parser).
    assert all(n.startswith("lib/pydantic_core/_pydantic_core.cpython-3") for n in native), native
    assert {n.split("-", 2)[-1] for n in native} == {"x86_64-linux-gnu.so", "aarch64-linux-gnu.so"}
    assert len(native) == 4  # 2 architectures x Python 3.11, 3.13


def test_runs_with_the_system_python_and_a_clean_environment(pyz: Path, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    r = _run(pyz, env, "--version")
    assert r.returncode == 0, r.stderr
    assert "(x86_64, Python 3.11" in r.stdout
    assert list((tmp_path / "home/.cache/microrack").glob("pyz-*/.complete"))
    # The fan controller imports pydantic's compiled core from the unpacked file.
    r = _run(pyz, env, "fan", "--config", str(tmp_path / "missing.yaml"))
    assert r.returncode != 0 and "missing.yaml" in r.stderr and "Traceback" not in r.stderr


def test_no_writable_directory_is_one_line(pyz: Path, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/proc", "MICRORACK_PYZ_ROOT": "/proc/microrack"}
    r = _run(pyz, env, "--version")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "/proc/microrack" in r.stderr, r.stderr
    assert "MICRORACK_PYZ_ROOT" in r.stderr


def test_systemd_cache_directory_is_used(pyz: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/proc", "CACHE_DIRECTORY": str(cache)}
    r = _run(pyz, env, "--version")
    assert r.returncode == 0, r.stderr
    assert list(cache.glob("pyz-*/microrack/__init__.py"))
