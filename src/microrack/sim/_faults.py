"""Fault kinds: one class each, its twin behaviour beside its real-cluster behaviour.

A scenario's ``faults:`` list holds these (``kind`` picks the class).  Every
class answers two questions for the same timeline:

* ``twin(state, idx)``: what the hardware twin does while the fault is active
  on the nodes ``idx`` (``microrack sim``);
* ``requests(cluster, idx)``: which agent gets which fault request of the
  chaos wire contract (``microrack chaos run``), with which params.  A kind with
  no agent counterpart (``sensor_fail``, ``under_voltage``, ``ambient_rise``)
  returns no request and ``chaos run`` refuses it by name.

Partition semantics: ``groups`` are node names or roles; nodes in no group form
one more side.  ``direction`` is seen from the first group: ``out`` drops what
it sends to the others, ``in`` what it receives, ``both`` every packet between
every two sides.  The twin counts a side as cut off from the others (for
quorum) when packets are dropped entirely (``loss_pct`` 100) in any direction,
as a consensus protocol needs answers both ways; a lossy or slow link keeps
the sides together.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "FAULT_KINDS",
    "AmbientRise",
    "AnyFault",
    "Crash",
    "DiskFill",
    "FanStall",
    "FaultBase",
    "FaultFieldError",
    "FaultRequest",
    "NodeFacts",
    "Partition",
    "PowerCycle",
    "Pressure",
    "SensorFail",
    "Throttle",
    "TwinState",
    "UnderVoltage",
]


def _seconds(value: Any) -> float:
    from microrack.sim._script import parse_seconds

    return parse_seconds(value)


Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]


class NodeFacts:
    """What ``requests`` needs to know about the cluster (built from cluster.yaml)."""

    def __init__(
        self,
        names: Sequence[str],
        addresses: Sequence[Sequence[str]],
        roles: Sequence[Sequence[str]],
    ) -> None:
        self.names = list(names)
        self.addresses = [list(a) for a in addresses]
        self.roles = [tuple(r) for r in roles]
        self.index = {n: i for i, n in enumerate(self.names)}

    def with_role(self, role: str) -> list[int]:
        return [i for i, r in enumerate(self.roles) if role in r]


@dataclass
class TwinState:
    """The twin's fault-driven arrays; reset before the active faults are applied."""

    tw: Any  # microrack.sim.Twin
    facts: NodeFacts
    cores: np.ndarray
    sensor_ok: np.ndarray
    fill_rate: np.ndarray
    extra_util: np.ndarray
    ambient_add: np.ndarray
    side: np.ndarray | None = None
    failed_sensors: set[str] = field(default_factory=set)

    def reset(self) -> None:
        tw = self.tw
        tw.up[:] = 1.0
        tw.fan_ok[:] = 1.0
        tw.under_voltage[:] = False
        tw.max_clock[:] = 1.0
        self.sensor_ok[:] = True
        self.fill_rate[:] = 0.0
        self.extra_util[:] = 0.0
        self.ambient_add[:] = 0.0
        self.side = None


@dataclass(frozen=True, slots=True)
class FaultRequest:
    """One request of the chaos wire contract to one node's agent."""

    node: str
    kind: str
    params: dict[str, Any]


class FaultBase(BaseModel):
    """Common fields: when, how long (omitted: until the end) and where."""

    model_config = ConfigDict(extra="forbid")

    #: the kind of the chaos contract this fault becomes on a real node (None: twin only)
    contract_kind: ClassVar[str | None] = None
    #: True: must name node, nodes or role (False: all nodes when none is given)
    needs_target: ClassVar[bool] = True

    kind: str
    at: Seconds
    duration: Seconds | None = None
    node: str | None = None
    nodes: list[str] | None = None
    role: str | None = None

    def active(self, t: float) -> bool:
        return self.at <= t and (self.duration is None or t < self.at + self.duration)

    def twin(self, st: TwinState, idx: list[int]) -> None:
        """Apply this fault to the twin's arrays for the nodes ``idx``."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The contract's params for this fault (kind-specific)."""
        return {}

    def requests(self, facts: NodeFacts, idx: list[int]) -> list[FaultRequest]:
        """The agent requests that make this fault real on the nodes ``idx``."""
        if self.contract_kind is None:
            return []
        p = self.params()
        return [FaultRequest(facts.names[i], self.contract_kind, dict(p)) for i in idx]

    def describe(self) -> str:
        if self.node:
            return self.node
        if self.nodes:
            return ",".join(self.nodes)
        if self.role:
            return f"role {self.role}"
        return "all nodes"


