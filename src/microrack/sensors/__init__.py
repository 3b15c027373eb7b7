"""Reading one host: ``/proc`` and ``/sys`` under a configurable root, or the twin."""

from microrack.sensors._fs import FsUsage, HostFS, LocalFS

__all__ = ["FsUsage", "HostFS", "LocalFS"]
