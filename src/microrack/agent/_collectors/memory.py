"""meminfo, vmstat and pressure (PSI): memory and stall accounting of the kernel."""

from __future__ import annotations

from typing import ClassVar

from microrack.agent._collectors._text import read_optional, read_or_nodata
from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NoData
from microrack.sample import SeriesKey
from microrack.sensors import HostFS

__all__ = ["MeminfoCollector", "PressureCollector", "VmstatCollector"]


class MeminfoCollector:
    """``/proc/meminfo``, every field as node_exporter names it (kB in bytes)."""

    name: ClassVar[str] = "meminfo"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.used_ratio: float | None = None
        # (label as written, in kB) -> (key, HELP): the field set is fixed per kernel
        self._series: dict[tuple[str, bool], tuple[SeriesKey, str]] = {}

    def _series_of(self, out: PointSink, label: str, is_bytes: bool) -> tuple[SeriesKey, str]:
        if len(self._series) >= 1024:  # a garbled file must not grow this without bound
            self._series.clear()
        name = label[:-1].replace("(", "_").replace(")", "")  # as read_meminfo names it
        metric = f"node_memory_{name}_bytes" if is_bytes else f"node_memory_{name}"
        entry = self._series[label, is_bytes] = (
            out.key(metric, "gauge"),
            f"Memory information field {name}" + ("_bytes." if is_bytes else "."),
        )
        return entry

    def collect(self, out: PointSink) -> None:
        # read_meminfo's parse, with each field's series worked out once
        self.used_ratio = None
        try:
            text = self.fs.read_text("/proc/meminfo")
        except (OSError, UnicodeError):
            text = ""
        total = avail = None
        found = False
        series = self._series
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 2 or not parts[0].endswith(":"):
                continue
            try:
                value = float(parts[1])
            except ValueError:
                continue
            is_bytes = len(parts) == 3 and parts[2] == "kB"
            if is_bytes:
                value *= 1024
            label = parts[0]
            entry = series.get((label, is_bytes)) or self._series_of(out, label, is_bytes)
            out.append(entry[0], value, entry[1])
            found = True
            if label == "MemTotal:":
                total = value
            elif label == "MemAvailable:":
                avail = value
        if not found:
            raise NoData("/proc/meminfo has no fields")
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
        self._wanted: dict[str, tuple[SeriesKey, str] | None] = {}  # field -> (key, help)

    def collect(self, out: PointSink) -> None:
        wanted = self._wanted
        for line in read_or_nodata(self.fs, "/proc/vmstat").splitlines():
            parts = line.split()
            if not parts:
                continue
            value = float(parts[1])  # a garbled line fails the collector, as node_exporter's
            field = parts[0]
            if field not in wanted:  # the field set is fixed per kernel: match each once
                if len(wanted) >= 4096:
                    wanted.clear()
                wanted[field] = (
                    (
                        out.key(f"node_vmstat_{field}", "untyped"),
                        f"/proc/vmstat information field {field}.",
                    )
                    if self.pattern.match(field)
                    else None
                )
            want = wanted[field]
            if want is not None:
                out.append(want[0], value, want[1])


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
