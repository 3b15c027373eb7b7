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
    BeforeValidator,
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
    "Bmc",
    "BootMedium",
    "CephPool",
    "CephService",
    "Cluster",
    "ClusterSpec",
    "DhcpPool",
    "Drive",
    "FirstBoot",
    "HealthCheck",
    "IscsiRoot",
    "LoadBalancerService",
    "NetBoot",
    "NetbootSettings",
    "Network",
    "NetworkKind",
    "NfsExport",
    "NfsService",
    "Nic",
    "Node",
    "NodeChaos",
    "Role",
    "Services",
    "Switch",
    "Workload",
]

DEFAULT_AGENT_PORT = 9101
NODE_EXPORTER_PORT = 9100

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SERIAL = re.compile(r"^[0-9a-f]{8}$")
_IQN = re.compile(r"^iqn\.\d{4}-\d{2}\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[^\s,]+)?$")
_SSH_KEY = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)"
    r"@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
)
_KARG = re.compile(r"^[^\s\"']+$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _mac(value: str) -> str:
    v = value.strip().lower().replace("-", ":")
    if not _MAC.match(v):
        raise ValueError(
            f"{value!r} is not a MAC address (expected six hex pairs, e.g. 02:00:c6:12:00:01)"
        )
    if int(v[:2], 16) & 1:
        raise ValueError(
            f"{value!r} is a multicast MAC address (odd first byte); a NIC's own address is unicast"
        )
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


def _serial_text(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        # YAML reads 01234567 as an octal number and 12345678 as decimal: digits are lost.
        raise ValueError(f"{value!r} was read as a number: write the serial in quotes")
    return value


def _serial(value: str) -> str:
    v = value.strip().lower()
    if v.startswith("0x"):
        v = v[2:]
    if not _SERIAL.match(v):
        raise ValueError(
            f"{value!r} is not a board serial number (8 hex digits, as the last 8 of "
            "'Serial' in /proc/cpuinfo, e.g. 3a8c01f2)"
        )
    return v


def _abs_path(value: str) -> str:
    if not value.startswith("/") or "\n" in value or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an absolute path without spaces")
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError(f"{value!r} contains '.' or '..'")
    if "//" in value:
        raise ValueError(f"{value!r} contains '//'")
    return value.rstrip("/") or "/"


def _iqn(value: str) -> str:
    if not _IQN.match(value):
        raise ValueError(f"{value!r} is not an iSCSI name (iqn.YYYY-MM.reversed.domain[:name])")
    return value


def _ssh_key(value: str) -> str:
    v = value.strip()
    if not _SSH_KEY.match(v):
        raise ValueError(f"{v[:40]!r} is not an OpenSSH public key ('ssh-ed25519 AAAA... comment')")
    return v


def _kernel_arg(value: str) -> str:
    if not _KARG.match(value):
        raise ValueError(f"{value!r} is not one kernel argument (no spaces or quotes)")
    return value


Mac = Annotated[str, AfterValidator(_mac)]
Serial = Annotated[str, BeforeValidator(_serial_text), AfterValidator(_serial)]
AbsPath = Annotated[str, AfterValidator(_abs_path)]
Iqn = Annotated[str, AfterValidator(_iqn)]
SshKey = Annotated[str, AfterValidator(_ssh_key)]
KernelArg = Annotated[str, AfterValidator(_kernel_arg)]
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
    HUB = "hub"  # the microrack hub (else the first monitoring node runs it)
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


#: Where a node's OS comes from: a local medium, or the network (``netboot``).
BootMedium = Literal["sd", "emmc", "nvme", "usb", "net"]


class IscsiRoot(_Strict):
    """An iSCSI LUN holding a netbooted node's root file system (dracut ``netroot=``)."""

    target: Iqn
    portal: ipaddress.IPv4Address = Field(description="address of the iSCSI target")
    port: int = Field(3260, ge=1, le=65535)
    lun: int = Field(0, ge=0, le=16383)


class NetBoot(_Strict):
    """How a node with ``boot: net`` loads its kernel and finds its root."""

    firmware: Literal["rpi", "bios", "uefi", "uboot"] = Field(
        description="rpi: the Raspberry Pi boot ROM/EEPROM (TFTP from <serial>/); bios/uefi: "
        "x86 PXE chaining to iPXE; uboot: U-Boot's pxelinux.cfg/01-<mac>"
    )
    os: Literal["linux", "talos"] = "linux"
    image: HostName = Field(
        "default", description="the shared set of boot files under <tftp_root>/images/"
    )
    kernel: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.+-]+$",
        description="kernel file in the image; default vmlinuz (Talos: vmlinuz-<arch>)",
    )
    initrd: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.+-]+$",
        description="initramfs file in the image; default initrd.img (Talos: initramfs-<arch>.xz)",
    )
    arch: Literal["amd64", "arm64"] = Field("amd64", description="Talos kernel/initramfs flavour")
    root: Literal["nfs", "iscsi"] = "nfs"
    root_path: AbsPath | None = Field(
        None, description="NFS root export; default <netboot.nfs_root>/<node name>"
    )
    root_readonly: bool = Field(False, description="the root is shared read-only")
    iscsi: IscsiRoot | None = None
    cmdline: list[KernelArg] = Field(default_factory=list, description="extra kernel arguments")


