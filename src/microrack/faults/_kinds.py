"""One class per fault kind: what it would do, how it is applied, how it is reverted.

``apply`` returns what ``revert`` needs (kept in the state file, so a restarted
agent can undo a fault its killed predecessor applied).  Everything a kind
touches outside the process goes through :class:`NodeContext`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from microrack.faults._spec import (
    FaultError,
    FaultRequest,
    nft_partition,
    nft_partition_revert,
    plan_commands,
    tc_netem,
)

__all__ = ["KIND_CLASSES", "FaultKind", "NodeContext", "run_command"]

CPU = "/sys/devices/system/cpu"
CPUFREQ = f"{CPU}/cpufreq"
MIN_FREE = 0.05


def run_command(argv: Sequence[str], stdin: str | None = None) -> str:
    """Run ``argv``; :class:`FaultError` 422 with its stderr when it fails or is missing."""
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise FaultError(422, f"{argv[0]} is not installed on this node") from None
    except subprocess.TimeoutExpired:
        raise FaultError(422, f"{argv[0]} did not finish in 30 s") from None
    if done.returncode:
        raise FaultError(422, f"{' '.join(argv[:3])}: {done.stderr.strip() or done.returncode}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class NodeContext:
    """What the fault kinds may touch on this node."""

    node: str
    fs: Any  # microrack.sensors.HostFS: cpufreq under the agent's root, or the twin
    units: frozenset[str] = frozenset()
    fill_dir: Path | None = None
    fan_override: Path | None = None
    fan_max_c: float | None = None
    simulate: bool = False
    cgroup_root: Path = Path("/sys/fs/cgroup")
    run: Callable[[Sequence[str], str | None], str] = run_command
    ncpu: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def cores(self) -> int:
        """The cores a burner may take: the twin's board under ``--simulate``, else this host's."""
        if self.simulate:
            return int(getattr(self.fs, "cores", 0)) or self.ncpu
        return self.ncpu

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ncpu": self.cores, "simulate": self.simulate}
        if self.simulate:
            with contextlib.suppress(OSError, AttributeError):
                out["fs_size_bytes"] = self.fs.statvfs("/").size_bytes
        elif self.fill_dir is not None:
            out["fill_dir"] = str(self.fill_dir)
            try:
                st = os.statvfs(self.fill_dir)
                out["fs_size_bytes"] = st.f_blocks * st.f_frsize
            except OSError:
                pass
        if self.fan_override is not None:
            out["fan_override"] = str(self.fan_override)
        if self.fan_max_c is not None:
            out["fan_max_c"] = self.fan_max_c
        out["cpufreq"] = {
            d: _int(self.fs, f"{d}/cpuinfo_max_freq") for d in cpufreq_dirs(self.fs).values()
        }
        return out


def cpufreq_dirs(fs: Any) -> dict[str, str]:
    """cpufreq policy name -> its directory (``cpufreq/policyN``, else ``cpuN/cpufreq``)."""
    out: dict[str, str] = {}
    try:
        for p in fs.listdir(CPUFREQ):
            if p.startswith("policy"):
                out[p] = f"{CPUFREQ}/{p}"
    except OSError:
        pass
    if out:
        return out
    seen: set[str] = set()
    try:
        cpus = [c for c in fs.listdir(CPU) if c[3:].isdigit() and c.startswith("cpu")]
    except OSError:
        return out
    for c in sorted(cpus, key=lambda c: int(c[3:])):
        d = f"{CPU}/{c}/cpufreq"
        if fs.exists(f"{d}/scaling_max_freq"):
            real = fs.realpath(d)
            if real not in seen:
                seen.add(real)
                out[c] = d
    return out


def _int(fs: Any, path: str) -> int | None:
    try:
        return int(fs.read_text(path).strip())
    except (OSError, ValueError):
        return None


class FaultKind:
    """Base: ``plan`` (pure), ``check`` (may this node apply it), ``apply``, ``revert``."""

    name: ClassVar[str]

    def plan(self, req: FaultRequest, ctx: NodeContext) -> list[str]:
        return plan_commands(
            req.kind, req.params, ctx.facts(), fault_id=req.id, duration_s=req.duration_s
        )

    def check(self, req: FaultRequest, ctx: NodeContext) -> None:
        """Raise :class:`FaultError` 403/422 when this node may or can not apply ``req``."""

    def apply(self, req: FaultRequest, ctx: NodeContext, deadline: float) -> dict[str, Any]:
        raise NotImplementedError

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        raise NotImplementedError


class Partition(FaultKind):
    name = "partition"

    def plan(self, req: FaultRequest, ctx: NodeContext) -> list[str]:
        facts = ctx.facts()
        if req.params["delay_ms"]:
            with contextlib.suppress(FaultError):  # no ip here: the plan says DEV
                facts["netem_devs"] = self.devices(req.params["peers"], ctx)
        return plan_commands(
            req.kind, req.params, facts, fault_id=req.id, duration_s=req.duration_s
        )

    def apply(self, req: FaultRequest, ctx: NodeContext, deadline: float) -> dict[str, Any]:
        p = req.params
        undo: dict[str, Any] = {"id": req.id, "direction": p["direction"]}
        ctx.run(["nft", "-f", "-"], "\n".join(nft_partition(req.id, p, req.duration_s)) + "\n")
        if p["delay_ms"]:
            try:
                undo["netem_devs"] = self._netem(p, ctx)
            except FaultError:
                self.revert(undo, ctx)
                raise
        return undo

    @staticmethod
    def devices(peers: Sequence[str], ctx: NodeContext) -> list[str]:
        """The network devices this node reaches ``peers`` through (its routes)."""
        devs: list[str] = []
        for peer in peers:
            out = ctx.run(["ip", "-o", "route", "get", peer.split("/")[0]], None).split()
            if "dev" in out and out[out.index("dev") + 1] not in devs:
                devs.append(out[out.index("dev") + 1])
        return devs

    def _netem(self, p: Mapping[str, Any], ctx: NodeContext) -> list[str]:
        devs = self.devices(p["peers"], ctx)
        for dev in devs:  # refuse before anything is changed
            root = ctx.run(["tc", "qdisc", "show", "dev", dev, "root"], None).split()
            kind = root[1] if len(root) > 1 and root[0] == "qdisc" else ""
            if kind and kind not in _DEFAULT_QDISCS:
                raise FaultError(
                    409 if kind == "prio" else 422,
                    f"{dev} already has a {kind} root qdisc"
                    + (
                        " (another delay fault?)"
                        if kind == "prio"
                        else ", which delay would replace"
                    ),
                    "params.delay_ms",
                )
        done: list[str] = []
        for dev in devs:
            done.append(dev)
            for argv in tc_netem(dev, p):
                try:
                    ctx.run(argv, None)
                except FaultError as e:
                    for d in done:
                        with contextlib.suppress(FaultError):
                            ctx.run(["tc", "qdisc", "del", "dev", d, "root"], None)
                    raise _qdisc_error(argv, e) from None
        return done

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        for dev in undo.get("netem_devs", []):
            with contextlib.suppress(FaultError):
                ctx.run(["tc", "qdisc", "del", "dev", dev, "root"], None)
        try:
            ctx.run(
                ["nft", "-f", "-"],
                "\n".join(nft_partition_revert(undo["id"], undo["direction"])) + "\n",
            )
        except FaultError as e:
            if "No such file" not in e.message:  # gone already (the table was deleted)
                raise


#: Root qdiscs a kernel sets up by itself: deleting ours brings them back.
_DEFAULT_QDISCS = ("noqueue", "pfifo_fast", "mq", "fq_codel", "fq", "pfifo")


def _qdisc_error(argv: Sequence[str], e: FaultError) -> FaultError:
    """The 422 of a refused tc call, naming the kernel module that is missing."""
    module = {"prio": "sch_prio", "netem": "sch_netem", "u32": "cls_u32"}
    what = next((m for k, m in module.items() if k in argv), "")
    if what and (
        "unknown" in e.message.lower()
        or "no such file" in e.message.lower()
        or "not supported" in e.message.lower()
        or "talking to the kernel" in e.message
    ):
        return FaultError(
            422,
            f"delay_ms needs the kernel's sch_netem qdisc (in a sch_prio band, with cls_u32 "
            f"filters); this node lacks {what} ({e.message})",
            "params.delay_ms",
        )
    return FaultError(e.status, e.message, "params.delay_ms")


class Crash(FaultKind):
    name = "crash"

    @staticmethod
    def _argv(target: str, action: str) -> list[str]:
        engine, sep, name = target.partition(":")
        if sep and engine in ("podman", "docker"):
            # a crash: 2 s to exit before SIGKILL (not the engine's 10 s grace)
            return (
                [engine, action, "--time", "2", name]
                if action == "stop"
                else [engine, action, name]
            )
        return ["systemctl", action, target]

    def check(self, req: FaultRequest, ctx: NodeContext) -> None:
        if req.params["target"] not in ctx.units:
            raise FaultError(
                403,
                f"{req.params['target']!r} is not in this node's --chaos-unit list",
                "params.target",
            )

    def apply(self, req: FaultRequest, ctx: NodeContext, deadline: float) -> dict[str, Any]:
        ctx.run(self._argv(req.params["target"], "stop"), None)
        return {"target": req.params["target"]}

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        ctx.run(self._argv(undo["target"], "start"), None)


class FanStall(FaultKind):
    name = "fan_stall"

    def check(self, req: FaultRequest, ctx: NodeContext) -> None:
        if ctx.fan_override is None:
            raise FaultError(422, "this agent has no fan override file")
        if "limit_c" not in req.params and ctx.fan_max_c is None:
            raise FaultError(
                400,
                "the fan controller is not in this agent (no --fan), so its curve is "
                "unknown here: give limit_c",
                "params.limit_c",
            )

    def apply(self, req: FaultRequest, ctx: NodeContext, deadline: float) -> dict[str, Any]:
        assert ctx.fan_override is not None
        limit = float(req.params.get("limit_c", ctx.fan_max_c or 0.0))
        path = ctx.fan_override
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps({"id": req.id, "duty": 0.0, "deadline_unix": deadline, "limit_c": limit})
        )
        os.replace(tmp, path)
        return {"path": str(path), "id": req.id}

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        path = Path(undo["path"])
        try:
            if json.loads(path.read_text()).get("id") == undo["id"]:
                path.unlink()
        except (OSError, ValueError):
            pass  # ended by the fan controller itself (limit reached) or never written


class Throttle(FaultKind):
    name = "throttle"

    def check(self, req: FaultRequest, ctx: NodeContext) -> None:
        if not cpufreq_dirs(ctx.fs):
            raise FaultError(422, f"no cpufreq policy under {CPU} on this node")

    def apply(self, req: FaultRequest, ctx: NodeContext, deadline: float) -> dict[str, Any]:
        fs = ctx.fs
        saved: dict[str, int] = {}
        try:
            for d in cpufreq_dirs(fs).values():
                old = _int(fs, f"{d}/scaling_max_freq")
                top = _int(fs, f"{d}/cpuinfo_max_freq") or old
                low = _int(fs, f"{d}/cpuinfo_min_freq") or 0
                if old is None or top is None:
                    raise FaultError(422, f"{d}/scaling_max_freq is not readable")
                cap = (
                    req.params["max_khz"]
                    if "max_khz" in req.params
                    else top * req.params["max_pct"] // 100
                )
                cap = max(low, min(top, cap))
                try:
                    fs.write_text(f"{d}/scaling_max_freq", f"{cap}\n")
                except (OSError, NotImplementedError, AttributeError) as e:
                    raise FaultError(422, f"cannot write {d}/scaling_max_freq: {e}") from None
                saved[d] = old
        except FaultError:
            self.revert({"saved": saved}, ctx)
            raise
        return {"saved": saved}

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        for d, old in undo["saved"].items():
            ctx.fs.write_text(f"{d}/scaling_max_freq", f"{old}\n")


_BURNER = r"""
import os, sys, time
deadline, ncpu, mem = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
kids = []
for _ in range(ncpu):
    pid = os.fork()
    if pid == 0:
        while time.time() < deadline:
            pass
        os._exit(0)
    kids.append(pid)
