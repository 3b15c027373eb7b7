"""Thermal zones and cooling devices under ``/sys/class/thermal``."""

from __future__ import annotations

from typing import NamedTuple

from microrack.sensors._fs import HostFS
from microrack.sensors._util import list_opt, read_int, read_opt

__all__ = ["CoolingDevice", "ThermalZone", "read_cooling_devices", "read_thermal_zones"]

BASE = "/sys/class/thermal"


class ThermalZone(NamedTuple):
    """``zone`` is the number in ``thermal_zoneN``; ``type`` what the driver calls it."""

    zone: str
    type: str
    temp_celsius: float


class CoolingDevice(NamedTuple):
    name: str
    type: str
    cur_state: int
    max_state: int


def read_thermal_zones(fs: HostFS) -> list[ThermalZone]:
    out: list[ThermalZone] = []
    for entry in list_opt(fs, BASE):
        if not entry.startswith("thermal_zone"):
            continue
        d = f"{BASE}/{entry}"
        ztype = read_opt(fs, f"{d}/type")
        temp = read_int(fs, f"{d}/temp")  # millidegrees; EAGAIN/ENODATA while a sensor wakes
        if ztype is None or temp is None:
            continue
        out.append(ThermalZone(entry[len("thermal_zone") :], ztype, temp / 1000.0))
    out.sort(key=lambda z: int(z.zone) if z.zone.isdigit() else 0)
    return out


def read_cooling_devices(fs: HostFS) -> list[CoolingDevice]:
    out: list[CoolingDevice] = []
    for entry in list_opt(fs, BASE):
        if not entry.startswith("cooling_device"):
            continue
        d = f"{BASE}/{entry}"
        ctype = read_opt(fs, f"{d}/type")
        cur = read_int(fs, f"{d}/cur_state")
        mx = read_int(fs, f"{d}/max_state")
        if ctype is None or cur is None or mx is None:
            continue
        out.append(CoolingDevice(entry[len("cooling_device") :], ctype, cur, mx))
    return out
