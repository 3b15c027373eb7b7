"""thermal_zone and hwmon (node_exporter's), and the Raspberry Pi firmware's throttling flags."""

from __future__ import annotations

from typing import ClassVar

from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NoData
from microrack.sensors import (
    HostFS,
    find_throttled_path,
    find_vcgencmd,
    hwmon_power_watts,
    read_cooling_devices,
    read_hwmon,
    read_thermal_zones,
    read_throttled,
)

__all__ = ["HwmonCollector", "ThermalZoneCollector", "ThrottledCollector"]


class ThermalZoneCollector:
    name: ClassVar[str] = "thermal_zone"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.temps: list[float] = []

    def collect(self, out: PointSink) -> None:
        if not self.fs.exists("/sys/class/thermal"):
            raise NoData("/sys/class/thermal not found")
        zones = read_thermal_zones(self.fs)
        self.temps = [z.temp_celsius for z in zones]
        out.thermal(zones, read_cooling_devices(self.fs))


class HwmonCollector:
    name: ClassVar[str] = "hwmon"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.temps: list[float] = []
        self.fans: list[float] = []
        self.power_watts: float | None = None

    def collect(self, out: PointSink) -> None:
        self.temps, self.fans, self.power_watts = [], [], None
        if not self.fs.exists("/sys/class/hwmon"):
            raise NoData("/sys/class/hwmon not found")
        chips = read_hwmon(self.fs)
        out.hwmon(chips)
        for c in chips:
            for v in c.values:
                if v.prop == "input" and v.type == "temp":
                    self.temps.append(v.raw / 1000.0)
                elif v.prop == "input" and v.type == "fan":
                    self.fans.append(v.raw)
        self.power_watts = hwmon_power_watts(chips)


class ThrottledCollector:
    """``microrack_throttled``: the Raspberry Pi firmware's get_throttled flags."""

    name: ClassVar[str] = "throttled"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        allow = options.extra.get("vcgencmd", "1") == "1"
        self.vcgencmd = find_vcgencmd(fs) if allow else None
        self.path = find_throttled_path(fs)
        self.now: float | None = None

    def collect(self, out: PointSink) -> None:
        self.now = None
        t = read_throttled(self.fs, self.vcgencmd, self.path)
        if t is None:
            raise NoData("no get_throttled on this board")
        out.throttled(t)
        self.now = 1.0 if any(t.now.values()) else 0.0
