"""One simulated board behind the :class:`~microrack.sensors.HostFS` protocol.

A :class:`TwinNode` is a one-node :class:`~microrack.sim._physics.Twin` plus a
virtual ``/proc`` and ``/sys`` rendered from its state whenever a file is read.
It advances with real time (times the script's ``speed``) on every access, or
explicitly with :meth:`TwinNode.advance` in tests.  Writing ``pwm1`` of the
``pwmfan`` hwmon chip sets the fan duty, which changes the thermal resistance:
the fan control loop is closed through the same files real hardware has.

While the node is crashed every access raises :class:`NodeDown` (an
``OSError``); an agent checks :attr:`TwinNode.reachable` to stop answering,
as a crashed or partitioned board would.  After the reboot ``boot_id``
changes and the counters in ``/proc`` start from zero.

The agent's fault kinds reach the twin the way they reach a board: writing
``cpufreq/scaling_max_freq`` caps the clock (so power, and with it the die's
temperature, fall as the physics says), and :meth:`TwinNode.add_load` /
:meth:`TwinNode.fill_disk` stand in for a burner process and a fill file.
Each is keyed by the fault's id and undone by ``remove_load`` / ``unfill_disk``.
"""

from __future__ import annotations

import errno
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from microrack.sensors import FsUsage
from microrack.sim._faults import AmbientRise, SensorFail
from microrack.sim._layout import zones_for
from microrack.sim._model import BoardModel, board_model
from microrack.sim._physics import Twin
from microrack.sim._script import NodeScript, interp, io_at, load_node_script

__all__ = ["NodeDown", "TwinNode", "open_node"]

USER_HZ = 100
_MAX_STEP = 0.5  # s of twin time per physics step
# Disk traffic at a drive busy share (twin ``io``) of 1 (estimate: a mixed k3s worker,
# I/O share 0.3 at full load, reads ~4 MB/s and writes ~8 MB/s); network per CPU busy second
_DISK_READ_BPS = 13e6
_DISK_WRITE_BPS = 27e6
_NET_RX_BPS = 12e6
_NET_TX_BPS = 6e6
_SOC_PLATFORM = "/sys/devices/platform/soc"
GET_THROTTLED = f"{_SOC_PLATFORM}/soc:firmware/get_throttled"


class NodeDown(ConnectionError):
    """The simulated node is crashed (powered but not running); nothing answers."""


