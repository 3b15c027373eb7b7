"""CPU time per cpu and mode, kernel counters, load averages and cpufreq."""

from __future__ import annotations

from typing import NamedTuple

from microrack.sensors._fs import HostFS
from microrack.sensors._util import list_opt, read_int, read_opt

__all__ = [
    "CPU_MODES",
    "USER_HZ",
    "CpuFreq",
    "CpuTimes",
    "KernelStat",
    "LoadAvg",
    "busy_ratio",
    "read_cpufreq",
    "read_loadavg",
    "read_stat",
]

# The kernel reports /proc/stat in USER_HZ ticks, 100 on every Linux ABI we run on
# (node_exporter's procfs assumes the same).
USER_HZ = 100.0
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


class CpuTimes(NamedTuple):
    """Seconds one cpu spent in each mode since boot."""

    cpu: str
    user: float
    nice: float
    system: float
    idle: float
    iowait: float
    irq: float
    softirq: float
    steal: float
    guest: float
    guest_nice: float


class KernelStat(NamedTuple):
    """The parts of ``/proc/stat`` node_exporter's cpu and stat collectors export."""

    cpus: tuple[CpuTimes, ...]
    total: CpuTimes | None
    boot_time: float | None
    context_switches: float | None
    interrupts: float | None
    forks: float | None
    procs_running: float | None
    procs_blocked: float | None


class LoadAvg(NamedTuple):
    load1: float
    load5: float
    load15: float


class CpuFreq(NamedTuple):
    """Frequencies of one cpu in hertz; ``None`` where the driver does not say."""

    cpu: str
    cur_hz: float | None
    min_hz: float | None
    max_hz: float | None
    scaling_cur_hz: float | None
    scaling_min_hz: float | None
    scaling_max_hz: float | None


def _times(cpu: str, fields: list[str]) -> CpuTimes:
    values = [int(v) / USER_HZ for v in fields[:10]]
    values += [0.0] * (10 - len(values))
    return CpuTimes(cpu, *values)


def read_stat(fs: HostFS) -> KernelStat | None:
    """Parse ``/proc/stat``; ``None`` if it cannot be read."""
    text = read_opt(fs, "/proc/stat")
    if text is None:
        return None
    cpus: list[CpuTimes] = []
    total = None
    extra: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        head = parts[0]
        try:
            if head == "cpu":
                total = _times("", parts[1:])
            elif head.startswith("cpu"):
                cpus.append(_times(head[3:], parts[1:]))
            elif head in ("btime", "ctxt", "processes", "procs_running", "procs_blocked", "intr"):
                extra[head] = float(parts[1])
        except (ValueError, IndexError):
            continue
    return KernelStat(
        cpus=tuple(cpus),
        total=total,
        boot_time=extra.get("btime"),
        context_switches=extra.get("ctxt"),
        interrupts=extra.get("intr"),
        forks=extra.get("processes"),
        procs_running=extra.get("procs_running"),
        procs_blocked=extra.get("procs_blocked"),
    )


def busy_ratio(before: CpuTimes, after: CpuTimes) -> float | None:
    """Share of time not idle (idle and iowait count as idle) between two readings."""
    # guest time is already inside user/nice, so it is left out of the total.
    total = sum(after[1:9]) - sum(before[1:9])
    if total <= 0:
        return None
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    return min(1.0, max(0.0, 1.0 - idle / total))


def read_loadavg(fs: HostFS) -> LoadAvg | None:
    text = read_opt(fs, "/proc/loadavg")
    if text is None:
        return None
    try:
        a, b, c = (float(v) for v in text.split()[:3])
    except ValueError:
        return None
    return LoadAvg(a, b, c)


def _khz(fs: HostFS, path: str) -> float | None:
    value = read_int(fs, path)
    return None if value is None else value * 1000.0


def read_cpufreq(fs: HostFS) -> list[CpuFreq]:
    """cpufreq per cpu (``/sys/devices/system/cpu/cpuN/cpufreq``); empty without cpufreq."""
    base = "/sys/devices/system/cpu"
    out: list[CpuFreq] = []
    for name in list_opt(fs, base):
        if not name.startswith("cpu") or not name[3:].isdigit():
            continue
        d = f"{base}/{name}/cpufreq"
        if not fs.exists(d):
            continue
        freq = CpuFreq(
            cpu=name[3:],
            cur_hz=_khz(fs, f"{d}/cpuinfo_cur_freq"),
            min_hz=_khz(fs, f"{d}/cpuinfo_min_freq"),
            max_hz=_khz(fs, f"{d}/cpuinfo_max_freq"),
            scaling_cur_hz=_khz(fs, f"{d}/scaling_cur_freq"),
            scaling_min_hz=_khz(fs, f"{d}/scaling_min_freq"),
            scaling_max_hz=_khz(fs, f"{d}/scaling_max_freq"),
        )
        out.append(freq)
    out.sort(key=lambda f: int(f.cpu))
    return out
