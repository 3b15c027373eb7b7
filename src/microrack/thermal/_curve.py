"""Pure control logic: the fan curve, hysteresis, and one fan's control step.

Nothing here touches a file or a clock; every function takes what it needs
(temperatures, the previous state, ``now``) and returns new values, so that the
properties that keep hardware safe (bounded, monotone, continuous curves; no
hunting inside the hysteresis band; full duty on any fault) are tested
directly with hypothesis.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = [
    "FanCurve",
    "FanState",
    "FanTuning",
    "Law",
    "MixedCurves",
    "OnOffSwitch",
    "Pid",
    "Stage",
    "control_step",
    "play",
]


@dataclass(frozen=True, slots=True)
class FanCurve:
    """Piecewise-linear temperature (°C) -> duty (0..1), flat beyond its ends.

    Points must be strictly increasing in temperature; duty need not be
    monotone in principle, but the config model requires it (a fan that slows
    down as the board heats is a mistake, not a choice).
    """

    temps: tuple[float, ...]
    duties: tuple[float, ...]

    @classmethod
    def of(cls, points: Sequence[tuple[float, float]]) -> FanCurve:
        """Build from ``(temp_c, duty_ratio)`` pairs."""
        if not points:
            raise ValueError("a fan curve needs at least one point")
        temps = tuple(float(t) for t, _ in points)
        duties = tuple(float(d) for _, d in points)
        if any(b <= a for a, b in itertools.pairwise(temps)):
            raise ValueError("curve temperatures must be strictly increasing")
        if any(not 0.0 <= d <= 1.0 for d in duties):
            raise ValueError("curve duty must be within 0..1")
        return cls(temps, duties)

    def __call__(self, temp_c: float) -> float:
        """Duty at ``temp_c``; full duty for a NaN input (an unreadable sensor)."""
        if math.isnan(temp_c):
            return 1.0
        i = bisect.bisect_right(self.temps, temp_c)
        if i == 0:
            return self.duties[0]
        if i == len(self.temps):
            return self.duties[-1]
        t0, t1 = self.temps[i - 1], self.temps[i]
        d0, d1 = self.duties[i - 1], self.duties[i]
        return d0 + (d1 - d0) * (temp_c - t0) / (t1 - t0)


def play(previous: float | None, temp_c: float, band_c: float) -> float:
    """Backlash (play) hysteresis: the temperature the curve is evaluated at.

    It follows a rising temperature at once, but only follows a falling one
    after it has dropped ``band_c`` below the last peak, so noise inside the
    band never changes the duty and the fan does not hunt.
    """
    if previous is None or temp_c > previous:
        return temp_c
    if temp_c < previous - band_c:
        return temp_c + band_c
    return previous


@dataclass(frozen=True, slots=True)
class OnOffSwitch:
    """A fan that can only switch: on at ``on_c`` and above, off at ``off_c`` and below."""

    on_c: float
    off_c: float

    def __call__(self, was_on: bool, temp_c: float) -> bool:
        if math.isnan(temp_c) or temp_c >= self.on_c:
            return True
        if temp_c <= self.off_c:
            return False
        return was_on


@dataclass(frozen=True, slots=True)
class MixedCurves:
    """A curve per input, their duties combined by ``max`` or a ``weighted`` average.

    As fan2go's function curves: the CPU's curve and the NVMe drive's curve
    each say how much cooling their part needs; the fan gives the most (or a
    weighted mean) of it.
    """

    curves: tuple[FanCurve, ...]
    weights: tuple[float, ...]
    how: str = "max"  # "max" | "weighted"

    def __call__(self, temps: Sequence[float]) -> float:
        duties = [c(t) for c, t in zip(self.curves, temps, strict=True)]
        if self.how == "weighted":
            return sum(w * d for w, d in zip(self.weights, duties, strict=True)) / sum(self.weights)
        return max(duties)


@dataclass(frozen=True, slots=True)
class Pid:
    """PID toward ``target_c``: duty = kp·e + ki·∫e dt + kd·de/dt, e = temp − target.

    Gains are in duty ratio per °C (per °C·s, per °C/s).  The integral is
    clamped so that its term stays within 0..1 (no wind-up while the fan is
    saturated or in failsafe).
    """

    target_c: float
    kp: float
    ki: float = 0.0
    kd: float = 0.0

    def step(
        self, integral: float, previous_error: float | None, temp_c: float, dt: float
    ) -> tuple[float, float, float]:
        """``(duty, integral, error)`` after ``dt`` seconds at ``temp_c``."""
        error = temp_c - self.target_c
        if self.ki > 0 and dt > 0:
            integral = min(1.0 / self.ki, max(0.0, integral + error * dt))
        derivative = 0.0 if previous_error is None or dt <= 0 else (error - previous_error) / dt
        duty = self.kp * error + self.ki * integral + self.kd * derivative
        return min(1.0, max(0.0, duty)), integral, error


Law = FanCurve | OnOffSwitch | MixedCurves | Pid
"""A fan's control law: a curve (after hysteresis), an on/off switch, mixed curves, or PID."""