class TwinNode:
    """A virtual ``/proc`` and ``/sys`` of one simulated board (implements ``HostFS``)."""

    def __init__(
        self,
        board: BoardModel,
        *,
        seed: int = 0,
        name: str | None = None,
        script: NodeScript | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.script = script or NodeScript()
        board = board.with_cooler(self.script.cooler)
        self.board = board
        self.name = name or f"{board.id}-{seed}"
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._ids = random.Random(seed)
        nvme = board.has_nvme_slot if self.script.nvme is None else self.script.nvme
        self.has_nvme = bool(nvme)
        self.twin = Twin(
            [board], ambient_c=self.script.ambient_c, nvme=[self.has_nvme], kind=self.script.kind
        )
        self._io_share = self.twin.io_share(0, self.script.kind)
        self.twin.auto_fan[0] = bool(board.physics.fan_curve)
        self.pwm = 255
        self.pwm_enable = 2
        self._clock = clock
        self._last = clock()
        # the agent's collector, its fan loop and HTTP threads share one node
        self._lock = threading.RLock()
        self._since_boot_busy = 0.0
        self._io_s = 0.0  # drive-busy seconds since boot
        self._boot_at = 0.0
        self.boot_id = self._new_boot_id()
        self.boots = 1
        self._disk_used = self.script.disk_used * self.script.disk_bytes
        self._sticky = 0
        self._sensor_failed: set[str] = set()
        self.partitioned = False
        self._loads: dict[str, tuple[float, int]] = {}  # fault id -> (cores, bytes)
        self._fills: dict[str, int] = {}  # fault id -> bytes
        self._max_khz: dict[int, int] = {}  # cpu -> scaling_max_freq below cpuinfo_max_freq
        self._apply_timeline(0.0)
        self._files: dict[str, Callable[[], str]] = {}
        self._writable: dict[str, Callable[[str], None]] = {}
        self._dirs: dict[str, set[str]] = {}
        self._links: dict[str, str] = {}
        self._links_longest: list[tuple[str, str]] = []
        self._canon: dict[str, str] = {}  # device path -> class path holding the content
        self._canon_longest: list[tuple[str, str]] = []
        self._build()

    # -- time
    @property
    def time(self) -> float:
        """Twin seconds since the node was opened."""
        return self.twin.time

    def advance(self, seconds: float) -> None:
        """Step the physics and the script by ``seconds`` of twin time."""
        with self._lock:
            remaining = float(seconds)
            while remaining > 1e-9:
                dt = min(_MAX_STEP, remaining)
                self._apply_timeline(self.twin.time + dt / 2)
                self.twin.step(dt)
                self._after_step(dt)
                remaining -= dt

    def sync(self) -> None:
        """Catch up with real time (called on every file access)."""
        with self._lock:
            now = self._clock()
            elapsed = (now - self._last) * self.script.speed
            self._last = now
            if elapsed > 0:
                self.advance(min(elapsed, 3600.0))

    # -- the timeline
    def _script_time(self, t: float) -> float:
        rep = self.script.repeat
        return t % rep if rep else t

    def _apply_timeline(self, t: float) -> None:
        s = self.script
        st = self._script_time(t)
        tw = self.twin
        extra = sum(c for c, _ in self._loads.values()) / self.board.cores
        tw.util[0] = min(1.0, interp(s.load, st, "util") + extra)
        io = io_at(s.load, st)
        tw.io[0] = tw.util[0] * self._io_share if io is None else io
        amb = interp(s.ambient, st, "c") if s.ambient else s.ambient_c
        up, fan_ok, uv = 1.0, 1.0, False
        failed: set[str] = set()
        partitioned = False
        for f in s.faults:
            if not f.active(st):
                continue
            if f.kind == "crash":
                up = 0.0
            elif f.kind == "fan_stall":
                fan_ok = 0.0
            elif f.kind == "under_voltage":
                uv = True
            elif isinstance(f, SensorFail):
                failed.add(f.sensor)
            elif isinstance(f, AmbientRise):
                amb += f.delta_c
            elif f.kind == "partition":
                partitioned = True
        tw.ambient[0] = amb
        self._sensor_failed = failed
        self.partitioned = partitioned
        if up and not tw.up[0]:
            self._reboot()
        if (up, fan_ok, uv) != (tw.up[0], tw.fan_ok[0], bool(tw.under_voltage[0])):
            tw.up[0], tw.fan_ok[0], tw.under_voltage[0] = up, fan_ok, uv
            tw.changed()

    def _after_step(self, dt: float) -> None:
        if self.up:
            self._io_s += float(self.twin.io[0]) * dt
        st = self._script_time(self.twin.time)
        for f in self.script.faults:
            if f.kind == "disk_fill" and f.active(st) and self.up:
                self._disk_used = min(self.script.disk_bytes, self._disk_used + f.rate * dt)
        self._sticky |= int(self.twin.flags()[0])

    def _reboot(self) -> None:
        self.boots += 1
        self.boot_id = self._new_boot_id()
        self._boot_at = self.twin.time
        self._since_boot_busy = float(self.twin.busy_s[0])
        self._io_s = 0.0
        self._sticky = 0
        self._loads.clear()  # the burners died with the board; the fill files stay
        self._set_caps({})
        if self.board.physics.fan_curve:
            self.pwm_enable = 2
            self.twin.auto_fan[0] = True
        self.pwm = 255
        self.twin.duty[0] = 1.0

    def _new_boot_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # -- state, for people and tests
    @property
    def up(self) -> bool:
        return bool(self.twin.up[0])

    @property
    def reachable(self) -> bool:
        """False while crashed or cut off by a network partition."""
        self.sync()
        return self.up and not self.partitioned

    @property
    def temperature(self) -> float:
        return float(self.twin.temp[0])

    @property
    def nvme_temperature(self) -> float:
        return float(self.twin.nvme_temp[0])

    @property
    def power_w(self) -> float:
        return float(self.twin.power[0])

    @property
    def clock_ratio(self) -> float:
        return float(self.twin.clock[0])

    @property
    def fan_rpm(self) -> int:
        return round(self.twin.fan_duty[0] * self.board.physics.fan_rpm_max.value)

    @property
    def throttled(self) -> int:
        """Raspberry Pi ``get_throttled`` value (bits 0-3 now, 16-19 since boot)."""
        now = int(self.twin.flags()[0])
        return now | (self._sticky << 16)

    @property
    def uptime(self) -> float:
        return self.twin.time - self._boot_at

    def state(self) -> dict[str, float | int | str | bool]:
        """A plain snapshot (the demo's live table, tests)."""
        with self._lock:
            self.sync()
            return {
                "name": self.name,
                "board": self.board.id,
                "up": self.up,
                "time": round(self.time, 1),
                "util": float(self.twin.util[0]),
                "temp_c": round(self.temperature, 2),
                "power_w": round(self.power_w, 3),
                "clock_ratio": round(self.clock_ratio, 3),
                "fan_duty": float(self.twin.fan_duty[0]),
                "fan_rpm": self.fan_rpm,
                "throttled": self.throttled,
                "boot_id": self.boot_id,
                "ambient_c": float(self.twin.ambient[0]),
            }

    # -- what the agent's fault kinds do to a board
    @property
    def cores(self) -> int:
        return int(self.board.cores)

    def add_load(self, fault_id: str, cpu_cores: float, memory_bytes: int) -> None:
        """Extra work of ``cpu_cores`` busy cores and ``memory_bytes`` resident (a burner)."""
        if not 0 <= cpu_cores <= self.board.cores or memory_bytes < 0:
            raise ValueError(
                f"load of {cpu_cores:g} cores and {memory_bytes} bytes does not "
                f"fit {self.board.cores} cores"
            )
        with self._lock:
            self._check()
            if fault_id in self._loads:
                raise ValueError(f"load {fault_id!r} is already on {self.name}")
            self._loads[fault_id] = (float(cpu_cores), int(memory_bytes))
            self._apply_timeline(self.twin.time)

    def remove_load(self, fault_id: str) -> None:
        """End the load ``fault_id`` (gone already: nothing to do)."""
        with self._lock:
            if self._loads.pop(fault_id, None) is not None:
                self._apply_timeline(self.twin.time)

    @property
    def loads(self) -> dict[str, tuple[float, int]]:
        """Extra loads now: fault id -> (cores, bytes)."""
        return dict(self._loads)

    def fill_disk(self, fault_id: str, size: int) -> None:
        """A file of ``size`` bytes on the root file system (refused when it does not fit)."""
        with self._lock:
            self._check()
            free = self.script.disk_bytes - self._used()
            if not 0 < size <= free:
                raise OSError(errno.ENOSPC, f"{size} bytes do not fit in {free:.0f} free")
            if fault_id in self._fills:
                raise FileExistsError(errno.EEXIST, f"fill {fault_id!r} exists")
            self._fills[fault_id] = int(size)

    def unfill_disk(self, fault_id: str) -> None:
        """Remove the fill file ``fault_id`` (gone already: nothing to do)."""
        with self._lock:
            self._fills.pop(fault_id, None)

    def _used(self) -> float:
        return min(float(self.script.disk_bytes), self._disk_used + sum(self._fills.values()))

    def _set_caps(self, caps: dict[int, int]) -> None:
        """scaling_max_freq of each capped cpu; the twin's one clock follows their mean."""
        self._max_khz = caps
        top = self.board.max_mhz * 1000
        ratio = sum(caps.get(i, top) for i in range(self.board.cores)) / (self.board.cores * top)
        if abs(float(self.twin.max_clock[0]) - ratio) > 1e-9:
            self.twin.max_clock[0] = ratio
            self.twin.changed()

    # -- HostFS
    def _norm(self, path: str) -> str:
        """The path under which a file's content is kept (links resolved, then canonical)."""
        p = self._resolve(path)
        for target, canonical in self._canon_longest:
            if p == target or p.startswith(target + "/"):
                return canonical + p[len(target) :]
        return p

    def _resolve(self, path: str) -> str:
        """Follow the symlinks in ``path`` (hwmonN, thermal_zoneN, device), as realpath does."""
        p = os.path.normpath(path)
        for _ in range(8):
            for link, target in self._links_longest:
                if p == link or p.startswith(link + "/"):
                    p = target + p[len(link) :]
                    break
            else:
                return p
        return p

    def _check(self) -> None:
        self.sync()
        if not self.up:
            raise NodeDown(errno.EHOSTDOWN, f"{self.name} is down")

    def read_text(self, path: str) -> str:
        with self._lock:
            self._check()
            p = self._norm(path)
            render = self._files.get(p)
            if render is None:
                if p in self._dirs:
                    raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
            return render()

    def listdir(self, path: str) -> list[str]:
        with self._lock:
            self._check()
            p = self._norm(path)
            if p not in self._dirs:
                if p in self._files:
                    raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
            return sorted(self._dirs[p])

    def exists(self, path: str) -> bool:
        if not self.up:
            return False
        p = self._norm(path)
        return p in self._files or p in self._dirs

    def realpath(self, path: str) -> str:
        return self._resolve(path)

    def write_text(self, path: str, data: str) -> None:
        with self._lock:
            self._check()
            p = self._norm(path)
            setter = self._writable.get(p)
            if setter is None:
                if p in self._files:
                    raise PermissionError(errno.EACCES, "Permission denied", path)
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
            setter(data)

    def statvfs(self, mountpoint: str) -> FsUsage:
        with self._lock:
            self._check()
            if os.path.normpath(mountpoint) != "/":
                raise FileNotFoundError(errno.ENOENT, "not mounted", mountpoint)
            size = self.script.disk_bytes
            free = int(size - self._used())
            return FsUsage(
                size, free, max(0, free - size // 20), size // 16384, max(0, free // 16384), False
            )

    # -- the virtual tree
    def _add(
        self, path: str, render: Callable[[], str], write: Callable[[str], None] | None = None
    ) -> None:
        self._files[path] = render
        if write is not None:
            self._writable[path] = write
        child = path
        parent = os.path.dirname(child)
        while True:
            self._dirs.setdefault(parent, set()).add(os.path.basename(child))
            if parent == "/":
                break
            child, parent = parent, os.path.dirname(parent)

    def _link(self, link: str, target: str, *, canonical: bool = False) -> None:
        """``link`` is a symlink to ``target``; ``canonical``: content is kept under ``link``."""
        self._links[link] = target
        self._links_longest = sorted(self._links.items(), key=lambda kv: -len(kv[0]))
        if canonical:
            self._canon[target] = link
            self._canon_longest = sorted(self._canon.items(), key=lambda kv: -len(kv[0]))
        else:
            self._dirs.setdefault(target, set())  # the device directory exists
            parent = os.path.dirname(target)
            while parent not in self._dirs or os.path.basename(target) not in self._dirs[parent]:
                self._dirs.setdefault(parent, set()).add(os.path.basename(target))
                if parent == "/":
                    break
                target, parent = parent, os.path.dirname(parent)
        parent = os.path.dirname(link)
        self._dirs.setdefault(parent, set()).add(os.path.basename(link))

    @staticmethod
    def _const(text: str) -> Callable[[], str]:
        return lambda: text

    def _sensor(self, which: str, value: Callable[[], float]) -> Callable[[], str]:
        def render() -> str:
            if which in self._sensor_failed:
                raise OSError(errno.EIO, "Input/output error")
            return f"{value()}\n"

        return render

    def _milli(self, temp: Callable[[], float]) -> Callable[[], int]:
        def value() -> int:
            return round((temp() + float(self._rng.normal(0, 0.15))) * 1000)

        return value

    def _build(self) -> None:
        b = self.board
        tw = self.twin
        self._build_proc()
        # thermal zones
        zones = zones_for(b.id, b.thermal_profile, b.isa)
        hw = 0

        def zone_temp(factor: float) -> Callable[[], float]:
            return lambda: float(tw.ambient[0] + (tw.temp[0] - tw.ambient[0]) * factor)

        for i, z in enumerate(zones):
            cls = f"/sys/class/thermal/thermal_zone{i}"
            self._link(cls, f"/sys/devices/virtual/thermal/thermal_zone{i}", canonical=True)
            milli = self._milli(zone_temp(z.factor))
            self._add(f"{cls}/type", self._const(f"{z.type}\n"))
            self._add(f"{cls}/temp", self._sensor("soc", milli))
            self._add(f"{cls}/mode", lambda: "enabled\n")
            self._add(f"{cls}/policy", lambda: "step_wise\n")
            self._add(f"{cls}/trip_point_0_temp", lambda: f"{int(b.throttle_hard_c * 1000)}\n")
            self._add(f"{cls}/trip_point_0_type", lambda: "passive\n")
        # hwmon chips
        if b.isa == "x86_64":
            d = self._hwmon(hw, "/sys/devices/platform/coretemp.0", "coretemp")
            self._add(f"{d}/temp1_label", lambda: "Package id 0\n")
            self._add(f"{d}/temp1_input", self._sensor("soc", self._milli(zone_temp(1.0))))
            self._add(f"{d}/temp1_crit", lambda: "105000\n")
            hw += 1
        else:
            for i, z in enumerate(zones):
                dev = f"/sys/devices/virtual/thermal/thermal_zone{i}"
                d = self._hwmon(hw, dev, z.type.replace("-", "_"))
                self._add(f"{d}/temp1_input", self._sensor("soc", self._milli(zone_temp(z.factor))))
                hw += 1
        if b.is_pi:
            d = self._hwmon(hw, f"{_SOC_PLATFORM}/soc:firmware/raspberrypi-hwmon", "rpi_volt")
            self._add(f"{d}/in0_lcrit_alarm", lambda: f"{int(bool(tw.under_voltage[0]))}\n")
            hw += 1
            self._add(GET_THROTTLED, lambda: f"{self.throttled:x}\n")
        if b.has_fan:
            d = self._hwmon(hw, "/sys/devices/platform/cooling_fan", "pwmfan")
            self._add(f"{d}/pwm1", lambda: f"{self.pwm}\n", self._set_pwm)
            self._add(f"{d}/pwm1_enable", lambda: f"{self.pwm_enable}\n", self._set_pwm_enable)
            self._add(f"{d}/fan1_input", self._sensor("fan", lambda: self.fan_rpm))
            hw += 1
        if self.has_nvme:
            dev = "/sys/devices/platform/pcie/0000:01:00.0/nvme/nvme0"
            d = self._hwmon(hw, dev, "nvme")
            nv = self._milli(lambda: float(tw.nvme_temp[0]))
            self._add(f"{d}/temp1_label", lambda: "Composite\n")
            self._add(f"{d}/temp1_input", self._sensor("nvme", nv))
            self._add(f"{d}/temp1_max", lambda: "81850\n")
            self._add(f"{d}/temp1_crit", lambda: "84850\n")
            self._add(f"{d}/temp1_min", lambda: "-273150\n")
            hw += 1
            self._add("/sys/class/nvme/nvme0/model", lambda: "Twin NVMe SSD 512GB\n")
        # cpufreq
        self._build_cpufreq()
        # network
        net = "/sys/class/net/eth0"
        self._add(f"{net}/operstate", lambda: "up\n")
        self._add(f"{net}/carrier", lambda: "1\n")
        self._add(f"{net}/speed", lambda: "1000\n")
        self._add(f"{net}/mtu", lambda: "1500\n")
        self._add(f"{net}/address", lambda: f"{self._mac()}\n")
        self._add(f"{net}/statistics/rx_bytes", lambda: f"{self._net()[0]}\n")
        self._add(f"{net}/statistics/tx_bytes", lambda: f"{self._net()[1]}\n")

    def _hwmon(self, index: int, device: str, name: str) -> str:
        cls = f"/sys/class/hwmon/hwmon{index}"
        self._link(cls, f"{device}/hwmon/hwmon{index}", canonical=True)
        self._link(f"{cls}/device", device)
        self._add(f"{cls}/name", lambda: f"{name}\n")
        return cls

    def _set_pwm(self, data: str) -> None:
        try:
            v = int(data.strip())
        except ValueError:
            raise OSError(errno.EINVAL, "Invalid argument") from None
        if not 0 <= v <= 255:
            raise OSError(errno.EINVAL, "Invalid argument")
        self.pwm = v
        self.pwm_enable = 1
        self.twin.auto_fan[0] = False
        self.twin.duty[0] = v / 255.0

    def _set_pwm_enable(self, data: str) -> None:
        try:
            v = int(data.strip())
        except ValueError:
            raise OSError(errno.EINVAL, "Invalid argument") from None
        if v not in (0, 1, 2):
            raise OSError(errno.EINVAL, "Invalid argument")
        self.pwm_enable = v
        curve = bool(self.board.physics.fan_curve)
        self.twin.auto_fan[0] = v == 2 and curve
        if v == 0 or (v == 2 and not curve):
            self.pwm = 255
            self.twin.duty[0] = 1.0

    def _mac(self) -> str:
        r = random.Random(f"{self.seed}:{self.name}")
        return "2a:" + ":".join(f"{r.randrange(256):02x}" for _ in range(5))

    def _busy(self) -> float:
        """Seconds since boot the node was busy (utilisation integrated over time)."""
        return float(self.twin.busy_s[0]) - self._since_boot_busy

    def _net(self) -> tuple[int, int]:
        busy = self._busy()
        up = self.uptime
        return int(busy * _NET_RX_BPS + up * 2000), int(busy * _NET_TX_BPS + up * 1500)

    def _build_proc(self) -> None:
        b = self.board
        self._add("/proc/stat", self._proc_stat)
        self._add("/proc/meminfo", self._meminfo)
        self._add("/proc/loadavg", self._loadavg)
        self._add("/proc/uptime", self._proc_uptime)
        self._add("/proc/diskstats", self._diskstats)
        self._add("/proc/net/dev", self._netdev)
        self._add("/proc/sys/kernel/random/boot_id", lambda: f"{self.boot_id}\n")
        self._add("/proc/sys/kernel/hostname", lambda: f"{self.name}\n")
        self._add("/proc/cpuinfo", self._cpuinfo)
        self._add("/proc/device-tree/model", lambda: f"{b.name}\x00")
        self._add("/proc/mounts", lambda: "/dev/root / ext4 rw,relatime 0 0\n")

    def _proc_uptime(self) -> str:
        idle = (self.uptime - self._busy()) * self.board.cores
        return f"{self.uptime:.2f} {idle:.2f}\n"

    def _proc_stat(self) -> str:
        cores = self.board.cores
        busy = self._busy() * cores  # core-seconds
        total = self.uptime * cores
        user = busy * 0.85 * USER_HZ
        system = busy * 0.15 * USER_HZ
        idle = max(0.0, total - busy) * USER_HZ

        def line(label: str, k: float) -> str:
            return (
                f"{label} {int(user * k)} 0 {int(system * k)} {int(idle * k)} 0 0 "
                f"{int(system * k * 0.05)} 0 0 0"
            )

        lines = [line("cpu ", 1.0)] + [line(f"cpu{i}", 1.0 / cores) for i in range(cores)]
        btime = int(time.time() - self.uptime / self.script.speed)
        lines += [
            "intr 0",
            f"ctxt {int(busy * 5000)}",
            f"btime {btime}",
            f"processes {int(self.uptime * 2) + 400}",
            f"procs_running {1 + round(float(self.twin.util[0]) * cores)}",
            "procs_blocked 0",
        ]
        return "\n".join(lines) + "\n"

    def _meminfo(self) -> str:
        total = int(self.board.ram_gb * 1024 * 1024)
        held = sum(m for _, m in self._loads.values()) // 1024  # a burner's resident memory
        used = min(total, int(total * (0.18 + 0.4 * float(self.twin.util[0]))) + held)
        avail = total - used
        return (
            f"MemTotal:       {total} kB\nMemFree:        {avail // 2} kB\n"
            f"MemAvailable:   {avail} kB\nBuffers:        {total // 100} kB\n"
            f"Cached:         {avail // 2} kB\nSwapTotal:      0 kB\nSwapFree:       0 kB\n"
        )

    def _loadavg(self) -> str:
        load = float(self.twin.util[0]) * self.board.cores
        return f"{load:.2f} {load:.2f} {load:.2f} 1/180 {int(self.uptime) + 400}\n"

    def _diskstats(self) -> str:
        busy = self._io_s  # the drive's busy seconds: disk traffic follows I/O, not CPU
        up = self.uptime
        dev = "nvme0n1" if self.has_nvme else "mmcblk0"
        major = 259 if self.has_nvme else 179
        rd = int((busy * _DISK_READ_BPS + up * 1000) / 512)
        wr = int((busy * _DISK_WRITE_BPS + up * 4000) / 512)
        rops, wops = rd // 64 + 1, wr // 32 + 1
        io_ms = int(busy * 1000)
        return (
            f" {major}       0 {dev} {rops} 0 {rd} {rops // 4} {wops} 0 {wr} {wops // 2} "
            f"0 {io_ms} {io_ms * 2} 0 0 0 0 0 0\n"
        )

    def _netdev(self) -> str:
        rx, tx = self._net()
        return (
            "Inter-|   Receive                                                |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
            "packets errs drop fifo colls carrier compressed\n"
            "    lo:       0       0    0    0    0     0          0         0        0 "
            "      0    0    0    0     0       0          0\n"
            f"  eth0: {rx} {rx // 1200} 0 0 0 0 0 0 {tx} {tx // 1200} 0 0 0 0 0 0\n"
        )

    def _cpuinfo(self) -> str:
        cpus = "".join(f"processor\t: {i}\nBogoMIPS\t: 108.00\n\n" for i in range(self.board.cores))
        return cpus + f"Model\t\t: {self.board.name}\n"

    def _build_cpufreq(self) -> None:
        b = self.board
        max_khz = b.max_mhz * 1000
        min_khz = int(max_khz * b.physics.min_clock_ratio.value)
        for i in range(b.cores):
            d = f"/sys/devices/system/cpu/cpu{i}/cpufreq"
            self._add(f"{d}/cpuinfo_max_freq", lambda: f"{max_khz}\n")
            self._add(f"{d}/cpuinfo_min_freq", lambda: f"{min_khz}\n")
            self._add(f"{d}/scaling_max_freq", *self._max_freq_file(i))
            self._add(f"{d}/scaling_governor", lambda: "ondemand\n")
            self._add(f"{d}/scaling_cur_freq", self._cur_freq_file(i))

    def _max_freq_file(self, cpu: int) -> tuple[Callable[[], str], Callable[[str], None]]:
        """Read and write ``scaling_max_freq`` of ``cpu``."""
        top = self.board.max_mhz * 1000

        def read() -> str:
            return f"{self._max_khz.get(cpu, top)}\n"

        def write(data: str) -> None:
            self._set_max_freq(cpu, data)

        return read, write

    def _set_max_freq(self, cpu: int, data: str) -> None:
        """As the kernel does: an integer in kHz, clamped to cpuinfo_min/max_freq."""
        try:
            khz = int(data.strip())
        except ValueError:
            raise OSError(errno.EINVAL, "Invalid argument") from None
        top = self.board.max_mhz * 1000
        khz = max(int(top * self.board.physics.min_clock_ratio.value), min(top, khz))
        caps = dict(self._max_khz)
        if khz >= top:
            caps.pop(cpu, None)
        else:
            caps[cpu] = khz
        self._set_caps(caps)

    def _cur_freq_file(self, cpu: int) -> Callable[[], str]:
        def read() -> str:
            b = self.board
            lo = b.physics.min_clock_ratio.value
            util = float(self.twin.util[0])
            # ondemand: idle cores sit low, busy ones run at the (throttled) top clock,
            # never above their own scaling_max_freq
            ratio = max(lo, self.clock_ratio if util > 0.05 else lo)
            top = b.max_mhz * 1000
            return f"{min(int(top * ratio), self._max_khz.get(cpu, top))}\n"

        return read


def open_node(
    board: str,
    *,
    seed: int = 0,
    name: str | None = None,
    script: str | Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TwinNode:
    """A simulated ``board`` (catalog id or alias) with its ``/proc`` and ``/sys``.

    ``script`` is a YAML node script (load, ambient and faults over time); a
    mistake in it raises ``ConfigError`` naming the field.  The node starts in
    the steady state of the script's first load point.
    """
    parsed = load_node_script(script) if script is not None else None
    ram_gb = parsed.ram_gb if parsed is not None else None
    node = TwinNode(
        board_model(board, ram_gb=ram_gb), seed=seed, name=name, script=parsed, clock=clock
    )
    node.twin.settle()
    node.twin.time = 0.0
    node._last = clock()
    return node
