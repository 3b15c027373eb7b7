"""Sensor readers on their own: power from hwmon, throttling via vcgencmd, rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from microrack.sensors import LocalFS
from microrack.sensors.cpu import CpuTimes, busy_ratio
from microrack.sensors.hwmon import HwmonChip, HwmonValue, hwmon_power_watts, read_hwmon
from microrack.sensors.throttle import decode_throttled, find_vcgencmd, read_throttled

TREES = Path(__file__).resolve().parent.parent / "fixtures" / "trees"


def test_power_from_volts_times_amps_when_no_power_sensor():
    ina = HwmonChip(
        "i2c_1_1_0040",
        "ina219",
        (
            HwmonValue("in0", "in", "input", 12.0),  # shunt, no current partner
            HwmonValue("in1", "in", "input", 5100.0),  # mV
            HwmonValue("curr1", "curr", "input", 1500.0),  # mA
        ),
        {},
    )
    assert hwmon_power_watts([ina]) == pytest.approx(5.1 * 1.5)
    meter = HwmonChip("m", "m", (HwmonValue("power1", "power", "input", 4_200_000.0),), {})
    assert hwmon_power_watts([ina, meter]) == 4.2  # a power meter wins over V x I
    assert hwmon_power_watts([]) is None


def test_rk3588_tree_power_meter():
    chips = {c.chip: c for c in read_hwmon(LocalFS(str(TREES / "rk3588")))}
    assert hwmon_power_watts(list(chips.values())) == 7.55392
    assert chips["i2c_3_3_0040"].get("in1") == 5104


def test_throttled_bits():
    t = decode_throttled(0x80008)
    assert t.now == {
        "under_voltage": False,
        "freq_capped": False,
        "throttled": False,
        "soft_temp_limit": True,
    }
    assert t.since_boot["soft_temp_limit"] and not t.since_boot["under_voltage"]


def test_throttled_via_vcgencmd_when_sysfs_lacks_it(tmp_path):
    fake = tmp_path / "vcgencmd"
    fake.write_text('#!/bin/sh\n[ "$1" = get_throttled ] && echo throttled=0x50000\n')
    fake.chmod(0o755)
    tree = LocalFS(str(TREES / "visionfive2"))  # no firmware node in sysfs
    t = read_throttled(tree, str(fake))
    assert t is not None and t.mask == 0x50000
    assert t.since_boot["under_voltage"] and t.since_boot["throttled"]
    assert not any(t.now.values())
    assert read_throttled(tree) is None
    # sysfs wins when present; vcgencmd is never run for a captured tree
    assert read_throttled(LocalFS(str(TREES / "rpi4b")), str(fake)).mask == 0x50005
    assert find_vcgencmd(tree) is None


def test_busy_ratio():
    a = CpuTimes("", 100, 0, 50, 800, 50, 0, 0, 0, 0, 0)
    b = CpuTimes("", 130, 0, 60, 850, 60, 0, 0, 0, 0, 0)
    assert busy_ratio(a, b) == pytest.approx(40 / 100)
    assert busy_ratio(a, a) is None
