"""Human names for temperature sensors and throttle flags (pure functions).

node_exporter names a sensor by its sysfs chip (``thermal_thermal_zone0``,
``nvme_nvme0``, ``platform_rp1_adc``) and index (``temp1``); a thermal zone is
exported twice, once as ``node_thermal_zone_temp`` and again as an hwmon chip
``thermal_thermal_zoneN``.  People want one line per physical sensor, named as
they know it: SoC, NVMe, PMIC, GPU.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Sensor", "container_name", "flag_name", "temperature_sensors", "zone_name"]

ZONE_METRIC = "node_thermal_zone_temp"
HWMON_METRIC = "node_hwmon_temp_celsius"

# Thermal zone types (``/sys/class/thermal/thermal_zone*/type``) seen on SBCs and PCs.
_ZONE_NAMES: tuple[tuple[str, str], ...] = (
    (r"^(cpu|soc)[-_]?thermal$", "SoC"),
    (r"^bigcore(\d*)[-_]?thermal$", "CPU big cores {0}"),
    (r"^littlecore[-_]?thermal$", "CPU little cores"),
    (r"^center[-_]?thermal$", "SoC centre"),
    (r"^gpu[-_]?thermal$", "GPU"),
    (r"^npu[-_]?thermal$", "NPU"),
    (r"^ddr[-_]?thermal$", "DDR"),
    (r"^(pmic|rk8\d\d).*$", "PMIC"),
    (r"^x86_pkg_temp$", "CPU package"),
    (r"^acpitz$", "ACPI zone"),
    (r"^iwlwifi.*$", "Wi-Fi"),
)
# hwmon chip names (``/sys/class/hwmon/hwmon*/name``).
_CHIP_NAMES: dict[str, str] = {
    "cpu_thermal": "SoC",
    "soc_thermal": "SoC",
    "coretemp": "CPU",
    "k10temp": "CPU",
    "zenpower": "CPU",
    "rp1_adc": "RP1",
    "nvme": "NVMe",
    "drivetemp": "Drive",
    "pmic": "PMIC",
    "rk808": "PMIC",
    "gpu_thermal": "GPU",
    "amdgpu": "GPU",
    "acpitz": "ACPI zone",
    "iwlwifi_1": "Wi-Fi",
}
_FLAG_NAMES = {
    "under_voltage": "under-voltage",
    "freq_capped": "frequency capped",
    "throttled": "throttled",
    "soft_temp_limit": "soft temperature limit",
}


@dataclass(frozen=True, slots=True)
class Sensor:
    """One physical temperature sensor: the series that carries it and its human name."""

    metric: str
    labels: tuple[tuple[str, str], ...]
    name: str
    kind: str  # "soc" (counts against the board's throttle limit), "nvme", "other"
    device: str | None = None  # the block device of an NVMe drive, e.g. nvme0n1

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


def zone_name(zone_type: str) -> str:
    """``cpu-thermal`` -> ``SoC``; an unknown type is shown as it is."""
    t = zone_type.strip().lower()
    for pattern, name in _ZONE_NAMES:
        m = re.match(pattern, t)
        if m:
            return name.format(*(g for g in m.groups() if g is not None)).strip()
    return zone_type or "zone"


def flag_name(flag: str) -> str:
    """``under_voltage`` -> ``under-voltage``."""
    return _FLAG_NAMES.get(flag, flag.replace("_", " "))


def _nvme_device(chip: str) -> str | None:
    m = re.search(r"nvme(\d+)$", chip)
    return f"nvme{m.group(1)}n1" if m else None


def temperature_sensors(
    series: Iterable[tuple[str, Mapping[str, str]]],
    chip_names: Mapping[str, str] | None = None,
    sensor_labels: Mapping[tuple[str, str], str] | None = None,
) -> list[Sensor]:
    """One :class:`Sensor` per physical sensor among ``(metric, labels)`` series.

    ``chip_names`` maps an hwmon chip to its name (``node_hwmon_chip_names``),
    ``sensor_labels`` maps ``(chip, sensor)`` to its label (``node_hwmon_sensor_label``).
    An hwmon chip that mirrors a thermal zone is dropped when the zone is present;
    names that would repeat get the zone number or sensor label to tell them apart.
    """
    chip_names = chip_names or {}
    sensor_labels = sensor_labels or {}
    items = [(m, dict(lab)) for m, lab in series if m in (ZONE_METRIC, HWMON_METRIC)]
    zones = {lab.get("zone", "") for m, lab in items if m == ZONE_METRIC}
    out: list[Sensor] = []
    mirrored: set[str] = set()  # thermal chips already shown once
    for metric, lab in sorted(items, key=lambda x: (x[0] != ZONE_METRIC, sorted(x[1].items()))):
        key = tuple(sorted(lab.items()))
        if metric == ZONE_METRIC:
            out.append(Sensor(metric, key, zone_name(lab.get("type", "")), "soc"))
            continue
        chip = lab.get("chip", "")
        sensor = lab.get("sensor", "")
        m = re.match(r"^thermal_thermal_zone(\d+)$", chip)
        if m:
            # the same reading as node_thermal_zone_temp{zone=N}; one line is enough
            if m.group(1) in zones or chip in mirrored:
                continue
            mirrored.add(chip)
        cname = chip_names.get(chip, "")
        label = sensor_labels.get((chip, sensor), "")
        if "nvme" in chip or cname == "nvme":
            dev = _nvme_device(chip)
            name = f"NVMe {dev or chip}"
            if label and label.lower() != "composite":
                name += f" {label}"
            out.append(Sensor(metric, key, name, "nvme", dev))
            continue
        base = _CHIP_NAMES.get(cname) or (zone_name(cname) if cname else chip or "sensor")
        name = f"{base} {label}".strip() if label else base
        kind = "soc" if base in ("SoC", "CPU", "CPU package") or m else "other"
        out.append(Sensor(metric, key, name, kind))
    # tell apart sensors that would share a name
    counts: dict[str, int] = {}
    for s in out:
        counts[s.name] = counts.get(s.name, 0) + 1
    named: list[Sensor] = []
    for s in out:
        if counts[s.name] > 1:
            lab = s.label_dict
            extra = lab.get("zone") or lab.get("sensor") or lab.get("chip") or ""
            s = Sensor(s.metric, s.labels, f"{s.name} {extra}".strip(), s.kind, s.device)
        named.append(s)
    return named


def container_name(labels: dict[str, str]) -> str:
    """How a person names a container: namespace/pod/container, its name, or the short id."""
    name = labels.get("container") or labels.get("name") or labels.get("container_id", "")[:12]
    if labels.get("pod"):
        return f"{labels.get('namespace', '')}/{labels['pod']}/{name}".lstrip("/")
    return name or labels.get("id", "")
