"""Kubernetes manifests for the agent, MetalLB's address pool, and a k3s config per node."""

from __future__ import annotations

from typing import Any

from microrack.spec._model import DEFAULT_AGENT_PORT, ClusterSpec, NetworkKind, Node, Role

LABELS = {"app.kubernetes.io/name": "microrack-agent", "app.kubernetes.io/part-of": "microrack"}


def agent_manifests(spec: ClusterSpec) -> list[dict[str, Any]]:
    """Namespace, DaemonSet (host network, /proc and /sys read-only) and a headless Service."""
    ns = spec.agent.namespace
    ports = {n.agent_port for n in spec.nodes}
    port = ports.pop() if len(ports) == 1 else DEFAULT_AGENT_PORT
    meta = {"name": "microrack-agent", "namespace": ns, "labels": dict(LABELS)}
    container = {
        "name": "agent",
        "image": spec.agent.image,
        "args": [
            "agent",
            "--listen",
            f"0.0.0.0:{port}",
            "--interval",
            f"{spec.agent.interval_s:g}",
            "--root",
            "/host",
            "--node",
            "$(NODE_NAME)",
        ],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 10},
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "96Mi"},
        },
        "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
        "volumeMounts": [
            {"name": "proc", "mountPath": "/host/proc", "readOnly": True},
            {"name": "sys", "mountPath": "/host/sys", "readOnly": True},
        ],
    }
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": dict(LABELS)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "hostNetwork": True,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [container],
                    "volumes": [
                        {"name": "proc", "hostPath": {"path": "/proc"}},
                        {"name": "sys", "hostPath": {"path": "/sys"}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "clusterIP": "None",
            "selector": dict(LABELS),
            "ports": [{"name": "metrics", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    return [namespace, daemonset, service]


def metallb_manifests(spec: ClusterSpec) -> list[dict[str, Any]]:
    """An IPAddressPool and L2Advertisement for MetalLB (CRDs: metallb.io/v1beta1)."""
    lb = spec.services.load_balancer
    if lb is None or lb.kind != "metallb":
        return []
    net = spec.network(lb.pool)
    assert net is not None
    meta = {"name": net.name, "namespace": "metallb-system"}
    return [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": meta,
            "spec": {"addresses": [str(net.cidr)]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": meta,
            "spec": {"ipAddressPools": [net.name]},
        },
    ]


def k3s_config(spec: ClusterSpec, node: Node) -> tuple[str, dict[str, Any]] | None:
    """``("server"|"agent", /etc/rancher/k3s/config.yaml)`` of ``node``; None without a
    Kubernetes role."""
    servers = spec.with_role(Role.CONTROL_PLANE)
    is_server = Role.CONTROL_PLANE in node.roles
    if not is_server and Role.WORKER not in node.roles:
        return None
    labels = [f"microrack.io/board={node.board}"]
    labels += [f"{k}={v}" for k, v in sorted(node.labels.items())]
    conf: dict[str, Any] = {
        "node-name": node.name,
        "node-ip": node.address,
        "token-file": "/etc/rancher/k3s/cluster-token",
        "node-label": labels,
    }
    if is_server and Role.WORKER not in node.roles and len(spec.nodes) > len(servers):
        conf["node-taint"] = ["node-role.kubernetes.io/control-plane=true:NoSchedule"]
    first = servers[0] if servers else None
    if first is not None and node is not first:
        conf["server"] = f"https://{first.address}:6443"
    if is_server:
        pods = spec.networks_of(NetworkKind.POD)
        svcs = spec.networks_of(NetworkKind.SERVICE)
        if pods:
            conf["cluster-cidr"] = str(pods[0].cidr)
        if svcs:
            conf["service-cidr"] = str(svcs[0].cidr)
        conf["cluster-domain"] = "cluster.local"
        conf["tls-san"] = [f"{node.name}.{spec.cluster.domain}", node.address]
        if node is first and len(servers) > 1:
            conf["cluster-init"] = True  # embedded etcd, so the others can join
        if spec.services.load_balancer is not None:
            conf["disable"] = ["servicelb"]  # MetalLB/kube-vip hands out LoadBalancer addresses
        conf["write-kubeconfig-mode"] = "0600"
    return ("server" if is_server else "agent"), conf