held = bytearray(mem)
for i in range(0, mem, 4096):
    held[i] = 1
while time.time() < deadline:
    time.sleep(min(1.0, max(0.0, deadline - time.time())))
"""


def _own_cgroup(controller: str) -> str:
    """This process's cgroup for ``controller`` ("" = the v2 hierarchy), relative to its root."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(",") or (not controller and not ctrls):
                return path.lstrip("/")
    except (OSError, ValueError):
        pass
    return ""


AGENT_LEAF = "microrack-agent"  # the agent's own leaf cgroup inside a delegated subtree


def _delegated(root: Path) -> Path:
    """The agent's cgroup (v2) with cpu and memory enabled for its children.

    cgroup v2 enables controllers for children only in a group with no processes
    of its own; in its unit's delegated group (``Delegate=``) the agent moves
    itself into a leaf first, as systemd's delegation rules ask.
    """
    base = root / _own_cgroup("")
    if base.name == AGENT_LEAF:
        base = base.parent
    control = base / "cgroup.subtree_control"
    try:
        control.write_text("+cpu +memory")
    except OSError:
        try:  # EBUSY: processes live in base; the agent leaves for its leaf
            leaf = base / AGENT_LEAF
            leaf.mkdir(exist_ok=True)
            (leaf / "cgroup.procs").write_text(str(os.getpid()))
            control.write_text("+cpu +memory")
        except OSError:
            pass  # not delegated: the limits cannot be set, which the caller reports
    return base


