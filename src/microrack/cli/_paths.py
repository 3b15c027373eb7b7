"""Checks on output paths that sub-commands make before any work starts.

No command replaces a file silently: an existing output is only replaced with
``--force``, and a command never writes over one of its own inputs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from microrack.errors import UsageError

__all__ = ["check_output", "check_writable"]


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


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(
    flag: str,
    path: str,
    *,
    force: bool,
    inputs: Sequence[str | None] = (),
    writable: bool = True,
) -> None:
    """Before any work: ``path`` may be written by the command behind ``flag``.

    Never one of the command's own ``inputs`` (not even with ``--force``); an
    existing file is only replaced with ``--force``; and (``writable``) the
    directory must be writable.  Each refusal is one line naming the flag.
    """
    for given in inputs:
        if given and os.path.exists(path) and _same_file(path, given):
            raise UsageError(
                flag, f"{path} is also an input of this command; write the result somewhere else"
            )
    if writable:
        check_writable(flag, path)
    if os.path.lexists(path) and not force:
        raise UsageError(flag, f"{path} exists; nothing was written (use --force to replace it)")
