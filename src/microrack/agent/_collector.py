"""One collection: run every enabled collector through the registry, derive the headline.

Each collector (``microrack.agent._collectors``) reads one kind of thing; a
collector that fails costs only itself (``node_scrape_collector_success`` 0,
named in ``errors``), the rest still serve.  The agent's own families
(``microrack_*``: node info, busy ratio, power, disk rates) and its
``process_*`` metrics are added after the collectors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from microrack.agent._collectors import COLLECTORS, DEFAULT_ENABLED, ProcessMetrics
from microrack.agent._collectors.hardware import (
    HwmonCollector,
    ThermalZoneCollector,
    ThrottledCollector,
)
from microrack.agent._collectors.memory import MeminfoCollector
from microrack.agent._collectors.storage import DiskstatsCollector
from microrack.agent._collectors.system import CpuCollector, TimeCollector
from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NodeCollector, Registry, build_registry
from microrack.sample import Point, Sample, SeriesKey
from microrack.sensors import DiskRates, HostFS, PowerModel

__all__ = ["Collection", "Collector"]

log = logging.getLogger(__name__)

PointSource = Callable[[], Sequence[Point]]
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Collection:
    """A collection as the agent serves it: the sample, its rates and headline values."""

    sample: Sample
    interval_s: float | None
    cpu_busy_ratio: float | None
    disks: tuple[DiskRates, ...]
    headline: dict[str, float | None]
    errors: tuple[str, ...] = field(default=())
    help: Mapping[str, str] = field(default_factory=dict)  # HELP built from the data
    raw: tuple[str, ...] = ()  # whole families in text format (textfile histograms)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view: values by series plus the per-interval rates."""
        return {
            "seq": self.sample.seq,
            "ts": self.sample.ts,
            "interval_seconds": self.interval_s,
            "cpu_busy_ratio": self.cpu_busy_ratio,
            "headline": self.headline,
            "disks": {
                d.device: {
                    "read_iops": d.read_iops,
                    "write_iops": d.write_iops,
                    "read_bytes_per_second": d.read_bytes_per_s,
                    "write_bytes_per_second": d.write_bytes_per_s,
                    "read_latency_seconds": d.read_latency_s,
                    "write_latency_seconds": d.write_latency_s,
                    "busy_ratio": d.busy_ratio,
                    "queue_depth": d.queue_depth,
                }
                for d in self.disks
            },
            "errors": list(self.errors),
            "metrics": [
                [p.key.name, dict(p.key.labels), p.key.type, p.value] for p in self.sample.points
            ],
        }


