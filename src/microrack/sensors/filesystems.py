"""Mounted filesystems and their usage, skipping pseudo filesystems.

The exclusion patterns are node_exporter's defaults, so both report the same
mounts and a dashboard's filesystem panel looks the same with either.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from microrack.sensors._fs import FsUsage, HostFS
from microrack.sensors._util import read_opt

__all__ = ["Filesystem", "Mount", "read_filesystems", "read_mounts"]

# Debian's package (1.5.0-1) default, which also leaves out /run, /mnt and /media;
# upstream's is ^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|...)($|/)
EXCLUDED_MOUNTPOINTS = re.compile(
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
EXCLUDED_FSTYPES = re.compile(
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs"
    r"|sysfs|tracefs)$"
)
_OCTAL = re.compile(r"\\([0-7]{3})")


class Mount(NamedTuple):
    device: str
    mountpoint: str
    fstype: str
    readonly: bool


class Filesystem(NamedTuple):
    """A real mount and its usage; ``usage`` is ``None`` when statvfs failed."""

    mount: Mount
    usage: FsUsage | None


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def read_mounts(
    fs: HostFS,
    mount_points_exclude: re.Pattern[str] = EXCLUDED_MOUNTPOINTS,
    fs_types_exclude: re.Pattern[str] = EXCLUDED_FSTYPES,
) -> list[Mount]:
    """Mounts of the host's init (``/proc/1/mounts``, else ``/proc/mounts``), pseudo fs skipped."""
    text = read_opt(fs, "/proc/1/mounts")
    if text is None:
        text = read_opt(fs, "/proc/mounts")
    if text is None:
        return []
    seen: set[tuple[str, str, str]] = set()
    out: list[Mount] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        device, mountpoint, fstype = _unescape(parts[0]), _unescape(parts[1]), parts[2]
        if fs_types_exclude.search(fstype) or mount_points_exclude.search(mountpoint):
            continue
        key = (device, mountpoint, fstype)
        if key in seen:
            continue
        seen.add(key)
        out.append(Mount(device, mountpoint, fstype, "ro" in parts[3].split(",")))
    return out


def read_filesystems(
    fs: HostFS,
    mount_points_exclude: re.Pattern[str] = EXCLUDED_MOUNTPOINTS,
    fs_types_exclude: re.Pattern[str] = EXCLUDED_FSTYPES,
) -> list[Filesystem]:
    out: list[Filesystem] = []
    for m in read_mounts(fs, mount_points_exclude, fs_types_exclude):
        try:
            usage: FsUsage | None = fs.statvfs(m.mountpoint)
        except OSError:
            usage = None
        out.append(Filesystem(m, usage))
    return out
