"""PID mode toward a target temperature, with the same failsafe as a curve."""

from __future__ import annotations

from pathlib import Path

import pytest
from fan_trees import Tree, fan_yaml

from microrack.sensors import LocalFS
from microrack.sim import open_node
from microrack.thermal import FanService, Pid

TWIN_PID = """\
interval_s: 2
sensors: [{name: soc, thermal_zone: cpu-thermal, stale_after_s: null}]
fans:
  - name: fan
    driver: {type: hwmon, chip: pwmfan}
    pid: {target_c: TARGET, kp: 8, ki: 0.4, kd: 0}
    spinup: {seconds: 0}
    allow_stop: false
    min_duty_pct: 5
"""


def test_integral_does_not_wind_up() -> None:
    pid = Pid(target_c=50, kp=0.0, ki=0.1)
    integral = 0.0
    for _ in range(1000):  # far too hot for a long time: the fan is saturated
        duty, integral, _e = pid.step(integral, None, 90.0, 1.0)
    assert duty == 1.0 and integral == pytest.approx(10.0)  # 1 / ki: the term is at most 1
    # back below target: the duty falls at once instead of unwinding for minutes
    duty, integral, _e = pid.step(integral, None, 40.0, 20.0)
    assert duty < 1.0


@pytest.mark.parametrize("target", [55.0, 62.0])
def test_pid_holds_the_twin_near_its_target(tmp_path: Path, target: float) -> None:
    script = tmp_path / "busy.yaml"
    script.write_text("load: [{at: 0, util: 1.0}]\n")
    node = open_node("pi5", seed=4, script=script, clock=lambda: 0.0)
    cfg = tmp_path / "fan.yaml"
    cfg.write_text(TWIN_PID.replace("TARGET", str(target)))
    service = FanService.from_file(cfg, node)
    temps = []
    for t in range(0, 1800, 2):
        node.advance(2.0)
        service.step(float(t))
        temps.append(node.temperature)
    tail = temps[-150:]  # the last five minutes
    assert abs(sum(tail) / len(tail) - target) < 2.0, (min(tail), max(tail))
    assert service.fans[0].state.failsafe is None


def test_pid_failsafe_on_a_missing_sensor(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(40.0)
    cfg = fan_yaml(tmp_path, curve=None, pid={"target_c": 60, "kp": 5})
    service = FanService.from_file(cfg, LocalFS(str(tree.root)))
    service.step(0.0)
    assert service.fans[0].state.duty == 0.0 and service.fans[0].state.failsafe is None
    tree.path(tree.ZONE).unlink()
    service.step(1.0)
    assert service.fans[0].state.failsafe == "cpu:missing" and tree.pwm == 255
