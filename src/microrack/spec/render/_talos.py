"""A Talos machine-config patch per node (``talosctl ... --config-patch @talos/<node>.yaml``).

A strategic-merge patch of the ``v1alpha1`` machine config: the host name, a
static address on every NIC (with the default route where the network has a
gateway), the name servers, the node labels the DaemonSets select on, and the
``i2c-dev`` kernel module on nodes with a fan (fan controllers on I2C, such as
the EMC2301 of CM4 carrier boards, reach it as ``/dev/i2c-N``).
"""

from __future__ import annotations

from typing import Any

from microrack.spec._model import ClusterSpec, Node
from microrack.spec.render._kubernetes import node_labels


def _interfaces(spec: ClusterSpec, node: Node) -> list[dict[str, Any]]:
    out = []
    for nic in node.nics:
        net = spec.network(nic.network)
        assert net is not None  # the spec's rules check every NIC's network
        iface: dict[str, Any] = {
            "interface": nic.name,
            "addresses": [f"{nic.address}/{net.cidr.prefixlen}"],
        }
        if net.gateway is not None and nic is node.primary:
            iface["routes"] = [{"network": "0.0.0.0/0", "gateway": str(net.gateway)}]
        out.append(iface)
    return out


def talos_patch(spec: ClusterSpec, node: Node) -> dict[str, Any]:
    primary = spec.network(node.primary.network)
    network: dict[str, Any] = {
        "hostname": node.name,
        "interfaces": _interfaces(spec, node),
    }
    dns = [str(a) for a in primary.dns] if primary is not None else []
    if dns:
        network["nameservers"] = dns
    machine: dict[str, Any] = {"network": network, "nodeLabels": node_labels(node)}
    if node.fan:
        machine["kernel"] = {"modules": [{"name": "i2c-dev"}]}
    return {"machine": machine}
