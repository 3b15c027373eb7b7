"""The requirements file: what a cluster must do, before any board is chosen."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from microrack._yaml import read_yaml
from microrack.catalog import Catalog, UnknownBoard
from microrack.errors import ConfigError, field_path

__all__ = [
    "Ceph",
    "Extra",
    "Kubernetes",
    "Network",
    "NodeRange",
    "OsDrive",
    "PoERequirement",
    "Requirements",
    "Storage",
    "check_board_names",
    "load_requirements",
]


Isa = Literal["arm64", "armv7", "riscv64", "x86_64"]
ALL_ISAS: tuple[Isa, ...] = ("arm64", "armv7", "riscv64", "x86_64")


class _Strict(BaseModel):
    # a typo in a requirement must not silently relax it
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeRange(_Strict):
    min: int = Field(1, ge=1)
    max: int = Field(32, ge=1, le=256)

    @model_validator(mode="after")
    def _ordered(self) -> NodeRange:
        if self.max < self.min:
            raise ValueError(f"max {self.max} is below min {self.min}")
        return self


class Storage(_Strict):
    """One drive per node, in a slot the board (or its HAT/carrier) provides."""

    kind: Literal["nvme", "sata", "any"] = "nvme"
    m2_length: Literal[2230, 2242, 2260, 2280, 22110] | None = Field(
        None, description="length of the M.2 drive that must fit"
    )
    m2_min_length: Literal[2230, 2242, 2260, 2280, 22110] | None = Field(
        None, description="the M.2 slot must take a drive at least this long"
    )
    power_loss_protection: bool = Field(
        False, description="PLP drives are 2280 or 22110 M.2, or 2.5-inch SATA"
    )
    size_tb: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _one_length(self) -> Storage:
        if self.m2_length is not None and self.m2_min_length is not None:
            raise ValueError("give m2_length or m2_min_length, not both")
        if self.kind == "sata" and (self.m2_length or self.m2_min_length):
            raise ValueError("an M.2 length does not apply to a SATA drive")
        return self

    def describe(self) -> str:
        """``NVMe (>= 2280, PLP)`` — how a miss names the option."""
        kind = {"nvme": "NVMe", "sata": "SATA", "any": "NVMe or SATA"}[self.kind]
        extra = [
            f"{self.m2_length}" if self.m2_length else "",
            f">= {self.m2_min_length}" if self.m2_min_length else "",
            "PLP" if self.power_loss_protection else "",
        ]
        extra = [e for e in extra if e]
        return f"{kind} ({', '.join(extra)})" if extra else kind


OsMedium = Literal["emmc", "second_slot", "sd", "usb"]
_OS_DEFAULT: tuple[OsMedium, ...] = ("emmc", "second_slot")


class OsDrive(_Strict):
    """The OS on its own drive, apart from the data (Ceph) drive."""

    allow: list[OsMedium] = Field(
        default_factory=lambda: list(_OS_DEFAULT),
        min_length=1,
        description="emmc (onboard, module or socket), second_slot (another M.2 or SATA), sd, usb",
    )


class Network(_Strict):
    node_link_gbps: float = Field(0, ge=0, description="minimum link speed between nodes")
    uplink_gbps: float = Field(
        0, ge=0, description="to the outside in total, across the nodes' uplink-capable ports"
    )
    uplink_bonding: bool = Field(
        False, description="LACP bonds allowed: a node's bondable ports add up"
    )
    uplink_nodes: int | None = Field(
        None, ge=1, description="nodes (or carriers) wired to the outside; default: all"
    )


class PoERequirement(_Strict):
    switch_budget_w: float | None = Field(None, gt=0, description="PoE budget of the switch")
    allocation: Literal["class", "consumption"] = Field(
        "class", description="how the switch reserves power: by PD class or by measured draw"
    )


class Kubernetes(_Strict):
    distribution: Literal["k3s", "kubeadm"] = "k3s"


class Ceph(_Strict):
    osd_memory_gb: float | None = Field(
        None, gt=0, description="RAM per OSD; default: the Ceph osd_memory_target"
    )


class Extra(_Strict):
    name: str
    cost_usd: float = Field(ge=0)
    watts: float = Field(0, ge=0)
    per_node: bool = False


class Requirements(_Strict):
    """Hard requirements (a build failing one is rejected) and the costs to rank by."""

    name: str = "requirements"
    workload_ram_gb: float = Field(0, ge=0, description="RAM the workloads need in total")
    min_node_ram_gb: float = Field(0, ge=0)
    survive_node_losses: int = Field(0, ge=0, le=8)
    nodes: NodeRange = Field(default_factory=lambda: NodeRange.model_validate({}))
    storage: Storage | list[Storage] | None = Field(
        None, description="one drive per node; a list gives alternatives, any one will do"
    )
    os_drive: OsDrive | None = Field(None, description="a separate drive for the OS")
    network: Network = Field(default_factory=lambda: Network.model_validate({}))
    transcode_nodes: int = Field(0, ge=0, description="nodes with hardware video encode")
    isa: list[Isa] = Field(default_factory=lambda: list(ALL_ISAS), min_length=1)
    poe: PoERequirement | None = Field(None, description="every node powered over Ethernet")
    max_node_load_w: float | None = Field(
        None, gt=0, description="cap per node at full load (passive cooling, noise)"
    )
    max_noise_dba: float | None = Field(
        None, gt=0, description="loudest node; checked only where a figure is sourced"
    )
    min_cluster_gflops: float | None = Field(
        None, gt=0, description="HPL Gflops of the nodes together (sum of single-node runs)"
    )
    rank_by: Literal["tco", "cost_per_gflops", "gflops_per_watt"] = Field(
        "tco", description="cost of ownership, cost of ownership per Gflops, or Gflops per watt"
    )
    budget_usd: float | None = Field(None, gt=0, description="hardware budget")
    electricity_usd_per_kwh: float = Field(0.15, ge=0)
    years: float = Field(3, gt=0, le=20)
    typical_load: float = Field(0.2, ge=0, le=1, description="average CPU utilisation 0..1")
    system_reserved_gb: float = Field(0.5, ge=0, description="RAM the OS keeps on each node")
    kubernetes: Kubernetes | None = None
    ceph: Ceph | None = None
    extras: list[Extra] = Field(default_factory=list)
    boards: list[str] | None = Field(None, description="only consider these boards")
    exclude_boards: list[str] = Field(default_factory=list)
    mixed: bool = Field(True, description="consider builds mixing two boards")

    @property
    def storage_options(self) -> tuple[Storage, ...]:
        if self.storage is None:
            return ()
        return tuple(self.storage) if isinstance(self.storage, list) else (self.storage,)

    @model_validator(mode="after")
    def _storage_listed(self) -> Requirements:
        if isinstance(self.storage, list) and not self.storage:
            raise ValueError("storage: give at least one alternative, or leave it out")
        if self.os_drive is not None and self.storage is None:
            raise ValueError("os_drive: a separate OS drive needs `storage` for the data drive")
        return self


def check_board_names(req: Requirements, catalog: Catalog, path: str) -> None:
    """Board names in ``boards``/``exclude_boards`` must be in the catalog (ids or aliases)."""
    for field in ("boards", "exclude_boards"):
        for i, name in enumerate(getattr(req, field) or []):
            try:
                catalog.resolve(name)
            except UnknownBoard as exc:
                raise ConfigError(path, f"{field}[{i}]", str(exc)) from None


def load_requirements(path: str | os.PathLike[str], catalog: Catalog | None = None) -> Requirements:
    """Read and check a requirements file; one :class:`ConfigError` names file and field.

    With ``catalog``, board names the file lists are checked against it too.
    """
    name = os.fspath(path)
    doc = read_yaml(name)
    if not isinstance(doc, dict):
        raise ConfigError(name, None, "expected a mapping of requirements")
    try:
        req = Requirements.model_validate(doc)
    except ValidationError as exc:
        # of a union's alternatives, the one that got furthest into the input explains best
        errors = exc.errors()
        first = max(errors, key=lambda e: len(field_path(e["loc"])))
        field = field_path(first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field (a typo?)"
        named = re.match(r"^([a-z_]+): (.*)$", message)
        if field is None and named:  # a check across fields names the one at fault
            field, message = named.groups()
        raise ConfigError(name, field, message) from None
    if catalog is not None:
        check_board_names(req, catalog, name)
    return req
