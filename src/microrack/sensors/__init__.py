"""Reading one host: ``/proc`` and ``/sys`` under a configurable root, or the twin.

Each module reads one kind of thing through a :class:`HostFS` and returns
named tuples; a file that is absent or unreadable is skipped, never raised.
"""

from microrack.sensors._fs import FsUsage, HostFS, LocalFS
from microrack.sensors.cpu import CpuFreq, CpuTimes, KernelStat, LoadAvg
from microrack.sensors.diskstats import DiskRates, DiskStats
from microrack.sensors.filesystems import Filesystem, Mount
from microrack.sensors.hwmon import HwmonChip, HwmonValue
from microrack.sensors.memory import MemField
from microrack.sensors.network import NetDev, NetLink
from microrack.sensors.thermal import CoolingDevice, ThermalZone
from microrack.sensors.throttle import Throttled

__all__ = [
    "CoolingDevice",
    "CpuFreq",
    "CpuTimes",
    "DiskRates",
    "DiskStats",
    "Filesystem",
    "FsUsage",
    "HostFS",
    "HwmonChip",
    "HwmonValue",
    "KernelStat",
    "LoadAvg",
    "LocalFS",
    "MemField",
    "Mount",
    "NetDev",
    "NetLink",
    "ThermalZone",
    "Throttled",
]
