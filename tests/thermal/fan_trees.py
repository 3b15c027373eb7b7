"""Hand-built hwmon / thermal trees for the fan tests (helpers, imported by name)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from support import Proc


@dataclass
class Tree:
    """A fake ``/sys`` under ``root`` with one thermal zone, a pwmfan and an NVMe sensor."""

    root: Path

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def write(self, host_path: str, value: object) -> None:
        p = self.path(host_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"{value}\n")

    def read(self, host_path: str) -> str:
        return self.path(host_path).read_text().strip()

    # the files tests poke most
    ZONE = "/sys/class/thermal/thermal_zone0/temp"
    PWM = "/sys/class/hwmon/hwmon1/pwm1"
    ENABLE = "/sys/class/hwmon/hwmon1/pwm1_enable"
    TACH = "/sys/class/hwmon/hwmon1/fan1_input"
    NVME = "/sys/class/hwmon/hwmon2/temp1_input"

    def set_temp(self, celsius: float, host_path: str = ZONE) -> None:
        self.write(host_path, round(celsius * 1000))

    @property
    def pwm(self) -> int:
        # A plain file stands in for sysfs here: a write truncates it first, so a
        # reader racing the control thread can see it empty for a moment.
        deadline = time.monotonic() + 5
        while not (text := self.read(self.PWM)) and time.monotonic() < deadline:
            time.sleep(0.001)
        return int(text)


def build_tree(root: Path) -> Tree:
    t = Tree(root)
    t.write("/sys/class/thermal/thermal_zone0/type", "cpu-thermal")
    t.set_temp(40.0)
    t.write("/sys/class/hwmon/hwmon0/name", "cpu_thermal")
    t.write("/sys/class/hwmon/hwmon0/temp1_input", 40000)
    t.write("/sys/class/hwmon/hwmon1/name", "pwmfan")
    t.write(t.PWM, 0)
    t.write(t.ENABLE, 2)
    t.write(t.TACH, 0)
    t.write("/sys/class/hwmon/hwmon2/name", "nvme")
    t.write("/sys/class/hwmon/hwmon2/temp1_label", "Composite")
    t.write(t.NVME, 35000)
    return t


def fan_yaml(tmp_path: Path, **fan_overrides: object) -> Path:
    """A fan.yaml for the tree: cpu zone + nvme, Pi 5 style curve on the pwmfan."""
    fan: dict[str, object] = {
        "name": "case",
        "driver": {"type": "hwmon", "chip": "pwmfan"},
        "curve": [
            {"temp_c": 50, "duty_pct": 30},
            {"temp_c": 60, "duty_pct": 50},
            {"temp_c": 67.5, "duty_pct": 70},
            {"temp_c": 75, "duty_pct": 100},
        ],
        "hysteresis_c": 5,
        "min_duty_pct": 0,
        "start_duty_pct": 20,
        "spinup": {"duty_pct": 100, "seconds": 0},
        "stall_after_s": 5,
    }
    fan.update(fan_overrides)
    data = {
        "interval_s": 0.2,
        "sensors": [
            {"name": "cpu", "thermal_zone": "cpu-thermal", "stale_after_s": 30},
            {"name": "nvme", "hwmon": "nvme", "input": "Composite", "stale_after_s": 30},
        ],
        "fans": [fan],
    }
    p = tmp_path / "fan.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


ADDR = 0x2F  # the EMC2301's only address


class Emc2301:
    """The register map of an EMC2301 as smbus2 sees it (byte reads and writes)."""

    def __init__(self, product: int = 0x37, rpm_at_full: float = 6000.0) -> None:
        self.regs = dict.fromkeys(range(256), 0)
        self.regs.update({0xFD: product, 0xFE: 0x5D, 0xFF: 0x80, 0x32: 0x2B | 0x80, 0x30: 0x80})
        self.rpm_at_full = rpm_at_full
        self.stalled = False
        self.log: list[tuple[str, int, int]] = []

    def _tach(self) -> int:
        rpm = 0.0 if self.stalled else self.rpm_at_full * self.regs[0x30] / 255
        return 0x1FFF if rpm < 500 else round(3932160 / rpm)

    def read_byte_data(self, addr: int, reg: int) -> int:
        if addr != ADDR:
            raise OSError(6, "No such device or address")
        if reg == 0x3E:
            return self._tach() >> 5
        if reg == 0x3F:
            return (self._tach() & 0x1F) << 3
        return self.regs[reg]

    def write_byte_data(self, addr: int, reg: int, value: int) -> None:
        if addr != ADDR:
            raise OSError(6, "No such device or address")
        assert 0 <= value <= 255
        self.log.append(("w", reg, value))
        self.regs[reg] = value


def wait_for(cond: Callable[[], object], proc: Proc, what: str, timeout: float = 60.0) -> None:
    """Until ``cond()`` holds while the fan process ``proc`` runs; its log on failure."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.popen.poll() is None, f"microrack fan exited early:\n{proc.output()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{proc.output()}"
        time.sleep(0.05)


def fan_flags(tree: Tree, cfg: Path, state_file: Path) -> list[str]:
    """The flags of ``microrack fan`` on ``tree`` with the fan.yaml ``cfg``."""
    return ["--config", str(cfg), "--root", str(tree.root), "--state-file", str(state_file)]
