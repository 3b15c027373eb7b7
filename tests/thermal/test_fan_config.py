"""fan.yaml validation: one ConfigError naming the file and the field."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from fan_trees import Tree, fan_yaml

from microrack.errors import ConfigError
from microrack.sensors import LocalFS
from microrack.thermal import FanService, load_config
from support import microrack_cmd


def _edit(path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _error(path: Path, root: Path | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        if root is None:
            load_config(path)
        else:
            FanService.from_file(path, LocalFS(str(root)))
    return exc.value


def test_example_tree_config_loads(tree: Tree, tmp_path: Path) -> None:
    service = FanService.from_file(fan_yaml(tmp_path), LocalFS(str(tree.root)))
    assert [f.name for f in service.fans] == ["case"]
    assert [i.path for i in service.fans[0].inputs] == [
        "/sys/class/thermal/thermal_zone0/temp",
        "/sys/class/hwmon/hwmon2/temp1_input",
    ]


def test_curve_points_must_increase_in_temperature(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["fans"][0]["curve"][2]["temp_c"] = 55

    err = _error(_edit(fan_yaml(tmp_path), change))
    assert err.field == "fans[0].curve[2].temp_c"
    assert "increase in temperature" in err.message and str(tmp_path) in str(err)


def test_duty_outside_0_to_100_percent(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["fans"][0]["curve"][1]["duty_pct"] = 120

    err = _error(_edit(fan_yaml(tmp_path), change))
    assert err.field == "fans[0].curve[1].duty_pct"
    assert "100" in err.message


def test_not_a_number_temperature(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["fans"][0]["curve"][0]["temp_c"] = float("nan")

    err = _error(_edit(fan_yaml(tmp_path), change))
    # refused by the reader, at its line, before the model sees it
    assert err.field is None and "line 16" in err.message
    assert ".nan is not a finite number" in err.message


def test_duplicate_names_name_the_second(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["sensors"].append(dict(d["sensors"][0]))

    err = _error(_edit(fan_yaml(tmp_path), change))
    assert err.field == "sensors[2].name" and "sensors[0]" in err.message

    def change_fans(d: dict) -> None:
        d["fans"].append(dict(d["fans"][0]))

    err = _error(_edit(fan_yaml(tmp_path), change_fans))
    assert err.field == "fans[1].name" and "fans[0]" in err.message


def test_unknown_sensor_name(tmp_path: Path) -> None:
    err = _error(fan_yaml(tmp_path, sensors=["cpu", "gpu"]))
    assert err.field == "fans[0].sensors[1]" and "'gpu'" in err.message


def test_unknown_fan_chip_on_the_host(tree: Tree, tmp_path: Path) -> None:
    err = _error(fan_yaml(tmp_path, driver={"type": "hwmon", "chip": "emc2305"}), tree.root)
    assert err.field == "fans[0].driver.chip" and "emc2305" in err.message


def test_unknown_thermal_zone_on_the_host(tree: Tree, tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["sensors"][0]["thermal_zone"] = "gpu-thermal"

    err = _error(_edit(fan_yaml(tmp_path), change), tree.root)
    assert err.field == "sensors[0].thermal_zone" and "gpu-thermal" in err.message


def test_unknown_key_and_missing_control(tmp_path: Path) -> None:
    assert _error(fan_yaml(tmp_path, colour="red")).field == "fans[0].colour"
    assert "exactly one of curve, switch" in _error(fan_yaml(tmp_path, curve=None)).message


def test_cli_prints_one_line_naming_file_and_field(tree: Tree, tmp_path: Path) -> None:
    bad = fan_yaml(tmp_path, min_duty_pct=-5)
    r = subprocess.run(
        microrack_cmd("fan", "--config", str(bad), "--root", str(tree.root), "--once"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(bad) in lines[0] and "fans[0].min_duty_pct" in lines[0]
    assert tree.read(tree.PWM) == "0"  # nothing touched


def test_unknown_gpio_chip(tree: Tree, tmp_path: Path) -> None:
    err = _error(
        fan_yaml(tmp_path, driver={"type": "gpio", "chip": "no-such-chip", "line": 14}),
        tree.root,
    )
    assert err.field == "fans[0].driver.chip" and "no-such-chip" in err.message
