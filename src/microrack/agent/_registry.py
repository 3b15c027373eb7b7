"""Collectors behind one small protocol, and the registry that runs them.

The shape is prometheus_client's ``Collector`` / ``CollectorRegistry`` and
node_exporter's ``collector.Collector``: each collector reads one kind of
thing and emits points; the registry times each one, exports
``node_scrape_collector_duration_seconds`` and
``node_scrape_collector_success`` per collector, and refuses a series that
an earlier collector already emitted (the later collector is then counted as
failed, as Prometheus' client libraries fail a gather with duplicate series).

A collector that raises costs only itself: its points emitted so far are
kept (as node_exporter keeps what a failing ``Update`` sent), its success is
0 and the others still serve.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import ClassVar, Protocol

from microrack.agent._families import PointSink, new_point
from microrack.errors import UsageError
from microrack.sample import SeriesKey
from microrack.sensors import EXCLUDED_DEVICES, EXCLUDED_FSTYPES, EXCLUDED_MOUNTPOINTS, HostFS

__all__ = [
    "CollectorOptions",
    "CollectorResult",
    "NoData",
    "NodeCollector",
    "Registry",
    "build_registry",
    "option_flag",
    "resolve_collectors",
]

log = logging.getLogger(__name__)
_name_of = attrgetter("key.name")


class NoData(Exception):
    """The collector's source is absent on this host (node_exporter's ``ErrNoData``).

    Counted as not successful, logged at debug level only: a board without
    conntrack or PSI is normal.
    """


@dataclass(frozen=True, slots=True)
class CollectorOptions:
    """Per-collector settings (node_exporter's ``--collector.NAME.OPTION`` flags).

    Where upstream node_exporter and Debian's package differ, the default is the
    narrower of the two (see docs/agent.md); every one can be changed by its flag.
    """

    textfile_directory: str | None = None
    vmstat_fields: str = r"^(oom_kill|pgpg|pswp|pg.*fault).*"
    netstat_fields: str = (
        r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)"
        r"|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)"
        r"|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)"
        r"|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
    )
    filesystem_mount_points_exclude: str = EXCLUDED_MOUNTPOINTS.pattern  # Debian's package
    filesystem_fs_types_exclude: str = EXCLUDED_FSTYPES.pattern
    diskstats_device_exclude: str | None = EXCLUDED_DEVICES.pattern  # upstream 1.6+: zram too
    diskstats_device_include: str | None = None
    netdev_device_exclude: str | None = "^lo$"  # Debian's package; upstream: none
    netdev_device_include: str | None = None
    netclass_ignored_devices: str = r"^$"
    netclass_ignore_invalid_speed: bool = False  # upstream: export -1 Mbit/s as it is
    arp_device_exclude: str | None = None
    arp_device_include: str | None = None
    systemd_unit_include: str = ".+"
    systemd_unit_exclude: str = r".+\.(automount|device|mount|scope|slice)"
    stat_softirq: bool = False  # node_exporter's --collector.stat.softirq
    cpu_info: bool = False  # node_exporter's --collector.cpu.info (off by default)
    cpu_info_flags_include: str | None = None
    cpu_info_bugs_include: str | None = None
    cgroup_depth: int | None = None  # levels below the root (cAdvisor has no such limit)
    cgroup_include: str | None = None  # cAdvisor's --raw_cgroup_prefix_whitelist, as a regex
    cgroup_exclude: str | None = None
    cgroup_containers_only: bool = False  # cAdvisor's --docker_only
    cgroup_sandboxes: bool = False  # pods' pause containers
    extra: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """Compile every pattern once: :class:`UsageError` naming the flag of a bad one."""
        for name in self.__dataclass_fields__:
            if name not in (
                "textfile_directory",
                "extra",
                "netclass_ignore_invalid_speed",
                "cpu_info",
                "stat_softirq",
                "cgroup_depth",
                "cgroup_containers_only",
                "cgroup_sandboxes",
            ):
                self.regex(name)

    def regex(self, name: str) -> re.Pattern[str] | None:
        """The compiled pattern of option ``name`` (a field of this class), or ``None``."""
        text = getattr(self, name)
        if text is None:
            return None
        try:
            return re.compile(text)
        except re.error as exc:
            raise UsageError(option_flag(name), f"not a valid regular expression: {exc}") from exc


def option_flag(name: str) -> str:
    """``netdev_device_exclude`` -> ``--collector.netdev.device-exclude``."""
    for collector in ("udp_queues", "thermal_zone"):
        if name.startswith(collector + "_"):
            return f"--collector.{collector}." + name[len(collector) + 1 :].replace("_", "-")
    head, _, rest = name.partition("_")
    if head == "cpu" and rest.startswith("info_"):
        return "--collector.cpu.info." + rest[5:].replace("_", "-")
    return f"--collector.{head}." + rest.replace("_", "-")


def resolve_collectors(
    known: Iterable[str],
    defaults: Iterable[str],
    enable: Iterable[str],
    disable: Iterable[str],
    disable_defaults: bool = False,
) -> frozenset[str]:
    """node_exporter's flag logic: the defaults (unless disabled), plus and minus the switches."""
    known_set = set(known)
    for name in (*enable, *disable):
        if name not in known_set:
            raise UsageError(
                f"--collector.{name}", f"no such collector; known: {', '.join(sorted(known_set))}"
            )
    chosen = set() if disable_defaults else set(defaults)
    chosen |= set(enable)
    chosen -= set(disable)
    return frozenset(chosen)


class NodeCollector(Protocol):
    """One collector: reads one kind of thing through a :class:`HostFS` and emits points.

    ``name`` is node_exporter's collector name (``--collector.NAME``); ``default``
    whether node_exporter enables it without flags.  ``collect`` raises
    :class:`NoData` when its source is absent, anything else when it failed.
    """

    name: ClassVar[str]
    default: ClassVar[bool]

    def collect(self, out: PointSink) -> None: ...


CollectorFactory = Callable[[HostFS, CollectorOptions], NodeCollector]


@dataclass(frozen=True, slots=True)
class CollectorResult:
    """How one collector did in one collection."""

    name: str
    seconds: float
    success: bool
    failed: bool = False  # raised or emitted duplicates (not merely: no data here)


class Registry:
    """Collectors by name, run in registration order; duplicate names are refused."""

    def __init__(self, monotonic: Callable[[], float] = time.perf_counter) -> None:
        self._collectors: dict[str, NodeCollector] = {}
        self._monotonic = monotonic
        self._warned: set[str] = set()
        # per collector in run order: its duration and success series
        self._self_keys: list[tuple[SeriesKey, SeriesKey]] = []

    def register(self, collector: NodeCollector) -> None:
        if collector.name in self._collectors:
            raise ValueError(f"collector {collector.name!r} is already registered")
        self._collectors[collector.name] = collector

    def unregister(self, name: str) -> None:
        del self._collectors[name]

    def get(self, name: str) -> NodeCollector | None:
        return self._collectors.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._collectors)

    def collect(self, out: PointSink) -> list[CollectorResult]:
        """Run every collector into ``out``; then export their durations and success."""
        families = set(map(_name_of, out.points))
        results: list[CollectorResult] = []
        for name, collector in self._collectors.items():
            sink = out.child()
            t0 = self._monotonic()
            ok, failed = True, False
            try:
                collector.collect(sink)
            except NoData as exc:
                ok = False
                log.debug("collector %s: no data: %s", name, exc)
            except Exception as exc:  # one bad collector must not cost the collection
                ok, failed = False, True
                self._warn_once(name, f"collector {name} failed: {exc!r}")
            seconds = self._monotonic() - t0
            mine = set(map(_name_of, sink.points))
            clash = () if families.isdisjoint(mine) else mine & families
            dupes = 0
            if clash:  # rare: only then compare series by series
                taken = {(p.key.name, p.key.labels) for p in out.points if p.key.name in clash}
                for p in sink.points:
                    if p.key.name in clash and (p.key.name, p.key.labels) in taken:
                        dupes += 1
                    else:
                        out.points.append(p)
            else:
                out.points.extend(sink.points)
            families |= mine
            if sink.help:
                out.help.update(sink.help)
            if sink.raw:
                out.raw.extend(sink.raw)
            if dupes:
                ok, failed = False, True
                self._warn_once(
                    name + ":dup",
                    f"collector {name}: {dupes} series already "
                    "collected by another collector were refused",
                )
            elif ok:
                self._warned.discard(name)
                self._warned.discard(name + ":dup")
            results.append(CollectorResult(name, seconds, ok, failed))
        keys = self._self_keys
        if len(keys) != len(results) or any(
            k[0].labels[0][1] != r.name for k, r in zip(keys, results, strict=True)
        ):
            keys[:] = [
                (
                    out.key("node_scrape_collector_duration_seconds", collector=r.name),
                    out.key("node_scrape_collector_success", collector=r.name),
                )
                for r in results
            ]
        points = out.points
        points.extend(new_point(k[0], r.seconds) for k, r in zip(keys, results, strict=True))
        points.extend(
            new_point(k[1], 1.0 if r.success else 0.0) for k, r in zip(keys, results, strict=True)
        )
        return results

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s (logged once until it recovers)", message)


def build_registry(
    factories: Iterable[type[NodeCollector]],
    fs: HostFS,
    options: CollectorOptions,
    enabled: Iterable[str],
) -> Registry:
    """A registry of the ``enabled`` collectors among ``factories``, in their order."""
    wanted = set(enabled)
    reg = Registry()
    for cls in factories:
        if cls.name in wanted:
            reg.register(cls(fs, options))  # type: ignore[call-arg]
    return reg
