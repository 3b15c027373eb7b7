"""The rules that relate fields of a spec: addresses, ranges, PoE, quorum, storage, RAM.

Each rule is a function ``spec -> Iterator[Problem]``; ``check_spec`` runs them
all so that one run lists every problem.  The numbers come from the sources in
``/work/shared/data/boards.yaml`` (ids in the comments) and are estimates where
marked.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator

from microrack.spec._load import Problem
from microrack.spec._model import (
    WIRED_KINDS,
    ClusterSpec,
    NetBoot,
    NetworkKind,
    Node,
    Role,
)

__all__ = [
    "CEPH_OSD_MEMORY_TARGET_GB",
    "QUORUM_ROLES",
    "ROLE_RAM_GB",
    "check_spec",
    "node_peak_w",
    "node_ram_need_gb",
    "power_source",
    "quorum_groups",
]

#: Roles whose members form a consensus group that needs a majority (n = 2f+1).
#: Sources: etcd_faq, consul_ft, vault_raft, ceph_mons.
QUORUM_ROLES: tuple[Role, ...] = (
    Role.ETCD,
    Role.CONSUL_SERVER,
    Role.VAULT_SERVER,
    Role.NOMAD_SERVER,
    Role.CEPH_MON,
)

#: RAM a role needs on a node, GB.  control-plane/worker: k3s_profile (1613 MB server
#: with workload, 268 MB agent, Pi 4); the rest are estimates for small clusters.
ROLE_RAM_GB: dict[Role, float] = {
    Role.CONTROL_PLANE: 1.6,
    Role.WORKER: 0.27,
    Role.ETCD: 0.5,
    Role.CONSUL_SERVER: 0.5,
    Role.VAULT_SERVER: 0.5,
    Role.NOMAD_SERVER: 0.5,
    Role.CEPH_MON: 1.0,  # ceph_hw mon_mgr_ram_note: ~1-2 GB on SBCs (estimate)
    Role.CEPH_OSD: 0.0,  # counted per OSD drive below
    Role.STORAGE: 0.5,
    Role.NFS_SERVER: 0.25,
    Role.LOAD_BALANCER: 0.1,
    Role.DHCP_DNS: 0.05,
    Role.MONITORING: 1.0,
    Role.RAY_HEAD: 2.0,
    Role.DASK_SCHEDULER: 0.5,
    Role.GPU: 0.0,
}
OS_RAM_GB = 0.25  # estimate: a headless Debian/Raspberry Pi OS after boot
CEPH_OSD_MEMORY_TARGET_GB = 4.0  # ceph_hw: osd_memory_target default
CEPH_OSD_MIN_GB = 2.0  # ceph_hw: below 2 GB not recommended
PD_EFFICIENCY = 0.87  # pd_hat_efficiency (estimate): 48 V -> 5 V converter on the PoE HAT
DRIVE_PEAK_W = {"nvme": 5.0, "ssd": 3.0, "hdd": 8.0, "usb": 3.0, "emmc": 0.0, "sd": 0.0}  # estimate
#: Power a powered device may draw at the end of the cable, by PoE class (poe_ui, poe_classes).
#: Power a switch port sources (and a class-mode switch reserves), by class (poe_ui, poe_classes).
POE_CLASS_PSE_W = {0: 15.4, 1: 4.0, 2: 7.0, 3: 15.4, 4: 30.0, 5: 45.0, 6: 60.0, 7: 75.0, 8: 90.0}
POE_CLASS_PD_W = {0: 12.95, 1: 3.84, 2: 6.49, 3: 12.95, 4: 25.5, 5: 40.0, 6: 51.0, 7: 62.0, 8: 71.3}


def _e(field: str, message: str) -> Problem:
    return Problem("error", field, message)


def _w(field: str, message: str) -> Problem:
    return Problem("warning", field, message)


def _nic_fields(spec: ClusterSpec) -> Iterator[tuple[str, Node, int]]:
    for i, node in enumerate(spec.nodes):
        for j in range(len(node.nics)):
            yield f"nodes[{i}].nics[{j}]", node, j


def node_peak_w(node: Node) -> float:
    """Peak draw of a node at its power input, W (catalog load figure plus its drives)."""
    if node.peak_w is not None:
        return node.peak_w
    from microrack.catalog import board_profile

    return float(board_profile(node.board).load_w) + sum(DRIVE_PEAK_W[d.kind] for d in node.drives)


def node_ram_need_gb(node: Node) -> float:
    """RAM the node's roles need, GB (OS, roles, Ceph OSDs at their minimum)."""
    return OS_RAM_GB + sum(ROLE_RAM_GB[r] for r in node.roles) + CEPH_OSD_MIN_GB * node.osd_count