class Crash(FaultBase):
    """Node down for ``duration``, then it boots again; on a cluster ``target`` is stopped."""

    kind: Literal["crash"]
    contract_kind: ClassVar[str | None] = "crash"
    target: str | None = Field(default=None, min_length=1, max_length=128)

    def twin(self, st: TwinState, idx: list[int]) -> None:
        st.tw.up[idx] = 0.0

    def params(self) -> dict[str, Any]:
        return {"target": self.target}


class PowerCycle(FaultBase):
    """Power off for ``duration``, then on: the node's BMC (cluster.yaml ``bmc:``) does it."""

    kind: Literal["power_cycle"]

    def twin(self, st: TwinState, idx: list[int]) -> None:
        st.tw.up[idx] = 0.0


class FanStall(FaultBase):
    """The fan stops whatever its duty says; on a cluster the controller holds duty 0."""

    kind: Literal["fan_stall"]
    contract_kind: ClassVar[str | None] = "fan_stall"
    limit_c: float | None = Field(default=None, gt=0, le=125)

    def twin(self, st: TwinState, idx: list[int]) -> None:
        st.tw.fan_ok[idx] = 0.0

    def params(self) -> dict[str, Any]:
        return {} if self.limit_c is None else {"limit_c": self.limit_c}


class SensorFail(FaultBase):
    """A sensor stops reading (twin only)."""

    kind: Literal["sensor_fail"]
    sensor: Literal["soc", "nvme", "fan"] = "soc"

    def twin(self, st: TwinState, idx: list[int]) -> None:
        st.sensor_ok[idx] = False
        st.failed_sensors.add(self.sensor)


class UnderVoltage(FaultBase):
    """The supply sags: Pi firmware flags it and caps the clock (twin only)."""

    kind: Literal["under_voltage"]

    def twin(self, st: TwinState, idx: list[int]) -> None:
        st.tw.under_voltage[idx] = True


class DiskFill(FaultBase):
    """The root filesystem fills at ``rate`` bytes/s; on a cluster one file of ``bytes``."""

    kind: Literal["disk_fill"]
    contract_kind: ClassVar[str | None] = "disk_fill"
    rate: float = Field(default=50e6, gt=0)
    bytes: int | None = Field(default=None, gt=0)
    fill_pct: float | None = Field(default=None, gt=0, lt=100)

    @model_validator(mode="after")
    def _one_size(self) -> DiskFill:
        if self.bytes is not None and self.fill_pct is not None:
            raise ValueError("give bytes or fill_pct, not both")
        return self

    def twin(self, st: TwinState, idx: list[int]) -> None:
        st.fill_rate[idx] += self.rate

    def params(self) -> dict[str, Any]:
        if self.fill_pct is not None:
            return {"fill_pct": self.fill_pct}
        if self.bytes is not None:
            return {"bytes": self.bytes}
        # the twin's rate over the lease, as one file
        return {"bytes": int(self.rate * (self.duration or 60.0))}


class AmbientRise(FaultBase):
    """Ambient rises by ``delta_c`` (twin only; all nodes when no target is given)."""

    kind: Literal["ambient_rise"]
    needs_target: ClassVar[bool] = False
    delta_c: float = 10.0

    def twin(self, st: TwinState, idx: list[int]) -> None:
        st.ambient_add[idx] += self.delta_c


class Throttle(FaultBase):
    """Every cpufreq policy capped at ``max_khz`` or ``max_pct`` of the top clock."""

    kind: Literal["throttle"]
    contract_kind: ClassVar[str | None] = "throttle"
    max_khz: int | None = Field(default=None, gt=0)
    max_pct: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _one_cap(self) -> Throttle:
        if (self.max_khz is None) == (self.max_pct is None):
            raise ValueError("a throttle fault needs exactly one of max_khz, max_pct")
        return self

    def twin(self, st: TwinState, idx: list[int]) -> None:
        tw = st.tw
        for i in idx:
            if self.max_pct is not None:
                cap = self.max_pct / 100.0
            else:
                top_khz = float(tw.boards[i].max_mhz) * 1000.0
                cap = min(1.0, (self.max_khz or 0) / top_khz) if top_khz > 0 else 1.0
            tw.max_clock[i] = min(float(tw.max_clock[i]), cap)

    def params(self) -> dict[str, Any]:
        return {"max_khz": self.max_khz} if self.max_khz is not None else {"max_pct": self.max_pct}