ChaosKind = Literal["partition", "crash", "fan_stall", "throttle", "pressure", "disk_fill"]
_CHAOS_UNIT = r"^((podman|docker):)?[A-Za-z0-9@._:-]{1,128}$"


class NodeChaos(_Strict):
    """Faults this node's agent accepts from ``microrack chaos run`` (signed requests)."""

    allow: list[ChaosKind] = Field(
        default_factory=list, description="fault kinds the agent applies (--chaos-allow)"
    )
    units: list[Annotated[str, Field(pattern=_CHAOS_UNIT)]] = Field(
        default_factory=list,
        description="systemd units or podman:/docker: containers a crash may stop",
    )
    fill_dir: str | None = Field(
        None, pattern=r"^/[^\x00\n]*$", description="directory disk_fill may write to"
    )
    token: str = Field(
        "/etc/microrack/chaos.token",
        pattern=r"^/[^\x00\n]*$",
        description="the shared secret's file on the node (--chaos-token)",
    )
    max_lease_s: float | None = Field(None, gt=0, description="longest fault accepted")

    @field_validator("allow")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each kind once")
        return value


class Bmc(_Strict):
    """The board management controller that powers this node (a Turing Pi 2 slot)."""

    kind: Literal["turingpi2"] = "turingpi2"
    url: str = Field(pattern=r"^https?://[^\s/?#]+/?$", description="e.g. https://turingpi.local")
    slot: int = Field(ge=1, le=4, description="the node's slot on the board")


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
    boot: BootMedium | None = Field(None, description="where the OS boots from (net: netboot)")
    serial: Serial | None = Field(None, description="board serial, 8 hex digits (Raspberry Pi)")
    netboot: NetBoot | None = None
    chaos: NodeChaos | None = Field(None, description="fault kinds the agent accepts")
    bmc: Bmc | None = Field(None, description="the BMC that can power-cycle this node")

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


#: exports(5) options that nfs-utils' exportfs accepts, bare and with ``=value``.
NFS_EXPORT_FLAGS = frozenset(
    {
        "ro",
        "rw",
        "secure",
        "insecure",
        "sync",
        "async",
        "wdelay",
        "no_wdelay",
        "hide",
        "nohide",
        "crossmnt",
        "nocrossmnt",
        "subtree_check",
        "no_subtree_check",
        "auth_nlm",
        "no_auth_nlm",
        "secure_locks",
        "insecure_locks",
        "acl",
        "no_acl",
        "root_squash",
        "no_root_squash",
        "all_squash",
        "no_all_squash",
        "nordirplus",
        "security_label",
        "pnfs",
        "no_pnfs",
        "mp",
        "mountpoint",
    }
)
NFS_EXPORT_VALUED = frozenset(
    {
        "anonuid",
        "anongid",
        "mountpoint",
        "mp",
        "fsid",
        "refer",
        "replicas",
        "sec",
    }
)


class NfsExport(_Strict):
    path: AbsPath
    network: str = Field(description="network allowed to mount the export")
    options: str = Field("rw,sync,no_subtree_check", pattern=r"^[a-z0-9_=:,./@+-]+$")
    mount: AbsPath | None = Field(None, description="where client nodes mount it (a .mount unit)")
    mount_on: list[str] | None = Field(
        None, description="nodes that mount it; default every node on the network but the server"
    )
    mount_options: str = Field("_netdev,hard,nfsvers=4.2", pattern=r"^[a-z0-9_=:,./@-]+$")

    @field_validator("options")
    @classmethod
    def _known_options(cls, value: str) -> str:
        for opt in value.split(","):
            name, eq, arg = opt.partition("=")
            known = (name in NFS_EXPORT_VALUED and arg) if eq else name in NFS_EXPORT_FLAGS
            if not known:
                raise ValueError(f"{opt!r} is not an NFS export option (exports(5))")
        return value


class NfsService(_Strict):
    exports: list[NfsExport] = Field(min_length=1)


class LoadBalancerService(_Strict):
    kind: Literal["metallb", "kube-vip", "haproxy"] = "metallb"
    pool: str = Field(description="name of a network of kind load_balancer")


class Workload(_Strict):
    name: str
    ram_gb: float = Field(gt=0)


