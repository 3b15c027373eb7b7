"""Write a starting ``cluster.yaml`` for a chosen build.

The file follows the ``microrack.spec`` model: one LAN (k3s' default pod and
service ranges beside it), one switch (plus the onboard switch of each carrier
such as the Turing Pi 2, its nodes wired to it), nodes with placeholder locally
administered MACs (replace them with the boards' real ones), roles placed by
the same quorum rule the planner used, the drives the planner laid out, and the
uplink it counted as node labels (``uplink-ports``, ``uplink-bond``,
``uplink-gbps``; cluster.yaml has no bond field).
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any

import yaml

from microrack.catalog import BoardProfile, PlanningRules, quorum_members
from microrack.plan._build import Build
from microrack.plan._requirements import Requirements

__all__ = ["emit_spec", "spec_document"]

# Placeholder addressing from the benchmarking range; edit it to your LAN before use.
_LAN = ipaddress.IPv4Network("198.18.42.0/24")
_SWITCH_SIZES = (5, 8, 16, 24, 48)


def _slug(text: str, limit: int = 20) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "node"


def spec_document(build: Build, req: Requirements, rules: PlanningRules) -> dict[str, Any]:
    f = req.survive_node_losses
    n = build.nodes
    cp = quorum_members(n, f) if req.kubernetes is not None else 0
    mons = min(n, max(rules.ceph_min_monitors, rules.quorum_members_for(f))) if req.ceph else 0
    ports = next((s for s in _SWITCH_SIZES if s >= n + 1), n + 1)
    switch: dict[str, Any] = {"name": "sw-lan", "ports": ports}
    poe = req.poe is not None
    if poe:
        classes = {g.board.poe.pd_class for g in build.groups if g.board.poe.pd_class is not None}
        if req.poe and req.poe.switch_budget_w:
            switch["poe_budget_w"] = req.poe.switch_budget_w
        if len(classes) == 1:
            switch["poe_class"] = classes.pop()
    nodes: list[dict[str, Any]] = []
    uplinks = dict(build.uplink_ports)
    carrier_switches: list[dict[str, Any]] = []
    lan_port = 0
    index = 0
    hosts = _LAN.hosts()
    next(hosts)  # .1 is the gateway
    for g in sorted(build.groups, key=lambda g: -g.variant.ram_gb):
        short = _slug(g.board.aliases[0] if g.board.aliases else g.board.id, 12)
        # nodes whose only NIC goes through their carrier's switch are wired to that switch
        behind = (
            g.board.carrier
            if g.board.carrier is not None
            and g.board.nics
            and not any(nic.uplink for nic in g.board.nics)
            else None
        )
        for slot in range(g.count):
            index += 1
            if behind is not None and slot % behind.nodes == 0:
                carrier_switches.append(
                    {
                        "name": f"{_slug(behind.name, 40)}-{slot // behind.nodes + 1}",
                        "ports": behind.nodes + sum(u.count for u in behind.uplinks),
                    }
                )
                lan_port += 1  # the carrier's uplink port on sw-lan
            if behind is not None:
                switch_name, port = carrier_switches[-1]["name"], slot % behind.nodes + 1
            else:
                lan_port += 1
                switch_name, port = "sw-lan", lan_port
            roles = []
            if index <= cp:
                roles.append("control-plane")
            if req.kubernetes is not None:
                roles.append("worker")
            if index <= mons:
                roles.append("ceph-mon")
            drives = _drives(build, g.board.id, req)
            if req.ceph is not None and any(d["osd"] for d in drives):
                roles.append("ceph-osd")
            node: dict[str, Any] = {
                "name": f"{short}-{index}",
                "board": g.board.id,
                "ram_gb": g.variant.ram_gb,
                "nics": [
                    {
                        "name": "eth0",
                        "mac": f"02:6d:72:00:{index // 256:02x}:{index % 256:02x}",
                        "network": "lan",
                        "address": str(next(hosts)),
                        "switch": switch_name,
                        "port": port,
                        "poe": poe,
                    }
                ],
                "roles": roles,
                "labels": {"isa": g.board.isa},
            }
            if drives:
                node["drives"] = drives
            if g.board.hw_transcode and req.transcode_nodes:
                node["labels"]["transcode"] = "true"
            if uplinks.get(g.board.id):
                # the uplink the plan counted: cluster.yaml has no bond field, so it is a label
                node["labels"].update(_uplink_labels(g.board, req, behind is not None))
            nodes.append(node)
    services: dict[str, Any] = {}
    if req.ceph is not None:
        size = rules.ceph_pool_size(f)
        services["ceph"] = {
            "pools": [{"name": "rbd", "size": size, "min_size": rules.ceph_min_size}]
        }
    if f and req.kubernetes is not None:
        services["redundant"] = ["control-plane"]
    if req.workload_ram_gb:
        services["workloads"] = [{"name": "workloads", "ram_gb": req.workload_ram_gb}]
    doc: dict[str, Any] = {
        "cluster": {"name": _slug(req.name, 40), "domain": "lab.internal"},
        "networks": [
            {
                "name": "lan",
                "kind": "infrastructure",
                "cidr": str(_LAN),
                "gateway": str(next(_LAN.hosts())),
            },
            {"name": "pods", "kind": "pod", "cidr": "10.42.0.0/16"},
            {"name": "services", "kind": "service", "cidr": "10.43.0.0/16"},
        ],
        "switches": [switch, *carrier_switches],
        "nodes": nodes,
    }
    if services:
        doc["services"] = services
    return doc


_MEDIUM_KIND = (
    ("M.2 NVMe", "nvme", "nvme0n1"),
    ("M.2 SATA", "ssd", "sda"),
    ("SATA", "ssd", "sda"),
    ("eMMC", "emmc", "mmcblk0"),
    ("microSD", "sd", "mmcblk1"),
    ("USB", "usb", "sdb"),
)


def _drive(medium: str) -> tuple[str, str]:
    for prefix, kind, name in _MEDIUM_KIND:
        if medium.startswith(prefix):
            return kind, name
    return "usb", "sdb"


def _drives(build: Build, board_id: str, req: Requirements) -> list[dict[str, Any]]:
    """The data drive (an OSD under Ceph) and the OS drive the plan's layout chose."""
    lay = dict(build.layouts).get(board_id)
    if lay is None or lay.data is None or not req.storage_options:
        return []
    size_tb = min(o.size_tb for o in req.storage_options)
    kind, name = _drive(lay.data)
    out = [
        {"name": name, "kind": kind, "size_gb": round(size_tb * 1000), "osd": req.ceph is not None}
    ]
    if lay.os is not None:
        os_kind, os_name = _drive(lay.os)
        if os_name == name:  # a second drive of the same kind
            os_name = "nvme1n1" if os_kind == "nvme" else "sdb" if name == "sda" else "sdc"
        out.append({"name": os_name, "kind": os_kind, "size_gb": 32, "osd": False})
    return out


