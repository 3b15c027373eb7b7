"""Who the kernel is (uname) and file handles in use: what dashboards key on."""

from __future__ import annotations

import os
from typing import NamedTuple

from microrack.sensors._fs import HostFS, LocalFS
from microrack.sensors._util import read_opt

__all__ = ["FileFd", "Uname", "read_filefd", "read_uname"]


class Uname(NamedTuple):
    sysname: str
    nodename: str
    release: str
    version: str
    machine: str
    domainname: str


class FileFd(NamedTuple):
    allocated: float
    maximum: float


def read_uname(fs: HostFS) -> Uname | None:
    """The uname system call on the real root; ``/proc/sys/kernel`` for a tree or the twin."""
    if isinstance(fs, LocalFS) and fs.root == "/":
        u = os.uname()
        domain = read_opt(fs, "/proc/sys/kernel/domainname") or "(none)"
        return Uname(u.sysname, u.nodename, u.release, u.version, u.machine, domain)
    base = "/proc/sys/kernel"
    sysname, release = read_opt(fs, f"{base}/ostype"), read_opt(fs, f"{base}/osrelease")
    if sysname is None or release is None:
        return None
    return Uname(
        sysname,
        read_opt(fs, f"{base}/hostname") or "",
        release,
        read_opt(fs, f"{base}/version") or "",
        read_opt(fs, f"{base}/arch") or "",
        read_opt(fs, f"{base}/domainname") or "(none)",
    )


def read_filefd(fs: HostFS) -> FileFd | None:
    text = read_opt(fs, "/proc/sys/fs/file-nr")
    if text is None:
        return None
    try:
        allocated, _, maximum = (float(v) for v in text.split()[:3])
    except ValueError:
        return None
    return FileFd(allocated, maximum)
