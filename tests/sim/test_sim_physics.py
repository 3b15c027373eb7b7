"""Properties of the vectorised physics, checked against the equations node by node."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from microrack.sim import Twin, board_model

BOARDS = ["pi4b", "pi5", "rk1", "vf2", "jupiter", "rock5b"]
MODELS = {b: board_model(b) for b in BOARDS}


def _reference(m, temp: float, util: float, duty: float, amb: float, dt: float) -> float:  # type: ignore[no-untyped-def]
    """One step of one node, written out from the module docstring."""
    x = min(1.0, max(0.0, (temp - m.throttle_soft_c) / (m.throttle_hard_c - m.throttle_soft_c)))
    clock = 1.0 - x * (1.0 - m.physics.min_clock_ratio.value)
    p = m.idle_w + (m.load_w - m.idle_w) * util * clock * clock
    g = 1.0 / m.r_off + duty * (1.0 / m.r_full - 1.0 / m.r_off)
    teq = amb + p / g
    return teq + (temp - teq) * math.exp(-dt * g / m.physics.heat_capacity.value)


node = st.tuples(st.sampled_from(BOARDS), st.floats(20, 100), st.floats(0, 1), st.floats(0, 1),
                 st.floats(-10, 45))


@settings(max_examples=60, deadline=None)
@given(nodes=st.lists(node, min_size=1, max_size=20), dt=st.floats(0.1, 30))
def test_vectorised_step_equals_the_per_node_equations(nodes, dt) -> None:  # type: ignore[no-untyped-def]
    tw = Twin([MODELS[b] for b, *_ in nodes], nvme=[False] * len(nodes))
    tw.auto_fan[:] = False
    for i, (_, temp, util, duty, amb) in enumerate(nodes):
        tw.temp[i], tw.util[i], tw.duty[i], tw.ambient[i] = temp, util, duty, amb
    tw.step(dt)
    for i, (b, temp, util, duty, amb) in enumerate(nodes):
        want = _reference(MODELS[b], float(tw.temp.dtype.type(temp)), util, duty, amb, dt)
        assert abs(float(tw.temp[i]) - want) < 2e-3 * max(1.0, abs(want))


@settings(max_examples=40, deadline=None)
@given(board=st.sampled_from(BOARDS), util=st.floats(0, 1), amb=st.floats(0, 40),
       lo=st.floats(0, 1), hi=st.floats(0, 1))
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
    assert float(tw.energy_j[0]) - e0 == __import__("pytest").approx(float(tw.power[0]) * 3600,
                                                                      rel=1e-3)


def test_accumulators_add_up_across_changing_steps() -> None:
    """Busy and throttled time are the sums of every step, whatever mix of dt (and batching)."""
    tw = Twin([MODELS["pi4b"], MODELS["pi4b"]], nvme=[False, False])
    tw.auto_fan[:] = False
    tw.util[:] = [0.25, 1.0]
    tw.temp[:] = [30.0, 200.0]  # the second one throttles on every step here
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
