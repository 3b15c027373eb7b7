"""One collection: read every sensor through a HostFS, derive rates, build points.

A sensor that is absent yields nothing; a file that cannot be read this cycle
is skipped by the readers.  A reader that fails in an unexpected way (a
half-written file the parser did not foresee) costs only its own family for
this cycle: it is logged once and counted in ``errors``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from microrack.agent._families import PointSink
from microrack.sample import Point, Sample, SeriesKey
from microrack.sensors import (
    HostFS,
    cpu,
    diskstats,
    filesystems,
    hwmon,
    memory,
    network,
    system,
    thermal,
)
from microrack.sensors.diskstats import DiskRates, DiskStats
from microrack.sensors.power import PowerModel
from microrack.sensors.throttle import find_throttled_path, find_vcgencmd, read_throttled

__all__ = ["Collection", "Collector"]

log = logging.getLogger(__name__)

PointSource = Callable[[], Sequence[Point]]


@dataclass(frozen=True, slots=True)
class Collection:
    """A collection as the agent serves it: the sample, its rates and headline values."""

    sample: Sample
    interval_s: float | None
    cpu_busy_ratio: float | None
    disks: tuple[DiskRates, ...]
    headline: dict[str, float | None]
    errors: tuple[str, ...] = field(default=())

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
            "metrics": [[p.key.name, dict(p.key.labels), p.key.type, p.value]
                        for p in self.sample.points],
        }


class Collector:
    """Reads one host; keeps the previous reading to turn counters into rates."""

    def __init__(self, fs: HostFS, *, node: str, board: str | None, boot_id: str,
                 version: str, power: PowerModel | None = None,
                 extra: Sequence[PointSource] = (), allow_vcgencmd: bool = True,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.fs = fs
        self.node, self.board, self.boot_id, self.version = node, board, boot_id, version
        self.power = power
        self.extra = list(extra)
        self.vcgencmd = find_vcgencmd(fs) if allow_vcgencmd else None
        self.throttled_path = find_throttled_path(fs)
        self._uname = system.read_uname(fs)  # read once: it does not change while running
        self._clock, self._monotonic = clock, monotonic
        self._keys: dict[tuple, SeriesKey] = {}
        self._seq = 0
        self._prev_t: float | None = None
        self._prev_cpu: cpu.CpuTimes | None = None
        self._prev_disks: dict[str, DiskStats] = {}
        self._failed: set[str] = set()

    def _guard(self, what: str, errors: list[str], fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # one bad family must not cost the whole collection
            errors.append(what)
            if what not in self._failed:
                self._failed.add(what)
                log.warning("collecting %s failed (skipped this cycle): %r", what, exc)

    def collect(self) -> Collection:
        t0 = self._monotonic()
        ts = self._clock()
        fs = self.fs
        out = PointSink(self._keys)
        errors: list[str] = []
        self._seq += 1
        dt = None if self._prev_t is None else t0 - self._prev_t
        state: dict[str, Any] = {"busy": None, "rates": [], "temps": [], "fans": [],
                                 "hwmon_power": None, "throttled": None, "mem_used": None}

        out.add("microrack_node_info", 1, node=self.node, board=self.board or "",
                boot_id=self.boot_id, version=self.version)

        def do_stat() -> None:
            st = cpu.read_stat(fs)
            if st is None:
                return
            out.stat(st)
            if st.total is not None:
                if self._prev_cpu is not None:
                    state["busy"] = cpu.busy_ratio(self._prev_cpu, st.total)
                self._prev_cpu = st.total

        def do_load() -> None:
            la = cpu.read_loadavg(fs)
            if la is not None:
                out.loadavg(la)

        def do_mem() -> None:
            fields = memory.read_meminfo(fs)
            out.meminfo(fields)
            state["mem_used"] = memory.mem_used_ratio(fields)

        def do_disks() -> None:
            disks = diskstats.read_diskstats(fs)
            out.diskstats(disks)
            rates = []
            if dt is not None:
                for d in disks:
                    before = self._prev_disks.get(d.device)
                    r = diskstats.disk_rates(before, d, dt) if before else None
                    if r is not None:
                        rates.append(r)
            self._prev_disks = {d.device: d for d in disks}
            state["rates"] = rates

        def do_thermal() -> None:
            zones = thermal.read_thermal_zones(fs)
            out.thermal(zones, thermal.read_cooling_devices(fs))
            state["temps"].extend(z.temp_celsius for z in zones)

        def do_hwmon() -> None:
            chips = hwmon.read_hwmon(fs)
            out.hwmon(chips)
            for c in chips:
                for v in c.values:
                    if v.prop == "input" and v.type == "temp":
                        state["temps"].append(v.raw / 1000.0)
                    elif v.prop == "input" and v.type == "fan":
                        state["fans"].append(v.raw)
            state["hwmon_power"] = hwmon.hwmon_power_watts(chips)

        def do_throttled() -> None:
            t = read_throttled(fs, self.vcgencmd, self.throttled_path)
            if t is not None:
                out.throttled(t)
                state["throttled"] = 1.0 if any(t.now.values()) else 0.0

        self._guard("stat", errors, do_stat)
        self._guard("loadavg", errors, do_load)
        self._guard("system", errors, lambda: out.system(ts, self._uname, system.read_filefd(fs)))
        self._guard("cpufreq", errors, lambda: out.cpufreq(cpu.read_cpufreq(fs)))
        self._guard("meminfo", errors, do_mem)
        self._guard("filesystem", errors, lambda: out.filesystems(filesystems.read_filesystems(fs)))
        self._guard("netdev", errors, lambda: out.net_dev(network.read_net_dev(fs)))
        self._guard("netclass", errors, lambda: out.net_links(network.read_net_links(fs)))
        self._guard("diskstats", errors, do_disks)
        self._guard("thermal", errors, do_thermal)
        self._guard("hwmon", errors, do_hwmon)
        self._guard("throttled", errors, do_throttled)

        busy = state["busy"]
        out.add("microrack_cpu_busy_ratio", busy)
        out.add("microrack_memory_used_ratio", state["mem_used"])
        out.disk_rates(state["rates"])
        power = state["hwmon_power"]
        if power is not None:
            out.add("microrack_power_watts", power, source="hwmon")
        elif self.power is not None and busy is not None:
            power = self.power.estimate(busy)
            out.add("microrack_power_watts", power, source="estimate")
        if self.power is not None:
            out.add("microrack_throttle_limit_celsius", self.power.throttle_soft_c, kind="soft")
            out.add("microrack_throttle_limit_celsius", self.power.throttle_hard_c, kind="hard")

        for source in self.extra:
            def do_extra(source: PointSource = source) -> None:
                for p in source():
                    out.points.append(p)
                    if p.key.name == "microrack_fan_rpm":
                        state["fans"].append(p.value)
            self._guard(getattr(source, "__qualname__", "extra"), errors, do_extra)

        out.add("microrack_collection_duration_seconds", self._monotonic() - t0)
        self._prev_t = t0
        temps, fans = state["temps"], state["fans"]
        headline = {
            "cpu_busy_ratio": busy,
            "mem_used_ratio": state["mem_used"],
            "temp_max_celsius": max(temps) if temps else None,
            "fan_rpm": max(fans) if fans else None,
            "power_watts": power,
            "throttled": state["throttled"],
        }
        return Collection(
            sample=Sample(self._seq, ts, tuple(out.points)),
            interval_s=dt,
            cpu_busy_ratio=busy,
            disks=tuple(state["rates"]),
            headline=headline,
            errors=tuple(errors),
        )
