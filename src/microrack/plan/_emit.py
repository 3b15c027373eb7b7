"""Write a starting ``cluster.yaml`` for a chosen build.

The file follows the ``microrack.spec`` model: one LAN (k3s' default pod and
service ranges beside it), one switch, nodes with placeholder locally
administered MACs (replace them with the boards' real ones), roles placed by
the same quorum rule the planner used.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any

import yaml

from microrack.catalog import PlanningRules
from microrack.plan._build import Build
from microrack.plan._requirements import Requirements

__all__ = ["emit_spec", "spec_document"]

# Placeholder addressing from the benchmarking range; edit it to your LAN before use.
_LAN = ipaddress.IPv4Network("198.18.42.0/24")
_SWITCH_SIZES = (5, 8, 16, 24, 48)


def _slug(text: str, limit: int = 20) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug[:limit].rstrip("-") or "node")


def spec_document(build: Build, req: Requirements, rules: PlanningRules) -> dict[str, Any]:
    f = req.survive_node_losses
    n = build.nodes
    cp = min(n, rules.quorum_members_for(f)) if req.kubernetes is not None else 0
    if cp and cp % 2 == 0:
        cp -= 1
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
    index = 0
    hosts = _LAN.hosts()
    next(hosts)  # .1 is the gateway
    for g in sorted(build.groups, key=lambda g: -g.variant.ram_gb):
        short = _slug(g.board.aliases[0] if g.board.aliases else g.board.id, 12)
        for _ in range(g.count):
            index += 1
            roles = []
            if index <= cp:
                roles.append("control-plane")
            if req.kubernetes is not None:
                roles.append("worker")
            if index <= mons:
                roles.append("ceph-mon")
            drives = []
            if req.storage is not None:
                kind = "nvme" if req.storage.kind in ("nvme", "any") else "ssd"
                drives.append({"name": "nvme0n1" if kind == "nvme" else "sda", "kind": kind,
                               "size_gb": round(req.storage.size_tb * 1000),
                               "osd": req.ceph is not None})
                if req.ceph is not None:
                    roles.append("ceph-osd")
            node: dict[str, Any] = {
                "name": f"{short}-{index}",
                "board": g.board.id,
                "ram_gb": g.variant.ram_gb,
                "nics": [{
                    "name": "eth0",
                    "mac": f"02:6d:72:00:{index // 256:02x}:{index % 256:02x}",
                    "network": "lan",
                    "address": str(next(hosts)),
                    "switch": "sw-lan",
                    "port": index,
                    "poe": poe,
                }],
                "roles": roles,
                "labels": {"isa": g.board.isa},
            }
            if drives:
                node["drives"] = drives
            if g.board.hw_transcode and req.transcode_nodes:
                node["labels"]["transcode"] = "true"
            nodes.append(node)
    services: dict[str, Any] = {}
    if req.ceph is not None:
        size = max(rules.ceph_replica_size, f + rules.ceph_min_size)
        services["ceph"] = {"pools": [{"name": "rbd", "size": size,
                                       "min_size": rules.ceph_min_size}]}
    if f and req.kubernetes is not None:
        services["redundant"] = ["control-plane"]
    if req.workload_ram_gb:
        services["workloads"] = [{"name": "workloads", "ram_gb": req.workload_ram_gb}]
    doc: dict[str, Any] = {
        "cluster": {"name": _slug(req.name, 40), "domain": "lab.internal"},
        "networks": [
            {"name": "lan", "kind": "infrastructure", "cidr": str(_LAN),
             "gateway": str(next(_LAN.hosts()))},
            {"name": "pods", "kind": "pod", "cidr": "10.42.0.0/16"},
            {"name": "services", "kind": "service", "cidr": "10.43.0.0/16"},
        ],
        "switches": [switch],
        "nodes": nodes,
    }
    if services:
        doc["services"] = services
    return doc


def emit_spec(build: Build, req: Requirements, rules: PlanningRules,
              path: str | os.PathLike[str]) -> None:
    header = (f"# Starting cluster.yaml for: {build.label}\n"
              f"# Written by `microrack plan` for requirements {req.name!r}.\n"
              "# MAC addresses are placeholders: replace them with your boards' own.\n")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header)
        yaml.safe_dump(spec_document(build, req, rules), fh, sort_keys=False)
