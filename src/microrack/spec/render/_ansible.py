"""An Ansible inventory (YAML): one group per role and per board, host variables."""

from __future__ import annotations

from typing import Any

from microrack.spec._model import ClusterSpec, Role
from microrack.spec.render._nfs import node_mounts
from microrack.spec.render._systemd import hub_nodes


def group_name(value: str) -> str:
    """Ansible group names must be identifiers: ``control-plane`` -> ``control_plane``."""
    return value.replace("-", "_").replace(".", "_")


def inventory(spec: ClusterSpec) -> dict[str, Any]:
    hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    hubs = {n.name for n in hub_nodes(spec)}
    for node in spec.nodes:
        units = ["microrack-agent.service"]
        units += ["microrack-fan.service"] if node.fan else []
        units += ["microrack-hub.service"] if node.name in hubs else []
        # The NFS shares this node mounts (systemd mount units rendered beside the others).
        units += [name for name, _ in node_mounts(spec, node)]
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
            # What the playbook lays down and starts here (see ansible/playbook.yaml).
            "microrack_units": units,
            # The hub's web stack is not in the single file: its node gets a venv.
            "microrack_install": "venv" if node.name in hubs else "pyz",
            "microrack_dnsmasq": Role.DHCP_DNS in node.roles,
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
