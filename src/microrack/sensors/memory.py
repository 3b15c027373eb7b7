"""``/proc/meminfo``: memory and swap."""

from __future__ import annotations

from typing import NamedTuple

from microrack.sensors._fs import HostFS
from microrack.sensors._util import read_opt

__all__ = ["MemField", "mem_used_ratio", "read_meminfo"]


class MemField(NamedTuple):
    """One meminfo line; ``name`` as node_exporter spells it (``Active_anon``)."""

    name: str
    value: float
    is_bytes: bool


def read_meminfo(fs: HostFS) -> list[MemField]:
    """Every meminfo field, kB converted to bytes; empty if unreadable."""
    text = read_opt(fs, "/proc/meminfo")
    if text is None:
        return []
    out: list[MemField] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].endswith(":"):
            continue
        name = parts[0][:-1].replace("(", "_").replace(")", "")
        try:
            value = float(parts[1])
        except ValueError:
            continue
        is_bytes = len(parts) == 3 and parts[2] == "kB"
        out.append(MemField(name, value * 1024 if is_bytes else value, is_bytes))
    return out


def mem_used_ratio(fields: list[MemField]) -> float | None:
    """1 - MemAvailable/MemTotal: memory the kernel cannot hand out without swapping."""
    by = {f.name: f.value for f in fields}
    total, avail = by.get("MemTotal"), by.get("MemAvailable")
    if not total or avail is None:
        return None
    return max(0.0, min(1.0, 1.0 - avail / total))
