"""The ``cluster.yaml`` model: one file holding every fact about a cluster.

Only the shape and single-field checks live here (a MAC is well formed, a
board id exists in the catalog, a CIDR parses).  Rules that relate several
fields (an address inside its network, a PoE budget) are in ``_rules`` so that
``microrack spec validate`` can list every problem at once.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "DEFAULT_AGENT_PORT",
    "NODE_EXPORTER_PORT",
    "AgentSettings",
    "CephPool",
    "CephService",
    "Cluster",
    "ClusterSpec",
    "DhcpPool",
    "Drive",
    "LoadBalancerService",
    "Network",
    "NetworkKind",
    "NfsExport",
    "NfsService",
    "Nic",
    "Node",
    "Role",
    "Services",
    "Switch",
    "Workload",
]

DEFAULT_AGENT_PORT = 9101
NODE_EXPORTER_PORT = 9100

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _mac(value: str) -> str:
    v = value.strip().lower().replace("-", ":")
    if not _MAC.match(v):
        raise ValueError(
            f"{value!r} is not a MAC address (expected six hex pairs, e.g. 02:00:c6:12:00:01)"
        )
    if int(v[:2], 16) & 1:
        raise ValueError(f"{value!r} is a multicast MAC address (odd first byte); "
                         "a NIC's own address is unicast")
    if v == "00:00:00:00:00:00":
        raise ValueError(f"{value!r} is the all-zero MAC address, not a NIC's")
    return v


def _hostname(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid host name (lower-case letters, digits and '-', at most 63)"
        )
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError(f"{value!r} is not a DNS domain (labels of a-z, 0-9 and '-')")
    return value


Mac = Annotated[str, AfterValidator(_mac)]
HostName = Annotated[str, AfterValidator(_hostname)]
Domain = Annotated[str, AfterValidator(_domain)]


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        # YAML's true/false are not 1/0: ``size_gb: true`` is a mistake, not 1 GB
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and field.annotation in (int, float):
            raise ValueError("expected a number, not true/false")
        return value


class NetworkKind(StrEnum):
    INFRASTRUCTURE = "infrastructure"
    MANAGEMENT = "management"
    STORAGE = "storage"
    SERVICE = "service"
    POD = "pod"
    LOAD_BALANCER = "load_balancer"


#: Kinds whose addresses live on a wire (nodes have NICs on them).
WIRED_KINDS = frozenset({NetworkKind.INFRASTRUCTURE, NetworkKind.MANAGEMENT, NetworkKind.STORAGE})


class Role(StrEnum):
    """What a node does; placement of every service is derived from these."""

    CONTROL_PLANE = "control-plane"  # k3s server (embedded etcd when more than one)
    WORKER = "worker"  # k3s agent
    ETCD = "etcd"  # a standalone etcd member
    CONSUL_SERVER = "consul-server"
    VAULT_SERVER = "vault-server"
    NOMAD_SERVER = "nomad-server"
    CEPH_MON = "ceph-mon"
    CEPH_OSD = "ceph-osd"
    STORAGE = "storage"  # generic storage node (ZFS, Longhorn, MinIO)
    NFS_SERVER = "nfs-server"
    LOAD_BALANCER = "load-balancer"
    DHCP_DNS = "dhcp-dns"
    MONITORING = "monitoring"  # Prometheus / VictoriaMetrics / Grafana / the hub
    RAY_HEAD = "ray-head"
    DASK_SCHEDULER = "dask-scheduler"
    GPU = "gpu"


class DhcpPool(_Strict):
    start: ipaddress.IPv4Address
    end: ipaddress.IPv4Address
    lease: str = Field("12h", pattern=r"^(\d+[smhdw]?|infinite)$")

    @model_validator(mode="after")
    def _ordered(self) -> DhcpPool:
        if int(self.end) < int(self.start):
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def contains(self, addr: ipaddress.IPv4Address) -> bool:
        return int(self.start) <= int(addr) <= int(self.end)

    def as_network_ranges(self) -> list[ipaddress.IPv4Network]:
        return list(ipaddress.summarize_address_range(self.start, self.end))


class Network(_Strict):
    """A range of addresses: a wired subnet, or a virtual range (pods, services, LB pool)."""

    name: HostName
    kind: NetworkKind
    cidr: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address | None = None
    dns: list[ipaddress.IPv4Address] = Field(default_factory=list)
    vlan: int | None = Field(None, ge=1, le=4094)
    dhcp: DhcpPool | None = None


class PortPoe(_Strict):
    port: int = Field(ge=1)
    poe_class: int = Field(ge=0, le=8)


class Switch(_Strict):
    name: HostName
    ports: int = Field(ge=1, le=512)
    poe_budget_w: float | None = Field(None, gt=0, description="total PoE budget in watts")
    poe_class: int | None = Field(
        None, ge=0, le=8, description="PoE class of every port unless listed in port_classes"
    )
    port_classes: list[PortPoe] = Field(default_factory=list)
    poe_allocation: Literal["consumption", "class"] = Field(
        "consumption",
        description="how the switch debits its budget: by measured draw, or by reserving "
        "each port's class maximum",
    )
    psu: str | None = Field(None, description="the power supply feeding the switch")

    def class_of(self, port: int) -> int | None:
        for p in self.port_classes:
            if p.port == port:
                return p.poe_class
        return self.poe_class


class Nic(_Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_.-]{1,15}$", description="interface name on the node")
    mac: Mac
    network: str = Field(description="name of a network of kind infrastructure/management/storage")
    address: ipaddress.IPv4Address
    switch: str | None = None
    port: int | None = Field(None, ge=1)
    poe: bool = Field(False, description="the node is powered from this switch port")


class Drive(_Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_.-]+$")
    kind: Literal["nvme", "ssd", "hdd", "emmc", "sd", "usb"]
    size_gb: float = Field(gt=0)
    osd: bool = Field(False, description="this drive is a Ceph OSD")


class Node(_Strict):
    name: HostName
    board: str = Field(description="board id or alias from the microrack catalog")
    ram_gb: float = Field(gt=0)
    nics: list[Nic] = Field(min_length=1)
    drives: list[Drive] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    psu: str | None = Field(None, description="the power supply feeding this node (if not PoE)")
    peak_w: float | None = Field(
        None, gt=0, description="peak draw in watts; defaults to the catalog's load figure"
    )
    agent_port: int = Field(DEFAULT_AGENT_PORT, ge=1, le=65535)
    node_exporter: bool = Field(False, description="node_exporter runs on port 9100")
    fan: bool = Field(False, description="a controllable fan: render the fan controller unit")

    @field_validator("board")
    @classmethod
    def _known_board(cls, value: str) -> str:
        from microrack.catalog import board_profile  # the catalog resolves aliases
        from microrack.errors import MicrorackError

        try:
            return board_profile(value).id
        except MicrorackError as exc:  # UnknownBoard: its message lists the known ids
            raise ValueError(str(exc)) from None

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: list[Role]) -> list[Role]:
        if len(set(value)) != len(value):
            raise ValueError("a role is listed twice")
        return value

    @property
    def primary(self) -> Nic:
        """The NIC the node is known by (its first)."""
        return self.nics[0]

    @property
    def address(self) -> str:
        return str(self.primary.address)

    @property
    def mac(self) -> str:
        return self.primary.mac

    @property
    def osd_count(self) -> int:
        return sum(1 for d in self.drives if d.osd)


class CephPool(_Strict):
    name: HostName
    size: int = Field(3, ge=1, description="replicas")
    min_size: int = Field(2, ge=1, description="replicas needed to accept writes")

    @model_validator(mode="after")
    def _min_le_size(self) -> CephPool:
        if self.min_size > self.size:
            raise ValueError(f"min_size {self.min_size} is larger than size {self.size}")
        return self


class CephService(_Strict):
    pools: list[CephPool] = Field(
        default_factory=lambda: [CephPool(name="rbd", size=3, min_size=2)]
    )


class NfsExport(_Strict):
    path: str = Field(pattern=r"^/")
    network: str = Field(description="network allowed to mount the export")
    options: str = "rw,sync,no_subtree_check"


class NfsService(_Strict):
    exports: list[NfsExport] = Field(min_length=1)


class LoadBalancerService(_Strict):
    kind: Literal["metallb", "kube-vip", "haproxy"] = "metallb"
    pool: str = Field(description="name of a network of kind load_balancer")


class Workload(_Strict):
    name: str
    ram_gb: float = Field(gt=0)


class Services(_Strict):
    ceph: CephService | None = None
    nfs: NfsService | None = None
    load_balancer: LoadBalancerService | None = None
    redundant: list[Role] = Field(
        default_factory=list, description="roles that must run on more than one node"
    )
    workloads: list[Workload] = Field(
        default_factory=list, description="what the cluster must keep running (RAM)"
    )


class AgentSettings(_Strict):
    command: str = Field("/usr/local/bin/microrack", pattern=r"^/")
    image: str = "ghcr.io/microrack/microrack:0.1.0"
    namespace: HostName = "microrack"
    interval_s: float = Field(5, gt=0)


class Cluster(_Strict):
    name: HostName
    domain: Domain


class ClusterSpec(_Strict):
    """The whole ``cluster.yaml``."""

    cluster: Cluster
    networks: list[Network] = Field(min_length=1)
    switches: list[Switch] = Field(default_factory=list)
    nodes: list[Node] = Field(min_length=1)
    services: Services = Field(default_factory=Services)
    agent: AgentSettings = Field(default_factory=lambda: AgentSettings.model_validate({}))

    def network(self, name: str) -> Network | None:
        return next((n for n in self.networks if n.name == name), None)

    def networks_of(self, kind: NetworkKind) -> list[Network]:
        return [n for n in self.networks if n.kind == kind]

    def switch(self, name: str) -> Switch | None:
        return next((s for s in self.switches if s.name == name), None)

    def with_role(self, role: Role) -> list[Node]:
        return [n for n in self.nodes if role in n.roles]
