"""Fan and thermal control: curves, hysteresis, failsafe, and fan drivers.

The pure parts (:class:`FanCurve`, :func:`play`, :class:`OnOffSwitch`,
:func:`control_step`) decide a duty from temperatures; the drivers (hwmon
PWM, GPIO on/off, EMC230x over I2C; the hardware twin through its hwmon
files) apply it; :class:`FanService` runs the loop with failsafe to full duty
and exports its state as ``microrack_fan_*`` points.  pydantic is imported
with the config model, so the agent only pays for it when it controls a fan.
"""

from __future__ import annotations

from microrack.thermal._config import FanConfig, load_config
from microrack.thermal._curve import (
    FanCurve,
    FanState,
    FanTuning,
    Law,
    MixedCurves,
    OnOffSwitch,
    Pid,
    control_step,
    play,
)
from microrack.thermal._defaults import default_config, default_curve
from microrack.thermal._drivers import (
    DryRunDriver,
    Emc230xDriver,
    FanDriver,
    GpioDriver,
    HwmonPwmDriver,
)
from microrack.thermal._fancontrol import import_fancontrol
from microrack.thermal._service import Fan, FanService

__all__ = [
    "DryRunDriver",
    "Emc230xDriver",
    "Fan",
    "FanConfig",
    "FanCurve",
    "FanDriver",
    "FanService",
    "FanState",
    "FanTuning",
    "GpioDriver",
    "HwmonPwmDriver",
    "Law",
    "MixedCurves",
    "OnOffSwitch",
    "Pid",
    "control_step",
    "default_config",
    "default_curve",
    "import_fancontrol",
    "load_config",
    "play",
]
