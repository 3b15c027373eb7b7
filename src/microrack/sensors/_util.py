"""Small parsing helpers shared by the readers of this package.

Every reader calls :func:`read_opt` / :func:`read_int` so that a file that
vanishes or cannot be read mid-collection becomes ``None`` (skipped), never
an exception.
"""

from __future__ import annotations

import re

from microrack.sensors._fs import HostFS

__all__ = ["clean_name", "list_opt", "read_float", "read_int", "read_opt"]

_INVALID = re.compile(r"[^a-z0-9:_]")


def read_opt(fs: HostFS, path: str) -> str | None:
    """The stripped contents of a file, or ``None`` when it cannot be read."""
    try:
        return fs.read_text(path).strip()
    except (OSError, UnicodeError):
        return None


def read_int(fs: HostFS, path: str) -> int | None:
    text = read_opt(fs, path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def read_float(fs: HostFS, path: str) -> float | None:
    text = read_opt(fs, path)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def list_opt(fs: HostFS, path: str) -> list[str]:
    """Names in a directory; empty when it is absent (no such hardware)."""
    try:
        return fs.listdir(path)
    except OSError:
        return []


def clean_name(text: str) -> str:
    """node_exporter's ``cleanMetricName``: lower case, ``[a-z0-9:_]`` only, trimmed of ``_``."""
    return _INVALID.sub("_", text.strip().lower()).strip("_")
