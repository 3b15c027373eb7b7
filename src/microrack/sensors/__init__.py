"""Reading one host: ``/proc`` and ``/sys`` under a configurable root, or the twin.

Each module reads one kind of thing through a :class:`HostFS` and returns
named tuples; a file that is absent or unreadable is skipped, never raised.
Other packages import this face only.
"""

from microrack.sensors._fs import FsUsage, HostFS, LocalFS, read_many
from microrack.sensors._memfs import MemoryFS
from microrack.sensors._util import clean_name
from microrack.sensors.cpu import (
    CPU_MODES,
    CpuFreq,
    CpuTimes,
    KernelStat,
    LoadAvg,
    busy_ratio,
    read_cpufreq,
    read_loadavg,
    read_stat,
)
from microrack.sensors.diskstats import (
    EXCLUDED_DEVICES,
    DiskRates,
    DiskStats,
    disk_rates,
    read_diskstats,
)
from microrack.sensors.filesystems import (
    EXCLUDED_FSTYPES,
    EXCLUDED_MOUNTPOINTS,
    Filesystem,
    Mount,
    read_filesystems,
    read_mounts,
)
from microrack.sensors.hwmon import HwmonChip, HwmonValue, hwmon_power_watts, read_hwmon
from microrack.sensors.memory import MemField, mem_used_ratio, read_meminfo
from microrack.sensors.network import (
    RECEIVE_FIELDS,
    TRANSMIT_FIELDS,
    NetDev,
    NetLink,
    parse_net_dev,
    read_net_dev,
    read_net_links,
)
from microrack.sensors.power import PowerModel, power_model
from microrack.sensors.system import FileFd, Uname, read_filefd, read_uname
from microrack.sensors.thermal import (
    CoolingDevice,
    ThermalZone,
    read_cooling_devices,
    read_thermal_zones,
)
from microrack.sensors.throttle import (
    Throttled,
    find_throttled_path,
    find_vcgencmd,
    read_throttled,
)

__all__ = [
    "CPU_MODES",
    "EXCLUDED_DEVICES",
    "EXCLUDED_FSTYPES",
    "EXCLUDED_MOUNTPOINTS",
    "RECEIVE_FIELDS",
    "TRANSMIT_FIELDS",
    "CoolingDevice",
    "CpuFreq",
    "CpuTimes",
    "DiskRates",
    "DiskStats",
    "FileFd",
    "Filesystem",
    "FsUsage",
    "HostFS",
    "HwmonChip",
    "HwmonValue",
    "KernelStat",
    "LoadAvg",
    "LocalFS",
    "MemField",
    "MemoryFS",
    "Mount",
    "NetDev",
    "NetLink",
    "PowerModel",
    "ThermalZone",
    "Throttled",
    "Uname",
    "busy_ratio",
    "clean_name",
    "disk_rates",
    "find_throttled_path",
    "find_vcgencmd",
    "hwmon_power_watts",
    "mem_used_ratio",
    "parse_net_dev",
    "power_model",
    "read_cooling_devices",
    "read_cpufreq",
    "read_diskstats",
    "read_filefd",
    "read_filesystems",
    "read_hwmon",
    "read_loadavg",
    "read_many",
    "read_meminfo",
    "read_mounts",
    "read_net_dev",
    "read_net_links",
    "read_stat",
    "read_thermal_zones",
    "read_throttled",
    "read_uname",
]
