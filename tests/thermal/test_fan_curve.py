"""Properties of the pure control law: curve, hysteresis, on/off switch, control step."""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from microrack.thermal import FanCurve, FanState, FanTuning, OnOffSwitch, control_step, play

# Pure functions: a slow or busy CI machine must not fail them on Hypothesis's 200 ms deadline.
no_deadline = settings(deadline=None)

temps = st.floats(min_value=-40, max_value=150, allow_nan=False)


@st.composite
def curves(draw: st.DrawFn) -> FanCurve:
    n = draw(st.integers(min_value=1, max_value=8))
    ts = sorted(draw(st.sets(st.integers(min_value=-20, max_value=120), min_size=n, max_size=n)))
    ds = sorted(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    return FanCurve.of(list(zip(ts, ds, strict=True)))


def _max_slope(c: FanCurve) -> float:
    pairs = zip(c.temps, c.temps[1:], c.duties, c.duties[1:], strict=False)
    return max((abs(d1 - d0) / (t1 - t0) for t0, t1, d0, d1 in pairs), default=0.0)


@no_deadline
@given(curves(), temps)
def test_curve_is_bounded_by_its_points(curve: FanCurve, t: float) -> None:
    assert min(curve.duties) <= curve(t) <= max(curve.duties)
    assert 0.0 <= curve(t) <= 1.0


@no_deadline
@given(curves(), temps, temps)
def test_curve_is_monotone(curve: FanCurve, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert curve(lo) <= curve(hi) + 1e-12


@no_deadline
@given(curves(), temps, st.floats(min_value=0, max_value=1))
def test_curve_is_continuous(curve: FanCurve, t: float, eps: float) -> None:
    # Lipschitz with the steepest segment's slope: no jump anywhere, including at points.
    assert abs(curve(t + eps) - curve(t)) <= _max_slope(curve) * eps + 1e-9


@no_deadline
@given(curves())
def test_curve_passes_through_its_points(curve: FanCurve) -> None:
    for t, d in zip(curve.temps, curve.duties, strict=True):
        assert math.isclose(curve(t), d, abs_tol=1e-12)


def test_curve_interpolates_and_fails_safe_on_nan() -> None:
    c = FanCurve.of([(50, 0.3), (60, 0.5)])
    assert math.isclose(c(55), 0.4)
    assert c(math.nan) == 1.0


@no_deadline
@given(
    temps,
    st.floats(min_value=0.5, max_value=10),
    st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=50),
)
def test_play_never_moves_while_temperature_wanders_inside_the_band(
    start: float, band: float, fractions: list[float]
) -> None:
    held = play(None, start, band)
    for f in fractions:
        # anywhere in [peak - band, peak]: the evaluated temperature does not move
        assert play(held, start - f * band, band) == held


@no_deadline
@given(temps, st.floats(min_value=0.5, max_value=10), temps)
def test_play_follows_rises_at_once_and_falls_beyond_the_band(
    start: float, band: float, t: float
) -> None:
    held = play(None, start, band)
    out = play(held, t, band)
    if t > start:
        assert out == t
    elif t < start - band:
        assert out == t + band
    assert out - band - 1e-9 <= t <= out + 1e-9  # input within the band below


@no_deadline
@given(
    st.floats(min_value=30, max_value=80),
    st.floats(min_value=1, max_value=10),
    st.booleans(),
    st.lists(st.floats(min_value=0.001, max_value=0.999), min_size=1, max_size=60),
)
def test_switch_never_flips_inside_its_band(
    on_c: float, band: float, was_on: bool, fractions: list[float]
) -> None:
    switch = OnOffSwitch(on_c=on_c, off_c=on_c - band)
    state = was_on
    for f in fractions:
        t = switch.off_c + f * band
        assume(switch.off_c < t < switch.on_c)
        state = switch(state, t)
        assert state == was_on


def test_switch_switches_at_its_edges() -> None:
    s = OnOffSwitch(on_c=60, off_c=55)
    assert s(False, 60) is True
    assert s(True, 55) is False
    assert s(False, math.nan) is True


PI5 = FanCurve.of([(50, 0.3), (60, 0.5), (67.5, 0.7), (75, 1.0)])


@no_deadline
@given(
    st.floats(min_value=45, max_value=90),
    st.lists(st.floats(min_value=0, max_value=1), min_size=2, max_size=40),
)
def test_control_loop_duty_does_not_hunt_inside_the_band(
    start: float, fractions: list[float]
) -> None:
    tuning = FanTuning(kick_s=0)
    state = control_step(FanState(), 0.0, start, None, law=PI5, hysteresis_c=5, tuning=tuning)
    first = state.duty
    for i, f in enumerate(fractions, start=1):
        state = control_step(
            state,
            float(i),
            start - 5 * f,
            None,
            law=PI5,
            hysteresis_c=5,
            tuning=tuning,
        )
        assert state.duty == first
        assert state.failsafe is None


def test_min_duty_stop_and_kick() -> None:
    tuning = FanTuning(min_duty=0.25, allow_stop=True, kick_duty=1.0, kick_s=2.0)
    curve = FanCurve.of([(40, 0.0), (60, 0.5)])
    s = control_step(FanState(duty=0.0), 0.0, 30.0, None, law=curve, hysteresis_c=0, tuning=tuning)
    assert s.duty == 0.0  # below the curve: stopped, not raised to the minimum
    s = control_step(s, 1.0, 42.0, None, law=curve, hysteresis_c=0, tuning=tuning)
    assert (s.target, s.duty, s.stage) == (0.25, 1.0, "kick")  # raised to min, kicked from stop
    s = control_step(s, 2.5, 42.0, None, law=curve, hysteresis_c=0, tuning=tuning)
    assert s.duty == 1.0
    s = control_step(s, 3.5, 42.0, None, law=curve, hysteresis_c=0, tuning=tuning)
    assert (s.duty, s.stage) == (0.25, "normal")


@no_deadline
@given(
    st.lists(st.floats(min_value=20, max_value=100), min_size=2, max_size=40),
    st.floats(min_value=0.01, max_value=0.5),
)
def test_rate_limit_bounds_every_change(seq: list[float], rate: float) -> None:
    tuning = FanTuning(kick_s=0, max_rate=rate, allow_stop=False, min_duty=0.1)
    s = control_step(FanState(), 0.0, seq[0], None, law=PI5, hysteresis_c=0, tuning=tuning)
    for i, t in enumerate(seq[1:], start=1):
        before = s.duty
        s = control_step(s, float(i), t, None, law=PI5, hysteresis_c=0, tuning=tuning)
        assert abs(s.duty - before) <= rate + 1e-9
        assert 0.0 <= s.duty <= 1.0


@no_deadline
@given(
    st.floats(min_value=-100, max_value=200),
    st.sampled_from(["soc:missing", "soc:stale", "soc:out_of_range"]),
    st.floats(min_value=0, max_value=1),
    st.booleans(),
)
def test_any_input_fault_means_full_duty(
    temp: float, fault: str, previous: float, on_off: bool
) -> None:
    tuning = FanTuning(max_rate=0.01, max_duty=0.6)  # neither rate limit nor max may hold it back
    prior = FanState(duty=previous, last=0.0)
    s = control_step(
        prior,
        1.0,
        temp,
        None,
        law=OnOffSwitch(60, 55) if on_off else PI5,
        hysteresis_c=5,
        tuning=tuning,
        fault=fault,
    )
    assert s.duty == 1.0 and s.failsafe == fault
    nan = control_step(prior, 1.0, math.nan, None, law=PI5, hysteresis_c=5, tuning=tuning)
    assert nan.duty == 1.0 and nan.failsafe == "input_missing"