@dataclass(frozen=True, slots=True)
class FanTuning:
    """How one fan turns a curve value into the duty that is written.

    ``min_duty``: the lowest duty at which the fan keeps turning (a non-zero
    target below it is raised to it); ``allow_stop``: whether a zero target may
    stop the fan; ``start_duty``: the duty above which a healthy fan must show
    rpm (stall detection); ``kick_duty``/``kick_s``: the spin-up kick when
    starting from standstill; ``max_rate``: duty change per second (None: no
    limit); ``stall_s``: how long 0 rpm at a driven duty is tolerated.
    """

    min_duty: float = 0.0
    max_duty: float = 1.0
    allow_stop: bool = True
    start_duty: float = 0.2
    kick_duty: float = 1.0
    kick_s: float = 2.0
    max_rate: float | None = None
    stall_s: float = 5.0


class Stage:
    """Why a duty is what it is (exported and logged)."""

    NORMAL = "normal"
    KICK = "kick"
    FAILSAFE = "failsafe"


@dataclass(frozen=True, slots=True)
class FanState:
    """Everything one fan's control loop remembers between steps."""

    duty: float = 1.0  # what was last written (starts at full: the safe assumption)
    target: float = 1.0  # what the curve asked for, before kick and rate limit
    temp_c: float = math.nan  # the input in use (after combining sensors)
    hyst_c: float | None = None  # the play operator's memory
    hyst_each: tuple[float, ...] | None = None  # the same, per input of mixed curves
    pid_integral: float = 0.0  # PID memory
    pid_error: float | None = None
    switch_on: bool = True  # the on/off switch's memory
    kick_until: float | None = None
    zero_rpm_since: float | None = None
    stall: bool = False
    failsafe: str | None = None  # reason, or None
    stage: str = Stage.NORMAL
    last: float | None = None  # time of the previous step


def _shape(target: float, tuning: FanTuning) -> float:
    if target <= 0.0 and tuning.allow_stop:
        return 0.0
    return min(tuning.max_duty, max(tuning.min_duty, target))


def control_step(
    state: FanState,
    now: float,
    temp_c: float,
    rpm: float | None,
    *,
    law: Law,
    hysteresis_c: float,
    tuning: FanTuning,
    fault: str | None = None,
    temps: Sequence[float] | None = None,
) -> FanState:
    """One control iteration for one fan: the new state, whose ``duty`` is to be written.

    ``temp_c`` is the combined input (NaN if unusable); ``fault`` names an input
    problem (missing, stale, out of range) that forces full duty; ``rpm`` is the
    tach reading of the previous duty (None: the fan has no tach); ``temps`` are
    the inputs one by one, for :class:`MixedCurves` (default: ``temp_c`` for each).
    """
    dt = 0.0 if state.last is None else max(0.0, now - state.last)

    # Stall: the fan was driven above its start duty yet shows no rotation.
    zero_since = state.zero_rpm_since
    if rpm is not None and rpm <= 0.0 and state.duty >= tuning.start_duty:
        zero_since = now if zero_since is None else zero_since
    else:
        zero_since = None
    stall = zero_since is not None and now - zero_since >= tuning.stall_s

    if fault is None and math.isnan(temp_c):
        fault = "input_missing"
    hyst = state.hyst_c
    hyst_each = state.hyst_each
    pid_integral, pid_error = state.pid_integral, state.pid_error
    switch_on = state.switch_on
    if fault is None:
        if isinstance(law, OnOffSwitch):
            switch_on = law(state.switch_on, temp_c)
            target = 1.0 if switch_on else 0.0
        elif isinstance(law, Pid):
            target, pid_integral, pid_error = law.step(
                state.pid_integral, state.pid_error, temp_c, dt
            )
        elif isinstance(law, MixedCurves):
            each = tuple(temps) if temps is not None else (temp_c,) * len(law.curves)
            before = state.hyst_each or (None,) * len(each)
            hyst_each = tuple(play(p, t, hysteresis_c) for p, t in zip(before, each, strict=True))
            target = law(hyst_each)
        else:
            hyst = play(state.hyst_c, temp_c, hysteresis_c)
            target = law(hyst)
        target = _shape(target, tuning)
    else:
        target = 1.0
    if stall and fault is None:
        fault = "stall"

    if fault is not None:
        return replace(
            state,
            duty=1.0,
            target=target,
            temp_c=temp_c,
            hyst_c=hyst,
            hyst_each=hyst_each,
            pid_integral=pid_integral,
            pid_error=pid_error,
            switch_on=switch_on,
            kick_until=None,
            zero_rpm_since=zero_since,
            stall=stall,
            failsafe=fault,
            stage=Stage.FAILSAFE,
            last=now,
        )

    kick_until = state.kick_until
    if state.duty <= 0.0 and target > 0.0 and tuning.kick_s > 0:
        kick_until = now + tuning.kick_s
    if kick_until is not None and now < kick_until and target > 0.0:
        duty, stage = max(target, tuning.kick_duty), Stage.KICK
    else:
        kick_until = None
        duty, stage = target, Stage.NORMAL
        # Leaving failsafe or a kick is a step down like any other: rate-limited.
        if tuning.max_rate is not None and state.last is not None and state.duty > 0.0:
            step = tuning.max_rate * dt
            duty = min(state.duty + step, max(state.duty - step, duty))
            if target <= 0.0 and duty <= tuning.min_duty:
                duty = 0.0  # below the minimum the fan stalls anyway: stop cleanly
    return FanState(
        duty=duty,
        target=target,
        temp_c=temp_c,
        hyst_c=hyst,
        hyst_each=hyst_each,
        pid_integral=pid_integral,
        pid_error=pid_error,
        switch_on=switch_on,
        kick_until=kick_until,
        zero_rpm_since=zero_since,
        stall=stall,
        failsafe=None,
        stage=stage,
        last=now,
    )
