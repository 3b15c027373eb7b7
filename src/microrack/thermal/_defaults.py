"""The default fan configuration of a board, from its catalog thermal profile.

Used by ``microrack agent --fan auto`` and the demo: every thermal zone (and
an NVMe ``Composite`` sensor when there is one) combined by maximum, driving
the board's PWM fan (``pwmfan`` on Raspberry Pi and most device trees) along
the vendor curve when the catalog has one (Raspberry Pi 5 Active Cooler), else
a curve that reaches full duty 5 °C below the soft throttle limit.
"""

from __future__ import annotations

from microrack.errors import ResourceError
from microrack.sensors import HostFS
from microrack.thermal._config import FanConfig
from microrack.thermal._inputs import THERMAL, find_hwmon_temp, list_hwmon

__all__ = ["default_config", "default_curve"]

# Vendor firmware switches a curve fan off below its first point; a 0.5 °C
# ramp keeps the curve continuous while matching that within sensor noise.
OFF_RAMP_C = 0.5


def default_curve(board_id: str) -> tuple[list[tuple[float, float]], float]:
    """``([(temp_c, duty_ratio), ...], hysteresis_c)`` for a board."""
    from microrack.catalog import board_profile, thermal_profile

    profile = board_profile(board_id)
    thermal = thermal_profile(profile.thermal_profile)
    hysteresis = thermal.hysteresis_c if thermal.hysteresis_c is not None else 5.0
    if thermal.fan_curve:
        points = [(p.temp_c, p.duty) for p in thermal.fan_curve]
    else:
        soft = thermal.throttle_soft_c
        points = [(soft - 25, 0.3), (soft - 15, 0.6), (soft - 5, 1.0)]
    if points[0][1] > 0:
        points.insert(0, (points[0][0] - OFF_RAMP_C, 0.0))
    return points, hysteresis


def _pwm_fan(fs: HostFS) -> str | None:
    chips = list_hwmon(fs)
    for directory, _name in sorted(chips, key=lambda c: c[1] != "pwmfan"):
        if fs.exists(f"{directory}/pwm1"):
            return directory
    return None


def default_config(board_id: str, fs: HostFS) -> FanConfig:
    """A validated :class:`FanConfig` for ``board_id`` on the host (or twin) ``fs``."""
    points, hysteresis = default_curve(board_id)
    sensors: list[dict[str, object]] = []
    try:
        zones = [z for z in fs.listdir(THERMAL) if z.startswith("thermal_zone")]
    except OSError:
        zones = []
    for zone in zones:
        if fs.exists(f"{THERMAL}/{zone}/temp"):
            sensors.append({"name": zone, "thermal_zone": zone.removeprefix("thermal_zone")})
    for directory, name in list_hwmon(fs):
        if name == "nvme" and find_hwmon_temp(fs, directory, "Composite"):
            # The drive reports whole kelvins: idle, it can hold one value for many
            # minutes, so "unchanged" says nothing here (a failing read still does).
            sensors.append(
                {"name": "nvme", "hwmon": directory, "input": "Composite", "stale_after_s": None}
            )
            break
    if not sensors:
        raise ResourceError(f"{board_id}: no thermal zone or NVMe sensor found under {fs!r}")
    fan = _pwm_fan(fs)
    if fan is None:
        raise ResourceError(f"{board_id}: no hwmon PWM fan (pwm1) found under {fs!r}")
    first_on = next(d for _, d in points if d > 0)
    data = {
        "interval_s": 2.0,
        "sensors": sensors,
        "fans": [
            {
                "name": "fan",
                "driver": {"type": "hwmon", "chip": fan},
                "curve": [{"temp_c": t, "duty_pct": round(d * 100, 3)} for t, d in points],
                "hysteresis_c": hysteresis,
                "min_duty_pct": round(first_on * 100, 3),
                "start_duty_pct": round(first_on * 100, 3),
            }
        ],
    }
    return FanConfig.model_validate(data)
