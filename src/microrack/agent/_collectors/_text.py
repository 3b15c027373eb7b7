"""Reading a pseudo file for a collector: absent means no data, anything else fails it."""

from __future__ import annotations

from microrack.agent._registry import NoData
from microrack.sensors import HostFS

__all__ = ["read_or_nodata"]


def read_or_nodata(fs: HostFS, path: str) -> str:
    """The file's text; :class:`NoData` when it does not exist, ``OSError`` otherwise."""
    try:
        return fs.read_text(path)
    except FileNotFoundError as exc:
        raise NoData(f"{path} not found") from exc


def read_optional(fs: HostFS, path: str) -> str | None:
    """The file's text, ``None`` when it does not exist (IPv6 off, older kernel)."""
    try:
        return fs.read_text(path)
    except FileNotFoundError:
        return None