def quorum_groups(spec: ClusterSpec) -> dict[str, list[str]]:
    """Consensus groups by role -> member names; the control plane counts once it has 2+."""
    groups = {r.value: [n.name for n in spec.with_role(r)] for r in QUORUM_ROLES}
    cp = [n.name for n in spec.with_role(Role.CONTROL_PLANE)]
    if len(cp) > 1:  # k3s with more than one server runs embedded etcd
        groups[Role.CONTROL_PLANE.value] = cp
    return {k: v for k, v in groups.items() if v}


# --- addresses and ranges -----------------------------------------------------------------


def _addresses(spec: ClusterSpec) -> Iterator[Problem]:
    for field, node, j in _nic_fields(spec):
        nic = node.nics[j]
        net = spec.network(nic.network)
        if net is None:
            known = ", ".join(n.name for n in spec.networks)
            yield _e(
                f"{field}.network", f"node {node.name}: no network {nic.network!r} (known: {known})"
            )
        elif net.kind not in WIRED_KINDS:
            yield _e(
                f"{field}.network",
                f"node {node.name}: {net.name} is a {net.kind} range, not a wired network",
            )
        elif nic.address not in net.cidr:
            yield _e(
                f"{field}.address",
                f"node {node.name}: address {nic.address} is outside "
                f"network {net.name} ({net.cidr})",
            )
        elif nic.address in (net.cidr.network_address, net.cidr.broadcast_address):
            yield _e(
                f"{field}.address",
                f"node {node.name}: {nic.address} is the network or "
                f"broadcast address of {net.name}",
            )
        elif net.dhcp is not None and net.dhcp.contains(nic.address):
            yield _e(
                f"{field}.address",
                f"node {node.name}: static address {nic.address} is "
                f"inside the DHCP pool {net.dhcp.start}-{net.dhcp.end} of {net.name}",
            )
    for i, net in enumerate(spec.networks):
        if net.gateway is not None and net.gateway not in net.cidr:
            yield _e(
                f"networks[{i}].gateway",
                f"gateway {net.gateway} is outside {net.name} ({net.cidr})",
            )
        if net.dhcp is not None:
            if net.kind not in WIRED_KINDS:
                yield _e(f"networks[{i}].dhcp", f"{net.name}: a {net.kind} range has no DHCP pool")
            for end in (net.dhcp.start, net.dhcp.end):
                if end not in net.cidr:
                    yield _e(
                        f"networks[{i}].dhcp",
                        f"DHCP pool address {end} is outside {net.name} ({net.cidr})",
                    )
            if net.gateway is not None and net.dhcp.contains(net.gateway):
                yield _e(
                    f"networks[{i}].gateway",
                    f"gateway {net.gateway} is inside the DHCP pool of {net.name}",
                )


