"""An Ansible inventory (YAML): one group per role and per board, host variables."""

from __future__ import annotations

from typing import Any

from microrack.spec._model import ClusterSpec


def group_name(value: str) -> str:
    """Ansible group names must be identifiers: ``control-plane`` -> ``control_plane``."""
    return value.replace("-", "_").replace(".", "_")


def inventory(spec: ClusterSpec) -> dict[str, Any]:
    hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for node in spec.nodes:
        hosts[node.name] = {
            "ansible_host": node.address,
            "microrack_board": node.board,
            "microrack_ram_gb": node.ram_gb,
            "microrack_roles": [r.value for r in node.roles],
            "microrack_agent_port": node.agent_port,
            "microrack_nics": [
                {
                    "name": nic.name,
                    "mac": nic.mac,
                    "address": str(nic.address),
                    "network": nic.network,
                }
                for nic in node.nics
            ],
            "microrack_drives": [d.model_dump(mode="json") for d in node.drives],
            "microrack_labels": dict(sorted(node.labels.items())),
        }
        for role in node.roles:
            groups.setdefault(group_name(role.value), {"hosts": {}})["hosts"][node.name] = None
        board = f"board_{group_name(node.board)}"
        groups.setdefault(board, {"hosts": {}})["hosts"][node.name] = None
    return {
        "all": {
            "vars": {
                "microrack_cluster": spec.cluster.name,
                "microrack_domain": spec.cluster.domain,
                "microrack_networks": {
                    n.name: {"kind": n.kind.value, "cidr": str(n.cidr)} for n in spec.networks
                },
            },
            "hosts": hosts,
            "children": dict(sorted(groups.items())),
        }
    }