class Pressure(FaultKind):
    """A burner process that ends itself at the deadline, in a cgroup capping its CPU and memory."""

    name = "pressure"

    def check(self, req: FaultRequest, ctx: NodeContext) -> None:
        if req.params["cpu"] > ctx.cores:
            raise FaultError(
                400,
                f"this node has {ctx.cores} cores, asked for {req.params['cpu']:g}",
                "params.cpu",
            )
        if ctx.simulate:
            if not hasattr(ctx.fs, "add_load"):
                raise FaultError(422, "this twin takes no extra load (no add_load)")
            return
        if not self._layout(ctx):
            raise FaultError(422, f"no cgroup cpu/memory controller under {ctx.cgroup_root}")

    @staticmethod
    def _layout(ctx: NodeContext) -> str | None:
        root = ctx.cgroup_root
        try:
            ctrl = (root / "cgroup.controllers").read_text().split()
            if "cpu" in ctrl and "memory" in ctrl:
                return "v2"
        except OSError:
            pass
        if (root / "cpu" / "cpu.cfs_quota_us").exists() and (root / "memory").is_dir():
            return "v1"
        return None

    def apply(self, req: FaultRequest, ctx: NodeContext, deadline: float) -> dict[str, Any]:
        cpu, mem = float(req.params["cpu"]), int(req.params["memory_bytes"])
        if ctx.simulate:
            try:
                ctx.fs.add_load(req.id, cpu, mem)
            except ValueError as e:
                raise FaultError(422, f"the twin refused the load: {e}") from None
            return {"simulate": True, "id": req.id}
        name = f"microrack-chaos-{req.id}"
        layout = self._layout(ctx)
        root = ctx.cgroup_root
        limit = mem + (32 << 20) if mem else None
        if layout == "v2":
            base = _delegated(root)
            groups = [base / name]
            groups[0].mkdir(exist_ok=True)
            try:
                if cpu:
                    (groups[0] / "cpu.max").write_text(f"{int(cpu * 100000)} 100000")
                if limit:
                    (groups[0] / "memory.max").write_text(str(limit))
            except FileNotFoundError:
                with contextlib.suppress(OSError):
                    groups[0].rmdir()
                raise FaultError(
                    422,
                    f"the cpu and memory controllers are not enabled below {base} "
                    "(the agent's unit needs Delegate=cpu memory)",
                ) from None
        else:
            # below the agent's own groups: the burner stays inside whatever bounds the agent
            groups = [
                root / "cpu" / _own_cgroup("cpu") / name,
                root / "memory" / _own_cgroup("memory") / name,
            ]
            for g in groups:
                g.mkdir(exist_ok=True)
            if cpu:
                (groups[0] / "cpu.cfs_period_us").write_text("100000")
                (groups[0] / "cpu.cfs_quota_us").write_text(str(int(cpu * 100000)))
            if limit:
                (groups[1] / "memory.limit_in_bytes").write_text(str(limit))
        procs = [str(g / "cgroup.procs") for g in groups]

        def enter() -> None:  # in the child, before exec: join the cgroups
            for p in procs:
                with open(p, "w") as f:
                    f.write("0")

        proc = subprocess.Popen(
            [sys.executable, "-c", _BURNER, f"{deadline}", str(math.ceil(cpu)), str(mem)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=enter,
            start_new_session=True,
        )
        return {"pid": proc.pid, "groups": [str(g) for g in groups]}

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        if undo.get("simulate"):
            ctx.fs.remove_load(undo["id"])
            return
        pid = undo.get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        for g in undo.get("groups", []):
            for _ in range(50):  # the killed processes leave the cgroup a moment later
                try:
                    os.rmdir(g)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


class DiskFill(FaultKind):
    """A sized file in ``--chaos-fill-dir``; under ``--simulate`` one on the twin's root fs."""

    name = "disk_fill"

    def check(self, req: FaultRequest, ctx: NodeContext) -> None:
        if ctx.simulate:
            if not hasattr(ctx.fs, "fill_disk"):
                raise FaultError(422, "this twin has no disk to fill (no fill_disk)")
            self._size(req, ctx)
            return
        if ctx.fill_dir is None:
            raise FaultError(403, "this node has no --chaos-fill-dir: disk_fill is refused")
        if not ctx.fill_dir.is_dir():
            raise FaultError(422, f"--chaos-fill-dir {ctx.fill_dir} is not a directory")
        self._size(req, ctx)

    @staticmethod
    def _size(req: FaultRequest, ctx: NodeContext) -> int:
        if ctx.simulate:
            use = ctx.fs.statvfs("/")
            total, free, where = use.size_bytes, use.avail_bytes, "the twin's /"
        else:
            assert ctx.fill_dir is not None
            st = os.statvfs(ctx.fill_dir)
            total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
            where = str(ctx.fill_dir)
        size = (
            int(req.params["bytes"])
            if "bytes" in req.params
            else int(total * req.params["fill_pct"] / 100)
        )
        if free - size < MIN_FREE * total:
            raise FaultError(
                422,
                f"writing {size} bytes to {where} would leave "
                f"{max(0, free - size)} of {total} bytes free (< 5 %)",
                "params." + ("bytes" if "bytes" in req.params else "fill_pct"),
            )
        return size

    def apply(self, req: FaultRequest, ctx: NodeContext, deadline: float) -> dict[str, Any]:
        size = self._size(req, ctx)
        if ctx.simulate:
            ctx.fs.fill_disk(req.id, size)
            return {"simulate": True, "id": req.id}
        assert ctx.fill_dir is not None
        path = ctx.fill_dir / f"microrack-chaos-{req.id}.fill"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                os.posix_fallocate(fd, 0, size)
            except OSError:  # a file system without fallocate: write it out
                chunk = b"\0" * (1 << 20)
                left = size
                while left > 0:
                    left -= os.write(fd, chunk[: min(left, len(chunk))])
        except OSError as e:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise FaultError(422, f"cannot fill {path}: {e.strerror}") from None
        os.close(fd)
        return {"path": str(path)}

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        if undo.get("simulate"):
            ctx.fs.unfill_disk(undo["id"])
            return
        Path(undo["path"]).unlink(missing_ok=True)


KIND_CLASSES: dict[str, FaultKind] = {
    k.name: k() for k in (Partition, Crash, FanStall, Throttle, Pressure, DiskFill)
}