def _uplink_labels(board: BoardProfile, req: Requirements, via_carrier: bool) -> dict[str, str]:
    """``uplink-ports``/``uplink-bond``/``uplink-gbps``: the ports the plan counted."""
    bonding = req.network.uplink_bonding
    if via_carrier and board.carrier is not None:
        return {
            "uplink-via": _slug(board.carrier.name, 40),
            "uplink-gbps": f"{board.carrier_uplink_gbps(bonding):g}",
        }
    nic = max((n for n in board.nics if n.uplink), key=lambda n: n.uplink_gbps(bonding))
    bonded = bool(bonding and nic.bond and nic.count > 1)
    ports = [f"eth{i}" for i in range(nic.count if bonded else 1)]
    return {
        "uplink-ports": "-".join(ports),
        "uplink-bond": nic.bond if bonded and nic.bond else "none",
        "uplink-gbps": f"{board.node_uplink_gbps(bonding):g}",
    }


def emit_spec(
    build: Build, req: Requirements, rules: PlanningRules, path: str | os.PathLike[str]
) -> None:
    header = (
        f"# Starting cluster.yaml for: {build.label}\n"
        f"# Written by `microrack plan` for requirements {req.name!r}.\n"
        "# MAC addresses are placeholders: replace them with your boards' own.\n"
    )
    for board_id, ports in build.uplink_ports:
        header += (
            f"# Uplink assumed for {board_id}: {ports}; {build.uplink_gbps:g} Gbps "
            "to the outside in total (node labels uplink-*).\n"
        )
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header)
        yaml.safe_dump(spec_document(build, req, rules), fh, sort_keys=False)
