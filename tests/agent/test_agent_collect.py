"""Exact values exported over hand-built /proc and /sys trees of real boards."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from microrack.agent import Collector, render
from microrack.agent._families import HELP
from microrack.sensors import LocalFS
from microrack.sensors.power import PowerModel

TREES = Path(__file__).resolve().parent.parent / "fixtures" / "trees"


def collect(tree: Path, **kw):
    c = Collector(
        LocalFS(str(tree)),
        node="n1",
        board=kw.pop("board", None),
        boot_id="b-1",
        version="v",
        allow_vcgencmd=False,
        **kw,
    )
    return c, c.collect()


def values(collection) -> dict[tuple, float]:
    return {(p.key.name, *p.key.labels): p.value for p in collection.sample.points}


def series(collection, name: str) -> dict[tuple, float]:
    return {p.key.labels: p.value for p in collection.sample.points if p.key.name == name}


def test_rpi4_thermal_throttled_cpu_memory_network_disks():
    _, col = collect(TREES / "rpi4b")
    v = values(col)
    assert v[("node_thermal_zone_temp", ("type", "cpu-thermal"), ("zone", "0"))] == 47.236
    # get_throttled = 0x50005: under-voltage and throttled now, and both since boot
    thr = series(col, "microrack_throttled")
    assert thr == {
        (("flag", "under_voltage"), ("when", "now")): 1,
        (("flag", "freq_capped"), ("when", "now")): 0,
        (("flag", "throttled"), ("when", "now")): 1,
        (("flag", "soft_temp_limit"), ("when", "now")): 0,
        (("flag", "under_voltage"), ("when", "since_boot")): 1,
        (("flag", "freq_capped"), ("when", "since_boot")): 0,
        (("flag", "throttled"), ("when", "since_boot")): 1,
        (("flag", "soft_temp_limit"), ("when", "since_boot")): 0,
    }
    assert col.headline["throttled"] == 1.0
    assert v[("node_cpu_seconds_total", ("cpu", "2"), ("mode", "user"))] == 10.02
    assert v[("node_cpu_seconds_total", ("cpu", "0"), ("mode", "iowait"))] == 0.3
    assert len(series(col, "node_cpu_seconds_total")) == 4 * 8
    assert v[("node_boot_time_seconds",)] == 1764000000
    assert v[("node_procs_blocked",)] == 1
    assert v[("node_load15",)] == 0.59
    assert v[("node_filefd_allocated",)] == 1216 and v[("node_filefd_maximum",)] == 379084
    (uname,) = series(col, "node_uname_info")
    assert dict(uname) == {
        "sysname": "Linux",
        "nodename": "pi4-a",
        "machine": "aarch64",
        "release": "6.6.51+rpt-rpi-v8",
        "domainname": "(none)",
        "version": "#1 SMP PREEMPT Debian 1:6.6.51-1+rpt3 (2024-10-08)",
    }
    assert v[("node_memory_MemTotal_bytes",)] == 3884400 * 1024
    assert v[("node_memory_Active_anon_bytes",)] == 200000 * 1024
    assert v[("node_memory_HugePages_Total",)] == 0
    assert v[("node_cpu_scaling_frequency_max_hertz", ("cpu", "3"))] == 1.8e9
    assert v[("node_cpu_frequency_hertz", ("cpu", "0"))] == 1.5e9
    assert v[("node_network_receive_bytes_total", ("device", "eth0"))] == 987654321
    assert v[("node_network_receive_multicast_total", ("device", "eth0"))] == 345
    assert v[("node_network_speed_bytes", ("device", "eth0"))] == 125_000_000
    assert ("node_network_speed_bytes", ("device", "wlan0")) not in v
    assert ("node_network_receive_bytes_total", ("device", "lo")) not in v
    assert v[("node_network_up", ("device", "wlan0"))] == 0
    assert v[("node_disk_read_bytes_total", ("device", "mmcblk0"))] == 1600000 * 512
    assert v[("node_disk_write_time_seconds_total", ("device", "mmcblk0"))] == 120.0
    assert v[("node_disk_io_time_weighted_seconds_total", ("device", "mmcblk0"))] == 160.0
    assert not any(lab == (("device", "ram0"),) for lab in series(col, "node_disk_io_now"))
    mounts = {dict(lab)["mountpoint"] for lab in series(col, "node_filesystem_device_error")}
    # devtmpfs, proc, sysfs, cgroup2 skipped; /run too (Debian's mount-points-exclude)
    assert mounts == {"/", "/boot/firmware"}
    ro = series(col, "node_filesystem_readonly")
    boot = (("device", "/dev/mmcblk0p1"), ("fstype", "vfat"), ("mountpoint", "/boot/firmware"))
    assert ro[boot] == 1
    st = os.statvfs(TREES / "rpi4b")
    assert (
        v[
            (
                "node_filesystem_size_bytes",
                ("device", "/dev/mmcblk0p2"),
                ("fstype", "ext4"),
                ("mountpoint", "/"),
            )
        ]
        == st.f_blocks * st.f_frsize
    )
    assert (
        v[("node_hwmon_temp_celsius", ("chip", "thermal_thermal_zone0"), ("sensor", "temp1"))]
        == 47236 * 0.001
    )  # scaled exactly as node_exporter scales it
    assert (
        v[
            (
                "node_hwmon_in_lcrit_alarm_volts",
                ("chip", "soc:firmware_raspberrypi_hwmon"),
                ("sensor", "in0"),
            )
        ]
        == 0
    )
    assert "microrack_power_watts" not in {k[0] for k in v}  # no sensor, no board: no power


def test_rpi5_nvme_composite_and_pwm_fan():
    _, col = collect(TREES / "rpi5-nvme")
    v = values(col)
    nvme = ("chip", "nvme_nvme0")
    assert v[("node_hwmon_temp_celsius", nvme, ("sensor", "temp1"))] == 38.85
    assert v[("node_hwmon_sensor_label", nvme, ("label", "Composite"), ("sensor", "temp1"))] == 1
    assert v[("node_hwmon_sensor_label", nvme, ("label", "Sensor 1"), ("sensor", "temp2"))] == 1
    assert v[("node_hwmon_temp_crit_celsius", nvme, ("sensor", "temp1"))] == 84850 * 0.001
    assert v[("node_hwmon_chip_names", ("chip", "nvme_nvme0"), ("chip_name", "nvme"))] == 1
    fan = ("chip", "platform_cooling_fan")
    assert v[("node_hwmon_fan_rpm", fan, ("sensor", "fan1"))] == 2934
    assert v[("node_hwmon_pwm", fan, ("sensor", "pwm1"))] == 85
    assert v[("node_hwmon_pwm_enable", fan, ("sensor", "pwm1"))] == 1
    assert v[("node_cooling_device_cur_state", ("name", "0"), ("type", "pwm-fan"))] == 2
    assert v[("node_cooling_device_max_state", ("name", "0"), ("type", "pwm-fan"))] == 4
    adc = ("chip", "1000120000_pcie_1f00030000_adc")
    assert v[("node_hwmon_in_volts", adc, ("sensor", "in2"))] == 1.474
    assert set(series(col, "node_disk_io_now")) == {(("device", "nvme0n1"),)}  # partitions skipped
    assert v[("node_disk_io_now", ("device", "nvme0n1"))] == 2
    assert v[("node_disk_flush_requests_total", ("device", "nvme0n1"))] == 500
    assert v[("node_disk_discarded_sectors_total", ("device", "nvme0n1"))] == 80
    # the Pi 5 keeps get_throttled under soc@107c000000; 0x20002 = frequency capped, now and before
    thr = {
        (dict(k)["flag"], dict(k)["when"]): val
        for k, val in series(col, "microrack_throttled").items()
    }
    assert {k for k, val in thr.items() if val == 1} == {
        ("freq_capped", "now"),
        ("freq_capped", "since_boot"),
    }
    assert len(thr) == 8
    assert col.headline["fan_rpm"] == 2934
    assert col.headline["temp_max_celsius"] == 61.45
    assert col.headline["mem_used_ratio"] == pytest.approx(1 - 7300000 / 8245824)


def test_rk3588_every_thermal_zone_and_hwmon_power():
    _, col = collect(TREES / "rk3588")
    zones = {dict(lab)["type"]: val for lab, val in series(col, "node_thermal_zone_temp").items()}
    assert zones == {
        "soc-thermal": 45.307,
        "bigcore0-thermal": 46.23,
        "bigcore1-thermal": 46.23,
        "littlecore-thermal": 45.307,
        "center-thermal": 44.384,
        "gpu-thermal": 44.384,
        "npu-thermal": 44.384,
    }
    assert {dict(lab)["zone"] for lab in series(col, "node_thermal_zone_temp")} == {
        str(i) for i in range(7)
    }
    v = values(col)
    assert v[("node_cpu_frequency_max_hertz", ("cpu", "7"))] == 2.4e9
    assert v[("node_cpu_frequency_max_hertz", ("cpu", "0"))] == 1.8e9
    assert v[("node_cpu_scaling_frequency_hertz", ("cpu", "4"))] == 2.256e9
    assert v[("node_hwmon_power_watt", ("chip", "i2c_3_3_0040"), ("sensor", "power1"))] == 7.55392
    assert v[("node_hwmon_curr_amps", ("chip", "i2c_3_3_0040"), ("sensor", "curr1"))] == 1.48
    assert v[("microrack_power_watts", ("source", "hwmon"))] == 7.55392
    assert v[("node_network_speed_bytes", ("device", "enP4p65s0"))] == 2500 * 125000
    mounts = {dict(lab)["mountpoint"] for lab in series(col, "node_filesystem_device_error")}
    assert mounts == {"/"}  # docker overlay, proc and /run skipped
    assert "microrack_throttled" not in {k[0] for k in v}  # no Pi firmware


def test_visionfive2_riscv_and_power_estimate(tmp_path):
    tree = tmp_path / "vf2"
    shutil.copytree(TREES / "visionfive2", tree, symlinks=True)
    model = PowerModel("starfive-visionfive2", 3.0, 5.0, 80.0, 85.0)
    ticks = iter([100.0, 105.0])
    c, first = collect(tree, power=model, monotonic=lambda: next(ticks, 105.0))
    v = values(first)
    assert (
        v[
            (
                "node_hwmon_temp_celsius",
                ("chip", "soc_120e0000_temperature_sensor"),
                ("sensor", "temp1"),
            )
        ]
        == 52300 * 0.001
    )
    assert (
        v[
            (
                "node_hwmon_chip_names",
                ("chip", "soc_120e0000_temperature_sensor"),
                ("chip_name", "sfctemp"),
            )
        ]
        == 1
    )
    assert v[("node_cpu_frequency_min_hertz", ("cpu", "1"))] == 3.75e8
    assert v[("node_network_speed_bytes", ("device", "end0"))] == 125_000_000
    # speed -1 (unknown) is exported as node_exporter does: -1 Mbit/s in bytes
    assert v[("node_network_speed_bytes", ("device", "end1"))] == -125000
    assert v[("microrack_throttle_limit_celsius", ("kind", "soft"))] == 80.0
    assert "microrack_power_watts" not in {k[0] for k in v}  # no utilisation yet
    # one second of cpu time per cpu passes; 1/4 of it busy on every cpu
    stat = (tree / "proc" / "stat").read_text().splitlines()
    new = []
    for line in stat:
        parts = line.split()
        if parts[0].startswith("cpu"):
            n = 4 if parts[0] == "cpu" else 1
            parts[1] = str(int(parts[1]) + 25 * n)  # user
            parts[4] = str(int(parts[4]) + 75 * n)  # idle
        new.append(" ".join(parts))
    (tree / "proc" / "stat").write_text("\n".join(new) + "\n")
    second = c.collect()
    v = values(second)
    assert v[("microrack_cpu_busy_ratio",)] == pytest.approx(0.25)
    assert v[("microrack_power_watts", ("source", "estimate"))] == pytest.approx(3.5)
    assert second.headline["power_watts"] == pytest.approx(3.5)


def test_disk_rates_per_interval(tmp_path):
    tree = tmp_path / "pi5"
    shutil.copytree(TREES / "rpi5-nvme", tree, symlinks=True)
    ticks = iter([10.0, 10.0, 12.0, 12.0])
    c, _ = collect(tree, monotonic=lambda: next(ticks))
    ds = tree / "proc" / "diskstats"
    # +200 reads (+800 KiB, +0.5 s), +50 writes (+400 KiB, +1 s), io_time +1 s, weighted +3 s
    ds.write_text(
        ds.read_text().replace(
            "nvme0n1 150000 2000 24000000 30000 90000 50000 36000000 45000 2 70000 75500",
            "nvme0n1 150200 2000 24001600 30500 90050 50000 36000800 46000 2 71000 78500",
        )
    )
    col = c.collect()
    (r,) = col.disks
    assert (r.device, r.read_iops, r.write_iops) == ("nvme0n1", 100.0, 25.0)
    assert r.read_bytes_per_s == 1600 * 512 / 2
    assert r.write_bytes_per_s == 800 * 512 / 2
    assert r.read_latency_s == pytest.approx(0.5 / 200)
    assert r.write_latency_s == pytest.approx(1.0 / 50)
    assert r.busy_ratio == 0.5 and r.queue_depth == 1.5
    snap = col.snapshot()["disks"]["nvme0n1"]
    assert snap["read_iops"] == 100.0 and snap["write_latency_seconds"] == pytest.approx(0.02)
    v = values(col)
    assert v[("microrack_disk_reads_per_second", ("device", "nvme0n1"))] == 100.0
    assert v[("microrack_disk_write_latency_seconds", ("device", "nvme0n1"))] == pytest.approx(0.02)


def test_vanishing_and_unreadable_files_are_skipped(tmp_path):
    tree = tmp_path / "pi5"
    shutil.copytree(TREES / "rpi5-nvme", tree, symlinks=True)
    c, before = collect(tree)
    hw = tree / "sys/devices/platform/cooling_fan/hwmon/hwmon3"
    (hw / "fan1_input").unlink()  # vanished
    (hw / "pwm1").unlink()
    (hw / "pwm1").mkdir()  # read fails with EISDIR
    (tree / "sys/class/thermal/thermal_zone0/temp").write_text("garbage\n")
    (tree / "proc/loadavg").unlink()
    os.symlink("../../devices/nowhere/hwmon9", tree / "sys/class/hwmon/hwmon9")  # dangling link
    (tree / "proc/diskstats").write_text("259 0 nvme0n1 1 2\n")  # truncated line
    after = c.collect()
    v = values(after)
    assert after.errors == ()
    assert ("node_hwmon_fan_rpm", ("chip", "platform_cooling_fan"), ("sensor", "fan1")) not in v
    assert ("node_hwmon_pwm", ("chip", "platform_cooling_fan"), ("sensor", "pwm1")) not in v
    assert v[("node_hwmon_pwm_enable", ("chip", "platform_cooling_fan"), ("sensor", "pwm1"))] == 1
    assert "node_thermal_zone_temp" not in {k[0] for k in v}
    assert "node_load1" not in {k[0] for k in v}
    assert "node_disk_io_now" not in {k[0] for k in v}
    assert after.sample.seq == before.sample.seq + 1
    assert v[("node_hwmon_temp_celsius", ("chip", "nvme_nvme0"), ("sensor", "temp1"))] == 38.85


def test_a_missing_root_yields_only_identity(tmp_path):
    """An empty tree: nothing read from it; what remains is this machine's clock and the agent."""
    _, col = collect(tmp_path)
    names = {p.key.name for p in col.sample.points}
    from_host = {n for n in names if n.startswith(("node_timex_", "process_"))}
    assert names - from_host == {
        "microrack_node_info",
        "microrack_collection_duration_seconds",
        "node_time_seconds",
        "node_time_zone_offset_seconds",
        "node_scrape_collector_duration_seconds",
        "node_scrape_collector_success",
        "node_textfile_scrape_error",
    }
    success = {
        dict(p.key.labels)["collector"]: p.value
        for p in col.sample.points
        if p.key.name == "node_scrape_collector_success"
    }
    # absent sources are "no data" (success 0) but not errors; as in node_exporter, sockstat
    # without IPv4 and IPv6 and cpufreq without cpufreq are a success with no series
    assert {n for n, ok in success.items() if ok} == {
        "time",
        "timex",
        "textfile",
        "cpufreq",
        "sockstat",
    }
    assert col.errors == ()


def test_exposition_groups_families_and_escapes_labels():
    _, col = collect(TREES / "rpi5-nvme")
    text = render(col.sample.points, HELP)
    lines = text.splitlines()
    assert lines.count("# TYPE node_hwmon_temp_celsius gauge") == 1
    assert "# TYPE node_cpu_seconds_total counter" in lines
    assert 'node_hwmon_sensor_label{chip="nvme_nvme0",label="Composite",sensor="temp1"} 1' in lines
    from microrack.sample import Point, SeriesKey

    odd = render([Point(SeriesKey.of("x", label='a"b\\c\nd'), 1.5)], {})
    assert odd.splitlines()[-1] == 'x{label="a\\"b\\\\c\\nd"} 1.5'
