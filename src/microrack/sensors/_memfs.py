"""An in-memory :class:`HostFS`: a host described by a dict, for kernel-quirk tests.

psutil's Linux tests patch ``open`` with fake file contents for each quirk a
kernel ever showed; ``MemoryFS`` does the same without patching: a path maps
to its text, or to an exception the read raises (``PermissionError`` for a
file only root may read, ``OSError(EINVAL)`` for a sysfs attribute a driver
refuses).  Directories are implied by the paths below them.
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Mapping

from microrack.sensors._fs import FsUsage

__all__ = ["MemoryFS"]


class MemoryFS:
    """A host's pseudo files in memory: ``{"/proc/loadavg": "0.1 0.2 0.3 1/2 3\\n"}``."""

    def __init__(
        self,
        files: Mapping[str, str | BaseException],
        links: Mapping[str, str] | None = None,
        usage: Mapping[str, FsUsage] | None = None,
    ) -> None:
        self.files = dict(files)
        self.links = dict(links or {})
        self.usage = dict(usage or {})
        self.written: dict[str, str] = {}

    def _resolve(self, path: str) -> str:
        for _ in range(40):
            for link, target in self.links.items():
                if path == link or path.startswith(link + "/"):
                    path = posixpath.normpath(
                        posixpath.join(posixpath.dirname(link), target) + path[len(link) :]
                    )
                    break
            else:
                return path
        raise OSError(errno.ELOOP, "Too many levels of symbolic links", path)

    def read_text(self, path: str) -> str:
        path = self._resolve(path)
        entry = self.files.get(path)
        if entry is None:
            if self._is_dir(path):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if isinstance(entry, BaseException):
            raise entry
        return entry

    def _is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in (*self.files, *self.links))

    def listdir(self, path: str) -> list[str]:
        path = self._resolve(path)
        prefix = path.rstrip("/") + "/"
        names = {
            p[len(prefix) :].split("/", 1)[0]
            for p in (*self.files, *self.links)
            if p.startswith(prefix)
        }
        if not names:
            if path in self.files:
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return sorted(names)

    def exists(self, path: str) -> bool:
        try:
            path = self._resolve(path)
        except OSError:
            return False
        return path in self.files or self._is_dir(path)

    def realpath(self, path: str) -> str:
        return self._resolve(path)

    def write_text(self, path: str, data: str) -> None:
        self.written[path] = data

    def statvfs(self, mountpoint: str) -> FsUsage:
        try:
            return self.usage[mountpoint]
        except KeyError:
            raise FileNotFoundError(errno.ENOENT, "not mounted", mountpoint) from None
