"""The ``fan.yaml`` model (pydantic) and its loader.

A mistake in this file can cook a board, so the model is strict: unknown
keys are errors, curve points must rise in temperature and not fall in duty,
duties are percentages within 0..100, and every sensor a fan names must be
declared.  Errors become one :class:`ConfigError` naming the file and the
field path (``fans[0].curve[2].temp_c``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from microrack._yaml import read_yaml
from microrack.errors import ConfigError, field_path

__all__ = [
    "CalibrationModel",
    "CurvePointModel",
    "Emc230xModel",
    "FanConfig",
    "FanModel",
    "GpioModel",
    "HwmonFanModel",
    "InputCurveModel",
    "PidModel",
    "RpmPointModel",
    "SensorModel",
    "SwitchModel",
    "load_config",
    "parse_config",
]

Pct = Annotated[float, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SensorModel(_Strict):
    """One temperature input: exactly one of ``thermal_zone``, ``hwmon``, ``path``, ``agent``."""

    name: str
    thermal_zone: str | int | None = None  # zone type (``cpu-thermal``) or number
    hwmon: str | None = None  # chip name (``nvme``, ``cpu_thermal``) or hwmon directory
    input: str = "temp1"  # with ``hwmon``: channel (``temp1``) or label (``Composite``)
    path: str | None = None  # a file in millidegrees
    agent: str | None = None  # a neighbour's agent (http://host:9101): its snapshot's headline
    headline: str = "temp_max_celsius"  # with ``agent``: which headline value
    stale_after_s: float | None = Field(default=120.0, gt=0)
    min_c: float = -40.0
    max_c: float = 150.0

    @model_validator(mode="after")
    def _one_source(self) -> SensorModel:
        given = [
            k for k in ("thermal_zone", "hwmon", "path", "agent") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of thermal_zone, hwmon, path, agent")
        if self.agent is not None:
            from urllib.parse import urlsplit

            url = urlsplit(self.agent)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"agent: {self.agent!r} is not an http:// URL with a host")
        if self.min_c >= self.max_c:
            raise ValueError("min_c must be below max_c")
        return self


class HwmonFanModel(_Strict):
    type: Literal["hwmon"]
    chip: str  # hwmon chip name (``pwmfan``) or hwmon directory
    pwm: int = Field(default=1, ge=1)
    pwm_max: int = Field(default=255, ge=1)


class GpioModel(_Strict):
    type: Literal["gpio"]
    chip: str = "gpiochip0"  # /dev path, device name or chip label
    line: int | str
    active_low: bool = False


class Emc230xModel(_Strict):
    type: Literal["emc230x"]
    bus: int = Field(ge=0)  # /dev/i2c-N
    address: int = Field(default=0x2F, ge=0x03, le=0x77)
    channel: int = Field(default=1, ge=1, le=5)


DriverModel = Annotated[HwmonFanModel | GpioModel | Emc230xModel, Field(discriminator="type")]
_DRIVER_TYPES = ("hwmon", "gpio", "emc230x")  # the tags pydantic puts in an error's loc


class CurvePointModel(_Strict):
    temp_c: float
    duty_pct: Pct


class SwitchModel(_Strict):
    """On/off control for a fan that can only switch."""

    on_c: float
    off_c: float

    @model_validator(mode="after")
    def _band(self) -> SwitchModel:
        if self.off_c >= self.on_c:
            raise ValueError("off_c must be below on_c (the difference is the hysteresis band)")
        return self


class SpinUpModel(_Strict):
    duty_pct: Pct = 100.0
    seconds: float = Field(default=2.0, ge=0)


class RpmPointModel(_Strict):
    duty_pct: Pct
    rpm: float = Field(ge=0)


class CalibrationModel(_Strict):
    """What ``microrack fan calibrate`` measured (written into the fan's entry)."""

    date: str  # ISO 8601, UTC
    start_duty_pct: Pct  # lowest duty that starts the fan from standstill
    min_duty_pct: Pct  # lowest duty that keeps a turning fan turning
    max_rpm: float = Field(gt=0)  # at full duty
    rpm_curve: list[RpmPointModel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _order(self) -> CalibrationModel:
        if self.min_duty_pct > self.start_duty_pct:
            raise ValueError("min_duty_pct must not exceed start_duty_pct")
        return self


def _check_curve(points: list[CurvePointModel], where: str) -> None:
    if not points:
        raise ValueError(f"{where}: needs at least one point")
    for i, (a, b) in enumerate(itertools.pairwise(points), start=1):
        if b.temp_c <= a.temp_c:
            raise ValueError(f"{where}[{i}].temp_c: points must increase in temperature")
        if b.duty_pct < a.duty_pct:
            raise ValueError(f"{where}[{i}].duty_pct: duty must not fall as temperature rises")


class PidModel(_Strict):
    """PID toward a target temperature; gains in duty percent per °C (per °C·s, per °C/s)."""

    target_c: float
    kp: float = Field(ge=0)
    ki: float = Field(default=0.0, ge=0)
    kd: float = Field(default=0.0, ge=0)


class InputCurveModel(_Strict):
    """One input of a fan with a curve per input (``inputs:``)."""

    sensor: str
    curve: list[CurvePointModel]
    weight: float = Field(default=1.0, gt=0)  # for ``mix: weighted``


class FanModel(_Strict):
    """One fan: its driver, the inputs it follows, and a curve or an on/off switch."""

    name: str
    driver: DriverModel
    sensors: list[str] | None = None  # default: every sensor
    curve: list[CurvePointModel] | None = None
    switch: SwitchModel | None = None
    inputs: list[InputCurveModel] | None = None  # a curve per sensor, instead of curve
    mix: Literal["max", "weighted"] = "max"  # how ``inputs`` combine
    pid: PidModel | None = None  # toward a target temperature, instead of a curve
    hysteresis_c: float = Field(default=3.0, ge=0)
    min_duty_pct: Pct = 0.0
    max_duty_pct: Pct = 100.0
    allow_stop: bool = True
    start_duty_pct: Pct = 20.0
    spinup: SpinUpModel = SpinUpModel()
    max_change_pct_per_s: float | None = Field(default=None, gt=0)
    stall_after_s: float = Field(default=5.0, ge=0)
    calibration: CalibrationModel | None = None

    @model_validator(mode="after")
    def _control(self) -> FanModel:
        laws = [k for k in ("curve", "switch", "inputs", "pid") if getattr(self, k) is not None]
        if len(laws) != 1:
            raise ValueError("give exactly one of curve, switch, inputs, pid")
        if self.curve is not None:
            _check_curve(self.curve, "curve")
        if self.inputs is not None:
            if not self.inputs:
                raise ValueError("inputs: needs at least one sensor")
            if self.sensors is not None:
                raise ValueError("inputs: names its sensors itself; drop sensors:")
            for i, inp in enumerate(self.inputs):
                _check_curve(inp.curve, f"inputs[{i}].curve")
        if self.min_duty_pct > self.max_duty_pct:
            raise ValueError("min_duty_pct must not exceed max_duty_pct")
        return self


class FanConfig(_Strict):
    """The whole ``fan.yaml``."""

    interval_s: float = Field(default=2.0, gt=0)
    # deadline of each sensor read / PWM write (default: interval_s / 4, within 0.25..1 s)
    io_timeout_s: float | None = Field(default=None, gt=0)
    sensors: list[SensorModel] = Field(min_length=1)
    fans: list[FanModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> FanConfig:
        names = [s.name for s in self.sensors]
        for what, given in (("sensors", names), ("fans", [f.name for f in self.fans])):
            for i, name in enumerate(given):
                if name in given[:i]:
                    raise ValueError(
                        f"{what}[{i}].name: {name!r} is already the name of "
                        f"{what}[{given.index(name)}]; names must be unique"
                    )
        for i, fan in enumerate(self.fans):
            for j, inp in enumerate(fan.inputs or []):
                if inp.sensor not in names:
                    raise ValueError(
                        f"fans[{i}].inputs[{j}].sensor: unknown sensor "
                        f"{inp.sensor!r} (declared: {', '.join(names)})"
                    )
            for j, s in enumerate(fan.sensors or []):
                if s not in names:
                    declared = ", ".join(names)
                    raise ValueError(
                        f"fans[{i}].sensors[{j}]: unknown sensor {s!r} (declared: {declared})"
                    )
        return self


def parse_config(data: Any, source: str) -> FanConfig:
    """Validate already-loaded YAML; raises one :class:`ConfigError`."""
    try:
        return FanConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = field_path(err["loc"], tags=_DRIVER_TYPES, after="driver")
        message = str(err["msg"]).removeprefix("Value error, ")
        # Cross-field checks name their own sub-path at the start of the message.
        head, sep, rest = message.partition(": ")
        known = ("curve[", "inputs[", "fans[", "sensors[")
        if sep and head.startswith(known) and " " not in head:
            nested = head.startswith(("curve[", "inputs["))
            field = f"{field}.{head}" if field and nested else head
            message = rest
        raise ConfigError(source, field or None, message) from None


def load_config(path: str | Path) -> FanConfig:
    """Read and validate a ``fan.yaml``."""
    source = str(path)
    data = read_yaml(source)
    if not isinstance(data, dict):
        raise ConfigError(source, None, "expected a mapping with sensors: and fans:")
    return parse_config(data, source)
