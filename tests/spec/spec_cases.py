"""A small, valid cluster.yaml as data, for tests to break one field at a time."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

_BASE: dict[str, Any] = {
    "cluster": {"name": "t", "domain": "t.lab.internal"},
    "networks": [
        {
            "name": "lan",
            "kind": "infrastructure",
            "cidr": "198.18.0.0/24",
            "gateway": "198.18.0.1",
            "dhcp": {"start": "198.18.0.100", "end": "198.18.0.150"},
        },
        {"name": "svc", "kind": "service", "cidr": "198.18.16.0/20"},
        {"name": "pods", "kind": "pod", "cidr": "198.19.0.0/16"},
        {"name": "lb", "kind": "load_balancer", "cidr": "198.18.0.224/28"},
    ],
    "switches": [
        {"name": "sw-a", "ports": 8, "poe_budget_w": 59, "poe_class": 4, "psu": "ups-a"},
        {"name": "sw-b", "ports": 8, "psu": "ups-b"},
    ],
    "nodes": [
        {
            "name": f"n{i}",
            "board": "pi4b",
            "ram_gb": 8,
            "nics": [
                {
                    "name": "eth0",
                    "mac": f"02:00:00:00:00:0{i}",
                    "network": "lan",
                    "address": f"198.18.0.1{i}",
                    "switch": "sw-a" if i < 3 else "sw-b",
                    "port": i,
                    "poe": i < 3,
                }
            ],
            "drives": [{"name": "sda", "kind": "ssd", "size_gb": 500, "osd": True}],
            "roles": ["control-plane", "ceph-mon", "ceph-osd"] + (["dhcp-dns"] if i == 1 else []),
            "psu": None if i < 3 else "usb-3",
            "node_exporter": i == 1,
            "fan": i == 2,
        }
        for i in (1, 2, 3)
    ],
    "services": {
        "ceph": {"pools": [{"name": "rbd", "size": 3, "min_size": 2}]},
        "load_balancer": {"kind": "metallb", "pool": "lb"},
    },
}


def base() -> dict[str, Any]:
    """A fresh copy of the valid spec."""
    return copy.deepcopy(_BASE)


def write(tmp_path: Path, data: dict[str, Any], name: str = "cluster.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def examples() -> list[Path]:
    return sorted(EXAMPLES.glob("cluster*.yaml"))
