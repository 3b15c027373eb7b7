"""``microrack fan calibrate``: against the twin's fan model, and against lying hardware."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fan_trees import Emc2301, Tree, fan_yaml

from microrack.cli import main
from microrack.sensors import LocalFS
from microrack.sim import board_model, open_node
from microrack.thermal import FanService, FanTuning, GpioDriver, OnOffSwitch
from microrack.thermal._calibrate import CalibrationError, calibrate_fans
from microrack.thermal._service import Fan

TWIN_FAN = """\
# a hand-written fan.yaml: this comment and the key order must survive
interval_s: 1
sensors:
  - name: soc   # the SoC
    thermal_zone: cpu-thermal
    stale_after_s: null
fans:
  - name: fan
    driver: {type: hwmon, chip: pwmfan}
    curve:
      - {temp_c: 50, duty_pct: 30}
      - {temp_c: 85, duty_pct: 100}   # full at 85
"""


def test_twin_sweep_matches_the_fan_model_within_5_percent(tmp_path: Path) -> None:
    cfg = tmp_path / "fan.yaml"
    cfg.write_text(TWIN_FAN)
    node = open_node("pi5", seed=2, clock=lambda: 0.0)
    service = FanService.from_file(cfg, node)
    results, skipped = calibrate_fans(service, wait=node.advance, steps=20, settle_s=3.0)
    assert skipped == []
    cal = results["fan"]
    true_max = board_model("pi5").physics.fan_rpm_max.value
    assert abs(cal.max_rpm - true_max) <= 0.05 * true_max
    # The twin's fan turns at any non-zero duty, at rpm = duty x max: start and minimum
    # are the first step, every point of the curve on that line.
    assert cal.start_duty <= 0.05 and cal.min_duty <= 0.05
    assert cal.min_duty <= cal.start_duty
    assert len(cal.curve) == 21
    for duty, rpm in cal.curve:
        assert abs(rpm - duty * true_max) <= 0.05 * true_max, (duty, rpm)
    assert node.pwm == 255 and node.pwm_enable == 2  # type: ignore[attr-defined]


def test_calibrate_cli_writes_into_the_config_keeping_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "fan.yaml"
    cfg.write_text(TWIN_FAN)
    argv = ["fan", "calibrate", "--config", str(cfg), "--simulate", "pi5", "--steps", "10"]
    assert main(argv) == 0
    text = cfg.read_text()
    assert "# a hand-written fan.yaml" in text and "# the SoC" in text and "# full at 85" in text
    assert "stale_after_s: null" in text and "calibration:" in text and "date:" in text
    capsys.readouterr()
    # a second run refuses to replace it, before sweeping
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already calibrated" in err[0] and "--force" in err[0]
    assert cfg.read_text() == text
    assert main([*argv, "--force"]) == 0
    # the controller maps its curve onto the measured range and exports max rpm
    service = FanService.from_file(cfg, open_node("pi5", clock=lambda: 0.0))
    points = {p.key.name: p.value for p in service.points()}
    assert points["microrack_fan_max_rpm"] == pytest.approx(8000, rel=0.05)
    low = service.fans[0].tuning.min_duty
    assert 0 < low <= 0.1


def test_pwm_read_back_that_disagrees_is_refused(
    tree: Tree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pwm1 is a sink (writes vanish, reads are empty), as with a driver in automatic mode."""
    tree.write(tree.TACH, 1500)
    pwm = tree.path(tree.PWM)
    pwm.unlink()
    os.symlink("/dev/null", pwm)
    cfg = fan_yaml(tmp_path)
    before = cfg.read_bytes()
    code = main(
        [
            "fan",
            "calibrate",
            "--config",
            str(cfg),
            "--root",
            str(tree.root),
            "--settle",
            "0.01",
            "--steps",
            "4",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert "PWM read-back disagrees" in err[-1] and "nothing was written" in err[-1]
    assert cfg.read_bytes() == before


def test_hot_board_stops_the_sweep_at_full_duty(tree: Tree, tmp_path: Path) -> None:
    tree.write(tree.TACH, 1500)
    tree.set_temp(80.0)  # above the curve's full-duty temperature (75)
    service = FanService.from_file(fan_yaml(tmp_path), LocalFS(str(tree.root)))
    with pytest.raises(CalibrationError, match=r"sensor cpu is at 80\.0"):
        calibrate_fans(service, wait=lambda _s: None, steps=4, settle_s=0)
    assert tree.pwm == 255 and tree.read(tree.ENABLE) == "2"


def test_gpio_fan_has_nothing_to_calibrate() -> None:
    fan = Fan("pi4", GpioDriver("gpiochip0", 14), [], OnOffSwitch(60, 55), 0.0, FanTuning())
    results, skipped = calibrate_fans(FanService([fan]), wait=lambda _s: None)
    assert results == {}
    assert skipped == [
        "fan pi4: gpio gpiochip0 line 14 can only switch on and off: there is nothing to calibrate"
    ]


def test_emc2301_register_map_sweep_finds_its_stall_threshold(tree: Tree, tmp_path: Path) -> None:
    """The EMC2301 reads a fan below 500 rpm as stopped: minimum and start duty show it."""
    chip = Emc2301(rpm_at_full=6000.0)
    cfg = tmp_path / "emc.yaml"
    cfg.write_text(
        "sensors: [{name: cpu, thermal_zone: 0, stale_after_s: null}]\n"
        "fans:\n- name: c\n  driver: {type: emc230x, bus: 3}\n"
        "  curve: [{temp_c: 40, duty_pct: 20}, {temp_c: 70, duty_pct: 100}]\n"
    )
    tree.set_temp(40.0)
    service = FanService.from_file(cfg, LocalFS(str(tree.root)), bus_opener=lambda _n: chip)
    results, _ = calibrate_fans(service, wait=lambda _s: None, steps=20, settle_s=0)
    cal = results["c"]
    # 500 rpm of 6000 is 8.3 % duty: the first 5 % step above it is 10 %
    assert cal.min_duty == pytest.approx(0.10) and cal.start_duty == pytest.approx(0.10)
    assert cal.max_rpm == pytest.approx(6000, rel=0.01)
    assert dict(cal.curve)[0.05] == 0.0 and dict(cal.curve)[0.5] == pytest.approx(3000, rel=0.02)
    assert chip.regs[0x30] == 0xFF and chip.regs[0x32] & 0x80  # full, RPM control handed back
