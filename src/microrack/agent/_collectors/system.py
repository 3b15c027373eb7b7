"""cpu, stat, loadavg, cpufreq, uname, filefd, time, timex, entropy and os collectors."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import time
from typing import ClassVar

from microrack.agent._collectors._text import read_optional, read_or_nodata
from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NoData
from microrack.sample import Point
from microrack.sensors import (
    CPU_MODES,
    CpuTimes,
    HostFS,
    LocalFS,
    busy_ratio,
    read_cpufreq,
    read_filefd,
    read_loadavg,
    read_stat,
    read_uname,
)

__all__ = [
    "CpuCollector",
    "CpufreqCollector",
    "EntropyCollector",
    "FilefdCollector",
    "LoadavgCollector",
    "OsCollector",
    "StatCollector",
    "TimeCollector",
    "TimexCollector",
    "UnameCollector",
]


class CpuCollector:
    """Seconds per cpu and mode from ``/proc/stat``; keeps the busy ratio for the headline."""

    name: ClassVar[str] = "cpu"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.busy: float | None = None
        self._prev: CpuTimes | None = None
        self.info = CpuInfo(fs, options) if options.cpu_info else None
        self.cpufreq_present = False  # set by the agent: cpuinfo's MHz only without cpufreq

    def collect(self, out: PointSink) -> None:
        self.busy = None
        st = read_stat(self.fs)
        if st is None:
            raise NoData("/proc/stat cannot be read")
        if not st.cpus:
            raise ValueError("/proc/stat has no cpuN lines")
        for c in st.cpus:
            for mode in CPU_MODES:
                out.add("node_cpu_seconds_total", getattr(c, mode), "counter", cpu=c.cpu, mode=mode)
        for c in st.cpus:
            out.add("node_cpu_guest_seconds_total", c.guest, "counter", cpu=c.cpu, mode="user")
            out.add("node_cpu_guest_seconds_total", c.guest_nice, "counter", cpu=c.cpu, mode="nice")
        if st.total is not None:
            if self._prev is not None:
                self.busy = busy_ratio(self._prev, st.total)
            self._prev = st.total
        if self.info is not None:
            self.info.collect(out, with_frequency=not self.cpufreq_present)


SOFTIRQ_VECTORS = (
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
)


def parse_softirq_line(stat_text: str) -> list[int] | None:
    """The per-vector counts of /proc/stat's ``softirq TOTAL HI TIMER ...`` line."""
    for line in stat_text.splitlines():
        if line.startswith("softirq "):
            return [int(v) for v in line.split()[2:12]]
    return None


class StatCollector:
    name: ClassVar[str] = "stat"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.softirq = options.stat_softirq

    def collect(self, out: PointSink) -> None:
        st = read_stat(self.fs)
        if st is None:
            raise NoData("/proc/stat cannot be read")
        out.add("node_boot_time_seconds", st.boot_time)
        out.add("node_context_switches_total", st.context_switches, "counter")
        out.add("node_forks_total", st.forks, "counter")
        out.add("node_intr_total", st.interrupts, "counter")
        out.add("node_procs_running", st.procs_running)
        out.add("node_procs_blocked", st.procs_blocked)
        if self.softirq:  # node_exporter's --collector.stat.softirq
            counts = parse_softirq_line(read_or_nodata(self.fs, "/proc/stat")) or []
            for vector, n in zip(SOFTIRQ_VECTORS, counts, strict=False):
                out.add_help(
                    "node_softirqs_total", n, "counter", "Number of softirq calls.", vector=vector
                )


class LoadavgCollector:
    name: ClassVar[str] = "loadavg"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs

    def collect(self, out: PointSink) -> None:
        la = read_loadavg(self.fs)
        if la is None:
            raise NoData("/proc/loadavg cannot be read")
        out.add("node_load1", la.load1)
        out.add("node_load5", la.load5)
        out.add("node_load15", la.load15)


class CpufreqCollector:
    name: ClassVar[str] = "cpufreq"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs

    def collect(self, out: PointSink) -> None:
        freqs = read_cpufreq(self.fs)
        for f in freqs:
            out.add("node_cpu_frequency_hertz", f.cur_hz, cpu=f.cpu)
            out.add("node_cpu_frequency_max_hertz", f.max_hz, cpu=f.cpu)
            out.add("node_cpu_frequency_min_hertz", f.min_hz, cpu=f.cpu)
            out.add("node_cpu_scaling_frequency_hertz", f.scaling_cur_hz, cpu=f.cpu)
            out.add("node_cpu_scaling_frequency_max_hertz", f.scaling_max_hz, cpu=f.cpu)
            out.add("node_cpu_scaling_frequency_min_hertz", f.scaling_min_hz, cpu=f.cpu)
        for f in freqs:
            d = f"/sys/devices/system/cpu/cpu{f.cpu}/cpufreq"
            governor = (read_optional(self.fs, f"{d}/scaling_governor") or "").strip()
            if not governor:
                continue
            available = (read_optional(self.fs, f"{d}/scaling_available_governors") or "").split()
            for g in available:
                out.add_help(
                    "node_cpu_scaling_governor",
                    1 if g == governor else 0,
                    "gauge",
                    "Current enabled CPU frequency governor.",
                    cpu=f.cpu,
                    governor=g,
                )


