"""Measuring a fan: start duty, minimum duty, rpm against duty, maximum rpm.

The sweep (as fan2go's ``fan init`` does, with the fixes its users asked for):

1. full duty, let it settle: the maximum rpm;
2. down in ``steps`` even steps to 0: the rpm at each duty; the lowest duty at
   which the (already turning) fan still turns is the **minimum duty**;
3. from standstill, up step by step: the first duty at which it starts is the
   **start duty** (a fan needs more to start than to keep turning);
4. full duty again.

Every written duty is read back from the driver (``pwmN``, the EMC230x drive
register) and a mismatch stops the sweep: some other controller (the
kernel's automatic mode, firmware) is driving the fan and nothing measured
would be true.  Each rpm is the median of several tach reads, so a single
glitch does not move a result.  Before each step every temperature input is
read; one that reaches the fan's full-duty temperature stops the sweep at
full duty.  ``wait`` is how time passes (``time.sleep`` on hardware, the
twin's ``advance`` in tests).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from microrack.errors import MicrorackError

if TYPE_CHECKING:
    from microrack.thermal._service import Fan, FanService

__all__ = [
    "Calibration",
    "CalibrationError",
    "calibrate_fans",
    "full_duty_temp",
    "sweep",
    "write_calibration",
]


class CalibrationError(MicrorackError):
    """The sweep could not measure the fan (or stopped for safety); the fan is at full duty."""


@dataclass(frozen=True, slots=True)
class Calibration:
    start_duty: float  # ratio
    min_duty: float
    max_rpm: float
    curve: tuple[tuple[float, float], ...]  # (duty ratio, rpm), rising duty
    date: str  # ISO 8601 UTC

    def as_yaml(self) -> dict[str, object]:
        """The ``calibration:`` entry of a fan in ``fan.yaml``."""
        return {
            "date": self.date,
            "start_duty_pct": round(self.start_duty * 100, 2),
            "min_duty_pct": round(self.min_duty * 100, 2),
            "max_rpm": round(self.max_rpm, 1),
            "rpm_curve": [
                {"duty_pct": round(d * 100, 2), "rpm": round(r, 1)} for d, r in self.curve
            ],
        }


def _median_rpm(
    read_rpm: Callable[[], float | None], reads: int, wait: Callable[[float], None], gap_s: float
) -> float:
    values = []
    for i in range(reads):
        if i:
            wait(gap_s)
        rpm = read_rpm()
        if rpm is None:
            raise CalibrationError("the fan has no tach: there is nothing to measure")
        values.append(float(rpm))
    return float(statistics.median(values))


def sweep(
    *,
    name: str,
    set_duty: Callable[[float], None],
    read_duty: Callable[[], float],
    read_rpm: Callable[[], float | None],
    temperatures: Callable[[], Sequence[tuple[str, float]]],
    limit_c: float,
    wait: Callable[[float], None],
    resolution: float,
    steps: int = 20,
    settle_s: float = 3.0,
    reads: int = 5,
    read_gap_s: float = 0.2,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Measure one fan (see the module docstring); the fan is left at full duty.

    ``resolution`` is one PWM step as a ratio (1/255): read-back within it agrees.
    """

    def safe(duty: float) -> None:
        for sensor, temp in temperatures():
            if math.isnan(temp) or temp >= limit_c:
                set_duty(1.0)
                shown = "unreadable" if math.isnan(temp) else f"at {temp:.1f} °C"
                raise CalibrationError(
                    f"fan {name}: stopped at full duty: sensor {sensor} is {shown}, "
                    f"at or above {limit_c:g} °C (the fan's full-duty temperature)"
                )
        set_duty(duty)
        try:
            back = read_duty()
        except ValueError:  # an empty or garbled read-back is no agreement either
            back = math.nan
        if not abs(back - duty) <= resolution * 1.01:
            set_duty(1.0)
            raise CalibrationError(
                f"fan {name}: PWM read-back disagrees: wrote {duty:.3f}, read {back:.3f}; "
                "another controller (the kernel's automatic mode, firmware) drives this fan, "
                "so nothing would be measured; nothing was written"
            )

    def measure(duty: float) -> float:
        safe(duty)
        wait(settle_s)
        rpm = _median_rpm(read_rpm, reads, wait, read_gap_s)
        if progress is not None:
            progress(f"fan {name}: {duty * 100:5.1f} % -> {rpm:.0f} rpm")
        return rpm

    duties = [i / steps for i in range(steps, -1, -1)]  # 1.0 ... 0.0
    max_rpm = measure(1.0)
    if max_rpm <= 0:
        set_duty(1.0)
        raise CalibrationError(f"fan {name}: 0 rpm at full duty: stalled, unplugged or no tach")
    curve = {1.0: max_rpm}
    min_duty = 1.0
    for duty in duties[1:]:
        rpm = measure(duty)
        curve[duty] = rpm
        if rpm > 0:
            min_duty = duty
        else:
            break  # stopped: lower duties cannot turn it either
    for duty in duties[len(curve) :]:
        curve[duty] = 0.0
    # Start: from standstill, the first duty that turns it.
    measure(0.0)
    start_duty = 1.0
    for duty in reversed(duties[:-1]):  # lowest non-zero first
        if duty < min_duty:
            continue
        if measure(duty) > 0:
            start_duty = duty
            break
        safe(0.0)  # back to standstill before the next try
        wait(settle_s)
    safe(1.0)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Calibration(start_duty, min_duty, max_rpm, tuple(sorted(curve.items())), now)


