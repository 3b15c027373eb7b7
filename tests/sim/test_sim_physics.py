"""Properties of the vectorised physics, checked against the equations node by node."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from microrack.sim import Twin, board_model

BOARDS = ["pi4b", "pi5", "rk1", "vf2", "jupiter", "rock5b"]
MODELS = {b: board_model(b) for b in BOARDS}


def _reference(
    m,
    temp: float,
    sink: float,
    util: float,
    duty: float,
    amb: float,  # type: ignore[no-untyped-def]
    dt: float,
) -> tuple[float, float, float]:
    """One step of one node, written out from the module docstring: (die, sink, clock)."""
    p = m.physics
    r_js, c_die = p.r_js.value, p.c_die.value
    cool = m.cooling
    g_sa = 1.0 / cool.r_sa.value
    if m.has_fan:
        g_sa += duty * (1.0 / cool.r_sa_full.value - g_sa)
    lo, hi = m.throttle_band
    span = 1.0 - p.min_clock_ratio.value
    dyn = (m.load_w - m.idle_w) * p.intensity("integer")
    d = math.exp(-dt / (r_js * c_die))

    def die_after(c: float) -> float:
        teq = sink + (m.idle_w + dyn * util * c * c) * r_js
        return teq + (temp - teq) * d

    def law(t: float) -> float:
        return min(1.0, max(p.min_clock_ratio.value, 1.0 - (t - lo) / (hi - lo) * span))

    # the clock is consistent with the end-of-step die temperature: bisect c = law(T(c))
    a, b = p.min_clock_ratio.value, 1.0
    for _ in range(60):
        c = (a + b) / 2
        if law(die_after(c)) > c:
            a = c
        else:
            b = c
    c = (a + b) / 2
    die = die_after(c)
    den = 1.0 / r_js + g_sa
    seq = (die / r_js + amb * g_sa) / den
    new_sink = seq + (sink - seq) * math.exp(-dt * den / cool.c_sink.value)
    return die, new_sink, c


node = st.tuples(
    st.sampled_from(BOARDS),
    st.floats(20, 100),
    st.floats(-5, 20),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(-10, 45),
)


@settings(max_examples=60, deadline=None)
@given(nodes=st.lists(node, min_size=1, max_size=20), dt=st.floats(0.1, 30))
def test_vectorised_step_equals_the_per_node_equations(nodes, dt) -> None:  # type: ignore[no-untyped-def]
    tw = Twin([MODELS[b] for b, *_ in nodes], nvme=[False] * len(nodes))
    tw.auto_fan[:] = False
    f32 = tw.temp.dtype.type
    for i, (_, temp, below, util, duty, amb) in enumerate(nodes):
        tw.temp[i], tw.sink_temp[i] = temp, temp - below
        tw.util[i], tw.duty[i], tw.ambient[i] = util, duty, amb
    tw.step(dt)
    for i, (b, temp, below, util, duty, amb) in enumerate(nodes):
        die, sink, clock = _reference(
            MODELS[b],
            float(f32(temp)),
            float(f32(temp - below)),
            float(f32(util)),
            float(f32(duty)),
            float(f32(amb)),
            dt,
        )
        assert abs(float(tw.clock[i]) - clock) < 2e-3
        assert abs(float(tw.temp[i]) - die) < 2e-3 * max(1.0, abs(die))
        assert abs(float(tw.sink_temp[i]) - sink) < 2e-3 * max(1.0, abs(sink))


@settings(max_examples=10, deadline=None)
@given(
    board=st.sampled_from(BOARDS),
    util=st.floats(0.3, 1),
    amb=st.floats(0, 45),
    dt=st.sampled_from([0.5, 1.0, 5.0, 30.0]),
)
def test_the_throttle_loop_settles_to_the_same_state_at_any_step(board, util, amb, dt) -> None:  # type: ignore[no-untyped-def]
    """The clock is solved with the end-of-step temperature: no limit cycle even at 30 s steps."""
    fine = Twin([MODELS[board].with_cooler("bare")], ambient_c=amb, nvme=[False])
    coarse = Twin([MODELS[board].with_cooler("bare")], ambient_c=amb, nvme=[False])
    for tw in (fine, coarse):
        tw.util[:] = util
    for _ in range(7200):
        fine.step(0.5)
    for _ in range(int(3600 / dt)):
        coarse.step(dt)
    assert abs(float(coarse.temp[0]) - float(fine.temp[0])) < 0.2
    assert abs(float(coarse.clock[0]) - float(fine.clock[0])) < 0.01
    coarse.step(dt)  # and it stays there
    assert abs(float(coarse.clock[0]) - float(fine.clock[0])) < 0.01


@settings(max_examples=40, deadline=None)
@given(
    board=st.sampled_from(BOARDS),
    util=st.floats(0, 1),
    amb=st.floats(0, 40),
    lo=st.floats(0, 1),
    hi=st.floats(0, 1),
)
def test_more_fan_never_makes_a_board_hotter(board, util, amb, lo, hi) -> None:  # type: ignore[no-untyped-def]
    lo, hi = min(lo, hi), max(lo, hi)
    tw = Twin([MODELS[board]] * 2, ambient_c=amb, nvme=[False, False])
    tw.auto_fan[:] = False
    tw.util[:] = util
    tw.duty[:] = [lo, hi]
    tw.settle()
    assert float(tw.temp[1]) <= float(tw.temp[0]) + 1e-3
    assert float(tw.temp[0]) >= amb - 1e-3  # never below ambient
    # throttling never lets the board run away past its hard limit by much
    assert float(tw.temp.max()) < max(MODELS[board].throttle_hard_c + 15, amb + 60)


def test_energy_is_power_integrated_over_time() -> None:
    tw = Twin([MODELS["rk1"]], nvme=[True])
    tw.auto_fan[:] = False
    tw.util[:] = 0.5
    tw.settle()
    e0 = float(tw.energy_j[0])
    for _ in range(3600):
        tw.step(1.0)
    assert float(tw.energy_j[0]) - e0 == __import__("pytest").approx(
        float(tw.power[0]) * 3600, rel=1e-3
    )


def test_accumulators_add_up_across_changing_steps() -> None:
    """Busy and throttled time are the sums of every step, whatever mix of dt (and batching)."""
    tw = Twin([MODELS["pi4b"], MODELS["pi4b"]], nvme=[False, False])
    tw.auto_fan[:] = False
    tw.util[:] = [0.25, 1.0]
    tw.temp[:] = [30.0, 200.0]  # the second one throttles on every step here
    tw.sink_temp[:] = [30.0, 200.0]
    tw.ambient[:] = [25.0, 200.0]
    dts = [1.0] * 100 + [0.5, 30.0, 0.1] * 7 + [2.0] * 70
    for dt in dts:
        tw.step(dt)
        if dt == 0.1:
            _ = tw.busy_s  # a read between steps must not change the sums
    total = sum(dts)
    assert float(tw.busy_s[0]) == __import__("pytest").approx(0.25 * total, rel=1e-6)
    assert float(tw.busy_s[1]) == __import__("pytest").approx(total, rel=1e-6)
    assert float(tw.throttled_s[0]) == 0.0
    assert float(tw.throttled_s[1]) == __import__("pytest").approx(total, rel=1e-6)
    assert float(tw.work_s[1]) < float(tw.busy_s[1])
