"""The dashboard's data: a node's page in one answer, the cluster strip, the rack.

A node's page needs some thirty metrics; asking ``/api/v1/query`` for each
would cost thirty round trips and send raw label sets the page then has to
name.  ``node_view`` reads them in one store read, turns counters into rates,
puts every series of a panel on the same time grid, and names each line as a
person would (``SoC``, ``NVMe nvme0n1``, ``eth0 tx``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from microrack.hub._names import container_name, temperature_sensors
from microrack.hub._query import downsample, rate
from microrack.hub._rack import poe_usage
from microrack.hub._service import Hub
from microrack.hub._store import SeriesInfo

__all__ = ["cluster_charts", "cluster_strip", "node_view"]

_METRICS = (
    "node_cpu_seconds_total",
    "node_cpu_scaling_frequency_hertz",
    "node_cpu_frequency_max_hertz",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_Cached_bytes",
    "node_memory_Buffers_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_SwapFree_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_avail_bytes",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "microrack_disk_read_latency_seconds",
    "microrack_disk_write_latency_seconds",
    "microrack_disk_reads_per_second",
    "microrack_disk_writes_per_second",
    "microrack_disk_queue_depth",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_thermal_zone_temp",
    "node_hwmon_temp_celsius",
    "node_hwmon_temp_crit_celsius",
    "node_hwmon_chip_names",
    "node_hwmon_sensor_label",
    "microrack_throttle_limit_celsius",
    "microrack_fan_duty_ratio",
    "microrack_fan_rpm",
    "microrack_power_watts",
    "microrack_throttled",
    # what the agent's cgroup collector hands the hub: per container and per service
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_oom_events_total",
    "microrack_container_cpu_throttled_ratio",
)
_CPU_MODES = ("user", "nice", "system", "iowait", "irq", "softirq", "steal")
Points = dict[int, float]  # bucket index -> value


class _Grid:
    """Every series of the page bucketed on one time grid, so lines can be combined."""

    def __init__(self, t_from: float, t_to: float, points: int) -> None:
        self.t_from, self.t_to, self.points = t_from, t_to, points
        self.width = (t_to - t_from) / points

    def bucket(self, ts: list[int], vs: list[float], counter: bool = False) -> Points:
        if counter:
            ts, vs = rate(ts, vs)
        pts = downsample(ts, vs, self.t_from, self.t_to, self.points, self.width)
        return {int((t - self.t_from) / self.width): v for t, v in pts if math.isfinite(v)}

    def line(self, name: str, pts: Points, **extra: Any) -> dict[str, Any]:
        keys = sorted(pts)
        return {
            "name": name,
            "t": [round(self.t_from + (k + 0.5) * self.width, 3) for k in keys],
            "v": [_round(pts[k]) for k in keys],
            **extra,
        }


def _round(v: float) -> float:
    return float(f"{v:.6g}")


def _sum(parts: Iterable[Points]) -> Points:
    out: Points = defaultdict(float)
    for p in parts:
        for k, v in p.items():
            out[k] += v
    return dict(out)


def _latest(vs: tuple[list[int], list[float]]) -> float | None:
    return vs[1][-1] if vs[1] else None


Data = tuple[list[int], list[float]]  # (timestamps, values) of one series
Lines = Callable[[str], list[tuple[dict[str, str], Data]]]  # metric -> (labels, data) each


def node_view(hub: Hub, node: str, t_from: float, t_to: float, points: int) -> dict[str, Any]:
    """Every panel of ``node``'s page over ``[t_from, t_to]`` in at most ``points`` buckets."""
    store = hub.store
    series: list[SeriesInfo] = []
    for metric in _METRICS:
        series.extend(store.find_series(metric, node))
    data = store.read(series, t_from, t_to)
    grid = _Grid(t_from, t_to, points)
    by: dict[str, list[tuple[SeriesInfo, Data]]] = defaultdict(list)
    for s in series:
        by[s.name].append((s, data.get(s.id, ([], []))))

    def lines(metric: str) -> list[tuple[dict[str, str], Data]]:
        return [(s.labels, d) for s, d in by.get(metric, [])]

    sensors = _sensors(lines)
    temps = {(s.name, s.labels): d for s, d in by_sensor(sensors, lines)}
    panels: dict[str, Any] = {
        **_cpu(grid, lines),
        "memory": _memory(grid, lines),
        "filesystems": _filesystems(grid, lines),
        "disk_io": _disk_io(grid, lines),
        "nvme": _nvme(grid, lines, sensors, temps),
        "network": _network(grid, lines),
        "temperatures": _temperatures(grid, lines, sensors, temps),
        "fans": _fans(grid, lines),
        "power": _power(grid, lines),
        "throttling": _throttling(grid, lines),
        "containers": _containers(grid, lines),
    }
    return {
        "node": node,
        "from": t_from,
        "to": t_to,
        "step": grid.width,
        "first_sample": store.first_sample_time(node),
        "panels": panels,
    }


