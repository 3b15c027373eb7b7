"""Kubernetes manifests for the agent, MetalLB's address pool, and a k3s config per node."""

from __future__ import annotations

from typing import Any

from microrack.spec._model import DEFAULT_AGENT_PORT, ClusterSpec, NetworkKind, Node, Role

LABELS = {"app.kubernetes.io/name": "microrack-agent", "app.kubernetes.io/part-of": "microrack"}

#: Node labels the k3s configs and Talos patches set, and the DaemonSets select on.
BOARD_LABEL = "microrack.io/board"
FAN_LABEL = "microrack.io/fan"

#: Requests and limits, from the resident set of the single-file agent and fan
#: controller measured on a Pi-class node (see docs/deploy.md): the limit leaves
#: room for a scrape burst and the first start's unpacking.
AGENT_RESOURCES = {"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"memory": "128Mi"}}
FAN_RESOURCES = {"requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"memory": "128Mi"}}

_NOBODY = 65534


def node_labels(node: Node) -> dict[str, str]:
    """The labels a node carries in Kubernetes: its board, its fan, its own labels."""
    labels = {BOARD_LABEL: node.board}
    if node.fan:
        labels[FAN_LABEL] = "true"
    return labels | dict(sorted(node.labels.items()))


def _image(spec: ClusterSpec) -> dict[str, str]:
    # The default image is built locally and imported, never pulled.
    return {"image": spec.agent.image, "imagePullPolicy": "IfNotPresent"}


def agent_manifests(spec: ClusterSpec) -> list[dict[str, Any]]:
    """Namespace, DaemonSet (host network, /proc and /sys read-only) and a headless Service."""
    ns = spec.agent.namespace
    ports = {n.agent_port for n in spec.nodes}
    port = ports.pop() if len(ports) == 1 else DEFAULT_AGENT_PORT
    meta = {"name": "microrack-agent", "namespace": ns, "labels": dict(LABELS)}
    container = {
        "name": "agent",
        **_image(spec),
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
        "resources": AGENT_RESOURCES,
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "proc", "mountPath": "/host/proc", "readOnly": True},
            {"name": "sys", "mountPath": "/host/sys", "readOnly": True},
            {"name": "udev", "mountPath": "/host/run/udev", "readOnly": True},
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
                    "affinity": _on_labelled_nodes(),
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": _NOBODY,
                        "runAsGroup": _NOBODY,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "proc", "hostPath": {"path": "/proc", "type": "Directory"}},
                        {"name": "sys", "hostPath": {"path": "/sys", "type": "Directory"}},
                        {"name": "udev", "hostPath": {"path": "/run/udev", "type": "Directory"}},
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


def _on_labelled_nodes() -> dict[str, Any]:
    """Every node that carries microrack's board label (set by the k3s config/Talos patch)."""
    term = {"matchExpressions": [{"key": BOARD_LABEL, "operator": "Exists"}]}
    return {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [term]
        }}
    }


def _fan_daemonset(spec: ClusterSpec, board: str) -> dict[str, Any]:
    """The fan controller of one board kind, on that board's nodes that have a fan.

    It writes PWM duty under the host's /sys (hwmon entries are symlinks into
    /sys/devices, so /sys is mounted whole, writable) and nothing else of the host:
    no host network, PID namespace, shell or /dev.  It runs as root because the
    pwm files are root's, with every capability dropped.
    """
    name = f"microrack-fan-{board}"[:63].rstrip("-")
    labels = {"app.kubernetes.io/name": "microrack-fan", "app.kubernetes.io/instance": name,
              "app.kubernetes.io/part-of": "microrack"}
    container = {
        "name": "fan",
        **_image(spec),
        "args": ["fan", "--board", board, "--root", "/host"],
        "resources": FAN_RESOURCES,
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": False,
            "runAsUser": 0,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "sys", "mountPath": "/host/sys"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": spec.agent.namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {BOARD_LABEL: board, FAN_LABEL: "true"},
                    "tolerations": [{"operator": "Exists"}],
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    # SIGTERM sets the fans to full before the controller exits.
                    "terminationGracePeriodSeconds": 10,
                    "containers": [container],
                    "volumes": [
                        {"name": "sys", "hostPath": {"path": "/sys", "type": "Directory"}}
                    ],
                },
            },
        },
    }


def fan_manifests(spec: ClusterSpec) -> list[dict[str, Any]]:
    """One fan DaemonSet per board kind among the nodes with ``fan: true``."""
    boards = sorted({n.board for n in spec.nodes if n.fan})
    return [_fan_daemonset(spec, b) for b in boards]


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
    labels = [f"{k}={v}" for k, v in node_labels(node).items()]
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
