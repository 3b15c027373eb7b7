"""Control groups under ``/sys/fs/cgroup``: v2 (unified), v1 and the hybrid layout.

The reader finds the hierarchies by probing the standard mount points under
the host root (what systemd and every distribution use): a unified hierarchy
at ``/sys/fs/cgroup`` (``cgroup.controllers`` present), or v1 controllers in
``/sys/fs/cgroup/<controller[,controller]>`` with, in the hybrid layout, a
v2 hierarchy at ``/sys/fs/cgroup/unified`` that carries only pressure files.

Each cgroup becomes one :class:`CgroupStats` in base units (seconds, bytes),
named by its path from the hierarchy root (``/system.slice/ssh.service``):
cAdvisor's ``id``.  A file that is absent (a controller not enabled for that
cgroup, a kernel without PSI) leaves its fields ``None``; a cgroup that
vanishes mid-walk is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from microrack.sensors._fs import HostFS, read_many
from microrack.sensors._util import list_opt, read_opt

__all__ = [
    "CgroupLayout",
    "CgroupStats",
    "IoStats",
    "Pressure",
    "detect_layout",
    "read_cgroup",
    "read_cgroups",
]

CGROUP_ROOT = "/sys/fs/cgroup"
# USER_HZ: cpuacct.stat counts in clock ticks, which the kernel exports at 100 Hz on every
# architecture Linux supports today (sysconf(_SC_CLK_TCK)).
USER_HZ = 100.0
# cAdvisor reports a limit above 2^62 (the kernel's "no limit") as 0.
_NO_LIMIT = 1 << 62

# Names inside a cgroup directory that are control files, not child cgroups: every v1 and
# v2 interface file starts with its controller's prefix and a dot, or is one of these.
_CONTROL_PREFIXES = frozenset(
    {
        *("cgroup", "cpu", "cpuacct", "cpuset", "io", "memory", "pids", "hugetlb", "rdma"),
        *("misc", "blkio", "devices", "freezer", "net_cls", "net_prio", "perf_event", "irq"),
    }
)
_CONTROL_FILES = frozenset({"tasks", "notify_on_release", "release_agent"})
_V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "blkio", "pids")


class CgroupLayout(NamedTuple):
    """Where the hierarchies are mounted (host paths)."""

    unified: str | None
    """The v2 hierarchy, if any (``/sys/fs/cgroup`` or ``/sys/fs/cgroup/unified``)."""
    v1: tuple[tuple[str, str], ...]
    """v1 controller -> mount point, for the controllers the reader uses."""
    unified_has_controllers: bool = False
    """False in the hybrid layout: the v2 tree tracks processes (and PSI) only."""

    @property
    def version(self) -> str:
        if self.unified and not self.v1:
            return "v2"
        return "hybrid" if self.unified else ("v1" if self.v1 else "none")

    def v1_mount(self, controller: str) -> str | None:
        for name, path in self.v1:
            if name == controller:
                return path
        return None


class Pressure(NamedTuple):
    """A PSI file's cumulative stall times (seconds): some tasks, and all tasks."""

    some_s: float | None
    full_s: float | None


class IoStats(NamedTuple):
    """Bytes and operations on one block device (``MAJ:MIN``)."""

    device: str
    read_bytes: float
    write_bytes: float
    reads: float | None
    writes: float | None


class CgroupStats(NamedTuple):
    """One cgroup's usage and limits, in base units."""

    path: str
    cpu_usage_s: float | None = None
    cpu_user_s: float | None = None
    cpu_system_s: float | None = None
    cfs_periods: float | None = None
    cfs_throttled_periods: float | None = None
    cfs_throttled_s: float | None = None
    cpu_quota_us: float | None = None
    cpu_period_us: float | None = None
    cpu_shares: float | None = None
    memory_usage_bytes: float | None = None
    memory_working_set_bytes: float | None = None
    memory_rss_bytes: float | None = None
    memory_cache_bytes: float | None = None
    memory_swap_bytes: float | None = None
    memory_limit_bytes: float | None = None
    oom_kills: float | None = None
    io: tuple[IoStats, ...] = ()
    cpu_pressure: Pressure | None = None
    memory_pressure: Pressure | None = None
    io_pressure: Pressure | None = None
    processes: int | None = None


