"""Plain, typed results: every number travels with its unit.

A :class:`Measurement` is what ``--json`` writes and what ``bench compare``
matches between two runs, so its identity (workload, name, labels) must not
depend on anything that changes from run to run, such as a worker's port.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from microrack.errors import UsageError

__all__ = [
    "Measurement",
    "WorkloadResult",
    "format_bytes",
    "format_value",
    "parse_size",
    "percentiles",
]

#: The units a measurement may carry (base units, as DESIGN.md asks).
UNITS = frozenset(
    {"ops/s", "flop/s", "bytes/s", "iops", "s", "hz", "celsius", "bytes", "count", "ratio", "bool"}
)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One number: what it is, its value, its unit and which node/pair it belongs to."""

    name: str
    value: float
    unit: str
    labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r} for {self.name}")

    @classmethod
    def of(cls, name: str, value: float, unit: str, **labels: object) -> Measurement:
        return cls(name, float(value), unit, tuple(sorted((k, str(v)) for k, v in labels.items())))

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.name, self.labels

    def label(self, name: str, default: str = "") -> str:
        return dict(self.labels).get(name, default)

    def to_json(self) -> dict[str, Any]:
        value: float | None = self.value if math.isfinite(self.value) else None
        return {"name": self.name, "value": value, "unit": self.unit, "labels": dict(self.labels)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Measurement:
        value = data.get("value")
        return cls.of(
            str(data["name"]),
            math.nan if value is None else float(value),
            str(data["unit"]),
            **dict(data.get("labels") or {}),
        )


@dataclass(slots=True)
class WorkloadResult:
    """What one workload produced: measurements plus raw detail for plots."""

    workload: str
    measurements: list[Measurement] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str, **labels: object) -> None:
        self.measurements.append(Measurement.of(name, value, unit, **labels))

    def get(self, name: str, **labels: object) -> Measurement:
        """The one measurement called ``name`` whose labels include ``labels``."""
        want = {k: str(v) for k, v in labels.items()}
        found = [
            m
            for m in self.measurements
            if m.name == name and want.items() <= dict(m.labels).items()
        ]
        if len(found) != 1:
            raise KeyError(f"{self.workload}: {len(found)} measurements {name} {want}")
        return found[0]

    def all(self, name: str) -> list[Measurement]:
        return [m for m in self.measurements if m.name == name]

    def to_json(self) -> dict[str, Any]:
        return {
            "measurements": [m.to_json() for m in self.measurements],
            "details": self.details,
        }

    @classmethod
    def from_json(cls, workload: str, data: Mapping[str, Any]) -> WorkloadResult:
        return cls(
            workload,
            [Measurement.from_json(m) for m in data.get("measurements", [])],
            dict(data.get("details") or {}),
        )


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str, argument: str) -> int:
    """``4k``, ``1M``, ``256MiB``, ``1g`` -> bytes, in powers of 1024 as fio reads them."""
    m = _SIZE.match(str(text))
    if not m:
        raise UsageError(argument, f"{text!r} is not a size (examples: 4k, 64M, 1G)")
    number, prefix = float(m.group(1)), m.group(2).lower()
    value = int(number * 1024 ** " kmgt".index(prefix or " "))
    if value <= 0:
        raise UsageError(argument, f"{text!r} must be larger than zero")
    return value


def percentiles(values_ns: Sequence[int] | Iterable[int]) -> dict[str, float]:
    """p50, p99 and p99.9 of nanosecond latencies, in seconds."""
    import numpy as np

    arr = np.asarray(
        list(values_ns) if not hasattr(values_ns, "__len__") else values_ns, dtype=np.float64
    )
    if arr.size == 0:
        return {"p50": math.nan, "p99": math.nan, "p99.9": math.nan}
    p = np.percentile(arr, [50.0, 99.0, 99.9]) / 1e9
    return {"p50": float(p[0]), "p99": float(p[1]), "p99.9": float(p[2])}


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return f"{n:.1f} TiB"


def format_value(m: Measurement) -> str:
    """A person-readable rendering of one measurement."""
    v = m.value
    if not math.isfinite(v):
        return "n/a"
    if m.unit == "bytes/s":
        return f"{format_bytes(v)}/s"
    if m.unit == "bytes":
        return format_bytes(v)
    if m.unit == "s":
        if v < 1e-3:
            return f"{v * 1e6:.1f} µs"
        return f"{v * 1e3:.2f} ms" if v < 1 else f"{v:.2f} s"
    if m.unit in {"ops/s", "flop/s", "iops", "hz"}:
        for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= scale:
                return f"{v / scale:.2f} {prefix}{m.unit}"
        return f"{v:.1f} {m.unit}"
    if m.unit == "ratio":
        return f"{v:.1%}"
    if m.unit == "bool":
        return "yes" if v else "no"
    if m.unit == "count":
        return f"{v:.0f}"
    return f"{v:.1f} {m.unit}"
