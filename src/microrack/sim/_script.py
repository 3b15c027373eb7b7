"""Timelines of load, ambient temperature and faults: the node script and the scenario.

A node script (``open_node(..., script=PATH)``, ``agent --sim-script``) drives one
twin node; a scenario (``microrack sim``) drives a whole cluster and may aim
each fault or workload at a node, a list of nodes or a role.  Times are twin
seconds from the start; ``duration`` may be written ``90``, ``"90s"``,
``"15m"`` or ``"2h"``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from microrack._yaml import read_yaml
from microrack.errors import ConfigError, field_path
from microrack.sim._faults import FAULT_KINDS, AnyFault, FaultBase

Fault = FaultBase  # every fault kind is a subclass (microrack.sim._faults)

__all__ = [
    "FAULT_KINDS",
    "AmbientPoint",
    "Fault",
    "LoadPoint",
    "NodeScript",
    "Scenario",
    "Workload",
    "interp",
    "io_at",
    "load_node_script",
    "load_scenario",
    "parse_seconds",
]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_seconds(value: Any) -> float:
    """``90`` / ``"90s"`` / ``"15m"`` / ``"2h"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected seconds, e.g. 90, '15m', '2h'")
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
    if not m:
        raise ValueError(f"expected seconds, e.g. 90, '15m', '2h'; got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


Seconds = Annotated[float, BeforeValidator(parse_seconds), Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


Kind = Literal["idle", "integer", "hpl", "mixed", "io"]
Cooler = Literal["fan", "active_cooler", "passive_case", "heatsink", "bare"]


class LoadPoint(_Model):
    """Utilisation at a time; linear in between, held after the last point.

    ``io`` is the drive's busy share (0..1).  When no point of a load gives it,
    it follows ``util`` times the kind of work's I/O share (1 for ``io``, 0 for
    the CPU-bound kinds); when some do, the others count as 0.
    """

    at: Seconds
    util: float = Field(ge=0, le=1)
    io: float | None = Field(default=None, ge=0, le=1)


class AmbientPoint(_Model):
    at: Seconds
    c: float = Field(ge=-40, le=70)


class NodeScript(_Model):
    """A timeline for one node (the agent's ``--sim-script``)."""

    speed: float = Field(default=1.0, gt=0, le=1000)  # twin seconds per real second
    ambient_c: float = Field(default=25.0, ge=-40, le=70)
    cooler: Cooler = "fan"
    kind: Kind = "integer"  # the kind of work the load is (sets its power per utilisation)
    ram_gb: float | None = Field(default=None, gt=0)  # a RAM variant with its own watts
    nvme: bool | None = None  # default: the board has an NVMe slot
    disk_bytes: int = Field(default=64 * 10**9, gt=0)
    disk_used: float = Field(default=0.3, ge=0, le=1)
    repeat: Seconds | None = None  # restart the timeline every `repeat` seconds
    load: list[LoadPoint] = Field(default_factory=lambda: [LoadPoint(at=0, util=0.1)])
    ambient: list[AmbientPoint] = Field(default_factory=list)
    faults: list[AnyFault] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sorted(self) -> NodeScript:
        self.load.sort(key=lambda p: p.at)
        self.ambient.sort(key=lambda p: p.at)
        if not self.load:
            raise ValueError("load: needs at least one point")
        return self


class Workload(_Model):
    """A load profile for a node, a role, or every node (neither given)."""

    node: str | None = None
    role: str | None = None
    kind: Kind = "integer"  # idle | integer (stress-ng-like) | hpl | mixed | io
    load: list[LoadPoint]

    @model_validator(mode="after")
    def _sorted(self) -> Workload:
        self.load.sort(key=lambda p: p.at)
        if not self.load:
            raise ValueError("load: needs at least one point")
        return self


class Scenario(_Model):
    """A cluster scenario for ``microrack sim``."""

    name: str = "scenario"
    duration: Seconds = Field(gt=0)
    step: Seconds = Field(default=1.0, gt=0, le=60)
    ambient_c: float = Field(default=25.0, ge=-40, le=70)
    ambient: list[AmbientPoint] = Field(default_factory=list)
    price_kwh: float = Field(default=0.15, ge=0)
    currency: str = "USD"
    # None: "fan" (with the default fan curve) for nodes whose cluster.yaml says
    # `fan: true`, else "heatsink"
    cooler: Cooler | None = None
    workloads: list[Workload] = Field(default_factory=list)
    faults: list[AnyFault] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sorted(self) -> Scenario:
        self.ambient.sort(key=lambda p: p.at)
        return self


def io_at(points: Sequence[LoadPoint], t: float) -> float | None:
    """The drive's busy share at ``t`` if any point gives ``io`` (others count 0), else None."""
    if all(p.io is None for p in points):
        return None
    pts = [AmbientPoint(at=p.at, c=p.io or 0.0) for p in points]
    return interp(pts, t, "c")


def interp(points: Sequence[LoadPoint] | Sequence[AmbientPoint], t: float, attr: str) -> float:
    """Piecewise-linear value of ``points`` at ``t`` (held outside the range)."""
    if t <= points[0].at:
        return float(getattr(points[0], attr))
    pts: Sequence[Any] = points
    for a, b in itertools.pairwise(pts):
        if t < b.at:
            va, vb = getattr(a, attr), getattr(b, attr)
            span = b.at - a.at
            return float(va + (vb - va) * ((t - a.at) / span if span > 0 else 1.0))
    return float(getattr(points[-1], attr))


def _load(path: str | Path, model: type[_Model]) -> Any:
    p = Path(path)
    raw = read_yaml(p)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(str(p), None, "expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        loc = tuple(err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc += ("kind",)
            got = (err.get("ctx") or {}).get("tag")
            msg = (
                f"unknown fault kind {got!r}; one of: " if got else "missing; one of: "
            ) + ", ".join(FAULT_KINDS)
        raise ConfigError(str(p), field_path(loc, tags=FAULT_KINDS) or "(top level)", msg) from exc


def load_node_script(path: str | Path) -> NodeScript:
    """Read a node script; a mistake raises ``ConfigError`` naming the field."""
    return _load(path, NodeScript)  # type: ignore[no-any-return]


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario; a mistake raises ``ConfigError`` naming the field."""
    return _load(path, Scenario)  # type: ignore[no-any-return]
