"""Several sensors, one fan: a curve per sensor, combined by max or a weighted average."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fan_trees import Tree
from hypothesis import given
from hypothesis import strategies as st

from microrack.errors import ConfigError
from microrack.sensors import LocalFS
from microrack.thermal import FanCurve, FanService, FanTuning, MixedCurves, control_step
from microrack.thermal import FanState as State


def _config(tmp_path: Path, mix: str = "max", **extra: object) -> Path:
    fan: dict[str, object] = {
        "name": "shared",
        "driver": {"type": "hwmon", "chip": "pwmfan"},
        "mix": mix,
        "inputs": [
            {
                "sensor": "cpu",
                "curve": [{"temp_c": 40, "duty_pct": 0}, {"temp_c": 80, "duty_pct": 100}],
                "weight": 3,
            },
            {
                "sensor": "nvme",
                "curve": [{"temp_c": 30, "duty_pct": 0}, {"temp_c": 70, "duty_pct": 100}],
                "weight": 1,
            },
        ],
        "hysteresis_c": 0,
        "spinup": {"seconds": 0},
        **extra,
    }
    data = {
        "interval_s": 0.5,
        "sensors": [
            {"name": "cpu", "thermal_zone": "cpu-thermal", "stale_after_s": None},
            {"name": "nvme", "hwmon": "nvme", "input": "Composite", "stale_after_s": None},
        ],
        "fans": [fan],
    }
    p = tmp_path / "fan.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_max_of_per_sensor_curves(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(60.0)  # cpu curve: 50 %
    tree.set_temp(60.0, tree.NVME)  # nvme curve: 75 %
    service = FanService.from_file(_config(tmp_path), LocalFS(str(tree.root)))
    service.step(0.0)
    assert service.fans[0].state.duty == pytest.approx(0.75)
    assert tree.pwm == round(0.75 * 255)


def test_weighted_average_of_per_sensor_curves(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(60.0)
    tree.set_temp(60.0, tree.NVME)
    service = FanService.from_file(_config(tmp_path, "weighted"), LocalFS(str(tree.root)))
    service.step(0.0)
    assert service.fans[0].state.duty == pytest.approx((3 * 0.5 + 1 * 0.75) / 4)


def test_any_input_fault_is_failsafe(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(45.0)
    tree.path(tree.NVME).write_text("garbage\n")
    service = FanService.from_file(_config(tmp_path), LocalFS(str(tree.root)))
    service.step(0.0)
    assert service.fans[0].state.failsafe == "nvme:missing" and tree.pwm == 255


def test_hysteresis_per_input() -> None:
    law = MixedCurves(
        (FanCurve.of([(40, 0), (80, 1)]), FanCurve.of([(30, 0), (70, 1)])), (1.0, 1.0)
    )
    tuning = FanTuning(kick_s=0)
    s = control_step(State(), 0.0, 60, None, law=law, hysteresis_c=5, tuning=tuning, temps=[60, 40])
    assert s.duty == pytest.approx(0.5)
    # cpu falls 3 °C (inside the band): nothing moves
    s = control_step(s, 1.0, 57, None, law=law, hysteresis_c=5, tuning=tuning, temps=[57, 40])
    assert s.duty == pytest.approx(0.5)
    # nvme rises: followed at once
    s = control_step(s, 2.0, 57, None, law=law, hysteresis_c=5, tuning=tuning, temps=[57, 66])
    assert s.duty == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        (
            {"curve": [{"temp_c": 50, "duty_pct": 50}]},
            None,
            "exactly one of curve, switch, inputs, pid",
        ),
        ({"sensors": ["cpu"]}, None, "drop sensors"),
    ],
)
def test_inputs_config_errors(tmp_path: Path, extra: dict, field: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FanService.from_file(_config(tmp_path, **extra), LocalFS(str(tmp_path)))


def test_unknown_input_sensor_is_named(tmp_path: Path) -> None:
    p = _config(tmp_path)
    p.write_text(p.read_text().replace("sensor: nvme", "sensor: gpu"))
    with pytest.raises(ConfigError) as info:
        FanService.from_file(p, LocalFS(str(tmp_path)))
    assert info.value.field == "fans[0].inputs[1].sensor" and "'gpu'" in info.value.message


def test_falling_input_curve_is_named(tmp_path: Path) -> None:
    p = _config(tmp_path)
    data = yaml.safe_load(p.read_text())
    data["fans"][0]["inputs"][1]["curve"][1]["duty_pct"] = 0
    data["fans"][0]["inputs"][1]["curve"][0]["duty_pct"] = 50
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        FanService.from_file(p, LocalFS(str(tmp_path)))
    assert info.value.field == "fans[0].inputs[1].curve[1].duty_pct"


_temps = st.floats(min_value=-20, max_value=120, allow_nan=False)
_curve = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=100, allow_nan=False),
        st.floats(min_value=0, max_value=1, allow_nan=False),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda p: p[0],
).map(lambda pts: FanCurve.of(sorted(pts)))


@given(
    st.lists(
        st.tuples(_curve, st.floats(min_value=0.1, max_value=10), _temps), min_size=1, max_size=4
    )
)
def test_mixed_duty_is_bounded_by_its_inputs(parts: list[tuple[FanCurve, float, float]]) -> None:
    curves = tuple(c for c, _w, _t in parts)
    weights = tuple(w for _c, w, _t in parts)
    temps = [t for _c, _w, t in parts]
    each = [c(t) for c, t in zip(curves, temps, strict=True)]
    top = MixedCurves(curves, weights, "max")(temps)
    mean = MixedCurves(curves, weights, "weighted")(temps)
    assert top == max(each)
    assert min(each) - 1e-9 <= mean <= max(each) + 1e-9
    assert 0.0 <= mean <= 1.0
