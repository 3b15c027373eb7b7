"""Checks on output paths that sub-commands make before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from microrack.errors import UsageError

__all__ = ["check_writable"]


def check_writable(flag: str, path: str) -> None:
    """Fail before the work, in one line naming the flag, if ``path`` cannot be written."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(flag, f"{path} is a directory")
    if not parent.is_dir():
        raise UsageError(flag, f"{path}: no such directory {parent}")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(flag, f"{path}: not writable")