def detect_layout(fs: HostFS) -> CgroupLayout:
    """Probe the standard mount points; ``CgroupLayout(None, ())`` when there are none."""
    if fs.exists(CGROUP_ROOT + "/cgroup.controllers"):
        return CgroupLayout(CGROUP_ROOT, (), unified_has_controllers=True)
    unified: str | None = None
    v1: dict[str, str] = {}
    for name in list_opt(fs, CGROUP_ROOT):
        path = f"{CGROUP_ROOT}/{name}"
        if name == "unified":
            if fs.exists(path + "/cgroup.procs"):
                unified = path
            continue
        # "cpu,cpuacct" mounts both; "cpu" may be a link to it (realpath keeps one mount).
        for controller in fs.realpath(path).rsplit("/", 1)[-1].split(","):
            if controller in _V1_CONTROLLERS and controller not in v1:
                real = fs.realpath(path)
                if fs.exists(real + "/cgroup.procs"):
                    v1[controller] = real
    has_ctrl = bool(unified) and bool((read_opt(fs, f"{unified}/cgroup.controllers") or "").split())
    return CgroupLayout(
        unified, tuple(sorted(v1.items())), unified_has_controllers=has_ctrl and not v1
    )


def _is_control(name: str) -> bool:
    return name in _CONTROL_FILES or (name.split(".", 1)[0] in _CONTROL_PREFIXES and "." in name)


# Every cgroup directory lists the same forty-odd control files: remember those (a bounded
# set, as the kernel has only so many), so that each name is judged once, not once per cgroup.
_KNOWN_CONTROL: set[str] = set()
_KNOWN_CONTROL_MAX = 1024


def _children(fs: HostFS, path: str) -> list[str]:
    out = []
    known = _KNOWN_CONTROL
    for name in list_opt(fs, path):
        if name in known:
            continue
        if _is_control(name):
            if len(known) < _KNOWN_CONTROL_MAX:
                known.add(name)
            continue
        if fs.exists(f"{path}/{name}/cgroup.procs"):
            out.append(name)
    return out


def walk(
    fs: HostFS, mount: str, max_depth: int | None = None, prune: Callable[[str], bool] | None = None
) -> Iterator[str]:
    """Cgroup paths (``/`` first, then depth-first) below a hierarchy's mount point.

    ``prune(path)`` True skips that cgroup's descendants (the cgroup itself is yielded).
    """
    stack: list[tuple[str, int]] = [("/", 0)]
    while stack:
        rel, depth = stack.pop()
        yield rel
        if max_depth is not None and depth >= max_depth:
            continue
        if prune is not None and prune(rel):
            continue
        host = mount if rel == "/" else mount + rel
        base = "" if rel == "/" else rel
        for name in reversed(_children(fs, host)):
            stack.append((f"{base}/{name}", depth + 1))