def _ranges(spec: ClusterSpec) -> Iterator[Problem]:
    """No two ranges overlap, except a load-balancer pool carved out of a wired network
    (MetalLB in L2 mode answers ARP on the LAN, so its pool must live there)."""
    nets = list(enumerate(spec.networks))
    for a, (_, x) in enumerate(nets):
        for j, y in nets[a + 1 :]:
            if not x.cidr.overlaps(y.cidr):
                continue
            kinds = {x.kind, y.kind}
            lb_in_wire = NetworkKind.LOAD_BALANCER in kinds and len(kinds & WIRED_KINDS) == 1
            if lb_in_wire:
                continue
            yield _e(
                f"networks[{j}].cidr",
                f"{y.kind} range {y.name} ({y.cidr}) overlaps {x.kind} range {x.name} ({x.cidr})",
            )
    pools = [(i, n) for i, n in nets if n.dhcp is not None]
    for i, lb in nets:
        if lb.kind != NetworkKind.LOAD_BALANCER:
            continue
        for _, net in pools:
            assert net.dhcp is not None
            if any(r.overlaps(lb.cidr) for r in net.dhcp.as_network_ranges()):
                yield _e(
                    f"networks[{i}].cidr",
                    f"load-balancer pool {lb.name} ({lb.cidr}) overlaps "
                    f"the DHCP pool of {net.name} ({net.dhcp.start}-{net.dhcp.end})",
                )
        for field, node, k in _nic_fields(spec):
            if node.nics[k].address in lb.cidr:
                yield _e(
                    f"networks[{i}].cidr",
                    f"load-balancer pool {lb.name} ({lb.cidr}) contains "
                    f"the static address {node.nics[k].address} of node {node.name} ({field})",
                )
        for _, net in nets:
            if net.gateway is not None and net.gateway in lb.cidr:
                yield _e(
                    f"networks[{i}].cidr",
                    f"load-balancer pool {lb.name} contains the gateway "
                    f"{net.gateway} of {net.name}",
                )


def _duplicates(spec: ClusterSpec) -> Iterator[Problem]:
    for what, items in (
        ("node name", [(f"nodes[{i}].name", n.name) for i, n in enumerate(spec.nodes)]),
        ("network name", [(f"networks[{i}].name", n.name) for i, n in enumerate(spec.networks)]),
        ("switch name", [(f"switches[{i}].name", s.name) for i, s in enumerate(spec.switches)]),
        ("address", [(f"{f}.address", str(n.nics[j].address)) for f, n, j in _nic_fields(spec)]),
        ("MAC", [(f"{f}.mac", n.nics[j].mac) for f, n, j in _nic_fields(spec)]),
        (
            "switch port",
            [
                (f"{f}.port", f"{n.nics[j].switch} port {n.nics[j].port}")
                for f, n, j in _nic_fields(spec)
                if n.nics[j].switch and n.nics[j].port
            ],
        ),
    ):
        first: dict[str, str] = {}
        for field, value in items:
            if value in first:
                yield _e(field, f"duplicate {what} {value} (also at {first[value]})")
            else:
                first[value] = field
    for i, node in enumerate(spec.nodes):
        names = Counter(n.name for n in node.nics)
        for name, count in names.items():
            if count > 1:
                yield _e(
                    f"nodes[{i}].nics", f"node {node.name}: interface {name} listed {count} times"
                )


# --- switches and power -------------------------------------------------------------------