class UnameCollector:
    name: ClassVar[str] = "uname"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.uname = read_uname(fs)  # read once: it does not change while running

    def collect(self, out: PointSink) -> None:
        u = self.uname
        if u is None:
            raise NoData("no uname")
        out.add(
            "node_uname_info",
            1,
            domainname=u.domainname,
            machine=u.machine,
            nodename=u.nodename,
            release=u.release,
            sysname=u.sysname,
            version=u.version,
        )


class FilefdCollector:
    name: ClassVar[str] = "filefd"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs

    def collect(self, out: PointSink) -> None:
        fd = read_filefd(self.fs)
        if fd is None:
            raise NoData("/proc/sys/fs/file-nr cannot be read")
        out.add("node_filefd_allocated", fd.allocated)
        out.add("node_filefd_maximum", fd.maximum)


def _is_host(fs: HostFS) -> bool:
    """True when ``fs`` is this machine (or a tree on it), so its kernel clock applies."""
    return isinstance(fs, LocalFS)


class TimeCollector:
    """Wall clock, time zone offset and the kernel's clocksources."""

    name: ClassVar[str] = "time"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions, clock=time.time) -> None:  # type: ignore[no-untyped-def]
        self.fs = fs
        self.clock = clock

    def collect(self, out: PointSink) -> None:
        now = self.clock()
        out.add("node_time_seconds", now)
        if _is_host(self.fs):
            local = time.localtime(now)
            out.add(
                "node_time_zone_offset_seconds",
                local.tm_gmtoff or 0,
                time_zone=local.tm_zone or "UTC",
            )
        base = "/sys/devices/system/clocksource"
        try:
            names = self.fs.listdir(base)
        except FileNotFoundError:
            return
        for entry in names:
            m = re.fullmatch(r"clocksource(\d+)", entry)
            if m is None:
                continue
            d = f"{base}/{entry}"
            available = (read_optional(self.fs, f"{d}/available_clocksource") or "").split()
            current = (read_optional(self.fs, f"{d}/current_clocksource") or "").strip()
            for cs in available:
                out.add("node_time_clocksource_available_info", 1, device=m[1], clocksource=cs)
            out.add("node_time_clocksource_current_info", 1, device=m[1], clocksource=current)


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h> (glibc and musl share the layout)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


TIME_ERROR = 5  # adjtimex's return: the clock is not synchronised
STA_NANO = 0x2000
_PPM16 = 1_000_000.0 * 65536.0


_libc: ctypes.CDLL | None = None


def adjtimex() -> tuple[int, _Timex]:
    """Read the kernel clock discipline (modes 0: nothing is changed); ``OSError`` on failure."""
    global _libc
    if _libc is None:  # loaded once: dlopen on every collection costs more than the call
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    tx = _Timex()
    state = _libc.adjtimex(ctypes.byref(tx))
    if state < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return state, tx


class TimexCollector:
    """adjtimex(2) through ctypes: NTP offset, frequency, sync status, errors, PPS, TAI."""

    name: ClassVar[str] = "timex"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions, source=adjtimex) -> None:  # type: ignore[no-untyped-def]
        self.fs = fs
        self.source = source

    def collect(self, out: PointSink) -> None:
        if not _is_host(self.fs):
            raise NoData("timex reads this machine's kernel; the host here is simulated")
        try:
            state, tx = self.source()
        except PermissionError as exc:
            raise NoData(f"adjtimex not permitted: {exc}") from exc
        div = 1e9 if tx.status & STA_NANO else 1e6
        g = "gauge"
        c = "counter"
        for metric, value, mtype in (
            ("node_timex_sync_status", 0 if state == TIME_ERROR else 1, g),
            ("node_timex_offset_seconds", tx.offset / div, g),
            ("node_timex_frequency_adjustment_ratio", 1 + tx.freq / _PPM16, g),
            ("node_timex_maxerror_seconds", tx.maxerror / 1e6, g),
            ("node_timex_estimated_error_seconds", tx.esterror / 1e6, g),
            ("node_timex_status", tx.status, g),
            ("node_timex_loop_time_constant", tx.constant, g),
            ("node_timex_tick_seconds", tx.tick / 1e6, g),
            ("node_timex_pps_frequency_hertz", tx.ppsfreq / _PPM16, g),
            ("node_timex_pps_jitter_seconds", tx.jitter / div, g),
            ("node_timex_pps_shift_seconds", tx.shift, g),
            ("node_timex_pps_stability_hertz", tx.stabil / _PPM16, g),
            ("node_timex_pps_jitter_total", tx.jitcnt, c),
            ("node_timex_pps_calibration_total", tx.calcnt, c),
            ("node_timex_pps_error_total", tx.errcnt, c),
            ("node_timex_pps_stability_exceeded_total", tx.stbcnt, c),
            ("node_timex_tai_offset_seconds", tx.tai, g),
        ):
            out.add(metric, value, mtype)  # type: ignore[arg-type]