def _cpu(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """CPU by mode (share of all cores) and busy per core.

    Shares are of the time counted in each bucket (every mode, idle included), not
    of wall time: a counter that runs fast or slow (a virtual clock, a jittery
    tick) still sums to 100 %.
    """
    cpu: dict[str, dict[str, Points]] = defaultdict(dict)
    for lab, (ts, vs) in lines("node_cpu_seconds_total"):
        cpu[lab.get("cpu", "")][lab.get("mode", "")] = grid.bucket(ts, vs, counter=True)
    all_time = _sum(p for m in cpu.values() for p in m.values())
    modes = []
    for mode in _CPU_MODES:
        total = _sum(m[mode] for m in cpu.values() if mode in m)
        if total:
            modes.append(
                grid.line(mode, {k: v / all_time[k] for k, v in total.items() if all_time[k] > 0})
            )
    cores = []
    for c in sorted(cpu, key=lambda x: (len(x), x)):
        busy = _sum(m for mode, m in cpu[c].items() if mode in _CPU_MODES)
        core_time = _sum(cpu[c].values())
        cores.append(
            grid.line(
                f"cpu{c}",
                {k: min(1.0, v / core_time[k]) for k, v in busy.items() if core_time.get(k, 0) > 0},
            )
        )
    return {
        "cpu_modes": {"unit": "ratio", "series": modes},
        "cpu_cores": {"unit": "ratio", "series": cores},
    }


def _memory(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """Used, cached, buffers, available and swap used, and the total."""
    mem = {
        m: lines(f"node_memory_{m}_bytes")
        for m in ("MemTotal", "MemAvailable", "Cached", "Buffers", "SwapTotal", "SwapFree")
    }

    def one(name: str) -> Points:
        got = mem[name]
        return grid.bucket(*got[0][1]) if got else {}

    total, avail = one("MemTotal"), one("MemAvailable")
    mem_lines = []
    if total and avail:
        mem_lines.append(grid.line("used", {k: total[k] - avail[k] for k in avail if k in total}))
    for label, name in (
        ("cached", "Cached"),
        ("buffers", "Buffers"),
        ("available", "MemAvailable"),
    ):
        if p := one(name):
            mem_lines.append(grid.line(label, p))
    swap_t, swap_f = one("SwapTotal"), one("SwapFree")
    if any(v > 0 for v in swap_t.values()):
        mem_lines.append(
            grid.line("swap used", {k: swap_t[k] - swap_f[k] for k in swap_f if k in swap_t})
        )
    mem_total = _latest(mem["MemTotal"][0][1]) if mem["MemTotal"] else None
    return {"unit": "bytes", "series": mem_lines, "total": mem_total}


def _filesystems(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """Used share of each filesystem over time, and the latest sizes as a table."""
    avail_fs = {lab.get("mountpoint"): d for lab, d in lines("node_filesystem_avail_bytes")}
    fs_lines, fs_rows = [], []
    for lab, d in lines("node_filesystem_size_bytes"):
        mp = lab.get("mountpoint", "")
        a = avail_fs.get(mp)
        if a is None:
            continue
        size, av = grid.bucket(*d), grid.bucket(*a)
        fs_lines.append(grid.line(mp, {k: 1 - av[k] / size[k] for k in av if size.get(k, 0) > 0}))
        s_now, a_now = _latest(d), _latest(a)
        fs_rows.append(
            {
                "mountpoint": mp,
                "device": lab.get("device", ""),
                "fstype": lab.get("fstype", ""),
                "size_bytes": s_now,
                "avail_bytes": a_now,
                "used_ratio": 1 - a_now / s_now if s_now and a_now is not None else None,
            }
        )
    return {"unit": "ratio", "series": fs_lines, "table": fs_rows}


def _disk_io(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """Bytes read and written per second, per block device."""
    io = []
    for metric, what in (
        ("node_disk_read_bytes_total", "read"),
        ("node_disk_written_bytes_total", "write"),
    ):
        for lab, d in lines(metric):
            io.append(grid.line(f"{lab.get('device', '')} {what}", grid.bucket(*d, counter=True)))
    return {"unit": "bytes/s", "series": io}


def _nvme(grid: _Grid, lines: Lines, sensors: list[Any], temps: dict[Any, Data]) -> dict[str, Any]:
    """Per NVMe drive: latency, IOPS, queue depth and temperature."""
    drives: dict[str, dict[str, Any]] = {}

    def drive(dev: str) -> dict[str, Any]:
        empty: dict[str, Any] = {"latency": [], "iops": [], "queue": [], "temperature": []}
        return drives.setdefault(dev, {"device": dev, **empty})

    for metric, key, label in (
        ("microrack_disk_read_latency_seconds", "latency", "read"),
        ("microrack_disk_write_latency_seconds", "latency", "write"),
        ("microrack_disk_reads_per_second", "iops", "read"),
        ("microrack_disk_writes_per_second", "iops", "write"),
        ("microrack_disk_queue_depth", "queue", "queue depth"),
    ):
        for lab, d in lines(metric):
            dev = lab.get("device", "")
            if dev.startswith("nvme"):
                drive(dev)[key].append(grid.line(label, grid.bucket(*d)))
    for s in sensors:
        if s.kind == "nvme" and s.device:
            drive(s.device)["temperature"].append(
                grid.line(s.name, grid.bucket(*temps[(s.name, s.labels)]))
            )
    return {"drives": [drives[k] for k in sorted(drives)]}


def _network(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """Receive and transmit per interface (loopback left out)."""
    net = []
    for metric, what in (
        ("node_network_receive_bytes_total", "rx"),
        ("node_network_transmit_bytes_total", "tx"),
    ):
        for lab, d in lines(metric):
            dev = lab.get("device", "")
            if dev == "lo":
                continue
            net.append(
                grid.line(
                    f"{dev} {what}", grid.bucket(*d, counter=True), device=dev, direction=what
                )
            )
    net.sort(key=lambda s: (s["device"], s["direction"]))
    return {"unit": "bytes/s", "series": net}


def _temperatures(
    grid: _Grid, lines: Lines, sensors: list[Any], temps: dict[Any, Data]
) -> dict[str, Any]:
    """Every temperature sensor, with the throttle and critical limits."""
    limits: list[dict[str, Any]] = []
    for lab, d in lines("microrack_throttle_limit_celsius"):
        v = _latest(d)
        if v is not None:
            limits.append(
                {
                    "name": f"{lab.get('kind', '')} throttle limit",
                    "value": v,
                    "kind": lab.get("kind", ""),
                }
            )
    crit = {
        tuple(sorted(lab.items())): _latest(d) for lab, d in lines("node_hwmon_temp_crit_celsius")
    }
    for s in sensors:
        crit_v = crit.get(s.labels)
        if crit_v is not None:
            limits.append({"name": f"{s.name} critical", "value": crit_v, "kind": "critical"})
    return {
        "unit": "celsius",
        "series": [
            grid.line(s.name, grid.bucket(*temps[(s.name, s.labels)]), kind=s.kind) for s in sensors
        ],
        "limits": limits,
    }


def _fans(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """Duty (0..1) and rpm of each fan, on one chart with two axes."""
    fans = []
    for lab, d in lines("microrack_fan_rpm"):
        fans.append(grid.line(f"{lab.get('fan', '')} rpm", grid.bucket(*d), axis="rpm"))
    for lab, d in lines("microrack_fan_duty_ratio"):
        fans.append(grid.line(f"{lab.get('fan', '')} duty", grid.bucket(*d), axis="duty"))
    return {"series": fans}


def _power(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """Watts, one line per source (measured or estimate)."""
    return {
        "unit": "W",
        "series": [
            grid.line(f"power ({lab.get('source', 'measured')})", grid.bucket(*d))
            for lab, d in lines("microrack_power_watts")
        ],
    }


def _throttling(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """Intervals of each throttle flag, and the CPU frequency against its maximum."""
    flags = []
    for lab, (ts, vs) in lines("microrack_throttled"):
        if lab.get("when") != "now":
            continue
        flags.append({"flag": lab.get("flag", ""), "intervals": _intervals(ts, vs)})
    freq = _sum(grid.bucket(*d) for _, d in lines("node_cpu_scaling_frequency_hertz"))
    fmax = _sum(grid.bucket(*d) for _, d in lines("node_cpu_frequency_max_hertz"))
    freq_line = (
        [
            grid.line(
                "CPU frequency / max", {k: freq[k] / fmax[k] for k in freq if fmax.get(k, 0) > 0}
            )
        ]
        if fmax
        else []
    )
    return {"flags": flags, "series": freq_line}


CONTAINER_ROWS = 50
CONTAINER_LINES = 5


def _containers(grid: _Grid, lines: Lines) -> dict[str, Any]:
    """Top consumers: CPU (cores) and working set over time, and a table of the latest."""
    rows: dict[str, dict[str, Any]] = {}
    cpu_lines: dict[str, Points] = {}
    mem_lines: dict[str, Points] = {}

    def row(lab: dict[str, str]) -> dict[str, Any] | None:
        ident = lab.get("id", "")
        if ident == "/":
            return None  # the whole node: the CPU and memory panels already show it
        if ident not in rows:
            rows[ident] = {
                "name": container_name(lab),
                "kind": "container" if lab.get("container_id") else "service",
                "pod": lab.get("pod", ""),
                "namespace": lab.get("namespace", ""),
                "image": lab.get("image", ""),
                "qos_class": lab.get("qos_class", ""),
                "cpu_cores": None,
                "working_set_bytes": None,
                "throttled_ratio": None,
                "oom_kills": None,
            }
        return rows[ident]

    for lab, d in lines("container_cpu_usage_seconds_total"):
        r = row(lab)
        if r is None:
            continue
        pts = grid.bucket(d[0], d[1], counter=True)
        cpu_lines[lab.get("id", "")] = pts
        if pts:
            r["cpu_cores"] = pts[max(pts)]
    for lab, d in lines("container_memory_working_set_bytes"):
        r = row(lab)
        if r is None:
            continue
        mem_lines[lab.get("id", "")] = grid.bucket(*d)
        r["working_set_bytes"] = _latest(d)
    for metric, key in (
        ("microrack_container_cpu_throttled_ratio", "throttled_ratio"),
        ("container_oom_events_total", "oom_kills"),
    ):
        for lab, d in lines(metric):
            r = row(lab)
            if r is not None:
                r[key] = _latest(d)

    def top(per: dict[str, Points]) -> list[dict[str, Any]]:
        mean = {k: sum(p.values()) / len(p) for k, p in per.items() if p}
        best = sorted(mean, key=lambda k: -mean[k])[:CONTAINER_LINES]
        return [grid.line(rows[k]["name"], per[k]) for k in best]

    table = sorted(rows.values(), key=lambda r: -(r["cpu_cores"] or 0.0))[:CONTAINER_ROWS]
    return {
        "reported": bool(rows),
        "cpu": {"unit": "cores", "series": top(cpu_lines)},
        "memory": {"unit": "bytes", "series": top(mem_lines)},
        "table": table,
        "count": len(rows),
    }


def _sensors(lines: Any) -> list[Any]:
    chips = {
        lab.get("chip", ""): lab.get("chip_name", "") for lab, _ in lines("node_hwmon_chip_names")
    }
    labels = {
        (lab.get("chip", ""), lab.get("sensor", "")): lab.get("label", "")
        for lab, _ in lines("node_hwmon_sensor_label")
    }
    series = [
        (m, lab)
        for m in ("node_thermal_zone_temp", "node_hwmon_temp_celsius")
        for lab, _ in lines(m)
    ]
    return temperature_sensors(series, chips, labels)


def by_sensor(sensors: list[Any], lines: Any) -> list[tuple[Any, tuple[list[int], list[float]]]]:
    data = {
        (m, tuple(sorted(lab.items()))): d
        for m in ("node_thermal_zone_temp", "node_hwmon_temp_celsius")
        for lab, d in lines(m)
    }
    return [(s, data[(s.metric, s.labels)]) for s in sensors]


def _intervals(ts: list[int], vs: list[float]) -> list[list[float]]:
    """``[start, end]`` (seconds) of each run of samples at 1 (a gap of over a minute ends one)."""
    out: list[list[float]] = []
    start = last = None
    for t, v in zip(ts, vs, strict=True):
        on = v >= 0.5
        if on and start is not None and last is not None and t - last > 60_000:
            out.append([start / 1000, last / 1000])
            start = None
        if on:
            start = t if start is None else start
            last = t
        elif start is not None and last is not None:
            out.append([start / 1000, t / 1000])
            start = None
    if start is not None and last is not None:
        out.append([start / 1000, last / 1000])
    return out


def cluster_charts(hub: Hub, t_from: float, t_to: float, points: int) -> dict[str, Any]:
    """Per node: power, and the hottest SoC sensor, on one grid, from one store read.

    One read decodes each node's recent (head) rows once for every line of both
    charts, where a query per metric would decode them once per metric.
    """
    store = hub.store
    metrics = ("microrack_power_watts", "node_thermal_zone_temp", "node_hwmon_temp_celsius")
    series = [s for m in metrics for s in store.find_series(m)]
    names = [s for s in store.find_series("node_hwmon_chip_names")]
    data = store.read(series, t_from, t_to)
    grid = _Grid(t_from, t_to, points)
    chips: dict[str, dict[str, str]] = defaultdict(dict)
    for s in names:
        chips[s.node][s.labels.get("chip", "")] = s.labels.get("chip_name", "")
    per_node: dict[str, list[tuple[str, dict[str, str], Any]]] = defaultdict(list)
    for s in series:
        per_node[s.node].append((s.name, s.labels, data.get(s.id, ([], []))))
    power, temps = [], []
    for node in sorted(per_node):
        rows = per_node[node]
        watts = next((d for m, _, d in rows if m == "microrack_power_watts"), None)
        if watts is not None:
            power.append(grid.line(node, grid.bucket(*watts)))
        found = {(m, tuple(sorted(lab.items()))): d for m, lab, d in rows if m != metrics[0]}
        sensors = temperature_sensors(
            [(m, lab) for m, lab, _ in rows if m != metrics[0]], chips.get(node, {})
        )
        hottest: Points = {}
        for sensor in sensors:
            if sensor.kind != "soc":
                continue
            for k, v in grid.bucket(*found[(sensor.metric, sensor.labels)]).items():
                hottest[k] = max(v, hottest.get(k, v))
        if hottest:
            temps.append(grid.line(node, hottest))
    return {"from": t_from, "to": t_to, "step": grid.width, "power": power, "temperature": temps}


def cluster_strip(hub: Hub) -> dict[str, Any]:
    """Watts now, energy and cost since a stated time, PoE budget per switch."""
    s = hub.summary()
    since = hub.energy.since
    cost = s["cost_today"]
    watts = {n.key: n.headline()["power_watts"] for n in hub.nodes.values() if n.status == "up"}
    layout = hub.config.rack
    return {
        **s,
        "energy_since": since,
        "energy_kwh": s["kwh_today"],
        "energy_cost": cost,
        "poe": poe_usage(layout, watts) if layout is not None else [],
        "first_sample": hub.store.first_sample_time(),
    }