def _poe(spec: ClusterSpec) -> Iterator[Problem]:
    load: dict[str, float] = defaultdict(float)
    members: dict[str, list[str]] = defaultdict(list)
    for field, node, j in _nic_fields(spec):
        nic = node.nics[j]
        if nic.switch is None:
            if nic.poe:
                yield _e(f"{field}.poe", f"node {node.name}: powered by PoE but no switch given")
            continue
        sw = spec.switch(nic.switch)
        if sw is None:
            yield _e(f"{field}.switch", f"node {node.name}: no switch {nic.switch!r}")
            continue
        if nic.port is not None and nic.port > sw.ports:
            yield _e(
                f"{field}.port",
                f"node {node.name}: switch {sw.name} has {sw.ports} ports, not {nic.port}",
            )
        if not nic.poe:
            continue
        draw = node_peak_w(node) / PD_EFFICIENCY
        cls = sw.class_of(nic.port) if nic.port is not None else sw.poe_class
        if sw.poe_budget_w is None or cls is None:
            yield _e(
                f"{field}.poe",
                f"node {node.name}: switch {sw.name} does not supply PoE "
                "(set poe_budget_w and poe_class)",
            )
            continue
        if draw > POE_CLASS_PD_W[cls]:
            yield _e(
                f"{field}.port",
                f"node {node.name}: peak draw {draw:.1f} W exceeds PoE class "
                f"{cls} ({POE_CLASS_PD_W[cls]} W) of {sw.name} port {nic.port}",
            )
        # A switch in class mode reserves the class maximum whatever the device draws.
        load[sw.name] += POE_CLASS_PSE_W[cls] if sw.poe_allocation == "class" else draw
        members[sw.name].append(node.name)
    for i, sw in enumerate(spec.switches):
        if sw.poe_budget_w is not None and load[sw.name] > sw.poe_budget_w:
            yield _e(
                f"switches[{i}].poe_budget_w",
                f"switch {sw.name}: "
                + ("class reservations" if sw.poe_allocation == "class" else "peak PoE draw")
                + f" {load[sw.name]:.1f} W of {len(members[sw.name])} nodes exceeds the "
                f"{sw.poe_budget_w:g} W budget",
            )


def power_source(spec: ClusterSpec, node: Node) -> str | None:
    for nic in node.nics:
        if nic.poe and nic.switch:
            sw = spec.switch(nic.switch)
            return f"psu {sw.psu}" if sw and sw.psu else f"switch {nic.switch}"
    return f"psu {node.psu}" if node.psu else None


def _single_points(spec: ClusterSpec) -> Iterator[Problem]:
    if len(spec.nodes) < 2:
        return
    switches = {n.primary.switch for n in spec.nodes}
    if len(switches) == 1 and None not in switches:
        yield _w(
            "nodes",
            f"every node is on one switch ({switches.pop()}): it is a single point of failure",
        )
    sources = {power_source(spec, n) for n in spec.nodes}
    if len(sources) == 1 and None not in sources:
        yield _w(
            "nodes",
            f"every node is powered from one source ({sources.pop()}): it is a single "
            "point of failure",
        )


# --- services -----------------------------------------------------------------------------


def _quorum(spec: ClusterSpec) -> Iterator[Problem]:
    for role, names in quorum_groups(spec).items():
        n = len(names)
        if n == 1:
            yield _e(
                "nodes",
                f"{role} group has a single member ({names[0]}): it needs quorum, "
                "use 3 or 5 members",
            )
        elif n % 2 == 0:
            yield _e(
                "nodes",
                f"{role} group has an even number of members ({n}: {', '.join(names)}): "
                f"it tolerates no more failures than {n - 1}; use an odd number",
            )


def _storage(spec: ClusterSpec) -> Iterator[Problem]:
    osd_hosts = [n for n in spec.with_role(Role.CEPH_OSD)]
    for i, node in enumerate(spec.nodes):
        if Role.CEPH_OSD in node.roles and node.osd_count == 0:
            yield _e(
                f"nodes[{i}].drives",
                f"node {node.name} has role ceph-osd but no drive with osd: true",
            )
        elif node.osd_count and Role.CEPH_OSD not in node.roles:
            yield _e(
                f"nodes[{i}].roles", f"node {node.name} has OSD drives but not the ceph-osd role"
            )
    ceph = spec.services.ceph
    if ceph is None:
        if osd_hosts:
            yield _e("services.ceph", "nodes have the ceph-osd role but services.ceph is not set")
        return
    for i, pool in enumerate(ceph.pools):
        if len(osd_hosts) < pool.size:
            yield _e(
                f"services.ceph.pools[{i}].size",
                f"pool {pool.name} keeps {pool.size} replicas "
                f"(one per host) but only {len(osd_hosts)} node(s) have the ceph-osd role",
            )
    if not spec.with_role(Role.CEPH_MON):
        yield _e("services.ceph", "no node has the ceph-mon role")