class EntropyCollector:
    name: ClassVar[str] = "entropy"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs

    def collect(self, out: PointSink) -> None:
        base = "/proc/sys/kernel/random"
        out.add(
            "node_entropy_available_bits",
            int(read_or_nodata(self.fs, f"{base}/entropy_avail").strip()),
        )
        out.add(
            "node_entropy_pool_size_bits", int(read_or_nodata(self.fs, f"{base}/poolsize").strip())
        )


_OS_LABELS = (
    "build_id",
    "id",
    "id_like",
    "image_id",
    "image_version",
    "name",
    "pretty_name",
    "variant",
    "variant_id",
    "version",
    "version_codename",
    "version_id",
)
_OS_VERSION = re.compile(r"^[0-9]+\.?[0-9]*")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5): ``KEY=value`` lines, values optionally quoted with shell escapes."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _ASSIGN.match(line.strip())
        if m is None:
            continue
        value = m[2].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if m[2].strip()[0] == '"':
                value = re.sub(r'\\([\\$"`])', r"\1", value)
        out[m[1]] = value
    return out


class OsCollector:
    """``/etc/os-release`` (else ``/usr/lib/os-release``) as node_os_info / node_os_version."""

    name: ClassVar[str] = "os"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self._last: tuple[str, list[Point]] | None = None  # the text read, what it gave

    def collect(self, out: PointSink) -> None:
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            text = read_optional(self.fs, path)
            if text is not None:
                break
        else:
            raise NoData("no /etc/os-release or /usr/lib/os-release")
        # read every collection, parsed only when it changed (an upgrade rewrites it)
        if self._last is not None and self._last[0] == text:
            out.points.extend(self._last[1])
            return
        start = len(out.points)
        self._parse(text, out)
        self._last = (text, out.points[start:])

    def _parse(self, text: str, out: PointSink) -> None:
        rel = parse_os_release(text)
        labels = {k: rel.get(k.upper(), "") for k in _OS_LABELS}
        out.add("node_os_info", 1, **labels)
        m = _OS_VERSION.match(labels["version_id"])
        version = float(m[0]) if m else 0.0
        if version > 0:
            out.add(
                "node_os_version",
                version,
                id=labels["id"],
                id_like=labels["id_like"],
                name=labels["name"],
            )


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """``/proc/cpuinfo``: one ``key : value`` block per processor (x86, Arm and RISC-V)."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if not line.strip() and cur:
                blocks.append(cur)
                cur = {}
            continue
        key = key.strip()
        if key == "processor" and "processor" in cur:
            blocks.append(cur)
            cur = {}
        cur[key] = value.strip()
    if cur:
        blocks.append(cur)
    return [b for b in blocks if b.get("processor", "").isdigit()]


class CpuInfo:
    """node_cpu_info, flag/bug info and /proc/cpuinfo's MHz (``--collector.cpu.info``)."""

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.flags = options.regex("cpu_info_flags_include")
        self.bugs = options.regex("cpu_info_bugs_include")

    def collect(self, out: PointSink, with_frequency: bool) -> None:
        blocks = parse_cpuinfo(read_or_nodata(self.fs, "/proc/cpuinfo"))
        help_info = "CPU information from /proc/cpuinfo."
        for b in blocks:
            out.add_help(
                "node_cpu_info",
                1,
                "gauge",
                help_info,
                package=b.get("physical id", ""),
                core=b.get("core id", ""),
                cpu=b["processor"],
                vendor=b.get("vendor_id", b.get("CPU implementer", "")),
                family=b.get("cpu family", b.get("CPU architecture", "")),
                model=b.get("model", b.get("CPU part", "")),
                model_name=b.get("model name", b.get("uarch", "")),
                microcode=b.get("microcode", ""),
                stepping=b.get("stepping", b.get("CPU revision", "")),
                cachesize=b.get("cache size", ""),
            )
        if with_frequency:
            for b in blocks:
                mhz = b.get("cpu MHz")
                if mhz:
                    out.add_help(
                        "node_cpu_frequency_hertz",
                        float(mhz) * 1e6,
                        "gauge",
                        "CPU frequency in hertz from /proc/cpuinfo.",
                        package=b.get("physical id", ""),
                        core=b.get("core id", ""),
                        cpu=b["processor"],
                    )
        if blocks:
            first = blocks[0]
            for key, pattern, metric, label, what in (
                ("flags", self.flags, "node_cpu_flag_info", "flag", "flags"),
                ("bugs", self.bugs, "node_cpu_bug_info", "bug", "bugs"),
            ):
                if pattern is None:
                    continue  # as node_exporter: only with --collector.cpu.info.KEY-include
                for value in sorted(
                    set(
                        (
                            first.get(key) or first.get("Features", "")
                            if key == "flags"
                            else first.get(key, "")
                        ).split()
                    )
                ):
                    if pattern.search(value):
                        out.add_help(
                            metric,
                            1,
                            "gauge",
                            f"The `{what}` field of CPU information from /proc/cpuinfo "
                            "taken from the first core.",
                            **{label: value},
                        )
