"""Raspberry Pi firmware throttling state (the ``get_throttled`` bits).

The firmware driver exposes the mask in sysfs; where it does not, ``vcgencmd
get_throttled`` asks the firmware directly (only on the real root, never on a
captured tree or the twin).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import NamedTuple

from microrack.sensors._fs import HostFS, LocalFS
from microrack.sensors._util import list_opt, read_opt

__all__ = [
    "FLAGS",
    "SYSFS_PATH",
    "Throttled",
    "decode_throttled",
    "find_throttled_path",
    "find_vcgencmd",
    "read_throttled",
]

SYSFS_PATH = "/sys/devices/platform/soc/soc:firmware/get_throttled"
PLATFORM = "/sys/devices/platform"
# bit (now); the same flag "since boot" is bit + 16.
FLAGS = (("under_voltage", 0), ("freq_capped", 1), ("throttled", 2), ("soft_temp_limit", 3))


class Throttled(NamedTuple):
    mask: int
    now: dict[str, bool]
    since_boot: dict[str, bool]


def decode_throttled(mask: int) -> Throttled:
    return Throttled(
        mask,
        {name: bool(mask >> bit & 1) for name, bit in FLAGS},
        {name: bool(mask >> (bit + 16) & 1) for name, bit in FLAGS},
    )


def _parse(text: str) -> int | None:
    text = text.strip().removeprefix("throttled=")
    try:
        return int(text, 16)
    except ValueError:
        return None


def find_throttled_path(fs: HostFS) -> str:
    """Where the firmware node keeps ``get_throttled`` on this board.

    Pi 4 and earlier: ``soc/soc:firmware``; the Pi 5 names its bus after its
    address (``soc@107c000000/soc@107c000000:firmware``).
    """
    if fs.exists(SYSFS_PATH):
        return SYSFS_PATH
    for bus in list_opt(fs, PLATFORM):
        if not bus.startswith("soc"):
            continue
        for child in list_opt(fs, f"{PLATFORM}/{bus}"):
            path = f"{PLATFORM}/{bus}/{child}/get_throttled"
            if child.endswith(":firmware") and fs.exists(path):
                return path
    return SYSFS_PATH


def find_vcgencmd(fs: HostFS) -> str | None:
    """``vcgencmd`` when ``fs`` is this host's real root; never for a tree or the twin."""
    if isinstance(fs, LocalFS) and fs.root == "/":
        return shutil.which("vcgencmd")
    return None


def read_throttled(
    fs: HostFS, vcgencmd: str | None = None, path: str = SYSFS_PATH
) -> Throttled | None:
    """The throttling state from sysfs, else from ``vcgencmd``; ``None`` without Pi firmware."""
    text = read_opt(fs, path)
    mask = _parse(text) if text is not None else None
    if mask is None and vcgencmd:
        try:
            out = subprocess.run(
                [vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=2, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        mask = _parse(out) if out else None
    return None if mask is None else decode_throttled(mask)