def _placement(spec: ClusterSpec) -> Iterator[Problem]:
    nfs = spec.services.nfs
    if nfs is not None:
        if not spec.with_role(Role.NFS_SERVER):
            yield _e("services.nfs", "NFS exports are declared but no node has the nfs-server role")
        for i, exp in enumerate(nfs.exports):
            if spec.network(exp.network) is None:
                yield _e(f"services.nfs.exports[{i}].network", f"no network {exp.network!r}")
    lb = spec.services.load_balancer
    if lb is not None:
        net = spec.network(lb.pool)
        if net is None or net.kind != NetworkKind.LOAD_BALANCER:
            yield _e(
                "services.load_balancer.pool", f"{lb.pool!r} is not a network of kind load_balancer"
            )
    for i, net in enumerate(spec.networks):
        if net.dhcp is not None and not spec.with_role(Role.DHCP_DNS):
            yield _e(
                f"networks[{i}].dhcp",
                f"{net.name} has a DHCP pool but no node has the dhcp-dns role",
            )
    k8s = spec.networks_of(NetworkKind.POD) or spec.networks_of(NetworkKind.SERVICE)
    if (k8s or spec.with_role(Role.WORKER)) and not spec.with_role(Role.CONTROL_PLANE):
        yield _e(
            "nodes",
            "Kubernetes workers or pod/service ranges are declared but no node has the "
            "control-plane role",
        )


def _ram(spec: ClusterSpec) -> Iterator[Problem]:
    for i, node in enumerate(spec.nodes):
        if node.osd_count:
            per_osd = (
                node.ram_gb - (node_ram_need_gb(node) - CEPH_OSD_MIN_GB * node.osd_count)
            ) / node.osd_count
            if per_osd < CEPH_OSD_MEMORY_TARGET_GB:
                yield _w(
                    f"nodes[{i}].ram_gb",
                    f"node {node.name}: {per_osd:.1f} GB RAM per Ceph "
                    f"OSD after its other roles, below the recommended "
                    f"{CEPH_OSD_MEMORY_TARGET_GB:g} GB (osd_memory_target)",
                )
        need = node_ram_need_gb(node)
        if need > node.ram_gb:
            roles = ", ".join(r.value for r in node.roles)
            yield _w(
                f"nodes[{i}].ram_gb",
                f"node {node.name}: roles ({roles}) need about "
                f"{need:.1f} GB RAM, it has {node.ram_gb:g} GB",
            )
    wanted = sum(w.ram_gb for w in spec.services.workloads)
    free = sum(max(0.0, n.ram_gb - node_ram_need_gb(n)) for n in spec.nodes)
    if wanted > free:
        yield _w(
            "services.workloads",
            f"declared workloads need {wanted:g} GB RAM, the nodes "
            f"have {free:.1f} GB left after their roles",
        )


def _redundancy(spec: ClusterSpec) -> Iterator[Problem]:
    for k, role in enumerate(spec.services.redundant):
        nodes = spec.with_role(role)
        if len(nodes) < 2:
            where = nodes[0].name if nodes else "no node"
            yield _w(
                f"services.redundant[{k}]",
                f"{role.value} is marked as needing redundancy but runs on {where} only",
            )


# --- network boot, NFS and first boot ------------------------------------------------------


def _serials(spec: ClusterSpec) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for i, node in enumerate(spec.nodes):
        if node.serial is None:
            continue
        if node.serial in seen:
            yield _e(
                f"nodes[{i}].serial",
                f"duplicate serial {node.serial} (also at {seen[node.serial]})",
            )
        else:
            seen[node.serial] = f"nodes[{i}].serial"


def _local_boot(spec: ClusterSpec, f: str, node: Node) -> Iterator[Problem]:
    if node.netboot is not None:
        yield _e(f"{f}.netboot", f"node {node.name}: netboot is set but boot is not 'net'")
    kinds = {d.kind for d in node.drives}
    if node.boot is not None and kinds and node.boot not in kinds:
        yield _w(
            f"{f}.boot", f"node {node.name} boots from {node.boot} but lists no {node.boot} drive"
        )


