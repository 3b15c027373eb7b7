"""Every failsafe trigger of the fan loop ends at full duty (pwm1 = 255)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fan_trees import Tree, fan_yaml

from microrack.sensors import LocalFS
from microrack.thermal import FanService


def _service(tree: Tree, tmp_path: Path, **fan: object) -> FanService:
    return FanService.from_file(fan_yaml(tmp_path, **fan), LocalFS(str(tree.root)))


def _flags(service: FanService) -> dict[str, float]:
    return {p.key.name.removeprefix("microrack_fan_"): p.value for p in service.points()}


def _settle(service: FanService, tree: Tree, temp: float = 55.0, rpm: int = 1800) -> None:
    tree.set_temp(temp)
    tree.write(tree.TACH, rpm)
    service.step(0.0)
    assert tree.pwm < 255 and _flags(service)["failsafe"] == 0


def test_normal_operation_follows_the_curve(tree: Tree, tmp_path: Path) -> None:
    service = _service(tree, tmp_path)
    _settle(service, tree, 55.0)
    assert tree.pwm == round(0.4 * 255)  # halfway between 50 C/30 % and 60 C/50 %
    assert tree.read(tree.ENABLE) == "1"  # manual mode while controlled
    f = _flags(service)
    assert f["duty_ratio"] == pytest.approx(0.4) and f["input_celsius"] == 55.0
    assert f["rpm"] == 1800 and f["stall"] == 0


def test_missing_input_goes_full(tree: Tree, tmp_path: Path) -> None:
    service = _service(tree, tmp_path)
    _settle(service, tree)
    tree.path(tree.NVME).unlink()
    service.step(1.0)
    assert tree.pwm == 255
    assert service.fans[0].state.failsafe == "nvme:missing"
    assert _flags(service)["failsafe"] == 1


def test_unparsable_input_goes_full(tree: Tree, tmp_path: Path) -> None:
    service = _service(tree, tmp_path)
    _settle(service, tree)
    tree.write(tree.ZONE, "garbage")
    service.step(1.0)
    assert tree.pwm == 255 and service.fans[0].state.failsafe == "cpu:missing"


def test_stale_input_goes_full(tree: Tree, tmp_path: Path) -> None:
    service = _service(tree, tmp_path)
    _settle(service, tree)
    tree.set_temp(56.0)
    service.step(10.0)
    tree.set_temp(55.5, tree.NVME)
    service.step(35.0)  # cpu unchanged 25 s < 30 s limit
    assert tree.pwm < 255
    tree.set_temp(57.0, tree.NVME)
    service.step(41.0)  # cpu unchanged 31 s: a hung sensor
    assert tree.pwm == 255 and service.fans[0].state.failsafe == "cpu:stale"
    tree.set_temp(56.5)
    service.step(42.0)  # it moves again: back to the curve
    assert tree.pwm < 255 and service.fans[0].state.failsafe is None


@pytest.mark.parametrize("celsius", [151.0, -45.0])
def test_out_of_range_input_goes_full(tree: Tree, tmp_path: Path, celsius: float) -> None:
    service = _service(tree, tmp_path)
    _settle(service, tree)
    tree.set_temp(celsius)
    service.step(1.0)
    assert tree.pwm == 255 and service.fans[0].state.failsafe == "cpu:out_of_range"


def test_zero_rpm_above_start_duty_is_a_stall_and_goes_full(tree: Tree, tmp_path: Path) -> None:
    service = _service(tree, tmp_path, stall_after_s=3)
    _settle(service, tree, 55.0)
    tree.write(tree.TACH, 0)
    service.step(1.0)
    service.step(3.0)  # 0 rpm for 2 s: within the grace period
    assert tree.pwm < 255 and _flags(service)["stall"] == 0
    service.step(4.5)
    assert tree.pwm == 255
    assert _flags(service)["stall"] == 1 and _flags(service)["failsafe"] == 1
    assert service.fans[0].state.failsafe == "stall"
    tree.write(tree.TACH, 2000)
    service.step(5.0)
    assert _flags(service)["stall"] == 0 and tree.pwm < 255


def test_zero_rpm_below_start_duty_is_not_a_stall(tree: Tree, tmp_path: Path) -> None:
    service = _service(tree, tmp_path, start_duty_pct=60)
    _settle(service, tree, 55.0)  # 40 % < 60 %: a slow fan may legitimately read 0
    tree.write(tree.TACH, 0)
    for t in range(1, 20):
        service.step(float(t))
    assert _flags(service)["stall"] == 0 and tree.pwm == round(0.4 * 255)


def test_unhandled_error_goes_full_before_it_propagates(tree: Tree, tmp_path: Path) -> None:
    service = _service(tree, tmp_path)
    _settle(service, tree)

    def broken() -> float:
        raise RuntimeError("bug in a driver")

    service.fans[0].driver.read_rpm = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        service.step(1.0)
    assert tree.pwm == 255
    # what is exported is what was written: full duty, in failsafe
    assert _flags(service)["duty_ratio"] == 1.0 and _flags(service)["failsafe"] == 1


def test_stop_leaves_full_duty_and_restores_pwm_enable(tree: Tree, tmp_path: Path) -> None:
    service = _service(tree, tmp_path)
    _settle(service, tree)
    assert tree.read(tree.ENABLE) == "1"
    service.close()
    assert tree.pwm == 255 and tree.read(tree.ENABLE) == "2"


def test_background_thread_runs_and_stops_safely(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(55.0)
    tree.write(tree.TACH, 1500)
    service = _service(tree, tmp_path)
    service.start()
    try:
        import time

        deadline = time.monotonic() + 30
        while tree.read(tree.ENABLE) != "1" or tree.pwm != round(0.4 * 255):
            assert time.monotonic() < deadline, "loop never applied the curve"
            time.sleep(0.05)
    finally:
        service.stop()
    assert tree.pwm == 255 and tree.read(tree.ENABLE) == "2"
    assert service.error is None


@pytest.mark.parametrize("source", ["board default", "fan-pi5-pwm.yaml"])
def test_an_idle_nvme_holding_one_whole_degree_is_not_stale(
    tree: Tree, tmp_path: Path, source: str
) -> None:
    """A real drive reports whole kelvins and, idle, holds one value for many minutes."""
    fs = LocalFS(str(tree.root))
    if source == "board default":
        service = FanService.for_board("pi5", fs)
    else:
        service = FanService.from_file(Path(__file__).parents[2] / "examples" / source, fs)
    tree.write(tree.TACH, 3000)
    tree.write(tree.NVME, 38850)  # 312 K
    for t in range(0, 1800, 2):  # half an hour; the SoC jitters, the drive does not
        tree.set_temp(55.0 + (t % 4) * 0.25)
        service.step(float(t))
        assert service.fans[0].state.failsafe is None, (t, service.fans[0].state)
    tree.path(tree.NVME).unlink()  # a drive that stops answering still fails safe
    service.step(1800.0)
    assert tree.pwm == 255 and service.fans[0].state.failsafe == "nvme:missing"
