"""Closed loop against the hardware twin: the curve keeps a hot node below its throttle limit.

The twin (``microrack.sim.open_node``) is driven by a clock the test owns, so
half an hour of twin time runs in a second and nothing depends on wall time.
Writing the twin's hwmon ``pwm1`` changes its fan duty; its ``fan_stall``
fault stops the fan whatever the duty says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from microrack.catalog import board_profile
from microrack.sim import open_node
from microrack.thermal import FanService
from microrack.thermal._plot import trace_figure

AMBIENT_C = 35.0  # a warm closet: the stalled fan makes the difference
SOFT_TEMP_LIMIT_OCCURRED = 1 << 19  # Raspberry Pi get_throttled


def _run(tmp_path: Path, board: str, *, stall: bool) -> tuple[float, FanService, object, dict]:
    script = {
        "ambient_c": AMBIENT_C,
        "load": [{"at": 0, "util": 0.1}, {"at": 60, "util": 1.0}],  # sustained full load
        "faults": [{"at": 0, "kind": "fan_stall"}] if stall else [],
    }
    path = tmp_path / f"{board}-{'stall' if stall else 'ok'}.yaml"
    path.write_text(yaml.safe_dump(script))
    now = [0.0]
    node = open_node(board, script=path, seed=1, clock=lambda: now[0])
    service = FanService.for_board(board, node)
    hottest = 0.0
    trace: dict[str, list[float]] = {"t": [], "temp_c": [], "duty": []}
    for t in range(0, 1800, 2):
        now[0] = float(t)
        service.step(float(t))
        hottest = max(hottest, node.temperature)
        trace["t"].append(float(t))
        trace["temp_c"].append(node.temperature)
        trace["duty"].append(service.fans[0].state.duty)
    return hottest, service, node, trace


@pytest.mark.parametrize("board", ["pi5", "pi4"])
def test_curve_holds_below_throttle_and_a_stalled_fan_crosses_it(
    tmp_path: Path, artifacts_dir: Path, board: str
) -> None:
    limit = board_profile(board).throttle_soft_c
    ok_max, ok_service, ok_node, ok_trace = _run(tmp_path, board, stall=False)
    bad_max, bad_service, bad_node, bad_trace = _run(tmp_path, board, stall=True)
    fig = trace_figure({"curve": ok_trace, "fan stalled": bad_trace}, limit_c=limit)
    fig.write_html(artifacts_dir / f"fan-closed-loop-{board}.html", include_plotlyjs=True)

    assert ok_max < limit, f"{board} with its curve reached {ok_max:.1f} C (limit {limit})"
    ok_flags = {p.key.name: p.value for p in ok_service.points()}
    assert ok_flags["microrack_fan_stall"] == 0 and ok_flags["microrack_fan_failsafe"] == 0
    assert ok_flags["microrack_fan_rpm"] > 0

    assert bad_max > limit, f"{board} with a stalled fan only reached {bad_max:.1f} C"
    # The twin's firmware agrees: soft temperature limit reached (get_throttled bit 19) only there.
    assert bad_node.throttled & SOFT_TEMP_LIMIT_OCCURRED
    assert not ok_node.throttled & SOFT_TEMP_LIMIT_OCCURRED
    bad_flags = {p.key.name: p.value for p in bad_service.points()}
    assert bad_flags["microrack_fan_stall"] == 1 and bad_flags["microrack_fan_failsafe"] == 1
    assert bad_flags["microrack_fan_duty_ratio"] == 1.0
    assert bad_max > ok_max

    for service, node in ((ok_service, ok_node), (bad_service, bad_node)):
        service.close()
        assert node.pwm == 255 and node.pwm_enable == 2  # full, and the firmware curve back


def test_sensor_failure_on_the_twin_goes_full(tmp_path: Path) -> None:
    script = {"load": [{"at": 0, "util": 0.5}], "faults": [{"at": 100, "kind": "sensor_fail"}]}
    path = tmp_path / "sensor.yaml"
    path.write_text(yaml.safe_dump(script))
    now = [0.0]
    node = open_node("pi5", script=path, clock=lambda: now[0])
    service = FanService.for_board("pi5", node)
    for t in range(0, 100, 2):
        now[0] = float(t)
        service.step(float(t))
    assert service.fans[0].state.failsafe is None and node.pwm < 255
    now[0] = 102.0
    service.step(102.0)
    assert node.pwm == 255 and (service.fans[0].state.failsafe or "").endswith(":missing")
