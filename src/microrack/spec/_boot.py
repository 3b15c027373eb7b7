"""How each node boots and which other nodes it needs to: the facts that rules, renderers,
``spec describe`` and the tolerance summary share.

A node with ``boot: net`` needs the boot server (the first ``dhcp-dns`` node) for DHCP
and TFTP, and the NFS server (or iSCSI portal) holding its root; losing any of them means
the node cannot boot.  A node booting from a local medium only needs them after boot.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from microrack.spec._model import ClusterSpec, NetBoot, NfsExport, Node, Role

__all__ = [
    "BootDependency",
    "address_on",
    "boot_dependencies",
    "boot_server",
    "cannot_boot",
    "mounting_nodes",
    "netbooted",
    "nfs_server",
    "root_path",
]

#: Raspberry Pi boards whose boot ROM or EEPROM boots from the network by itself; the
#: others (Pi 2) need an SD card holding only ``bootcode.bin``, which then netboots.
RPI_EEPROM_NETBOOT = frozenset({"rpi-4b", "rpi-5", "rpi-cm4", "rpi-cm5", "rpi-3bplus"})


@dataclass(frozen=True, slots=True)
class BootDependency:
    """One thing a node needs at boot: ``service`` (dhcp, tftp, nfs-root, iscsi-root, http)
    from ``node`` (a spec node name, or an address / "router" outside the spec)."""

    service: str
    node: str
    hard: bool  # without it the node cannot boot at all


def boot_server(spec: ClusterSpec) -> Node | None:
    """The node answering DHCP and TFTP for netbooted nodes (the first ``dhcp-dns`` node)."""
    servers = spec.with_role(Role.DHCP_DNS)
    return servers[0] if servers else None


def nfs_server(spec: ClusterSpec) -> Node | None:
    servers = spec.with_role(Role.NFS_SERVER)
    return servers[0] if servers else None


def netbooted(spec: ClusterSpec) -> list[tuple[Node, NetBoot]]:
    """Nodes with ``boot: net`` and their netboot settings, in spec order."""
    return [(n, n.netboot) for n in spec.nodes if n.boot == "net" and n.netboot is not None]


def address_on(node: Node, network: str) -> ipaddress.IPv4Address:
    """The address of ``node`` on ``network`` (its primary address if it has no NIC there)."""
    for nic in node.nics:
        if nic.network == network:
            return nic.address
    return node.primary.address


def root_path(spec: ClusterSpec, node: Node) -> str:
    """The NFS root export of a netbooted node."""
    nb = node.netboot
    if nb is not None and nb.root_path is not None:
        return nb.root_path
    return f"{spec.netboot.nfs_root}/{node.name}"


def _node_at(spec: ClusterSpec, addr: ipaddress.IPv4Address) -> str:
    for n in spec.nodes:
        if any(nic.address == addr for nic in n.nics):
            return n.name
    return str(addr)


def boot_dependencies(spec: ClusterSpec, node: Node) -> tuple[BootDependency, ...]:
    """What ``node`` needs from other machines to boot (hard) or to get its address (soft)."""
    server = boot_server(spec)
    dhcp_from = "router" if spec.netboot.dhcp == "proxy" else (server.name if server else "")
    nb = node.netboot
    if node.boot != "net" or nb is None:
        if dhcp_from and dhcp_from != node.name:
            return (BootDependency("dhcp", dhcp_from, False),)
        return ()
    deps = [BootDependency("dhcp", dhcp_from or "none", True)]
    if spec.netboot.dhcp == "proxy":
        deps.append(BootDependency("proxy-dhcp", server.name if server else "none", True))
    deps.append(BootDependency("tftp", server.name if server else "none", True))
    if nb.os == "talos":
        deps.append(BootDependency("http", server.name if server else "none", True))
    elif nb.root == "iscsi" and nb.iscsi is not None:
        deps.append(BootDependency("iscsi-root", _node_at(spec, nb.iscsi.portal), True))
    else:
        nfs = nfs_server(spec)
        deps.append(BootDependency("nfs-root", nfs.name if nfs else "none", True))
    return tuple(deps)


def cannot_boot(spec: ClusterSpec, lost: frozenset[str]) -> list[str]:
    """Netbooted nodes that cannot (re)boot while the ``lost`` nodes are down (a lost node
    counts too: it cannot come back until its boot servers do)."""
    out = []
    for node, _ in netbooted(spec):
        if any(d.hard and d.node in lost for d in boot_dependencies(spec, node)):
            out.append(node.name)
    return out


def mounting_nodes(spec: ClusterSpec, export: NfsExport) -> list[Node]:
    """Nodes that mount ``export``: its ``mount_on`` list, or every node with an address
    in the export's network other than the NFS servers."""
    if export.mount is None:
        return []
    if export.mount_on is not None:
        wanted = set(export.mount_on)
        return [n for n in spec.nodes if n.name in wanted]
    net = spec.network(export.network)
    if net is None:
        return []
    return [
        n
        for n in spec.nodes
        if Role.NFS_SERVER not in n.roles and any(nic.address in net.cidr for nic in n.nics)
    ]