def _boot_server_reach(spec: ClusterSpec, f: str, node: Node) -> Iterator[Problem]:
    from microrack.spec._boot import boot_server

    server = boot_server(spec)
    if server is None:
        yield _e(
            f"{f}.boot",
            f"node {node.name} boots from the network but no node has the dhcp-dns role "
            "(the DHCP and TFTP server)",
        )
    elif server.name == node.name:
        yield _e(f"{f}.boot", f"node {node.name} is the boot server: it cannot netboot itself")
    elif not any(nic.network == node.primary.network for nic in server.nics):
        yield _e(
            f"{f}.boot",
            f"node {node.name} boots from network {node.primary.network} but the boot "
            f"server {server.name} has no NIC there (DHCP and PXE do not cross routers)",
        )


def _firmware(spec: ClusterSpec, f: str, node: Node, nb: NetBoot) -> Iterator[Problem]:
    from microrack.spec._boot import RPI_EEPROM_NETBOOT

    if nb.firmware == "uboot" and spec.netboot.dhcp == "proxy":
        yield _e(
            f"{f}.netboot.firmware",
            f"node {node.name}: U-Boot does not take boot options from a proxy-DHCP "
            "server; use netboot.dhcp: full",
        )
    if nb.os == "talos" and spec.netboot.http_url is None:
        yield _e(
            "netboot.http_url",
            f"node {node.name} boots Talos, which fetches its machine config over "
            "HTTP: set netboot.http_url",
        )
    if nb.firmware != "rpi":
        return
    if not node.board.startswith("rpi-"):
        yield _e(
            f"{f}.netboot.firmware",
            f"node {node.name}: firmware rpi is the Raspberry Pi boot loader, "
            f"board {node.board} is not a Raspberry Pi",
        )
    if node.serial is None:
        yield _e(
            f"{f}.serial",
            f"node {node.name}: a Raspberry Pi loads its files from the TFTP "
            "directory named after its serial number: set serial (8 hex digits)",
        )
    if nb.os == "talos":
        yield _e(
            f"{f}.netboot.os",
            f"node {node.name}: the Pi boot loader does not load Talos; use firmware uboot",
        )
    if node.board not in RPI_EEPROM_NETBOOT and "sd" not in {d.kind for d in node.drives}:
        yield _w(
            f"{f}.drives",
            f"node {node.name}: a {node.board} has no network boot in ROM; "
            "it needs an SD card holding bootcode.bin (list it as a drive)",
        )


def _root(
    spec: ClusterSpec, f: str, node: Node, nb: NetBoot, exported: set[str]
) -> tuple[list[Problem], tuple[str, ...] | None]:
    """Problems of a netbooted node's root, and the key that identifies the root."""
    from microrack.spec._boot import nfs_server, root_path

    if nb.os == "talos":  # runs from RAM
        return [], None
    if nb.root == "iscsi":
        if nb.iscsi is None:
            problem = _e(f"{f}.netboot.iscsi", f"node {node.name}: root iscsi needs iscsi.target")
            return [problem], None
        return [], ("iscsi", str(nb.iscsi.portal), nb.iscsi.target, str(nb.iscsi.lun))
    found = []
    if nb.iscsi is not None:
        found.append(_e(f"{f}.netboot.iscsi", f"node {node.name}: iscsi is set but root is nfs"))
    nfs = nfs_server(spec)
    if nfs is None:
        found.append(
            _e(
                f"{f}.netboot.root",
                f"node {node.name} has an NFS root but no node has the nfs-server role",
            )
        )
    elif nfs.name == node.name:
        found.append(_e(f"{f}.netboot.root", f"node {node.name} cannot mount its root from itself"))
    path = root_path(spec, node)
    if path in exported:
        found.append(
            _e(
                f"{f}.netboot.root_path",
                f"node {node.name}: root {path} is also a services.nfs export",
            )
        )
    return found, ("nfs", path)


