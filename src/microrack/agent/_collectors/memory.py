"""meminfo, vmstat and pressure (PSI): memory and stall accounting of the kernel."""

from __future__ import annotations

from typing import ClassVar

from microrack.agent._collectors._text import read_optional, read_or_nodata
from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NoData
from microrack.sensors import HostFS, read_meminfo

__all__ = ["MeminfoCollector", "PressureCollector", "VmstatCollector"]


class MeminfoCollector:
    name: ClassVar[str] = "meminfo"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.used_ratio: float | None = None

    def collect(self, out: PointSink) -> None:
        self.used_ratio = None
        fields = read_meminfo(self.fs)
        if not fields:
            raise NoData("/proc/meminfo has no fields")
        for m in fields:
            name = f"node_memory_{m.name}_bytes" if m.is_bytes else f"node_memory_{m.name}"
            out.add_help(
                name,
                m.value,
                "gauge",
                f"Memory information field {m.name}" + ("_bytes." if m.is_bytes else "."),
            )
        by = {m.name: m.value for m in fields}
        total, avail = by.get("MemTotal"), by.get("MemAvailable")
        if total and avail is not None:
            self.used_ratio = max(0.0, min(1.0, 1.0 - avail / total))


class VmstatCollector:
    """``/proc/vmstat``, the fields node_exporter's ``--collector.vmstat.fields`` selects."""

    name: ClassVar[str] = "vmstat"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        pattern = options.regex("vmstat_fields")
        assert pattern is not None
        self.pattern = pattern
        self._wanted: dict[str, tuple[str, str] | None] = {}  # field -> (name, help)

    def collect(self, out: PointSink) -> None:
        wanted = self._wanted
        for line in read_or_nodata(self.fs, "/proc/vmstat").splitlines():
            parts = line.split()
            if not parts:
                continue
            value = float(parts[1])  # a garbled line fails the collector, as node_exporter's
            field = parts[0]
            if field not in wanted:  # the field set is fixed per kernel: match each once
                wanted[field] = (
                    (f"node_vmstat_{field}", f"/proc/vmstat information field {field}.")
                    if self.pattern.match(field)
                    else None
                )
            want = wanted[field]
            if want is not None:
                out.add_help(want[0], value, "untyped", want[1])


_PSI = (
    (
        "cpu",
        "some",
        "node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time",
    ),
    (
        "io",
        "some",
        "node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion",
    ),
    (
        "io",
        "full",
        "node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    (
        "memory",
        "some",
        "node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory",
    ),
    (
        "memory",
        "full",
        "node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion",
    ),
    (
        "irq",
        "full",
        "node_pressure_irq_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IRQ congestion",
    ),
)


def parse_psi(text: str) -> dict[str, float]:
    """``some avg10=0.00 avg60=0.00 avg300=0.00 total=123`` lines -> total µs by kind."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if not kind:
            continue
        fields = dict(f.split("=", 1) for f in rest.split())
        out[kind] = float(fields["total"])
    return out


class PressureCollector:
    """``/proc/pressure/{cpu,io,memory,irq}`` (Linux 4.20+ with PSI enabled)."""

    name: ClassVar[str] = "pressure"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs

    def collect(self, out: PointSink) -> None:
        totals: dict[str, dict[str, float]] = {}
        for res in ("cpu", "io", "memory", "irq"):
            try:
                text = read_optional(self.fs, f"/proc/pressure/{res}")
            except OSError as exc:
                if exc.errno == 95:  # EOPNOTSUPP: PSI built in but off (psi=0)
                    raise NoData("pressure information is disabled (psi=0)") from exc
                raise
            if text is None:
                if res == "irq":
                    continue  # Linux 6.1+ only, and only with CONFIG_IRQ_TIME_ACCOUNTING
                raise NoData(f"/proc/pressure/{res} not found (Linux < 4.20 or no PSI)")
            totals[res] = parse_psi(text)
        for res, kind, metric, help_text in _PSI:
            value = totals.get(res, {}).get(kind)
            if value is not None:
                out.add_help(metric, value / 1000.0 / 1000.0, "counter", help_text)  # as Go does
