"""One class per fault kind: what it would do, how it is applied, how it is reverted.

``partition`` and ``pressure`` have modules of their own; the kinds that only
touch a file or a unit are here, with the registry of all of them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from microrack.faults._base import (
    CPU,
    FaultKind,
    NodeContext,
    cpufreq_dirs,
    read_int,
    run_command,
)
from microrack.faults._partition import Partition
from microrack.faults._pressure import Pressure
from microrack.faults._spec import FaultError, FaultRequest

__all__ = ["KIND_CLASSES", "FaultKind", "NodeContext", "run_command"]

MIN_FREE = 0.05


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
                old = read_int(fs, f"{d}/scaling_max_freq")
                top = read_int(fs, f"{d}/cpuinfo_max_freq") or old
                low = read_int(fs, f"{d}/cpuinfo_min_freq") or 0
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