def full_duty_temp(law: object) -> float:
    """The temperature at which a fan's curve reaches its highest duty (the sweep's limit)."""
    from microrack.thermal._curve import FanCurve, MixedCurves

    if isinstance(law, MixedCurves):
        return min(full_duty_temp(c) for c in law.curves)
    if isinstance(law, FanCurve):
        top = max(law.duties)
        return next(t for t, d in zip(law.temps, law.duties, strict=True) if d >= top)
    return math.inf


def _fan_io(
    fan: Fan, read_duty: Callable[[], float], timeout: float
) -> tuple[
    Callable[[float], None],
    Callable[[], float],
    Callable[[], float | None],
    Callable[[], list[tuple[str, float]]],
]:
    """The fan's I/O for a sweep, each call under the loop's deadline."""

    def set_duty(duty: float) -> None:
        fan.io.call(partial(fan.driver.set_duty, duty), timeout)

    def read_back() -> float:
        return fan.io.call(read_duty, timeout)

    def read_rpm() -> float | None:
        return fan.tach_io.call(fan.driver.read_rpm, timeout)

    def temperatures() -> list[tuple[str, float]]:
        now = time.monotonic()
        return [(i.name, i.read(now, timeout).temp_c) for i in fan.inputs]

    return set_duty, read_back, read_rpm, temperatures


def calibrate_fans(
    service: FanService,
    *,
    wait: Callable[[float], None],
    steps: int = 20,
    settle_s: float = 3.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Calibration], list[str]]:
    """Sweep every fan of ``service`` that can be measured; also the fans that cannot, and why.

    Each fan is taken over, swept, and handed back at full duty, whatever happens.
    """
    results: dict[str, Calibration] = {}
    skipped: list[str] = []
    timeout = max(service.io_timeout_s, 1.0)
    for fan in service.fans:
        driver = fan.driver
        read_duty = getattr(driver, "read_duty", None)
        if read_duty is None:
            skipped.append(
                f"fan {fan.name}: {driver.description} can only switch on and off: "
                "there is nothing to calibrate"
            )
            continue

        set_duty, read_back, read_rpm, temperatures = _fan_io(fan, read_duty, timeout)
        fan.io.call(driver.open, timeout)
        try:
            results[fan.name] = sweep(
                name=fan.name,
                set_duty=set_duty,
                read_duty=read_back,
                read_rpm=read_rpm,
                temperatures=temperatures,
                limit_c=full_duty_temp(fan.law),
                wait=wait,
                resolution=1.0 / getattr(driver, "pwm_max", 255),
                steps=steps,
                settle_s=settle_s,
                progress=progress,
            )
        finally:
            fan.io.call(driver.close, timeout)
    return results, skipped


def write_calibration(path: str, results: dict[str, Calibration], *, force: bool) -> None:
    """Add each fan's ``calibration:`` to ``path``, keeping comments, order and other keys.

    An earlier calibration is only replaced with ``force``.  The file is replaced
    atomically, so it is never left half-written.
    """
    import io
    import os
    import tempfile

    from ruamel.yaml import YAML

    from microrack._yaml import read_text
    from microrack.errors import ConfigError

    yaml = YAML()  # round-trip: comments, key order and quoting survive
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda r, _d: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    doc = yaml.load(read_text(path))
    fans = doc.get("fans") if hasattr(doc, "get") else None
    if not isinstance(fans, list):
        raise ConfigError(path, "fans", "expected a list of fans")
    by_name = {str(f.get("name")): (i, f) for i, f in enumerate(fans) if hasattr(f, "get")}
    for name in results:
        i, entry = by_name[name]
        if "calibration" in entry and not force:
            when = entry["calibration"].get("date")
            raise ConfigError(
                path,
                f"fans[{i}].calibration",
                f"fan {name} is already calibrated ({when}); use --force to replace it",
            )
    for name, cal in results.items():
        by_name[name][1]["calibration"] = cal.as_yaml()
    out = io.StringIO()
    yaml.dump(doc, out)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".fan-calibrate-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(out.getvalue())
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
