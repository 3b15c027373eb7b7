"""The fan control loop: inputs -> curve -> driver, with failsafe on every fault.

:class:`FanService` owns its drivers.  ``step(now)`` is one iteration (tests
call it with their own clock); ``start()`` runs it on a background thread;
``stop()`` leaves every fan at full duty and hands it back.  Any error in a
step puts all fans to full duty before it propagates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from microrack.errors import ConfigError, ResourceError
from microrack.sample import Point, SeriesKey
from microrack.sensors import HostFS
from microrack.thermal._config import (
    FanConfig,
    FanModel,
    GpioModel,
    HwmonFanModel,
    SensorModel,
    load_config,
)
from microrack.thermal._curve import (
    FanCurve,
    FanState,
    FanTuning,
    Law,
    MixedCurves,
    OnOffSwitch,
    Pid,
    Stage,
    control_step,
)
from microrack.thermal._deadline import DeadlineMissed, Worker
from microrack.thermal._drivers import (
    DryRunDriver,
    Emc230xDriver,
    FanDriver,
    GpioDriver,
    HwmonPwmDriver,
)
from microrack.thermal._inputs import (
    AgentInput,
    Input,
    combine,
    find_hwmon,
    find_hwmon_temp,
    find_thermal_zone,
)

__all__ = ["Fan", "FanService"]

log = logging.getLogger("microrack.thermal")

MAX_WRITE_ERRORS = 5


@dataclass
class Fan:
    """One controlled fan: its driver, inputs, control law and current state."""

    name: str
    driver: FanDriver
    inputs: list[Input]
    law: Law
    hysteresis_c: float
    tuning: FanTuning
    state: FanState = field(default_factory=FanState)
    rpm: float | None = None
    max_rpm: float | None = None  # measured by ``microrack fan calibrate``
    write_errors: int = 0  # consecutive failed writes
    # PWM writes and tach reads each on their own thread: a hung tach must not
    # keep the fan from being driven to full.
    io: Worker = field(default_factory=lambda: Worker("fan"))
    tach_io: Worker = field(default_factory=lambda: Worker("tach"))

    def __post_init__(self) -> None:
        self.io.name = f"fan {self.name} ({self.driver.description})"
        self.tach_io.name = f"tach of fan {self.name} ({self.driver.description})"


def _fan_law(model: FanModel) -> tuple[Law, FanTuning]:
    law: Law
    if model.switch is not None:
        law = OnOffSwitch(model.switch.on_c, model.switch.off_c)
    elif model.pid is not None:
        p = model.pid
        law = Pid(p.target_c, p.kp / 100.0, p.ki / 100.0, p.kd / 100.0)
    elif model.inputs is not None:
        law = MixedCurves(
            tuple(
                FanCurve.of([(p.temp_c, p.duty_pct / 100.0) for p in i.curve]) for i in model.inputs
            ),
            tuple(i.weight for i in model.inputs),
            model.mix,
        )
    else:
        points = model.curve or []  # the model guarantees one of curve, switch
        law = FanCurve.of([(p.temp_c, p.duty_pct / 100.0) for p in points])
    min_duty = model.min_duty_pct / 100.0
    start_duty = model.start_duty_pct / 100.0
    kick = model.spinup.duty_pct / 100.0
    cal = model.calibration
    if cal is not None and not isinstance(law, OnOffSwitch):
        # The curve's 0..100 % becomes the range in which this fan really turns.
        law = _onto_range(law, cal.min_duty_pct / 100.0, model.max_duty_pct / 100.0)
        min_duty = max(min_duty, cal.min_duty_pct / 100.0)
        start_duty = cal.start_duty_pct / 100.0  # at or above it a healthy fan always turns
        kick = max(kick, cal.start_duty_pct / 100.0)
    tuning = FanTuning(
        min_duty=min_duty,
        max_duty=model.max_duty_pct / 100.0,
        allow_stop=model.allow_stop,
        start_duty=start_duty,
        kick_duty=kick,
        kick_s=model.spinup.seconds,
        max_rate=None if model.max_change_pct_per_s is None else model.max_change_pct_per_s / 100.0,
        stall_s=model.stall_after_s,
    )
    return law, tuning


def _onto_range(law: Law, low: float, high: float) -> Law:
    """``law`` with every non-zero duty mapped linearly onto ``low..high``."""
    if isinstance(law, MixedCurves):
        curves = tuple(_onto_range(c, low, high) for c in law.curves)
        return MixedCurves(curves, law.weights, law.how)  # type: ignore[arg-type]
    if isinstance(law, (OnOffSwitch, Pid)):
        return law
    duties = tuple(0.0 if d <= 0.0 else low + d * (high - low) for d in law.duties)
    return FanCurve(law.temps, duties)


def _resolve_input(
    fs: HostFS, model: SensorModel, where: str, source: str, timeout_s: float = 1.0
) -> Input:
    if model.agent is not None:
        return AgentInput(
            model.name,
            model.agent,
            headline=model.headline,
            stale_after_s=model.stale_after_s,
            min_c=model.min_c,
            max_c=model.max_c,
            timeout_s=timeout_s,
        )
    if model.thermal_zone is not None:
        path = find_thermal_zone(fs, str(model.thermal_zone))
        field, what = f"{where}.thermal_zone", f"no thermal zone {model.thermal_zone!r}"
    elif model.hwmon is not None:
        directory = find_hwmon(fs, model.hwmon)
        path = None if directory is None else find_hwmon_temp(fs, directory, model.input)
        field = f"{where}.hwmon" if directory is None else f"{where}.input"
        what = (
            f"no hwmon chip {model.hwmon!r}"
            if directory is None
            else f"hwmon {model.hwmon!r} has no temperature {model.input!r}"
        )
    else:
        path = model.path if model.path and fs.exists(model.path) else None
        field, what = f"{where}.path", f"no such file {model.path!r}"
    if path is None:
        raise ConfigError(source, field, f"{what} on this host ({fs!r})")
    return Input(
        model.name,
        fs,
        path,
        stale_after_s=model.stale_after_s,
        min_c=model.min_c,
        max_c=model.max_c,
    )


def _make_driver(
    fs: HostFS, model: FanModel, where: str, source: str, bus_opener: Callable[[int], Any]
) -> FanDriver:
    d = model.driver
    if isinstance(d, HwmonFanModel):
        directory = find_hwmon(fs, d.chip)
        if directory is None:
            raise ConfigError(
                source, f"{where}.driver.chip", f"no hwmon chip {d.chip!r} on this host ({fs!r})"
            )
        if not fs.exists(f"{directory}/pwm{d.pwm}"):
            raise ConfigError(source, f"{where}.driver.pwm", f"{directory} has no pwm{d.pwm}")
        return HwmonPwmDriver(fs, directory, d.pwm, d.pwm_max)
    if isinstance(d, GpioModel):
        try:
            chip = GpioDriver.chip_path(d.chip)
        except OSError as exc:
            raise ConfigError(source, f"{where}.driver.chip", str(exc)) from None
        return GpioDriver(chip, d.line, active_low=d.active_low)
    try:
        bus = bus_opener(d.bus)
    except OSError as exc:
        raise ConfigError(
            source, f"{where}.driver.bus", f"cannot open /dev/i2c-{d.bus}: {exc.strerror or exc}"
        ) from None
    return Emc230xDriver(bus, d.address, d.channel)


class FanService:
    """Controls every fan of one ``fan.yaml``; see the module docstring."""

    def __init__(
        self,
        fans: Sequence[Fan],
        interval_s: float = 2.0,
        source: str = "<fan config>",
        *,
        io_timeout_s: float = 0.5,
    ) -> None:
        self.fans = list(fans)
        self.interval_s = interval_s
        self.io_timeout_s = io_timeout_s
        self.steps = 0  # control steps that ran to the end
        self.source = source
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = False
        self.error: BaseException | None = None
        # a fan_stall fault (microrack.faults) holds duty 0 through this file; see _override
        self.override_path: Path | None = None
        self.override_active: str | None = None

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        config: FanConfig,
        fs: HostFS,
        *,
        source: str = "<fan config>",
        dry_run: bool = False,
        bus_opener: Callable[[int], Any] = Emc230xDriver.open_bus,
    ) -> FanService:
        """Resolve sensors and fans against ``fs``; unknown ones are a :class:`ConfigError`."""
        io_timeout = config.io_timeout_s or min(1.0, max(0.25, config.interval_s / 4))
        inputs = {
            s.name: _resolve_input(fs, s, f"sensors[{i}]", source, io_timeout)
            for i, s in enumerate(config.sensors)
        }
        fans = []
        for i, model in enumerate(config.fans):
            driver = _make_driver(fs, model, f"fans[{i}]", source, bus_opener)
            if dry_run:
                driver = DryRunDriver(driver)
            law, tuning = _fan_law(model)
            names = (
                [i.sensor for i in model.inputs] if model.inputs else model.sensors or list(inputs)
            )
            fans.append(
                Fan(
                    model.name,
                    driver,
                    [inputs[n] for n in names],
                    law,
                    model.hysteresis_c,
                    tuning,
                    max_rpm=None if model.calibration is None else model.calibration.max_rpm,
                )
            )
        return cls(fans, config.interval_s, source, io_timeout_s=io_timeout)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        fs: HostFS,
        *,
        dry_run: bool = False,
        bus_opener: Callable[[int], Any] = Emc230xDriver.open_bus,
    ) -> FanService:
        """Load, validate and resolve a ``fan.yaml``."""
        return cls.from_config(
            load_config(path), fs, source=str(path), dry_run=dry_run, bus_opener=bus_opener
        )

    @classmethod
    def for_board(cls, board_id: str, fs: HostFS, *, dry_run: bool = False) -> FanService:
        """The default curve for a board (its catalog thermal profile) on its PWM fan."""
        from microrack.thermal._defaults import default_config

        return cls.from_config(
            default_config(board_id, fs), fs, source=f"<default for {board_id}>", dry_run=dry_run
        )

    # -- control ----------------------------------------------------------------------

    def open(self) -> None:
        """Take control of every fan (done by the first step when not called)."""
        if not self._opened:
            for fan in self.fans:
                try:
                    fan.io.call(fan.driver.open, self.io_timeout_s)
                except OSError as exc:
                    raise ResourceError(
                        f"fan {fan.name}: cannot take control of {fan.driver.description}: {exc}"
                    ) from exc
            self._opened = True

    def step(self, now: float) -> None:
        """One control iteration at time ``now`` (seconds, any monotonic origin).

        Every sensor and tach is read on its own device thread, all at once, and
        waited for at most ``io_timeout_s``; then every duty is written the same
        way.  A step therefore takes at most about twice the I/O deadline, however
        the hardware behaves.
        """
        with self._lock:
            try:
                self.open()
                self._step(now)
            except BaseException:
                self._all_full()
                raise
            self.steps += 1

    # -- fan_stall override ------------------------------------------------------------

    def max_temp_c(self) -> float | None:
        """The lowest temperature at which some fan's law asks for full cooling."""
        tops: list[float] = []
        for fan in self.fans:
            law = fan.law
            if isinstance(law, FanCurve):
                tops.append(law.temps[-1])
            elif isinstance(law, MixedCurves):
                tops.append(min(c.temps[-1] for c in law.curves))
            elif isinstance(law, OnOffSwitch):
                tops.append(law.on_c)
            elif isinstance(law, Pid):
                tops.append(law.target_c)
        return min(tops) if tops else None

    def clear_override(self) -> None:
        """Drop an override left by an earlier run (a fan controller starts on its curve)."""
        if self.override_path is not None:
            try:
                self.override_path.unlink()
                log.warning("fan: dropped a stale fan_stall override %s", self.override_path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("fan: cannot remove the override %s: %s", self.override_path, exc)

    def _override(self, hottest: float) -> bool:
        """True while a fan_stall override holds duty 0.

        The file is JSON ``{"id", "duty": 0, "deadline_unix", "limit_c"}``.  The
        override ends (the file is removed) at its deadline or as soon as the
        hottest sensor reaches ``limit_c``; an unreadable or malformed file is
        no override.  Input faults keep their failsafe: they are checked first.
        """
        path = self.override_path
        if path is None:
            return False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            deadline = float(data["deadline_unix"])
            limit = float(data["limit_c"])
            fid = str(data.get("id", "?"))
        except FileNotFoundError:
            self.override_active = None
            return False
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("fan: ignoring the override %s: %s", path, exc)
            self.override_active = None
            return False
        why = None
        if time.time() >= deadline:
            why = "deadline reached"
        elif not math.isnan(hottest) and hottest >= limit:
            why = f"hottest sensor {hottest:.1f} °C reached the limit {limit:g} °C"
        if why is not None:
            with contextlib.suppress(OSError):
                path.unlink()
            log.warning("fan: fan_stall override %s ended: %s", fid, why)
            self.override_active = None
            return False
        if self.override_active != fid:
            log.warning(
                "fan: fan_stall override %s: duty 0 until %s or %g °C",
                fid,
                time.strftime("%H:%M:%S", time.localtime(deadline)),
                limit,
            )
        self.override_active = fid
        return True

    def _step(self, now: float) -> None:
        inputs = list({id(i): i for fan in self.fans for i in fan.inputs}.values())
        started = [(i, i.submit()) for i in inputs]
        tachs = [(fan, fan.tach_io.submit(fan.driver.read_rpm)) for fan in self.fans]
        deadline = time.monotonic() + self.io_timeout_s
        readings = {id(i): i.judge(p, deadline, now) for i, p in started}
        temps = [r.temp_c for r in readings.values() if not math.isnan(r.temp_c)]
        stalled = self._override(max(temps) if temps else math.nan)
        for fan, pending in tachs:
            tach_fault = None
            try:
                fan.rpm = pending.result(deadline - time.monotonic())
            except (OSError, ValueError) as exc:
                log.warning("fan %s: cannot read tach: %s", fan.name, exc)
                fan.rpm = None
                hung = isinstance(exc, DeadlineMissed)
                tach_fault = "tach:timeout" if hung else "tach:unreadable"
            mine = [readings[id(i)] for i in fan.inputs]
            temp, fault = combine(mine)
            before = fan.state
            fan.state = control_step(
                fan.state,
                now,
                temp,
                fan.rpm,
                law=fan.law,
                hysteresis_c=fan.hysteresis_c,
                tuning=fan.tuning,
                fault=fault or tach_fault,
                temps=[r.temp_c for r in mine],
            )
            if stalled and fan.state.failsafe is None:  # the failsafe still wins
                fan.state = replace(fan.state, duty=0.0)
            if fan.state.failsafe != before.failsafe:
                if fan.state.failsafe:
                    log.warning("fan %s: failsafe (%s): full duty", fan.name, fan.state.failsafe)
                else:
                    log.warning("fan %s: failsafe cleared", fan.name)
        writes = [
            (fan, fan.io.submit(partial(fan.driver.set_duty, fan.state.duty))) for fan in self.fans
        ]
        deadline = time.monotonic() + self.io_timeout_s
        for fan, write in writes:
            try:
                write.result(deadline - time.monotonic())
            except OSError as exc:
                # A glitch on a bus is retried next step; a fan that stays unwritable is fatal.
                fan.write_errors += 1
                reason = "driver_timeout" if isinstance(exc, DeadlineMissed) else "driver_error"
                fan.state = replace(fan.state, failsafe=reason, stage=Stage.FAILSAFE)
                if fan.write_errors >= MAX_WRITE_ERRORS:
                    what = f"{fan.write_errors} failed writes to {fan.driver.description}"
                    raise ResourceError(f"fan {fan.name}: {what}: {exc}") from exc
                log.warning("fan %s: cannot write duty (%s); retrying", fan.name, exc)
            else:
                fan.write_errors = 0

    def _all_full(self) -> None:
        for fan in self.fans:
            try:
                fan.io.call(partial(fan.driver.set_duty, 1.0), self.io_timeout_s)
            except Exception as exc:  # keep going: the other fans still matter
                log.error("fan %s: cannot set full duty: %s", fan.name, exc)
            else:  # the exported state says what was written, not the last curve value
                fan.state = replace(
                    fan.state,
                    duty=1.0,
                    stage=Stage.FAILSAFE,
                    failsafe=fan.state.failsafe or "error",
                )

    def close(self) -> None:
        """Every fan to full duty and back to the mode it was in before."""
        with self._lock:
            for fan in self.fans:
                try:
                    # a no-op for a driver that never took control
                    fan.io.call(fan.driver.close, max(self.io_timeout_s, 1.0))
                except Exception as exc:
                    log.error("fan %s: cannot hand back: %s", fan.name, exc)
            self._opened = False

    def modes(self) -> dict[str, str]:
        """Per fan, the mode it will be handed back to (after :meth:`open`)."""
        out = {}
        for fan in self.fans:
            mode = fan.driver.saved_mode()
            if mode is not None:
                out[fan.name] = mode
        return out

    def failsafe(self, modes: dict[str, str] | None = None) -> list[str]:
        """Every fan to full duty and handed back, without a control step (``fan --failsafe``).

        ``modes`` are the modes an earlier (killed) run recorded; a fan found in
        manual mode is handed back to those rather than left in manual mode.
        Returns one line per fan that could not be made safe (empty: all safe).
        """
        problems = []
        timeout = max(self.io_timeout_s, 1.0)
        with self._lock:
            for fan in self.fans:
                try:
                    fan.io.call(fan.driver.open, timeout)
                    if modes and fan.name in modes:
                        fan.driver.assume_mode(modes[fan.name])
                    fan.io.call(partial(fan.driver.set_duty, 1.0), timeout)
                    fan.io.call(fan.driver.close, timeout)
                except Exception as exc:  # the other fans still matter
                    problems.append(f"fan {fan.name} ({fan.driver.description}): {exc}")
                else:
                    fan.state = replace(
                        fan.state, duty=1.0, stage=Stage.FAILSAFE, failsafe="failsafe"
                    )
            self._opened = False
        return problems

    # -- background thread ----------------------------------------------------------

    def run(
        self,
        clock: Callable[[], float] = time.monotonic,
        on_step: Callable[[FanService], None] | None = None,
    ) -> None:
        """Step every ``interval_s`` until :meth:`request_stop`; errors go full duty, then raise."""
        while not self._stop.is_set():
            self.step(clock())
            if on_step is not None:
                on_step(self)
            self._stop.wait(self.interval_s)

    def request_stop(self) -> None:
        self._stop.set()

    def start(self) -> None:
        """Run the loop on a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            try:
                self.run()
            except BaseException as exc:
                self.error = exc
                log.exception("fan loop stopped; fans left at full duty")

        self._thread = threading.Thread(target=loop, name="microrack-fan", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, leave fans at full duty and hand them back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(10.0, 3 * self.interval_s))
            self._thread = None
        self.close()

    # -- export -----------------------------------------------------------------------

    def points(self) -> list[Point]:
        """The loop's state as ``microrack_fan_*`` points (one set per fan)."""
        out: list[Point] = []

        def add(name: str, fan: str, value: float) -> None:
            out.append(Point(SeriesKey.of(f"microrack_fan_{name}", fan=fan), value))

        with self._lock:
            for fan in self.fans:
                s = fan.state
                add("duty_ratio", fan.name, s.duty)
                if fan.max_rpm is not None:
                    add("max_rpm", fan.name, fan.max_rpm)
                add("target_ratio", fan.name, s.target)
                if fan.rpm is not None:
                    add("rpm", fan.name, fan.rpm)
                add("failsafe", fan.name, 1.0 if s.failsafe or self.error else 0.0)
                add("stall", fan.name, 1.0 if s.stall else 0.0)
                if not math.isnan(s.temp_c):
                    add("input_celsius", fan.name, s.temp_c)
        return out

    def status(self) -> list[dict[str, Any]]:
        """The state of each fan as JSON-ready dicts (``--json``)."""
        with self._lock:
            return [
                {
                    "fan": f.name,
                    "driver": f.driver.description,
                    "input_celsius": None
                    if math.isnan(f.state.temp_c)
                    else round(f.state.temp_c, 3),
                    "target_ratio": round(f.state.target, 4),
                    "duty_ratio": round(f.state.duty, 4),
                    "rpm": f.rpm,
                    "stage": f.state.stage,
                    "failsafe": f.state.failsafe or (repr(self.error) if self.error else None),
                    "stall": f.state.stall,
                }
                for f in self.fans
            ]
