"""The twin node behind HostFS: files a real board has, a closed fan loop, faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from microrack.errors import ConfigError
from microrack.sensors import HostFS
from microrack.sim import GET_THROTTLED, NodeDown, open_node


class FakeClock:
    """Real time frozen, so only ``advance`` moves the twin."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _hwmon(node: HostFS, name: str) -> str:
    for h in node.listdir("/sys/class/hwmon"):
        if node.read_text(f"/sys/class/hwmon/{h}/name").strip() == name:
            return f"/sys/class/hwmon/{h}"
    raise AssertionError(f"no hwmon chip {name!r}")


def _script(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "script.yaml"
    p.write_text(text)
    return p


def test_node_is_a_hostfs_with_the_boards_sensor_names() -> None:
    pi = open_node("pi4b", clock=FakeClock())
    assert isinstance(pi, HostFS)
    assert pi.read_text("/sys/class/thermal/thermal_zone0/type").strip() == "cpu-thermal"
    assert {"cpu_thermal", "rpi_volt", "pwmfan"} <= {
        pi.read_text(f"/sys/class/hwmon/{h}/name").strip() for h in pi.listdir("/sys/class/hwmon")
    }
    assert int(pi.read_text(GET_THROTTLED), 16) == 0
    assert pi.read_text("/proc/stat").startswith("cpu ")
    assert "MemTotal:" in pi.read_text("/proc/meminfo")
    assert pi.realpath("/sys/class/hwmon/hwmon0").startswith("/sys/devices/")
    rk1 = open_node("rk1", clock=FakeClock())
    nvme = _hwmon(rk1, "nvme")
    assert rk1.read_text(f"{nvme}/temp1_label").strip() == "Composite"
    assert 20_000 < int(rk1.read_text(f"{nvme}/temp1_input")) < 90_000
    assert not rk1.exists(GET_THROTTLED)
    types = [
        rk1.read_text(f"/sys/class/thermal/{z}/type").strip()
        for z in rk1.listdir("/sys/class/thermal")
    ]
    assert "package-thermal" in types and "bigcore0-thermal" in types


def test_pwm_closes_the_loop_and_a_stopped_fan_throttles(tmp_path: Path) -> None:
    script = _script(tmp_path, "load: [{at: 0, util: 1.0}]\n")
    cool = open_node("pi4b", script=script, clock=FakeClock())
    hot = open_node("pi4b", script=script, clock=FakeClock())
    fan = _hwmon(hot, "pwmfan")
    hot.write_text(f"{fan}/pwm1", "0")
    cool.write_text(f"{fan}/pwm1", "255")
    cool.advance(1800)
    hot.advance(1800)
    assert hot.read_text(f"{fan}/fan1_input").strip() == "0"
    assert int(cool.read_text(f"{fan}/fan1_input")) > 1000
    t_hot = int(hot.read_text("/sys/class/thermal/thermal_zone0/temp")) / 1000
    t_cool = int(cool.read_text("/sys/class/thermal/thermal_zone0/temp")) / 1000
    assert t_hot > t_cool + 10
    flags = int(hot.read_text(GET_THROTTLED), 16)
    assert flags & 0x8 and flags & 0x2  # soft limit active, frequency capped
    assert int(cool.read_text(GET_THROTTLED), 16) == 0
    with pytest.raises(OSError):
        hot.write_text(f"{fan}/pwm1", "300")
    with pytest.raises(PermissionError):
        hot.write_text("/proc/stat", "1")


def test_fan_stall_crash_and_reboot_follow_the_script(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
load: [{at: 0, util: 1.0}]
faults:
  - {at: 60, kind: fan_stall}
  - {at: 1500, kind: crash, duration: 120}
  - {at: 100, kind: sensor_fail, sensor: nvme, duration: 60}
""",
    )
    node = open_node("rk1", script=script, seed=3, clock=FakeClock())
    fan = _hwmon(node, "pwmfan")
    node.write_text(f"{fan}/pwm1", "255")
    boot = node.read_text("/proc/sys/kernel/random/boot_id")
    node.advance(120)
    with pytest.raises(OSError):
        node.read_text(f"{_hwmon(node, 'nvme')}/temp1_input")
    assert node.read_text(f"{fan}/fan1_input").strip() == "0"
    node.advance(1300)
    assert node.clock_ratio < 1.0
    node.advance(100)
    assert not node.reachable
    with pytest.raises(NodeDown):
        node.read_text("/proc/stat")
    node.advance(120)
    assert node.reachable
    assert node.read_text("/proc/sys/kernel/random/boot_id") != boot
    assert float(node.read_text("/proc/uptime").split()[0]) < 60


def test_a_bad_script_names_the_field(tmp_path: Path) -> None:
    script = _script(tmp_path, "faults:\n  - {at: 10, kind: meteor}\n")
    with pytest.raises(ConfigError, match=r"faults\[0\]\.kind"):
        open_node("pi4b", script=script)


def test_proc_stat_busy_share_follows_the_load(tmp_path: Path) -> None:
    script = _script(tmp_path, "load: [{at: 0, util: 0.75}]\n")
    node = open_node("rk1", script=script, clock=FakeClock())

    def totals() -> tuple[int, int]:
        f = [int(x) for x in node.read_text("/proc/stat").splitlines()[0].split()[1:]]
        return sum(f) - f[3], sum(f)

    b0, t0 = totals()
    node.advance(100)
    b1, t1 = totals()
    assert (b1 - b0) / (t1 - t0) == pytest.approx(0.75, abs=0.02)
    assert (t1 - t0) == pytest.approx(100 * 8 * 100, rel=0.02)  # 8 cores, USER_HZ 100


def test_under_voltage_disk_fill_partition_and_ambient(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
load: [{at: 0, util: 0.5}]
disk_bytes: 1000000000
disk_used: 0.5
faults:
  - {at: 10, kind: under_voltage, duration: 20}
  - {at: 10, kind: disk_fill, rate: 10000000, duration: 40}
  - {at: 60, kind: partition, duration: 10}
  - {at: 100, kind: ambient_rise, delta_c: 15}
""",
    )
    node = open_node("pi4b", script=script, clock=FakeClock())
    volt = _hwmon(node, "rpi_volt")
    t_before = node.temperature
    node.advance(15)
    assert node.read_text(f"{volt}/in0_lcrit_alarm").strip() == "1"
    flags = int(node.read_text(GET_THROTTLED), 16)
    assert flags & 0x1 and flags & 0x4  # under-voltage now; throttled
    assert node.clock_ratio == pytest.approx(0.4)  # arm_freq_min while the supply sags
    node.advance(20)
    assert int(node.read_text(GET_THROTTLED), 16) & 0xF == 0
    assert int(node.read_text(GET_THROTTLED), 16) & 0x10000  # under-voltage since boot
    node.advance(20)
    usage = node.statvfs("/")
    assert usage.free_bytes == pytest.approx(1e9 * 0.5 - 40 * 1e7, rel=0.01)
    node.advance(10)
    assert not node.reachable
    node.advance(10)
    assert node.reachable
    node.advance(900)
    assert node.temperature > t_before + 10  # 15 °C warmer room


def test_pi5_fan_follows_the_firmware_curve_until_pwm_is_written(tmp_path: Path) -> None:
    idle = open_node(
        "pi5", script=_script(tmp_path, "load: [{at: 0, util: 0.0}]\n"), clock=FakeClock()
    )
    fan = _hwmon(idle, "pwmfan")
    assert idle.read_text(f"{fan}/pwm1_enable").strip() == "2"
    assert idle.read_text(f"{fan}/fan1_input").strip() == "0"  # below 50 °C: off
    busy = open_node(
        "pi5", script=_script(tmp_path, "load: [{at: 0, util: 1.0}]\n"), clock=FakeClock()
    )
    assert int(busy.read_text(f"{fan}/fan1_input")) > 0
    busy.write_text(f"{fan}/pwm1", "0")
    assert busy.read_text(f"{fan}/pwm1_enable").strip() == "1"
    busy.advance(1200)
    assert int(busy.read_text(f"{fan}/fan1_input")) == 0
    assert busy.clock_ratio < 1.0  # without its fan a loaded Pi 5 throttles (rpi_thermal)


def test_concurrent_readers_and_the_fan_loop_see_consistent_physics(tmp_path: Path) -> None:
    """The agent's collector, fan thread and HTTP threads share one node."""
    import threading

    script = _script(tmp_path, "speed: 1000\nload: [{at: 0, util: 0.9}]\n")
    node = open_node("rk1", script=script)
    fan = _hwmon(node, "pwmfan")
    temps: list[float] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(400):
                for zone in ("thermal_zone0", "thermal_zone1"):
                    temps.append(int(node.read_text(f"/sys/class/thermal/{zone}/temp")) / 1000)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def fan_loop() -> None:
        for i in range(400):
            node.write_text(f"{fan}/pwm1", str(128 + (i % 2) * 127))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads.append(threading.Thread(target=fan_loop))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert temps and min(temps) >= 25 and max(temps) < 90


@pytest.mark.parametrize("board", __import__("microrack.catalog").catalog.board_ids())
def test_every_catalog_board_has_a_readable_tree(board: str) -> None:
    node = open_node(board, clock=FakeClock())
    files = 0

    def walk(path: str) -> None:
        nonlocal files
        for name in node.listdir(path):
            child = f"{path.rstrip('/')}/{name}"
            try:
                node.listdir(child)
            except NotADirectoryError:
                node.read_text(child)
                files += 1
            else:
                walk(child)

    walk("/")
    assert files > 30
    assert node.exists("/sys/class/hwmon/hwmon0/name")
    assert node.statvfs("/").size_bytes > 0


def test_disk_traffic_and_nvme_power_follow_io_not_cpu(tmp_path: Path) -> None:
    """A CPU stressor leaves the drive idle; I/O work keeps it busy and drawing power."""

    def node(kind: str):  # type: ignore[no-untyped-def]
        script = _script(tmp_path, f"kind: {kind}\nnvme: true\nload: [{{at: 0, util: 1.0}}]\n")
        n = open_node("rk1", script=script, clock=FakeClock())
        n.advance(600)
        fields = n.read_text("/proc/diskstats").split()
        return n, int(fields[5]) * 512, int(fields[9]) * 512  # sectors read, written

    cpu, cpu_rd, cpu_wr = node("integer")
    io, io_rd, io_wr = node("io")
    assert io_rd > 50 * cpu_rd and io_wr > 50 * cpu_wr
    # the drive's active power shows in the node's watts (the CPU share of io work is lower)
    nvme_act = io.board.physics.nvme_active_w.value
    assert (
        io.power_w - float(io.twin.board_power[0])
        > cpu.power_w - float(cpu.twin.board_power[0]) + 0.9 * nvme_act
    )
    assert io.nvme_temperature > cpu.nvme_temperature