def _netboot(spec: ClusterSpec) -> Iterator[Problem]:
    yield from _serials(spec)
    roots: dict[tuple[str, ...], list[tuple[str, Node]]] = defaultdict(list)
    exported = {e.path for e in spec.services.nfs.exports} if spec.services.nfs else set()
    for i, node in enumerate(spec.nodes):
        f = f"nodes[{i}]"
        if node.boot != "net":
            yield from _local_boot(spec, f, node)
            continue
        nb = node.netboot
        if nb is None:
            yield _e(
                f"{f}.netboot",
                f"node {node.name}: boot is 'net' but netboot (firmware, root) is not set",
            )
            continue
        yield from _boot_server_reach(spec, f, node)
        yield from _firmware(spec, f, node, nb)
        found, key = _root(spec, f, node, nb, exported)
        yield from found
        if key is not None:
            roots[key].append((f, node))
    for users in roots.values():
        writers = [n.name for _, n in users if n.netboot and not n.netboot.root_readonly]
        if len(users) > 1 and writers:
            where = ", ".join(n.name for _, n in users)
            for f, _ in users[1:]:
                yield _e(
                    f"{f}.netboot",
                    f"nodes {where} share one root and {', '.join(writers)} would write to "
                    "it: give each its own root, or set root_readonly on all of them",
                )


def _nfs(spec: ClusterSpec) -> Iterator[Problem]:
    from microrack.spec._boot import mounting_nodes, nfs_server

    nfs = spec.services.nfs
    if nfs is None:
        return
    server = nfs_server(spec)
    names = {n.name for n in spec.nodes}
    seen: dict[tuple[str, str], int] = {}
    mounts: dict[tuple[str, str], int] = {}
    for i, exp in enumerate(nfs.exports):
        f = f"services.nfs.exports[{i}]"
        if (exp.path, exp.network) in seen:
            first = seen[exp.path, exp.network]
            yield _e(f, f"{exp.path} is exported to {exp.network} twice (also exports[{first}])")
        seen[exp.path, exp.network] = i
        net = spec.network(exp.network)
        if net is not None and net.kind not in WIRED_KINDS:
            yield _e(
                f"{f}.network",
                f"{exp.path}: clients must be on a wired network; {net.name} is a {net.kind} range",
            )
        elif (
            net is not None
            and server is not None
            and not any(nic.network == net.name for nic in server.nics)
        ):
            yield _w(
                f"{f}.network",
                f"{exp.path} is exported to {net.name} but the NFS server {server.name} "
                "has no NIC on it (clients reach it through a router)",
            )
        for j, name in enumerate(exp.mount_on or []):
            if name not in names:
                yield _e(f"{f}.mount_on[{j}]", f"no node {name!r}")
        if exp.mount is None:
            if exp.mount_on:
                yield _e(f"{f}.mount", f"{exp.path}: mount_on is set but mount (where) is not")
            continue
        for node in mounting_nodes(spec, exp):
            if (node.name, exp.mount) in mounts:
                yield _e(
                    f"{f}.mount",
                    f"node {node.name} mounts two exports at {exp.mount} "
                    f"(also exports[{mounts[node.name, exp.mount]}])",
                )
            mounts[node.name, exp.mount] = i
            if net is not None and not any(nic.address in net.cidr for nic in node.nics):
                yield _e(
                    f"{f}.mount_on",
                    f"node {node.name} mounts {exp.path} but has no address in {net.name} "
                    f"({net.cidr}), the only network it is exported to",
                )


RULES: tuple[Callable[[ClusterSpec], Iterator[Problem]], ...] = (
    _addresses,
    _ranges,
    _duplicates,
    _poe,
    _quorum,
    _storage,
    _placement,
    _ram,
    _redundancy,
    _netboot,
    _nfs,
    _single_points,
)


def check_spec(spec: ClusterSpec) -> list[Problem]:
    """Every error and warning of ``spec``, errors first, in a stable order."""
    found = [p for rule in RULES for p in rule(spec)]
    return [p for p in found if p.severity == "error"] + [
        p for p in found if p.severity == "warning"
    ]
