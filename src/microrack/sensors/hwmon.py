"""hwmon chips: every temperature, fan, PWM, voltage, current and power sensor.

Chip names follow node_exporter's ``hwmonName`` (the bus and device the chip
hangs off, ``platform_cooling_fan``, ``nvme_nvme0``, falling back to the
``name`` file), so ``node_hwmon_*`` series carry the same ``chip`` label with
either exporter.  The kernel's nvme driver appears here as a chip named
``nvme`` with ``temp1`` labelled "Composite" and sensors 2..n.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from microrack.sensors._fs import HostFS
from microrack.sensors._util import clean_name, list_opt, read_opt

__all__ = ["HwmonChip", "HwmonValue", "hwmon_power_watts", "read_hwmon"]

BASE = "/sys/class/hwmon"
SENSOR_TYPES = frozenset(
    (
        "vrm",
        "beep_enable",
        "update_interval",
        "in",
        "cpu",
        "fan",
        "pwm",
        "temp",
        "curr",
        "power",
        "energy",
        "humidity",
        "intrusion",
        "freq",
    )
)
_FILENAME = re.compile(r"^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<prop>.+))?$")


class HwmonValue(NamedTuple):
    """One sensor file: ``sensor`` is ``temp1``, ``prop`` is ``input``/``crit``/'' (bare ``pwm1``).

    ``raw`` is the number as the kernel wrote it (milli-units, microwatts, rpm).
    """

    sensor: str
    type: str
    prop: str
    raw: float


class HwmonChip(NamedTuple):
    chip: str
    chip_name: str | None
    values: tuple[HwmonValue, ...]
    labels: dict[str, str]

    def get(self, sensor: str, prop: str = "input") -> float | None:
        for v in self.values:
            if v.sensor == sensor and v.prop == prop:
                return v.raw
        return None


def _chip_id(fs: HostFS, d: str) -> str:
    if fs.exists(f"{d}/device"):
        dev = fs.realpath(f"{d}/device").rstrip("/")
        parent, _, dev_name = dev.rpartition("/")
        dev_type = parent.rpartition("/")[2]
        name, kind = clean_name(dev_name), clean_name(dev_type)
        if name and kind:
            return f"{kind}_{name}"
        if name:
            return name
    raw = read_opt(fs, f"{d}/name")
    if raw and clean_name(raw):
        return clean_name(raw)
    return clean_name(fs.realpath(d).rpartition("/")[2])


def _collect(
    fs: HostFS, d: str, values: dict[tuple[str, str], HwmonValue], labels: dict[str, str]
) -> None:
    for fname in list_opt(fs, d):
        m = _FILENAME.match(fname)
        if m is None or m["type"] not in SENSOR_TYPES:
            continue
        sensor = m["type"] + str(int(m["id"] or 0))
        prop = m["prop"] or ""
        text = read_opt(fs, f"{d}/{fname}")
        if text is None:
            continue  # unreadable (write-only, EIO from a sleeping chip): skip this cycle
        if prop == "label":
            labels[sensor] = text
            continue
        try:
            raw = float(text)
        except ValueError:
            continue
        values[(sensor, prop)] = HwmonValue(sensor, m["type"], prop, raw)


def read_hwmon(fs: HostFS) -> list[HwmonChip]:
    """Every chip under ``/sys/class/hwmon``, with a ``chip`` label unique among them.

    Several hwmon directories can hang off one parent device (a Wi-Fi card's PHYs,
    asus-wmi's pair); as current node_exporter does, colliding names get the
    chip's ``name`` file as suffix, or its ``hwmonN`` directory name when that is
    not distinct either.  A chip without a readable sensor is still listed.
    """
    entries: list[tuple[str, str, str]] = []
    for entry in list_opt(fs, BASE):
        d = f"{BASE}/{entry}"
        try:
            chip = _chip_id(fs, d)
        except OSError:
            continue
        entries.append((d, chip, read_opt(fs, f"{d}/name") or ""))
    chip_counts: dict[str, int] = {}
    name_counts: dict[tuple[str, str], int] = {}
    for _, chip, name in entries:
        chip_counts[chip] = chip_counts.get(chip, 0) + 1
        name_counts[(chip, name)] = name_counts.get((chip, name), 0) + 1
    out: list[HwmonChip] = []
    for d, chip, name in entries:
        if chip_counts[chip] > 1:
            suffix = clean_name(name)
            if not suffix or name_counts[(chip, name)] > 1:
                suffix = clean_name(d.rpartition("/")[2])
            chip = f"{chip}_{suffix}"
        values: dict[tuple[str, str], HwmonValue] = {}
        labels: dict[str, str] = {}
        _collect(fs, d, values, labels)
        # Older drivers keep their sensor files on the device itself.
        if fs.exists(f"{d}/device"):
            _collect(fs, f"{d}/device", values, labels)
        out.append(HwmonChip(chip, clean_name(name) or None, tuple(values.values()), labels))
    return out


def hwmon_power_watts(chips: list[HwmonChip]) -> float | None:
    """Board power from hwmon: ``power*_input`` (µW), else ``in_n`` (mV) × ``curr_n`` (mA)."""
    direct = [
        v.raw / 1e6 for c in chips for v in c.values if v.type == "power" and v.prop == "input"
    ]
    if direct:
        return sum(direct)
    product = 0.0
    found = False
    for c in chips:
        for v in c.values:
            if v.type == "curr" and v.prop == "input":
                volts = c.get("in" + v.sensor[4:])
                if volts is not None:
                    product += volts / 1000.0 * v.raw / 1000.0
                    found = True
    return product if found else None
