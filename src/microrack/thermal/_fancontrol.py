"""Convert an lm-sensors ``fancontrol`` file into a ``fan.yaml``.

fancontrol's law per fan: at or below MINTEMP the duty is MINPWM; from there
to MAXTEMP it rises linearly from MINSTOP to MAXPWM; a stopped fan is started
with MINSTART.  The curve below reproduces that (a 0.1 °C ramp stands in for
the step at MINTEMP, keeping the curve continuous); MINSTOP becomes the
minimum duty and MINSTART the spin-up kick.  hwmonN numbers are not stable
across boots, so fans and sensors are named by their DEVNAME chip names.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from microrack._yaml import read_text
from microrack.errors import ConfigError
from microrack.thermal._config import parse_config

__all__ = ["import_fancontrol"]

STEP_RAMP_C = 0.1
_PER_FAN = ("FCTEMPS", "FCFANS", "MINTEMP", "MAXTEMP", "MINSTART", "MINSTOP", "MINPWM", "MAXPWM")


def _pairs(value: str) -> dict[str, str]:
    out = {}
    for item in value.split():
        key, sep, val = item.partition("=")
        if sep:
            out[key] = val
    return out


def _split(path: str) -> tuple[str, str]:
    """``hwmon0/device/pwm1`` -> (``hwmon0``, ``pwm1``)."""
    parts = path.split("/")
    return parts[0], parts[-1]


def import_fancontrol(path: str | Path) -> dict[str, Any]:
    """The ``fan.yaml`` data equivalent to a fancontrol file (validated)."""
    source = str(path)
    lines = read_text(source).splitlines()  # regular file, size limit, UTF-8
    settings: dict[str, str] = {}
    where: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        key, sep, value = line.partition("=")
        if sep:
            key = key.strip()
            if key in settings:
                raise ConfigError(source, key, f"given twice (line {where[key]} and line {number})")
            settings[key], where[key] = value.strip(), number
    try:
        interval = float(settings.get("INTERVAL", "10"))
    except ValueError:
        raise ConfigError(source, "INTERVAL", f"{settings['INTERVAL']!r} is not a number") from None
    devname = _pairs(settings.get("DEVNAME", ""))
    per_fan = {k: _pairs(settings.get(k, "")) for k in _PER_FAN}
    if not per_fan["FCTEMPS"]:
        raise ConfigError(source, "FCTEMPS", "no fan is configured")

    def chip(hwmon: str, field: str) -> str:
        if hwmon not in devname:
            raise ConfigError(
                source, "DEVNAME", f"{field} names {hwmon}, which DEVNAME does not list"
            )
        return devname[hwmon]

    sensors: dict[str, dict[str, Any]] = {}
    fans = []
    for pwm_path, temp_path in per_fan["FCTEMPS"].items():

        def num(key: str, default: float | None = None, pwm_path: str = pwm_path) -> float:
            raw = per_fan[key].get(pwm_path)
            if raw is None:
                if default is None:
                    raise ConfigError(source, key, f"no value for {pwm_path}")
                return default
            try:
                value = float(raw)
                if not math.isfinite(value):
                    raise ValueError(raw)
                return value
            except ValueError:
                raise ConfigError(source, key, f"{pwm_path}={raw} is not a number") from None

        min_t, max_t = num("MINTEMP"), num("MAXTEMP")
        if max_t <= min_t:
            raise ConfigError(
                source, "MAXTEMP", f"{pwm_path}: MAXTEMP {max_t} must be above MINTEMP {min_t}"
            )
        min_start, min_stop = num("MINSTART"), num("MINSTOP")
        min_pwm, max_pwm = num("MINPWM", 0.0), num("MAXPWM", 255.0)
        for key, v in (
            ("MINSTART", min_start),
            ("MINSTOP", min_stop),
            ("MINPWM", min_pwm),
            ("MAXPWM", max_pwm),
        ):
            if not 0 <= v <= 255:
                raise ConfigError(source, key, f"{pwm_path}={v:g} is outside 0..255")
        # fancontrol's own checks
        if min_stop >= max_pwm:
            raise ConfigError(
                source,
                "MINSTOP",
                f"{pwm_path}: MINSTOP {min_stop:g} must be below MAXPWM {max_pwm:g}",
            )
        if min_pwm > min_stop:
            raise ConfigError(
                source,
                "MINPWM",
                f"{pwm_path}: MINPWM {min_pwm:g} must not exceed MINSTOP {min_stop:g}",
            )

        temp_hwmon, temp_file = _split(temp_path)
        sensor_chip = chip(temp_hwmon, "FCTEMPS")
        sensor_name = f"{sensor_chip}_{temp_file.removesuffix('_input')}"
        sensors[sensor_name] = {
            "name": sensor_name,
            "hwmon": sensor_chip,
            "input": temp_file.removesuffix("_input"),
        }

        def pct(v: float) -> float:
            return round(v / 255 * 100, 2)

        slope = (max_pwm - min_stop) / (max_t - min_t)
        points = [{"temp_c": min_t, "duty_pct": pct(min_pwm)}]
        if min_pwm < min_stop:
            points.append(
                {"temp_c": min_t + STEP_RAMP_C, "duty_pct": pct(min_stop + slope * STEP_RAMP_C)}
            )
        points.append({"temp_c": max_t, "duty_pct": pct(max_pwm)})
        fan_hwmon, pwm_file = _split(pwm_path)
        fans.append(
            {
                "name": f"{chip(fan_hwmon, 'FCTEMPS')}_{pwm_file}",
                "driver": {
                    "type": "hwmon",
                    "chip": chip(fan_hwmon, "FCTEMPS"),
                    "pwm": int(pwm_file.removeprefix("pwm")),
                },
                "sensors": [sensor_name],
                "curve": points,
                "hysteresis_c": 0.0,
                "min_duty_pct": pct(min_stop),
                "max_duty_pct": pct(max_pwm),
                "allow_stop": min_pwm == 0,
                "start_duty_pct": pct(min_stop),
                "spinup": {"duty_pct": pct(min_start), "seconds": 1.0},
            }
        )
    data = {"interval_s": interval, "sensors": list(sensors.values()), "fans": fans}
    parse_config(data, source)  # what we emit must load
    return data