class Collector:
    """Reads one host through the enabled collectors; keeps what rates need between cycles."""

    def __init__(
        self,
        fs: HostFS,
        *,
        node: str,
        board: str | None,
        boot_id: str,
        version: str,
        power: PowerModel | None = None,
        extra: Sequence[PointSource] = (),
        allow_vcgencmd: bool = True,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        collectors: Iterable[str] | None = None,
        options: CollectorOptions | None = None,
        factories: Sequence[type[NodeCollector]] = COLLECTORS,
    ) -> None:
        self.fs = fs
        self.node, self.board, self.boot_id, self.version = node, board, boot_id, version
        self.power = power
        self.extra = list(extra)
        opts = options or CollectorOptions()
        if not allow_vcgencmd:
            opts = CollectorOptions(**{**_fields(opts), "extra": {**opts.extra, "vcgencmd": "0"}})
        enabled = DEFAULT_ENABLED if collectors is None else frozenset(collectors)
        self.registry: Registry = build_registry(factories, fs, opts, enabled)
        cpu_c = self.registry.get("cpu")
        if isinstance(cpu_c, CpuCollector):
            cpu_c.cpufreq_present = "cpufreq" in self.registry.names and fs.exists(
                "/sys/devices/system/cpu/cpu0/cpufreq"
            )
        time_c = self.registry.get("time")
        if isinstance(time_c, TimeCollector):
            time_c.clock = clock
        self.process = ProcessMetrics()
        self._clock, self._monotonic = clock, monotonic
        self._keys: dict[tuple, SeriesKey] = {}
        self._seq = 0
        self._prev_t: float | None = None
        self._failed_extra: set[str] = set()

    def _get(self, name: str, cls: type[C]) -> C | None:
        c = self.registry.get(name)
        return c if isinstance(c, cls) else None

    def collect(self) -> Collection:
        t0 = self._monotonic()
        ts = self._clock()
        out = PointSink(self._keys)
        self._seq += 1
        dt = None if self._prev_t is None else t0 - self._prev_t

        out.add(
            "microrack_node_info",
            1,
            node=self.node,
            board=self.board or "",
            boot_id=self.boot_id,
            version=self.version,
        )
        disk = self._get("diskstats", DiskstatsCollector)
        if disk is not None:
            disk.interval_s = dt
        results = self.registry.collect(out)
        errors = [r.name for r in results if r.failed]
        ok = {r.name for r in results if r.success}

        cpu = self._get("cpu", CpuCollector)
        mem = self._get("meminfo", MeminfoCollector)
        zones = self._get("thermal_zone", ThermalZoneCollector)
        hw = self._get("hwmon", HwmonCollector)
        thr = self._get("throttled", ThrottledCollector)
        busy = cpu.busy if cpu is not None and "cpu" in ok else None
        mem_used = mem.used_ratio if mem is not None and "meminfo" in ok else None
        rates = disk.rates if disk is not None and "diskstats" in ok else ()
        temps = [
            *(zones.temps if zones and "thermal_zone" in ok else ()),
            *(hw.temps if hw and "hwmon" in ok else ()),
        ]
        fans = list(hw.fans) if hw and "hwmon" in ok else []
        throttled = thr.now if thr is not None and "throttled" in ok else None

        out.add("microrack_cpu_busy_ratio", busy)
        out.add("microrack_memory_used_ratio", mem_used)
        out.disk_rates(rates)
        power = hw.power_watts if hw is not None and "hwmon" in ok else None
        if power is not None:
            out.add("microrack_power_watts", power, source="hwmon")
        elif self.power is not None and busy is not None:
            power = self.power.estimate(busy)
            out.add("microrack_power_watts", power, source="estimate")
        if self.power is not None:
            out.add("microrack_throttle_limit_celsius", self.power.throttle_soft_c, kind="soft")
            out.add("microrack_throttle_limit_celsius", self.power.throttle_hard_c, kind="hard")

        for source in self.extra:
            what = getattr(source, "__qualname__", "extra")
            try:
                points = list(source())
            except Exception as exc:  # a fan driver's failure must not cost the collection
                errors.append(what)
                if what not in self._failed_extra:
                    self._failed_extra.add(what)
                    log.warning("collecting %s failed (skipped this cycle): %r", what, exc)
                continue
            self._failed_extra.discard(what)
            for p in points:
                out.points.append(p)
                if p.key.name == "microrack_fan_rpm":
                    fans.append(p.value)
        try:
            self.process.collect(out)
        except OSError as exc:  # /proc not mounted in a tight container
            log.debug("process metrics unavailable: %r", exc)

        out.add("microrack_collection_duration_seconds", self._monotonic() - t0)
        self._prev_t = t0
        headline = {
            "cpu_busy_ratio": busy,
            "mem_used_ratio": mem_used,
            "temp_max_celsius": max(temps) if temps else None,
            "fan_rpm": max(fans) if fans else None,
            "power_watts": power,
            "throttled": throttled,
        }
        return Collection(
            sample=Sample(self._seq, ts, tuple(out.points)),
            interval_s=dt,
            cpu_busy_ratio=busy,
            disks=tuple(rates),
            headline=headline,
            errors=tuple(errors),
            help=dict(out.help),
            raw=tuple(out.raw),
        )


def _fields(opts: CollectorOptions) -> dict[str, Any]:
    return {name: getattr(opts, name) for name in opts.__dataclass_fields__}