class HealthCheck(_Strict):
    """How ``microrack chaos run`` asks one quorum role's members whether they serve.

    Every field left out keeps the role's default (``microrack.chaos`` lists
    them); ``url`` replaces scheme, port and path at once and may name
    ``{address}`` and ``{node}`` (a Ceph mgr's one URL for every monitor).
    """

    check: Literal["etcd-put", "http", "leader", "vault-health", "ceph-mgr", "none"] | None = Field(
        None,
        description="etcd-put: a write through the v3 JSON gateway; http: any 2xx; "
        "leader: a non-empty leader (Consul, Nomad); vault-health: 200/429/473; "
        "ceph-mgr: ceph_mon_quorum_status of the member is 1; none: not probed",
    )
    scheme: Literal["http", "https"] | None = None
    port: int | None = Field(None, ge=1, le=65535)
    path: str | None = Field(None, pattern=r"^/[^\s#]*$", max_length=512)
    url: str | None = Field(
        None, pattern=r"^https?://[^\s\"']+$", max_length=1024, description="a URL template"
    )
    timeout_s: float | None = Field(None, gt=0, le=60)
    grace_s: float | None = Field(
        None,
        ge=0,
        le=600,
        description="a member's outage this short is not counted (the protocol's own "
        "leader election); default 0",
    )

    @field_validator("url")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            for name in re.findall(r"{([^}]*)}", value):
                if name not in ("address", "node"):
                    raise ValueError(f"unknown placeholder {{{name}}} (known: address, node)")
        return value


#: Roles ``services.health`` may name: the consensus groups (quorum_groups).
HEALTH_ROLES = (
    "etcd",
    "control-plane",
    "consul-server",
    "vault-server",
    "nomad-server",
    "ceph-mon",
)


def _health_roles(value: dict[str, HealthCheck]) -> dict[str, HealthCheck]:
    for role in value:
        if role not in HEALTH_ROLES:
            raise ValueError(f"{role!r} is not a quorum role (known: {', '.join(HEALTH_ROLES)})")
    return value


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
    health: Annotated[dict[str, HealthCheck], AfterValidator(_health_roles)] = Field(
        default_factory=dict,
        description="per quorum role, how chaos run probes its members (overrides the defaults)",
    )


def _default_image() -> str:
    """A local image name tagged with this package's version (an OCI tag has no '+')."""
    from microrack import __version__

    return "localhost/microrack:" + re.sub(r"[^A-Za-z0-9_.-]", "-", __version__)[:128]


# registry/path:tag or @sha256 digest, as OCI distribution names them.
_IMAGE = (
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)


class AgentSettings(_Strict):
    command: str = Field("/usr/local/bin/microrack", pattern=r"^/")
    image: str = Field(
        default_factory=_default_image,
        pattern=_IMAGE,
        description="container image of the agent and fan DaemonSets "
        "(default localhost/microrack:<version>, built by scripts/image.sh)",
    )
    namespace: HostName = "microrack"
    interval_s: float = Field(5, gt=0)


class NetbootSettings(_Strict):
    """Where the boot server keeps its files and how it answers DHCP."""

    dhcp: Literal["full", "proxy"] = Field(
        "full",
        description="full: the dhcp-dns node leases addresses too; proxy: a router leases "
        "them and the dhcp-dns node only answers network-boot requests (proxy-DHCP)",
    )
    tftp_root: AbsPath = "/srv/tftp"
    nfs_root: AbsPath = "/srv/nfsroot"
    http_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s\"']+$",
        description="base URL of the boot server's HTTP files (Talos machine configs)",
    )


class FirstBoot(_Strict):
    """What a node booting a fresh SD/eMMC/NVMe image does once (cloud-init NoCloud seed)."""

    user: HostName = Field("microrack", description="the login user (not root: root login is off)")
    ssh_authorized_keys: list[SshKey] = Field(default_factory=list)
    agent_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s\"']+$",
        description="where a node downloads the single-file agent (microrack build agent)",
    )
    agent_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    packages: list[str] = Field(
        default_factory=lambda: ["python3", "python3-yaml"],
        description="Debian packages installed on first boot",
    )

    @field_validator("user")
    @classmethod
    def _not_root(cls, value: str) -> str:
        if value == "root":
            raise ValueError("the first-boot user cannot be root (root login is disabled)")
        return value

    @field_validator("packages")
    @classmethod
    def _package_names(cls, value: list[str]) -> list[str]:
        for p in value:
            if not re.match(r"^[a-z0-9][a-z0-9+.-]+$", p):
                raise ValueError(f"{p!r} is not a Debian package name")
        return value


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
    netboot: NetbootSettings = Field(default_factory=lambda: NetbootSettings.model_validate({}))
    first_boot: FirstBoot = Field(default_factory=lambda: FirstBoot.model_validate({}))

    def network(self, name: str) -> Network | None:
        return next((n for n in self.networks if n.name == name), None)

    def networks_of(self, kind: NetworkKind) -> list[Network]:
        return [n for n in self.networks if n.kind == kind]

    def switch(self, name: str) -> Switch | None:
        return next((s for s in self.switches if s.name == name), None)

    def with_role(self, role: Role) -> list[Node]:
        return [n for n in self.nodes if role in n.roles]
