"""The one place where microrack touches a host's ``/proc`` and ``/sys``.

Every reader and every driver goes through a :class:`HostFS`.  :class:`LocalFS`
maps absolute host paths (``/sys/class/hwmon``) under a root directory, which
is how tests point microrack at a hand-built tree; the hardware twin
(``microrack.sim``) implements the same protocol over a simulated board, so
the agent and the fan drivers run unchanged on real and simulated hardware.

Missing hardware is normal: readers catch ``FileNotFoundError`` and
``PermissionError`` (both ``OSError``) at the read site and skip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from microrack.sensors._kept import KeptFiles, kernel_mounts

__all__ = ["FsUsage", "HostFS", "LocalFS", "read_many"]

# below malloc's mmap threshold (a larger buffer costs an mmap/munmap pair per read);
# a file that fills it is read on until EOF
_BUFFER = 64 * 1024


class FsUsage(NamedTuple):
    """The fields of ``statvfs`` that a filesystem collector needs."""

    size_bytes: int
    free_bytes: int
    avail_bytes: int
    files: int
    files_free: int
    readonly: bool


@runtime_checkable
class HostFS(Protocol):
    """Read (and, for drivers, write) a host's pseudo files by absolute path."""

    def read_text(self, path: str) -> str:
        """Contents of a file; raises ``OSError`` when it cannot be read."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Names in a directory, sorted; raises ``OSError`` when absent."""
        ...

    def exists(self, path: str) -> bool: ...

    def realpath(self, path: str) -> str:
        """The host path a link resolves to (hwmon ``device`` links, block devices)."""
        ...

    def write_text(self, path: str, data: str) -> None:
        """Write a control file (a fan's ``pwm1``); raises ``OSError`` on failure."""
        ...

    def statvfs(self, mountpoint: str) -> FsUsage:
        """Usage of the filesystem mounted at ``mountpoint``; raises ``OSError``."""
        ...


def _read_fd(fd: int) -> str:
    """All of an open file, then closed; bad bytes replaced (a driver's odd label)."""
    try:
        chunk = os.read(fd, _BUFFER)
        if len(chunk) < _BUFFER:
            return chunk.decode("utf-8", "replace")
        parts = [chunk]
        while chunk:
            chunk = os.read(fd, _BUFFER)
            parts.append(chunk)
        return b"".join(parts).decode("utf-8", "replace")
    finally:
        os.close(fd)


def read_many(fs: HostFS, directory: str, names: Sequence[str]) -> dict[str, str | None]:
    """Attribute files of one directory through any HostFS; ``None`` where unreadable."""
    fast = getattr(fs, "read_many", None)
    if fast is not None:
        result: dict[str, str | None] = fast(directory, names)
        return result
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = fs.read_text(f"{directory}/{name}")
        except (OSError, UnicodeError):  # as read_opt: an undecodable file is unreadable
            out[name] = None
    return out


def _names_a_process(path: str) -> bool:
    """``/proc/<pid>/...``, ``/proc/self/...``: what they name depends on who opens them.

    ``/proc/1`` is the exception: the init of this pid namespace outlives the agent
    (node_exporter reads the mount table from ``/proc/1/mounts``).
    """
    first = path[6:].partition("/")[0]
    return (first.isdigit() and first != "1") or first in ("self", "thread-self")


class LocalFS:
    """A :class:`HostFS` over the real file system, under ``root`` (default ``/``).

    With ``keep_open`` (the agent's), files of the kernel's own ``/proc`` and
    ``/sys`` under ``root`` stay open between reads and are re-read in place
    (see :mod:`microrack.sensors._kept`): the same contents for a third of the
    system calls.  A hand-built tree's files are always opened afresh.
    """

    __slots__ = ("_keep_proc", "_keep_sys", "_kept", "_prefix", "root")

    def __init__(self, root: str = "/", *, keep_open: bool = False) -> None:
        self.root = os.path.abspath(root)
        self._prefix = "" if self.root == "/" else self.root
        self._keep_proc, self._keep_sys = kernel_mounts(self.root) if keep_open else (False, False)
        self._kept = KeptFiles() if self._keep_proc or self._keep_sys else None

    def __repr__(self) -> str:
        return f"LocalFS({self.root!r})"

    def keeping_open(self) -> LocalFS:
        """This root again, keeping the kernel's pseudo files open between reads."""
        return LocalFS(self.root, keep_open=True)

    @property
    def kept_files(self) -> int:
        """How many pseudo files are being kept open now."""
        return 0 if self._kept is None else len(self._kept)

    def _keeps(self, path: str, directory: bool) -> bool:
        if path.startswith("/proc/"):
            return self._keep_proc and not _names_a_process(path)
        if path.startswith("/sys/"):
            # cgroupfs is not kept; a renamed network device would take a kept file with it,
            # so only whole directories (checked by inode on each read) are kept below net/
            return (
                self._keep_sys
                and not path.startswith("/sys/fs/")
                and (directory or "/net/" not in path)
            )
        return False

    def host_path(self, path: str) -> str:
        """The real path of a host path under this root."""
        return self._prefix + path

    def read_text(self, path: str) -> str:
        # os.read in one buffer sized for the largest pseudo files (a k3s node's mountinfo
        # runs to hundreds of KiB), growing while the kernel keeps filling it; a text
        # wrapper per file costs more than the read on a board that reads ~200 files a cycle
        if self._kept is not None and self._keeps(path, False):
            return self._kept.read(self._prefix + path)
        return _read_fd(os.open(self._prefix + path, os.O_RDONLY | os.O_CLOEXEC))

    def read_many(self, directory: str, names: Sequence[str]) -> dict[str, str | None]:
        """Several attribute files of one directory (a netdev's), ``None`` where unreadable.

        Opened relative to the directory, so the kernel resolves its path (a
        ``/sys/class/net/eth0`` symlink) once instead of once per file.
        """
        if self._kept is not None and self._keeps(directory, True):
            return self._kept.read_many(self._prefix + directory, names)
        try:
            dfd = os.open(self._prefix + directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return dict.fromkeys(names)
        out: dict[str, str | None] = {}
        try:
            for name in names:
                try:
                    out[name] = _read_fd(os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dfd))
                except OSError:
                    out[name] = None
        finally:
            os.close(dfd)
        return out

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self._prefix + path))

    def exists(self, path: str) -> bool:
        return os.path.exists(self._prefix + path)

    def realpath(self, path: str) -> str:
        real = os.path.realpath(self._prefix + path)
        if self._prefix and real.startswith(self._prefix + "/"):
            return real[len(self._prefix) :]
        return real

    def write_text(self, path: str, data: str) -> None:
        with open(self._prefix + path, "w", encoding="ascii") as f:
            f.write(data)

    def statvfs(self, mountpoint: str) -> FsUsage:
        st = os.statvfs(self._prefix + mountpoint)
        return FsUsage(
            size_bytes=st.f_blocks * st.f_frsize,
            free_bytes=st.f_bfree * st.f_frsize,
            avail_bytes=st.f_bavail * st.f_frsize,
            files=st.f_files,
            files_free=st.f_ffree,
            readonly=bool(st.f_flag & os.ST_RDONLY),
        )
