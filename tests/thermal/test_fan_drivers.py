"""Fan drivers: hwmon PWM, EMC230x over SMBus, GPIO on/off.

The EMC230x driver is tested here against a register map of an EMC2301 (its
datasheet's registers, with a fan whose tach follows the drive), and against
the kernel's ``i2c-stub`` where that module can be loaded.  The GPIO driver
runs against the kernel's ``gpio-sim`` (configfs) where it exists.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fan_trees import ADDR, Emc2301, Tree

from microrack.sensors import LocalFS
from microrack.thermal import Emc230xDriver, FanService, GpioDriver, HwmonPwmDriver
from support import kernel_lacks


def test_hwmon_driver_takes_manual_mode_and_restores_it(tree: Tree) -> None:
    d = HwmonPwmDriver(LocalFS(str(tree.root)), "/sys/class/hwmon/hwmon1")
    d.open()
    assert tree.read(tree.ENABLE) == "1"
    d.set_duty(0.5)
    assert tree.read(tree.PWM) == "128"
    tree.write(tree.TACH, 3100)
    assert d.read_rpm() == 3100.0
    d.close()
    assert tree.read(tree.PWM) == "255" and tree.read(tree.ENABLE) == "2"


def test_emc2301_detect_drive_tach_and_hand_back() -> None:
    chip = Emc2301()
    d = Emc230xDriver(chip, ADDR, 1)
    d.open()
    assert d.product == "EMC2301"
    assert chip.regs[0x32] & 0x80 == 0  # RPM-control algorithm off: direct drive
    d.set_duty(0.5)
    assert chip.regs[0x30] == 128
    assert d.read_rpm() == pytest.approx(6000 * 128 / 255, rel=0.01)
    chip.stalled = True
    assert d.read_rpm() == 0.0
    d.close()
    assert chip.regs[0x30] == 0xFF and chip.regs[0x32] == 0x2B | 0x80  # full, algorithm back


@pytest.mark.parametrize(("product", "maker"), [(0x20, 0x5D), (0x37, 0x41)])
def test_emc230x_rejects_other_chips(product: int, maker: int) -> None:
    chip = Emc2301(product=product)
    chip.regs[0xFE] = maker
    with pytest.raises(OSError, match="not an EMC230x"):
        Emc230xDriver(chip, ADDR, 1).open()
    assert not [w for w in chip.log if w[0] == "w"]  # nothing written to an unknown chip


def test_emc2301_has_one_fan() -> None:
    with pytest.raises(OSError, match="no fan 2"):
        Emc230xDriver(Emc2301(), ADDR, 2).open()


def _service(
    tree: Tree, tmp_path: Path, cfg: dict[str, Any], chip: Emc2301, opened: list[int] | None = None
) -> FanService:
    """A fan service on ``tree`` for the fan.yaml ``cfg``; every I2C bus it opens is ``chip``
    (the bus numbers opened go to ``opened``)."""
    path = tmp_path / "fan.yaml"
    path.write_text(yaml.safe_dump(cfg))

    def bus(n: int) -> Emc2301:
        if opened is not None:
            opened.append(n)
        return chip

    return FanService.from_file(path, LocalFS(str(tree.root)), bus_opener=bus)


def _switched(name: str, driver: dict[str, Any]) -> dict[str, Any]:
    """A fan switched on at 60 °C and off at 50 °C."""
    return {"name": name, "driver": driver, "switch": {"on_c": 60, "off_c": 50}}


def test_emc2301_fan_service_curve_and_stall(tree: Tree, tmp_path: Path) -> None:
    chip = Emc2301()
    cfg = {
        "sensors": [{"name": "cpu", "thermal_zone": "cpu-thermal", "stale_after_s": None}],
        "fans": [
            {
                "name": "carrier",
                "driver": {"type": "emc230x", "bus": 1, "address": ADDR},
                "curve": [{"temp_c": 40, "duty_pct": 20}, {"temp_c": 70, "duty_pct": 100}],
                "hysteresis_c": 2,
                "stall_after_s": 2,
                "spinup": {"seconds": 0},
            }
        ],
    }
    opened: list[int] = []
    service = _service(tree, tmp_path, cfg, chip, opened)
    assert opened == [1]
    tree.set_temp(55.0)
    service.step(0.0)
    assert chip.regs[0x30] == round(0.6 * 255)
    service.step(1.0)
    rpm = {p.key.name: p.value for p in service.points()}["microrack_fan_rpm"]
    assert rpm == pytest.approx(6000 * 0.6, rel=0.02)
    chip.stalled = True
    for t in (2.0, 3.0, 4.5):
        service.step(t)
    assert chip.regs[0x30] == 255 and service.fans[0].state.failsafe == "stall"
    service.close()
    assert chip.regs[0x32] & 0x80  # handed back to the chip's own RPM control


# --- real kernel components ---------------------------------------------------------------


def _stub_bus() -> int:
    for name_file in glob.glob("/sys/class/i2c-adapter/i2c-*/name"):
        if Path(name_file).read_text().strip().startswith("SMBus stub"):
            return int(Path(name_file).parent.name.removeprefix("i2c-"))
    modprobe = shutil.which("modprobe")
    if os.geteuid() == 0 and modprobe:
        subprocess.run([modprobe, "i2c-stub", f"chip_addr=0x{ADDR:02x}"], capture_output=True)
        subprocess.run([modprobe, "i2c-dev"], capture_output=True)
        for name_file in glob.glob("/sys/class/i2c-adapter/i2c-*/name"):
            if Path(name_file).read_text().strip().startswith("SMBus stub"):
                return int(Path(name_file).parent.name.removeprefix("i2c-"))
    kernel_lacks("the kernel module i2c-stub with i2c-dev (modprobe i2c-stub chip_addr=0x2f)")
    raise AssertionError("unreachable")


def test_emc230x_driver_on_the_kernel_i2c_stub() -> None:
    """smbus2 through /dev/i2c-N to the kernel's i2c-stub loaded with an EMC2301's ids."""
    import smbus2

    bus_no = _stub_bus()
    with smbus2.SMBus(bus_no) as bus:
        bus.write_byte_data(ADDR, 0xFD, 0x37)  # i2c-stub: every register is plain memory
        bus.write_byte_data(ADDR, 0xFE, 0x5D)
        bus.write_byte_data(ADDR, 0x32, 0xAB)
        bus.write_byte_data(ADDR, 0x3E, 0x0F)  # tach count 0x0F<<5 | 0xA0>>3 = 500
        bus.write_byte_data(ADDR, 0x3F, 0xA0)
        d = Emc230xDriver(bus, ADDR, 1)
        d.open()
        assert d.product == "EMC2301"
        assert bus.read_byte_data(ADDR, 0x32) == 0x2B
        d.set_duty(0.25)
        assert bus.read_byte_data(ADDR, 0x30) == 64
        assert d.read_rpm() == pytest.approx(3932160 / 500)
        d.close()
        assert bus.read_byte_data(ADDR, 0x30) == 0xFF and bus.read_byte_data(ADDR, 0x32) == 0xAB


@contextlib.contextmanager
def _gpio_sim():  # type: ignore[no-untyped-def]
    """A gpio-sim chip with 8 lines; yields (chip label, value file of line 3)."""
    base = Path("/sys/kernel/config/gpio-sim")
    if not base.is_dir() and os.geteuid() == 0:  # as for i2c-stub: load it where the kernel can
        modprobe = shutil.which("modprobe")
        if modprobe:
            subprocess.run([modprobe, "gpio-sim"], capture_output=True)
        config = Path("/sys/kernel/config")
        if config.is_dir() and not os.path.ismount(config) and shutil.which("mount"):
            subprocess.run(
                ["mount", "-t", "configfs", "configfs", str(config)], capture_output=True
            )
    if not base.is_dir():
        kernel_lacks(
            "gpio-sim in configfs (/sys/kernel/config/gpio-sim: CONFIG_GPIO_SIM, configfs mounted)"
        )
    dev = base / f"microrack-fan-{os.getpid()}"
    bank = dev / "bank0"
    try:
        bank.mkdir(parents=True)
        (bank / "num_lines").write_text("8")
        (bank / "label").write_text("microrack-sim")
        (dev / "live").write_text("1")
        chip = (bank / "chip_name").read_text().strip()
        devname = (dev / "dev_name").read_text().strip()
        yield "microrack-sim", Path(f"/sys/devices/platform/{devname}/{chip}/sim_gpio3/value")
    finally:
        with contextlib.suppress(OSError):
            (dev / "live").write_text("0")
        with contextlib.suppress(OSError):
            bank.rmdir()
            dev.rmdir()


def test_gpio_driver_on_the_kernel_gpio_sim() -> None:
    with _gpio_sim() as (label, value):
        d = GpioDriver(label, 3)
        d.open()
        assert value.read_text().strip() == "1"  # requested at full: the safe level
        d.set_duty(0.0)
        assert value.read_text().strip() == "0"
        d.set_duty(0.4)
        assert value.read_text().strip() == "1"
        d.set_duty(0.0)
        d.close()
        assert value.read_text().strip() == "1"  # left on after release
        low = GpioDriver(label, 3, active_low=True)
        low.open()
        low.set_duty(1.0)
        assert value.read_text().strip() == "0"
        low.close()


def test_wrong_chip_on_the_bus_is_one_clear_error(tree: Tree, tmp_path: Path) -> None:
    from microrack.errors import ResourceError

    cfg = {
        "sensors": [{"name": "cpu", "thermal_zone": 0}],
        "fans": [_switched("c", {"type": "emc230x", "bus": 3})],
    }
    service = _service(tree, tmp_path, cfg, Emc2301(product=0x21))
    with pytest.raises(ResourceError, match="not an EMC230x"):
        service.step(0.0)


class FlakyBus(Emc2301):
    """An EMC2301 behind a bus that NAKs the next ``fail`` writes."""

    fail = 0

    def write_byte_data(self, addr: int, reg: int, value: int) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise OSError(121, "Remote I/O error")
        super().write_byte_data(addr, reg, value)


def _emc_service(tree: Tree, tmp_path: Path, chip: Emc2301) -> FanService:
    cfg = {
        "sensors": [{"name": "cpu", "thermal_zone": 0, "stale_after_s": None}],
        "fans": [
            {
                "name": "c",
                "driver": {"type": "emc230x", "bus": 3},
                "curve": [{"temp_c": 40, "duty_pct": 20}, {"temp_c": 70, "duty_pct": 100}],
                "spinup": {"seconds": 0},
            }
        ],
    }
    return _service(tree, tmp_path, cfg, chip)


def test_a_bus_glitch_is_retried_and_reported(tree: Tree, tmp_path: Path) -> None:
    chip = FlakyBus()
    service = _emc_service(tree, tmp_path, chip)
    tree.set_temp(55.0)
    service.step(0.0)
    chip.fail = 2
    service.step(1.0)
    assert service.fans[0].state.failsafe == "driver_error"
    assert {p.key.name: p.value for p in service.points()}["microrack_fan_failsafe"] == 1
    service.step(2.0)
    service.step(3.0)
    assert service.fans[0].state.failsafe is None and chip.regs[0x30] == round(0.6 * 255)


def test_a_fan_that_stays_unwritable_stops_the_loop(tree: Tree, tmp_path: Path) -> None:
    from microrack.errors import ResourceError

    chip = FlakyBus()
    service = _emc_service(tree, tmp_path, chip)
    tree.set_temp(55.0)
    service.step(0.0)
    chip.fail = 1000
    with pytest.raises(ResourceError, match="5 failed writes"):
        for t in range(1, 10):
            service.step(float(t))


def test_a_fan_that_cannot_be_taken_over_does_not_strand_the_others(
    tree: Tree, tmp_path: Path
) -> None:
    from microrack.errors import ResourceError

    cfg = {
        "sensors": [{"name": "cpu", "thermal_zone": 0}],
        "fans": [
            _switched("case", {"type": "hwmon", "chip": "pwmfan"}),
            _switched("carrier", {"type": "emc230x", "bus": 3}),
        ],
    }
    service = _service(tree, tmp_path, cfg, Emc2301(product=0x99))
    with pytest.raises(ResourceError, match="carrier"):
        service.step(0.0)
    assert tree.read(tree.ENABLE) == "1" and tree.pwm == 255  # taken, and at full
    service.close()
    assert tree.read(tree.ENABLE) == "2" and tree.pwm == 255  # handed back
