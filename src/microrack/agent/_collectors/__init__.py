"""Every collector the agent has, in the order they run (and appear in /metrics).

Adding a collector is one module with a class following
:class:`microrack.agent._registry.NodeCollector` plus one line in
:data:`COLLECTORS`.
"""

from __future__ import annotations

from microrack.agent._collectors.cgroup import CgroupCollector
from microrack.agent._collectors.hardware import (
    HwmonCollector,
    ThermalZoneCollector,
    ThrottledCollector,
)
from microrack.agent._collectors.memory import MeminfoCollector, PressureCollector, VmstatCollector
from microrack.agent._collectors.network import (
    ArpCollector,
    ConntrackCollector,
    NetclassCollector,
    NetdevCollector,
    NetstatCollector,
    SockstatCollector,
    SoftnetCollector,
    UdpQueuesCollector,
)
from microrack.agent._collectors.process import ProcessMetrics
from microrack.agent._collectors.storage import DiskstatsCollector, FilesystemCollector
from microrack.agent._collectors.system import (
    CpuCollector,
    CpufreqCollector,
    EntropyCollector,
    FilefdCollector,
    LoadavgCollector,
    OsCollector,
    StatCollector,
    TimeCollector,
    TimexCollector,
    UnameCollector,
)
from microrack.agent._collectors.systemd import SystemdCollector
from microrack.agent._collectors.textfile import TextfileCollector
from microrack.agent._registry import NodeCollector

__all__ = ["COLLECTORS", "DEFAULT_ENABLED", "ProcessMetrics", "by_name"]

COLLECTORS: tuple[type[NodeCollector], ...] = (
    CpuCollector,
    StatCollector,
    LoadavgCollector,
    UnameCollector,
    FilefdCollector,
    TimeCollector,
    TimexCollector,
    CpufreqCollector,
    MeminfoCollector,
    VmstatCollector,
    PressureCollector,
    EntropyCollector,
    OsCollector,
    FilesystemCollector,
    DiskstatsCollector,
    NetdevCollector,
    NetclassCollector,
    NetstatCollector,
    SockstatCollector,
    SoftnetCollector,
    ConntrackCollector,
    ArpCollector,
    UdpQueuesCollector,
    ThermalZoneCollector,
    HwmonCollector,
    ThrottledCollector,
    TextfileCollector,
    SystemdCollector,
    CgroupCollector,
)

DEFAULT_ENABLED: frozenset[str] = frozenset(c.name for c in COLLECTORS if c.default)


def by_name() -> dict[str, type[NodeCollector]]:
    return {c.name: c for c in COLLECTORS}
