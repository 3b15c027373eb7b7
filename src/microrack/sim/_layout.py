"""How each kind of board names its sensors in ``/sys``: thermal zones and hwmon chips.

Names follow the kernels these boards run: Raspberry Pi OS (``cpu-thermal``,
hwmon ``cpu_thermal`` and ``rpi_volt``), mainline ``rk3588s.dtsi`` thermal zones,
``coretemp`` on x86.  ``factor`` scales the sensor's rise above ambient
relative to the board model's temperature (hot spots read a little higher).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Zone", "zones_for"]


@dataclass(frozen=True, slots=True)
class Zone:
    type: str  # thermal_zone type / hwmon name source
    factor: float = 1.0  # rise above ambient relative to the model's temperature


_PI = (Zone("cpu-thermal"),)
_RK3588 = (
    Zone("package-thermal"),
    Zone("bigcore0-thermal", 1.06),
    Zone("bigcore2-thermal", 1.05),
    Zone("little-core-thermal", 0.97),
    Zone("center-thermal", 0.98),
    Zone("gpu-thermal", 0.93),
    Zone("npu-thermal", 0.93),
)
_GENERIC = (Zone("cpu-thermal"),)
_X86 = (Zone("x86_pkg_temp"),)


def zones_for(board_id: str, thermal_profile: str, isa: str) -> tuple[Zone, ...]:
    """The thermal zones a real board of this kind shows, in kernel order."""
    if board_id.startswith("rpi-"):
        return _PI
    if thermal_profile == "rk3588":
        return _RK3588
    if isa == "x86_64":
        return _X86
    return _GENERIC
