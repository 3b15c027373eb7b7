"""What every fault kind shares: the node it acts on, how it runs programs, its base class.

``apply`` returns what ``revert`` needs (kept in the state file, so a restarted
agent can undo a fault its killed predecessor applied).  Everything a kind
touches outside the process goes through :class:`NodeContext`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from microrack.faults._spec import FaultError, FaultRequest, plan_commands

__all__ = ["CPU", "FaultKind", "NodeContext", "cpufreq_dirs", "read_int", "run_command"]

CPU = "/sys/devices/system/cpu"
CPUFREQ = f"{CPU}/cpufreq"


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
            d: read_int(self.fs, f"{d}/cpuinfo_max_freq") for d in cpufreq_dirs(self.fs).values()
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


def read_int(fs: Any, path: str) -> int | None:
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
