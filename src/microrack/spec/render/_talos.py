"""A Talos machine-config patch per node (``talosctl ... --config-patch @talos/<node>.yaml``).

Talos configures a node with typed documents beside the ``v1alpha1`` machine
config (Talos 1.12 on; the layout of its ``config.schema.json``): a
``HostnameConfig``, one ``LinkConfig`` per NIC with its static address (and the
default route on the primary NIC where its network has a gateway), a
``ResolverConfig`` with the network's name servers, a ``KubeNodeConfig`` with
the labels the DaemonSets select on, and on nodes with a fan a
``KernelModuleConfig`` for ``i2c-dev`` (fan controllers on I2C, such as the
EMC2301 of CM4 carrier boards, are reached as ``/dev/i2c-N``).
"""

from __future__ import annotations

from typing import Any

from microrack.spec._model import ClusterSpec, Node
from microrack.spec.render._kubernetes import node_labels


def _doc(kind: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1alpha1", "kind": kind, **fields}


def _links(spec: ClusterSpec, node: Node) -> list[dict[str, Any]]:
    out = []
    for nic in node.nics:
        net = spec.network(nic.network)
        assert net is not None  # the spec's rules check every NIC's network
        link = _doc(
            "LinkConfig",
            name=nic.name,
            up=True,
            addresses=[{"address": f"{nic.address}/{net.cidr.prefixlen}"}],
        )
        if net.gateway is not None and nic is node.primary:
            link["routes"] = [{"destination": "0.0.0.0/0", "gateway": str(net.gateway)}]
        out.append(link)
    return out


def talos_patch(spec: ClusterSpec, node: Node) -> list[dict[str, Any]]:
    """The documents of ``talos/<node>.yaml``, in a stable order."""
    docs = [_doc("HostnameConfig", hostname=node.name), *_links(spec, node)]
    primary = spec.network(node.primary.network)
    dns = [str(a) for a in primary.dns] if primary is not None else []
    if dns:
        docs.append(_doc("ResolverConfig", nameservers=[{"address": a} for a in dns]))
    docs.append(_doc("KubeNodeConfig", labels=node_labels(node)))
    if node.fan:
        docs.append(_doc("KernelModuleConfig", name="i2c-dev"))
    return docs