class Pressure(FaultBase):
    """A bounded burner: ``cpu`` cores busy and ``memory_bytes`` held for the lease."""

    kind: Literal["pressure"]
    contract_kind: ClassVar[str | None] = "pressure"
    cpu: float = Field(default=1.0, gt=0, le=256)
    memory_bytes: int = Field(default=0, ge=0)

    def twin(self, st: TwinState, idx: list[int]) -> None:
        st.extra_util[idx] += self.cpu / st.cores[idx]

    def params(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "memory_bytes": self.memory_bytes}


Protocol = Literal["tcp", "udp", "icmp"]


def _tcp_udp() -> list[Protocol]:
    return ["tcp", "udp"]


class Partition(FaultBase):
    """A network partition between ``groups`` (see the module text for direction)."""

    kind: Literal["partition"]
    contract_kind: ClassVar[str | None] = "partition"
    needs_target: ClassVar[bool] = False
    groups: list[list[str]] | None = None
    direction: Literal["in", "out", "both"] = "both"
    protocols: list[Protocol] = Field(default_factory=_tcp_udp, min_length=1)
    loss_pct: float = Field(default=100.0, gt=0, le=100)
    delay_ms: float = Field(default=0.0, ge=0, le=60000)
    jitter_ms: float = Field(default=0.0, ge=0, le=60000)

    @model_validator(mode="after")
    def _protocols(self) -> Partition:
        if len(set(self.protocols)) != len(self.protocols):
            raise ValueError("protocols: each protocol once")
        return self

    @property
    def splits(self) -> bool:
        """True when the sides cannot talk (what quorum checks see)."""
        return self.loss_pct >= 100.0

    def sides(self, facts: NodeFacts) -> np.ndarray:
        """Side number of every node; unlisted nodes share one extra side.

        Raises ``ValueError`` naming ``groups[g][j]`` for an unknown name.
        """
        groups = self.groups or []
        side = np.full(len(facts.names), len(groups), dtype=np.int64)
        for g, members in enumerate(groups):
            for j, name in enumerate(members):
                idx = [facts.index[name]] if name in facts.index else facts.with_role(name)
                if not idx:
                    raise FaultFieldError(
                        f"groups[{g}][{j}]", f"{name!r} is neither a node nor a role in the cluster"
                    )
                side[idx] = g
        return side

    def twin(self, st: TwinState, idx: list[int]) -> None:
        if self.splits:
            st.side = self.sides(st.facts)

    def params(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "protocols": list(self.protocols),
            "loss_pct": self.loss_pct,
            "delay_ms": self.delay_ms,
            "jitter_ms": self.jitter_ms,
        }

    def requests(self, facts: NodeFacts, idx: list[int]) -> list[FaultRequest]:
        side = self.sides(facts)
        base = self.params()
        out: list[FaultRequest] = []
        for i, name in enumerate(facts.names):
            if self.direction != "both" and side[i] != 0:
                continue  # one-way: only the first group's members act
            peers = _peers(facts, [j for j in range(len(facts.names)) if side[j] != side[i]])
            if not peers:
                continue
            out.append(FaultRequest(name, "partition", {**base, "peers": peers}))
        return out

    def describe(self) -> str:
        if self.groups:
            return " | ".join(",".join(g) for g in self.groups)
        return super().describe()


def _peers(facts: NodeFacts, idx: list[int]) -> list[str]:
    seen: list[str] = []
    for j in idx:
        for a in facts.addresses[j]:
            text = str(ipaddress.ip_address(a))
            if text not in seen:
                seen.append(text)
    return seen


class FaultFieldError(ValueError):
    """A fault field that does not fit the cluster (``where`` is relative to the fault)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


AnyFault = Annotated[
    Crash
    | PowerCycle
    | FanStall
    | SensorFail
    | UnderVoltage
    | DiskFill
    | AmbientRise
    | Throttle
    | Pressure
    | Partition,
    Field(discriminator="kind"),
]

FAULT_KINDS = (
    "crash",
    "fan_stall",
    "sensor_fail",
    "under_voltage",
    "disk_fill",
    "partition",
    "ambient_rise",
    "throttle",
    "pressure",
    "power_cycle",
)
