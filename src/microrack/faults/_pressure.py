"""pressure: a bounded burner in its own cgroup, or extra load on the twin under ``--simulate``."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from microrack.faults._base import FaultKind, NodeContext
from microrack.faults._spec import FaultError, FaultRequest

__all__ = ["AGENT_LEAF", "Pressure"]

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
