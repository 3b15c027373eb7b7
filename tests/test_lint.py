"""The tree stays clean: ruff (check and format) over the tree, mypy over the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    p = _run(str(BIN / "ruff"), "check", "src", "tests", "benchmarks")
    assert p.returncode == 0, p.stdout + p.stderr


def test_ruff_format_leaves_everything_as_it_is() -> None:
    p = _run(str(BIN / "ruff"), "format", "--check", "src", "tests", "benchmarks")
    assert p.returncode == 0, p.stdout + p.stderr


def test_mypy_finds_nothing() -> None:
    p = _run(str(BIN / "mypy"))
    assert p.returncode == 0, p.stdout + p.stderr