def _kv(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not text:
        return out
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v:
            out[k] = v.strip()
    return out


_LINE_BREAKS_BUT_LF = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")


def _pick(text: str | None, keys: tuple[str, ...]) -> dict[str, str]:
    """``{k: _kv(text)[k]}`` for those of ``keys`` that :func:`_kv` finds, without the rest.

    memory.stat has forty-odd lines of which three are read: looking up the
    last ``key value`` line of each (as :func:`_kv`'s dict keeps the last)
    beats splitting them all.  Text with line breaks other than LF (garbage
    only) goes through :func:`_kv` itself.
    """
    if not text:
        return {}
    if not text.isascii() or any(c in text for c in _LINE_BREAKS_BUT_LF):
        full = _kv(text)
        return {k: full[k] for k in keys if k in full}
    t = "\n" + text
    out: dict[str, str] = {}
    for key in keys:
        needle = "\n" + key + " "
        i = t.rfind(needle)
        while i >= 0:
            j = t.find("\n", i + 1)
            v = t[i + len(needle) : j if j >= 0 else len(t)]
            if v:
                out[key] = v.strip()
                break
            i = t.rfind(needle, 0, i)  # "key " with nothing after it: _kv skips the line
    return out


_MEMORY_STAT_V2 = ("inactive_file", "anon", "file")


def _num(d: dict[str, str], key: str, scale: float = 1.0) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    try:
        return float(int(v)) * scale
    except ValueError:
        return None


def _int_file(fs: HostFS, path: str) -> float | None:
    return _int_text(read_opt(fs, path))


def _limit(value: float | None) -> float | None:
    if value is None:
        return None
    return 0.0 if value > _NO_LIMIT else value


def read_pressure(fs: HostFS, path: str) -> Pressure | None:
    """``some avg10=… total=USEC`` / ``full …`` as cumulative seconds."""
    return _pressure(read_opt(fs, path))


_TOTAL_USEC = re.compile(r"\btotal=(\d+)")


_DIGITS = frozenset("0123456789")


def _total_usec(rest: str) -> str | None:
    """``_TOTAL_USEC.search(rest).group(1)`` for ASCII text, without the regex engine.

    Three PSI files per cgroup: the scan is a third of the regex's cost.
    """
    j = rest.find("total=")
    while j >= 0:
        if j == 0 or not (rest[j - 1].isalnum() or rest[j - 1] == "_"):
            k = j + 6
            n = len(rest)
            while k < n and rest[k] in _DIGITS:
                k += 1
            if k > j + 6:
                return rest[j + 6 : k]
        j = rest.find("total=", j + 1)
    return None


def _pressure(text: str | None) -> Pressure | None:
    if not text:
        return None
    some = full = None
    if not text.isascii():
        return _pressure_re(text)
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        total = _total_usec(rest)
        if total is None or len(total) > 30:  # past any counter: garbage, not a crash in int()
            continue
        if kind == "some":
            some = int(total) / 1e6
        elif kind == "full":
            full = int(total) / 1e6
    if some is None and full is None:
        return None
    return Pressure(some, full)


def _pressure_re(text: str) -> Pressure | None:
    some = full = None
    search = _TOTAL_USEC.search
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        m = search(rest)
        if m is None or len(m.group(1)) > 30:
            continue
        if kind == "some":
            some = int(m.group(1)) / 1e6
        elif kind == "full":
            full = int(m.group(1)) / 1e6
    if some is None and full is None:
        return None
    return Pressure(some, full)


def _count_lines(text: str | None) -> int | None:
    if text is None:
        return None
    return sum(1 for line in text.splitlines() if line.strip())


def _io_v2(text: str | None) -> tuple[IoStats, ...]:
    out = []
    for line in (text or "").splitlines():
        dev, _, rest = line.partition(" ")
        if ":" not in dev:
            continue
        f = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
        try:
            out.append(
                IoStats(
                    dev,
                    float(int(f.get("rbytes", 0))),
                    float(int(f.get("wbytes", 0))),
                    float(int(f["rios"])) if "rios" in f else None,
                    float(int(f["wios"])) if "wios" in f else None,
                )
            )
        except ValueError:
            continue
    return tuple(out)


def _blkio_table(text: str | None) -> dict[str, dict[str, float]]:
    """``8:0 Read 4096`` lines -> {device: {op: value}} (the ``Total`` line is skipped)."""
    out: dict[str, dict[str, float]] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        try:
            out.setdefault(parts[0], {})[parts[1]] = float(int(parts[2]))
        except ValueError:
            continue
    return out


def _io_v1(fs: HostFS, base: str) -> tuple[IoStats, ...]:
    # The CFQ/BFQ recursive files count the whole subtree; the throttle files are always there.
    for name in (
        "blkio.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes",
    ):
        table = _blkio_table(read_opt(fs, f"{base}/{name}"))
        if table:
            ops = _blkio_table(read_opt(fs, f"{base}/{name.replace('_bytes', 'd')}"))
            return tuple(
                IoStats(
                    dev,
                    v.get("Read", 0.0),
                    v.get("Write", 0.0),
                    ops.get(dev, {}).get("Read"),
                    ops.get(dev, {}).get("Write"),
                )
                for dev, v in sorted(table.items())
            )
    return ()


_V2_FILES = (
    "cpu.stat",
    "memory.current",
    "memory.stat",
    "memory.events",
    "memory.swap.current",
    "io.stat",
    "cpu.pressure",
    "memory.pressure",
    "io.pressure",
    "cgroup.procs",
)
_V2_SPEC_FILES = (*_V2_FILES, "cpu.max", "cpu.weight", "memory.max")


def _stripped(text: str | None) -> str | None:
    return None if text is None else text.strip()


def _int_text(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(int(text))
    except ValueError:
        return None


def _read_v2(fs: HostFS, base: str, path: str, spec: bool) -> CgroupStats | None:
    # one directory opened, its files opened relative to it: the kernel walks a
    # pod's eight-level path once per cgroup instead of once per file
    files = read_many(fs, base, _V2_SPEC_FILES if spec else _V2_FILES)
    get = files.get
    procs = get("cgroup.procs")
    if procs is None:
        return None  # not a cgroup, or it went away since the walk listed it
    cpu = _kv(_stripped(get("cpu.stat")))
    quota = period = None
    cpu_max = (_stripped(get("cpu.max")) or "").split() if spec else []
    if len(cpu_max) == 2:
        try:
            period = float(int(cpu_max[1]))
            quota = -1.0 if cpu_max[0] == "max" else float(int(cpu_max[0]))
        except ValueError:
            quota = period = None
    shares = None
    weight = _int_text(_stripped(get("cpu.weight"))) if spec else None
    if weight is not None:
        # The kernel's and cAdvisor's conversion from cpu.weight back to v1 shares.
        shares = float(2 + ((int(weight) - 1) * 262142) // 9999)
    usage = _int_text(_stripped(get("memory.current")))
    mem = _pick(_stripped(get("memory.stat")), _MEMORY_STAT_V2)
    inactive = _num(mem, "inactive_file")
    working = None if usage is None else max(0.0, usage - (inactive or 0.0))
    limit_text = _stripped(get("memory.max")) if spec else None
    limit = None
    if limit_text == "max":
        limit = 0.0
    elif limit_text is not None:
        try:
            limit = _limit(float(int(limit_text)))
        except ValueError:
            limit = None
    events = _kv(_stripped(get("memory.events")))
    return CgroupStats(
        path=path,
        cpu_usage_s=_num(cpu, "usage_usec", 1e-6),
        cpu_user_s=_num(cpu, "user_usec", 1e-6),
        cpu_system_s=_num(cpu, "system_usec", 1e-6),
        cfs_periods=_num(cpu, "nr_periods"),
        cfs_throttled_periods=_num(cpu, "nr_throttled"),
        cfs_throttled_s=_num(cpu, "throttled_usec", 1e-6),
        cpu_quota_us=quota,
        cpu_period_us=period,
        cpu_shares=shares,
        memory_usage_bytes=usage,
        memory_working_set_bytes=working,
        memory_rss_bytes=_num(mem, "anon"),
        memory_cache_bytes=_num(mem, "file"),
        memory_swap_bytes=_int_text(_stripped(get("memory.swap.current"))),
        memory_limit_bytes=limit,
        oom_kills=_num(events, "oom_kill"),
        io=_io_v2(_stripped(get("io.stat"))),
        cpu_pressure=_pressure(_stripped(get("cpu.pressure"))),
        memory_pressure=_pressure(_stripped(get("memory.pressure"))),
        io_pressure=_pressure(_stripped(get("io.pressure"))),
        processes=_count_lines(procs.strip()),
    )


def _read_v1(fs: HostFS, layout: CgroupLayout, path: str, spec: bool) -> CgroupStats:
    def at(controller: str) -> str | None:
        mount = layout.v1_mount(controller)
        if mount is None:
            return None
        return mount if path == "/" else mount + path

    stats: dict[str, object] = {"path": path}
    acct = at("cpuacct")
    if acct is not None:
        usage_ns = _int_file(fs, acct + "/cpuacct.usage")
        stats["cpu_usage_s"] = None if usage_ns is None else usage_ns / 1e9
        ticks = _kv(read_opt(fs, acct + "/cpuacct.stat"))
        stats["cpu_user_s"] = _num(ticks, "user", 1 / USER_HZ)
        stats["cpu_system_s"] = _num(ticks, "system", 1 / USER_HZ)
    cpu = at("cpu")
    if cpu is not None:
        st = _kv(read_opt(fs, cpu + "/cpu.stat"))
        stats["cfs_periods"] = _num(st, "nr_periods")
        stats["cfs_throttled_periods"] = _num(st, "nr_throttled")
        stats["cfs_throttled_s"] = _num(st, "throttled_time", 1e-9)
        if spec:
            stats["cpu_quota_us"] = _int_file(fs, cpu + "/cpu.cfs_quota_us")
            stats["cpu_period_us"] = _int_file(fs, cpu + "/cpu.cfs_period_us")
            stats["cpu_shares"] = _int_file(fs, cpu + "/cpu.shares")
    mem = at("memory")
    if mem is not None:
        usage = _int_file(fs, mem + "/memory.usage_in_bytes")
        ms = _kv(read_opt(fs, mem + "/memory.stat"))

        def total(key: str) -> float | None:
            v = _num(ms, "total_" + key)
            return _num(ms, key) if v is None else v

        inactive = total("inactive_file")
        stats["memory_usage_bytes"] = usage
        stats["memory_working_set_bytes"] = (
            None if usage is None else max(0.0, usage - (inactive or 0.0))
        )
        stats["memory_rss_bytes"] = total("rss")
        stats["memory_cache_bytes"] = total("cache")
        memsw = _int_file(fs, mem + "/memory.memsw.usage_in_bytes")
        swap = total("swap")
        if swap is None and memsw is not None and usage is not None:
            swap = max(0.0, memsw - usage)
        stats["memory_swap_bytes"] = swap
        if spec:
            stats["memory_limit_bytes"] = _limit(_int_file(fs, mem + "/memory.limit_in_bytes"))
        stats["oom_kills"] = _num(_kv(read_opt(fs, mem + "/memory.oom_control")), "oom_kill")
        stats["processes"] = _count_lines(read_opt(fs, mem + "/cgroup.procs"))
    blk = at("blkio")
    if blk is not None:
        stats["io"] = _io_v1(fs, blk)
    if "processes" not in stats:
        for controller in ("cpuacct", "cpu", "pids"):
            base = at(controller)
            if base is not None:
                stats["processes"] = _count_lines(read_opt(fs, base + "/cgroup.procs"))
                break
    if layout.unified:
        # Hybrid: PSI lives in the v2 tree, under the same path systemd keeps in sync.
        base = layout.unified if path == "/" else layout.unified + path
        stats["cpu_pressure"] = read_pressure(fs, base + "/cpu.pressure")
        stats["memory_pressure"] = read_pressure(fs, base + "/memory.pressure")
        stats["io_pressure"] = read_pressure(fs, base + "/io.pressure")
    return CgroupStats(**stats)  # type: ignore[arg-type]


def read_cgroup(
    fs: HostFS, layout: CgroupLayout, path: str, spec: bool = True
) -> CgroupStats | None:
    """One cgroup's stats by its path (``/system.slice/ssh.service``); ``None`` if it is gone."""
    if layout.unified and layout.unified_has_controllers:
        return _read_v2(fs, layout.unified if path == "/" else layout.unified + path, path, spec)
    if not any(
        fs.exists((mount if path == "/" else mount + path) + "/cgroup.procs")
        for _, mount in layout.v1
    ):
        return None
    return _read_v1(fs, layout, path, spec)


def read_cgroups(
    fs: HostFS,
    layout: CgroupLayout | None = None,
    *,
    max_depth: int | None = None,
    keep: Callable[[str], bool] | None = None,
    prune: Callable[[str], bool] | None = None,
    spec: bool = True,
) -> list[CgroupStats]:
    """Every cgroup's stats; ``keep(path)`` filters which are read, ``prune`` stops descent.

    ``spec=False`` leaves out the limits (quota, period, shares, memory limit), which
    change rarely, to spare their reads.
    """
    layout = layout or detect_layout(fs)
    out: list[CgroupStats] = []
    if layout.unified and layout.unified_has_controllers:
        mount = layout.unified
        for path in walk(fs, mount, max_depth, prune):
            if keep is None or keep(path):
                base = mount if path == "/" else mount + path
                st = _read_v2(fs, base, path, spec)
                if st is not None:
                    out.append(st)
        return out
    # v1: the cgroups are the union of the paths in the hierarchies the reader uses.
    seen: set[str] = set()
    paths: list[str] = []
    for controller in ("cpuacct", "memory", "cpu", "blkio", "pids"):
        v1_mount = layout.v1_mount(controller)
        if v1_mount is None:
            continue
        for path in walk(fs, v1_mount, max_depth, prune):
            if path not in seen:
                seen.add(path)
                paths.append(path)
    for path in paths:
        if keep is None or keep(path):
            out.append(_read_v1(fs, layout, path, spec))
    return out
