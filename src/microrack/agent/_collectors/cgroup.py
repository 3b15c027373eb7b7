"""The ``cgroup`` collector: per-container and per-pod usage with cAdvisor's names.

Series use cAdvisor's metric names, units and label names (``id`` is the
cgroup path, always; ``name``, ``image``, ``namespace``, ``pod``,
``container``, ``container_id``, ``pod_uid``, ``qos_class`` where the path or
a runtime's state file tells them), so the kubelet/cAdvisor dashboards and
alert rules read them unchanged.  A few ``microrack_*`` families summarise
the node for an operator without an API server: pods and containers per QoS
class, containers OOM-killed, CPU-throttled share per pod.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NoData
from microrack.sample import MetricType, Point, SeriesKey
from microrack.sensors import HostFS
from microrack.sensors.cgroup import (
    CgroupLayout,
    CgroupStats,
    detect_layout,
    read_cgroup,
    read_cgroups,
)
from microrack.sensors.containers import ContainerIdentity, Metadata, RuntimeMetadata, identify

__all__ = ["CGROUP_HELP", "CgroupCollector", "CgroupOptions", "ring_keeps"]

CGROUP_HELP: dict[str, str] = {
    "container_cpu_usage_seconds_total": "Cumulative cpu time consumed in seconds.",
    "container_cpu_user_seconds_total": "Cumulative user cpu time consumed in seconds.",
    "container_cpu_system_seconds_total": "Cumulative system cpu time consumed in seconds.",
    "container_cpu_cfs_periods_total": "Number of elapsed enforcement period intervals.",
    "container_cpu_cfs_throttled_periods_total": "Number of throttled period intervals.",
    "container_cpu_cfs_throttled_seconds_total": (
        "Total time duration the container has been throttled."
    ),
    "container_memory_usage_bytes": (
        "Current memory usage in bytes, including all memory regardless of when it was accessed"
    ),
    "container_memory_working_set_bytes": "Current working set in bytes.",
    "container_memory_rss": "Size of RSS in bytes.",
    "container_memory_cache": "Number of bytes of page cache memory.",
    "container_memory_swap": "Container swap usage in bytes.",
    "container_oom_events_total": "Count of out of memory events observed for the container",
    "container_spec_memory_limit_bytes": "Memory limit for the container.",
    "container_spec_cpu_quota": "CPU quota of the container.",
    "container_spec_cpu_period": "CPU period of the container.",
    "container_spec_cpu_shares": "CPU share of the container.",
    "container_fs_reads_bytes_total": "Cumulative count of bytes read",
    "container_fs_writes_bytes_total": "Cumulative count of bytes written",
    "container_fs_reads_total": "Cumulative count of reads completed",
    "container_fs_writes_total": "Cumulative count of writes completed",
    "container_pressure_cpu_waiting_seconds_total": (
        "Total time duration tasks in the container have waited due to CPU congestion."
    ),
    "container_pressure_cpu_stalled_seconds_total": (
        "Total time duration no tasks in the container could make progress due to CPU congestion."
    ),
    "container_pressure_memory_waiting_seconds_total": (
        "Total time duration tasks in the container have waited due to memory congestion."
    ),
    "container_pressure_memory_stalled_seconds_total": (
        "Total time duration no tasks in the container could make progress due to memory "
        "congestion."
    ),
    "container_pressure_io_waiting_seconds_total": (
        "Total time duration tasks in the container have waited due to IO congestion."
    ),
    "container_pressure_io_stalled_seconds_total": (
        "Total time duration no tasks in the container could make progress due to IO congestion."
    ),
    "container_processes": "Number of processes running inside the container.",
    "container_last_seen": "Last time a container was seen by the exporter",
    "microrack_cgroup_info": "The cgroup hierarchy layout the agent reads (v1, v2 or hybrid).",
    "microrack_cgroups": "Cgroups read in the last collection, by kind.",
    "microrack_kube_pods": "Kubernetes pods with a cgroup on this node, by QoS class.",
    "microrack_kube_containers": (
        "Kubernetes containers (not pod sandboxes) on this node, by QoS class."
    ),
    "microrack_containers": "Containers with a cgroup on this node, by runtime.",
    "microrack_containers_oom_killed": (
        "Containers on this node in which the kernel's OOM killer has killed a process."
    ),
    "microrack_pod_cpu_throttled_ratio": (
        "Share of CFS periods in which the pod was throttled, over the last collection interval."
    ),
    "microrack_container_cpu_throttled_ratio": (
        "Share of CFS periods in which the container was throttled, over the last collection "
        "interval."
    ),
    "microrack_container_oom_kill_age_seconds": (
        "Seconds since the agent saw the kernel's OOM killer kill a process in the container."
    ),
}

_QOS_CLASSES = ("guaranteed", "burstable", "besteffort")
SPEC_EVERY = 12
_Spec = tuple[float | None, float | None, float | None, float | None]


def _spec_of(st: CgroupStats) -> _Spec:
    return (st.cpu_quota_us, st.cpu_period_us, st.cpu_shares, st.memory_limit_bytes)


@dataclass(frozen=True, slots=True)
class CgroupOptions:
    """cAdvisor-like selection (``--collector.cgroup.*``)."""

    max_depth: int | None = None
    """Levels below the root to descend (None: all)."""
    include: str | None = None
    """Only cgroup paths matching this regular expression (cAdvisor's raw-cgroup allow-list)."""
    exclude: str | None = None
    """Leave out cgroup paths matching this regular expression, with their descendants."""
    containers_only: bool = False
    """Only containers and pods, plus the root (cAdvisor's ``--docker_only``)."""
    sandboxes: bool = False
    """Also the pods' sandbox ("pause") containers, which hold no workload."""

    @classmethod
    def of(cls, options: CollectorOptions) -> CgroupOptions:
        """From the agent's ``--collector.cgroup.*`` flags."""
        return cls(
            max_depth=options.cgroup_depth,
            include=options.cgroup_include,
            exclude=options.cgroup_exclude,
            containers_only=options.cgroup_containers_only,
            sandboxes=options.cgroup_sandboxes,
        )


class CgroupCollector:
    """Reads every cgroup under the host root and emits cAdvisor's families."""

    name: ClassVar[str] = "cgroup"
    default: ClassVar[bool] = True

    def __init__(
        self,
        fs: HostFS,
        options: CollectorOptions | CgroupOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fs = fs
        if isinstance(options, CollectorOptions):
            options = CgroupOptions.of(options)
        self.options = options or CgroupOptions()
        self._include = re.compile(self.options.include) if self.options.include else None
        self._exclude = re.compile(self.options.exclude) if self.options.exclude else None
        self._clock = clock
        self._layout: CgroupLayout | None = None
        self._meta = RuntimeMetadata(fs)
        self._devices: dict[str, str] = {}
        self._prev_cfs: dict[str, tuple[float, float]] = {}
        self._oom: dict[str, tuple[float, float | None]] = {}
        self._spec: dict[str, _Spec] = {}
        self._collections = 0
        self._who: dict[str, tuple[ContainerIdentity, Metadata]] = {}
        self._skipped_sandboxes = 0
        self._seen_ids: set[str] = set()
        self._emitters: dict[str, _Emitter] = {}
        # who a path is never changes: kept for the paths the last walk saw
        self._idents: dict[str, ContainerIdentity] = {}
        self._idents_now: dict[str, ContainerIdentity] = {}

    @property
    def layout(self) -> CgroupLayout:
        if self._layout is None or self._layout.version == "none":
            self._layout = detect_layout(self.fs)
        return self._layout

    def _wanted(self, path: str) -> bool:
        """Whether to read a cgroup: the selection flags, then who it is."""
        if path != "/":
            if self._include is not None and not self._include.search(path):
                return False
            if self._exclude is not None and self._exclude.search(path):
                return False
        ident = self._idents.get(path)
        if ident is None:
            ident = identify(path)
        self._idents_now[path] = ident
        meta = self._meta.lookup(ident)
        if ident.container_id:
            self._seen_ids.add(ident.container_id)
        if path != "/":
            if self.options.containers_only and ident.kind not in ("container", "pod"):
                return False
            if meta.sandbox and not self.options.sandboxes:
                self._skipped_sandboxes += 1
                return False
        self._who[path] = (ident, meta)
        return True

    def _with_spec(self, stats: list[CgroupStats], fresh: bool) -> list[CgroupStats]:
        """Fill the limits from the last read of them; read them for cgroups not seen before."""
        cache = self._spec
        if fresh:
            self._spec = {st.path: _spec_of(st) for st in stats}
            return stats
        out = []
        for path in [st.path for st in stats if st.path not in cache]:
            # a cgroup first seen between two reads of the limits: read its own at once
            fresh_st = read_cgroup(self.fs, self.layout, path, spec=True)
            if fresh_st is not None:
                cache[path] = _spec_of(fresh_st)
        for st in stats:
            known = cache.get(st.path)
            if known is None:
                out.append(st)
                continue
            quota, period, shares, limit = known
            out.append(
                st._replace(
                    cpu_quota_us=quota,
                    cpu_period_us=period,
                    cpu_shares=shares,
                    memory_limit_bytes=limit,
                )
            )
        present = {st.path for st in stats}
        for path in [p for p in cache if p not in present]:
            del cache[path]
        return out

    def _prune(self, path: str) -> bool:
        return self._exclude is not None and path != "/" and bool(self._exclude.search(path))

    def _device(self, majmin: str) -> str:
        name = self._devices.get(majmin)
        if name is None:
            real = self.fs.realpath(f"/sys/dev/block/{majmin}")
            base = real.rsplit("/", 1)[-1]
            name = f"/dev/{base}" if base and base != majmin else majmin
            self._devices[majmin] = name
        return name

    def read(self) -> list[tuple[CgroupStats, ContainerIdentity, dict[str, str]]]:
        """Every selected cgroup with who it is and its labels."""
        layout = self.layout
        if layout.version == "none":
            return []
        self._who = {}
        self._idents_now = {}
        self._seen_ids = set()
        self._skipped_sandboxes = 0
        # Limits change rarely: read them every SPEC_EVERY collections, and for new cgroups.
        spec = self._collections % SPEC_EVERY == 0
        self._collections += 1
        stats = read_cgroups(
            self.fs,
            layout,
            max_depth=self.options.max_depth,
            keep=self._wanted,
            prune=self._prune,
            spec=spec,
        )
        self._idents = self._idents_now
        stats = self._with_spec(stats, spec)
        out = []
        for st in stats:
            ident, meta = self._who[st.path]
            labels = {"id": st.path}
            if ident.container_id:
                labels["container_id"] = ident.container_id
            for key, value in (
                ("pod_uid", ident.pod_uid or meta.pod_uid),
                ("qos_class", ident.qos_class),
                ("name", meta.name or ident.name),
                ("image", meta.image),
                ("namespace", meta.namespace),
                ("pod", meta.pod),
                ("container", meta.container),
            ):
                if value:
                    labels[key] = value
            out.append((st, ident, labels))
        self._meta.forget_except(self._seen_ids)
        # A pod's own cgroup has no state file: it takes its name from its containers'.
        pods = {
            lab["pod_uid"]: (lab["pod"], lab.get("namespace", ""))
            for _, ident, lab in out
            if ident.kind == "container" and "pod" in lab and "pod_uid" in lab
        }
        for _, ident, lab in out:
            if ident.kind == "pod" and ident.pod_uid in pods:
                pod, namespace = pods[ident.pod_uid]
                lab["pod"] = pod
                if namespace:
                    lab["namespace"] = namespace
        return out

    def _emitter(self, path: str, labels: dict[str, str]) -> _Emitter:
        """One cgroup's series keys, kept across collections while its labels stay the same."""
        frozen = tuple(sorted(labels.items()))
        em = self._emitters.get(path)
        if em is None or em.labels != frozen:
            em = self._emitters[path] = _Emitter(frozen)
        return em

    def _throttled_ratio(
        self, st: CgroupStats, cfs_now: dict[str, tuple[float, float]]
    ) -> float | None:
        """Throttled share of the CFS periods since the previous collection."""
        if st.cfs_periods is None or st.cfs_throttled_periods is None:
            return None
        cfs_now[st.path] = (st.cfs_periods, st.cfs_throttled_periods)
        before = self._prev_cfs.get(st.path)
        if before is None:
            return None
        periods = st.cfs_periods - before[0]
        throttled = st.cfs_throttled_periods - before[1]
        if periods < 0 or throttled < 0:
            return None  # counters went back: a new cgroup under the same path
        if periods == 0:
            return 0.0  # no CFS period ran: the cgroup was idle, nothing was throttled
        return min(1.0, throttled / periods)

    def _oom_age(
        self, st: CgroupStats, now: float, oom_now: dict[str, tuple[float, float | None]]
    ) -> float | None:
        """Seconds since this agent saw the container's OOM-kill count rise, once it has."""
        if st.oom_kills is None:
            return None
        before = self._oom.get(st.path)
        seen = before[1] if before is not None else None
        if before is not None and st.oom_kills > before[0]:
            seen = now
        oom_now[st.path] = (st.oom_kills, seen)
        return None if seen is None else max(0.0, now - seen)

    def collect(self, out: PointSink) -> None:
        layout = self.layout
        if layout.version == "none":
            raise NoData("no cgroup hierarchy under /sys/fs/cgroup")
        add = out.add
        points = out.points
        out.help.update(CGROUP_HELP)
        add("microrack_cgroup_info", 1, "gauge", version=layout.version)
        rows = self.read()
        now = self._clock()
        kinds: dict[str, int] = {}
        pods = dict.fromkeys(_QOS_CLASSES, 0)
        kube_containers = dict.fromkeys(_QOS_CLASSES, 0)
        runtimes: dict[str, int] = {}
        oom_killed = 0
        cfs_now: dict[str, tuple[float, float]] = {}
        oom_now: dict[str, tuple[float, float | None]] = {}
        emitters: dict[str, _Emitter] = {}
        for st, ident, labels in rows:
            kinds[ident.kind] = kinds.get(ident.kind, 0) + 1
            em = emitters[st.path] = self._emitter(st.path, labels)
            em.emit(points, st, self._device)
            em.put(points, "container_last_seen", now, "gauge")
            if ident.kind in ("pod", "container"):
                ratio = self._throttled_ratio(st, cfs_now)
                if ident.kind == "pod":
                    em.put(points, "microrack_pod_cpu_throttled_ratio", ratio, "gauge")
                else:
                    em.put(points, "microrack_container_cpu_throttled_ratio", ratio, "gauge")
            if ident.kind == "pod" and ident.qos_class in pods:
                pods[ident.qos_class] += 1
            elif ident.kind == "container":
                if labels.get("container") != "POD" and ident.qos_class in kube_containers:
                    kube_containers[ident.qos_class] += 1
                runtime = ident.runtime or "unknown"
                runtimes[runtime] = runtimes.get(runtime, 0) + 1
                if st.oom_kills:
                    oom_killed += 1
                age = self._oom_age(st, now, oom_now)
                em.put(points, "microrack_container_oom_kill_age_seconds", age, "gauge")
        self._prev_cfs = cfs_now
        self._oom = oom_now
        self._emitters = emitters
        if self._skipped_sandboxes:
            kinds["sandbox"] = self._skipped_sandboxes
        for kind, n in sorted(kinds.items()):
            add("microrack_cgroups", n, "gauge", kind=kind)
        if kinds.get("pod") or kinds.get("qos"):
            # Only a Kubernetes node has these; elsewhere they would be zeros that say nothing.
            for qos in _QOS_CLASSES:
                add("microrack_kube_pods", pods[qos], "gauge", qos_class=qos)
                add("microrack_kube_containers", kube_containers[qos], "gauge", qos_class=qos)
        for runtime, n in sorted(runtimes.items()):
            add("microrack_containers", n, "gauge", runtime=runtime)
        add("microrack_containers_oom_killed", oom_killed, "gauge")


# What the hub pulls of the cgroup families: enough for "what eats the node" (CPU, working set,
# throttling, OOM kills per container; CPU and memory per service), not every cAdvisor series,
# which on a node with hundreds of containers would outgrow the agent's ring many times over.
# Prometheus scraping /metrics gets them all.
_RING_CONTAINER = frozenset(
    {
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_oom_events_total",
        "microrack_container_cpu_throttled_ratio",
        "microrack_container_oom_kill_age_seconds",
    }
)
_RING_SERVICE = frozenset(
    {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"}
)


def ring_keeps(key: SeriesKey) -> bool:
    """Whether the agent's ring (the hub's feed) keeps a series: all but most cgroup ones."""
    name = key.name
    if name.startswith("microrack_pod_"):
        return False  # per pod, and the hub shows containers: /metrics has them
    if not name.startswith("container_") and not name.startswith("microrack_container_"):
        return True
    if name in _RING_CONTAINER and key.label("container_id"):
        return True
    if name in _RING_SERVICE:
        ident = key.label("id") or ""
        return ident == "/" or ident.endswith(".service")
    return False


class _Emitter:
    """Appends one cgroup's points, building each series key once.

    The series without extra labels share the cgroup's one label tuple; a
    value that has not changed since the previous collection (limits, an idle
    container's counters) is appended as the same :class:`Point` again, so the
    collection being built and the one being served share it instead of each
    holding a copy.
    """

    __slots__ = ("labels", "last")

    def __init__(self, labels: tuple[tuple[str, str], ...]) -> None:
        self.labels = labels
        # metric (or (metric, extra labels)) -> the point appended last for that series
        self.last: dict[str | tuple[str, tuple[tuple[str, str], ...]], Point] = {}

    def put(
        self,
        points: list[Point],
        metric: str,
        value: float | None,
        mtype: MetricType,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        if value is None:
            return
        slot = (metric, extra) if extra else metric
        last = self.last.get(slot)
        if last is not None:
            if last.value == value:
                points.append(last)
                return
            key = last.key
        else:
            labels = tuple(sorted(self.labels + extra)) if extra else self.labels
            key = SeriesKey(metric, labels, mtype)
        p = self.last[slot] = Point(key, float(value))
        points.append(p)

    def emit(self, points: list[Point], st: CgroupStats, device: Callable[[str], str]) -> None:
        put = self.put
        put(points, "container_cpu_usage_seconds_total", st.cpu_usage_s, "counter", _TOTAL)
        put(points, "container_cpu_user_seconds_total", st.cpu_user_s, "counter")
        put(points, "container_cpu_system_seconds_total", st.cpu_system_s, "counter")
        put(points, "container_cpu_cfs_periods_total", st.cfs_periods, "counter")
        put(
            points, "container_cpu_cfs_throttled_periods_total", st.cfs_throttled_periods, "counter"
        )
        put(points, "container_cpu_cfs_throttled_seconds_total", st.cfs_throttled_s, "counter")
        if st.cpu_quota_us is not None and st.cpu_quota_us > 0:
            # cAdvisor reports a quota only where one is set (-1 and "max" mean none).
            put(points, "container_spec_cpu_quota", st.cpu_quota_us, "gauge")
            put(points, "container_spec_cpu_period", st.cpu_period_us, "gauge")
        put(points, "container_spec_cpu_shares", st.cpu_shares, "gauge")
        put(points, "container_memory_usage_bytes", st.memory_usage_bytes, "gauge")
        put(points, "container_memory_working_set_bytes", st.memory_working_set_bytes, "gauge")
        put(points, "container_memory_rss", st.memory_rss_bytes, "gauge")
        put(points, "container_memory_cache", st.memory_cache_bytes, "gauge")
        put(points, "container_memory_swap", st.memory_swap_bytes, "gauge")
        put(points, "container_spec_memory_limit_bytes", st.memory_limit_bytes, "gauge")
        put(points, "container_oom_events_total", st.oom_kills, "counter")
        for io in st.io:
            dev = (("device", device(io.device)),)
            put(points, "container_fs_reads_bytes_total", io.read_bytes, "counter", dev)
            put(points, "container_fs_writes_bytes_total", io.write_bytes, "counter", dev)
            put(points, "container_fs_reads_total", io.reads, "counter", dev)
            put(points, "container_fs_writes_total", io.writes, "counter", dev)
        for resource, pressure in (
            ("cpu", st.cpu_pressure),
            ("memory", st.memory_pressure),
            ("io", st.io_pressure),
        ):
            if pressure is not None:
                put(points, _WAITING[resource], pressure.some_s, "counter")
                put(points, _STALLED[resource], pressure.full_s, "counter")
        put(points, "container_processes", st.processes, "gauge")


_TOTAL = (("cpu", "total"),)
_WAITING = {r: f"container_pressure_{r}_waiting_seconds_total" for r in ("cpu", "memory", "io")}
_STALLED = {r: f"container_pressure_{r}_stalled_seconds_total" for r in ("cpu", "memory", "io")}
