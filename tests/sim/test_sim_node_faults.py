"""The twin node's fault hooks: a cpufreq cap, extra load and a fill file, through its physics."""

from __future__ import annotations

import errno

import pytest

from microrack.sim import open_node

CPU = "/sys/devices/system/cpu"


def _node(util: float = 1.0):  # type: ignore[no-untyped-def]
    from microrack.sim._script import LoadPoint, NodeScript

    node = open_node("pi5", clock=lambda: 0.0)
    node.script = NodeScript(load=[LoadPoint(at=0, util=util)])
    node.advance(900)  # the steady state of that load
    return node


def _cap_all(node, khz: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(node.cores):
        node.write_text(f"{CPU}/cpu{i}/cpufreq/scaling_max_freq", f"{khz}\n")


def test_a_scaling_max_freq_cap_lowers_clock_power_and_temperature() -> None:
    node = _node(1.0)
    hot, watts = node.temperature, node.power_w
    _cap_all(node, 1_800_000)
    assert node.read_text(f"{CPU}/cpu2/cpufreq/scaling_max_freq") == "1800000\n"
    node.advance(900)
    assert node.clock_ratio == pytest.approx(0.75, abs=1e-3)
    assert int(node.read_text(f"{CPU}/cpu0/cpufreq/scaling_cur_freq")) <= 1_800_000
    # dynamic power scales with clock**2: well below, and the die follows it down
    assert node.power_w < watts - 1.0
    assert node.temperature < hot - 3
    _cap_all(node, 2_400_000)  # the original value lifts the cap
    node.advance(900)
    assert node.clock_ratio == pytest.approx(1.0, abs=1e-3)
    assert node.temperature == pytest.approx(hot, abs=1.0)


def test_the_cap_is_clamped_and_checked_as_the_kernel_does() -> None:
    node = _node()
    f = f"{CPU}/cpu0/cpufreq/scaling_max_freq"
    node.write_text(f, "1")
    assert node.read_text(f) == node.read_text(f"{CPU}/cpu0/cpufreq/cpuinfo_min_freq")
    node.write_text(f, "99999999")
    assert node.read_text(f) == "2400000\n"
    for bad in ("", "fast", "1.5e6"):
        with pytest.raises(OSError) as e:
            node.write_text(f, bad)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(PermissionError):  # the rest of cpufreq stays read-only
        node.write_text(f"{CPU}/cpu0/cpufreq/cpuinfo_max_freq", "1")


def test_one_capped_core_of_four_slows_the_twin_by_its_share() -> None:
    node = _node()
    node.write_text(f"{CPU}/cpu3/cpufreq/scaling_max_freq", "1500000")
    node.advance(60)
    assert node.clock_ratio == pytest.approx((3 + 1.5 / 2.4) / 4, abs=1e-3)
    cur = [int(node.read_text(f"{CPU}/cpu{i}/cpufreq/scaling_cur_freq")) for i in range(4)]
    assert cur[3] == 1_500_000 and cur[0] == int(2_400_000 * node.clock_ratio)


def test_extra_load_adds_busy_cores_memory_and_heat_until_removed() -> None:
    node = _node(0.1)
    cool = node.temperature
    node.add_load("p", 2.0, 512 << 20)
    node.advance(900)
    assert node.state()["util"] == pytest.approx(0.6, abs=1e-6)
    assert node.loads == {"p": (2.0, 512 << 20)}
    assert node.temperature > cool + 3
    assert float(node.read_text("/proc/loadavg").split()[0]) == pytest.approx(2.4, abs=0.01)
    with pytest.raises(ValueError, match="already"):
        node.add_load("p", 1.0, 0)
    node.add_load("q", 4.0, 0)  # more than the cores: utilisation tops out at 1
    assert node.state()["util"] == 1.0
    node.remove_load("p")
    node.remove_load("q")
    node.remove_load("q")  # gone already: nothing to do
    node.advance(900)
    assert node.temperature == pytest.approx(cool, abs=1.0)
    with pytest.raises(ValueError, match="cores"):
        node.add_load("r", 5.0, 0)


def test_fill_file_takes_space_and_a_reboot_keeps_it_but_ends_loads_and_caps() -> None:
    node = _node()
    free = node.statvfs("/").free_bytes
    node.fill_disk("f", 10**9)
    assert node.statvfs("/").free_bytes == free - 10**9
    with pytest.raises(OSError) as e:
        node.fill_disk("g", free)
    assert e.value.errno == errno.ENOSPC
    node.add_load("p", 4.0, 0)
    _cap_all(node, 1_500_000)
    node._reboot()
    assert node.loads == {}
    assert node.read_text(f"{CPU}/cpu0/cpufreq/scaling_max_freq") == "2400000\n"
    assert node.statvfs("/").free_bytes == free - 10**9  # a file survives a reboot
    node.unfill_disk("f")
    assert node.statvfs("/").free_bytes == free
