"""Kubernetes manifests for the agent, MetalLB's address pool, and a k3s config per node."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from microrack.errors import ConfigError
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
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }


#: The node label naming the character devices a node's fan controller needs,
#: ``i2c-N`` and/or ``gpiochipN`` joined by ``.`` (``i2c-10``, ``i2c-1.gpiochip4``).
FAN_DEVICE_LABEL = "microrack.io/fan-device"

#: squat/generic-device-plugin: it advertises exactly the listed host devices as
#: extended resources ``squat.ai/<name>`` and adds them, with cgroup device
#: access, to the pods that request one (a hostPath char device does not get that).
DEVICE_PLUGIN_IMAGE = "docker.io/squat/generic-device-plugin:latest"
DEVICE_DOMAIN = "squat.ai"
DEVICE_PLUGIN_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "20Mi"},
    "limits": {"memory": "64Mi"},
}

_SPEC = "cluster.yaml"
_DEVICE = re.compile(r"(i2c-|gpiochip)(0|[1-9][0-9]{0,2})")


def fan_devices(node: Node) -> tuple[str, ...]:
    """The ``/dev`` names (``i2c-1``, ``gpiochip4``) the node's fan controller needs,
    from its :data:`FAN_DEVICE_LABEL` label; raises ConfigError naming the node."""
    value = node.labels.get(FAN_DEVICE_LABEL)
    if value is None:
        return ()
    where = f"nodes.{node.name}.labels.{FAN_DEVICE_LABEL}"
    if not node.fan:
        raise ConfigError(_SPEC, where, "the node has no fan (set fan: true)")
    names = value.split(".")
    bad = [n for n in names if not _DEVICE.fullmatch(n)]
    if bad or not value:
        raise ConfigError(
            _SPEC,
            where,
            f"{value!r}: expected i2c-N or gpiochipN, several joined by '.'"
            f" (bad: {', '.join(repr(b) for b in bad) or repr(value)})",
        )
    if len(value) > 63:  # a Kubernetes label value
        raise ConfigError(_SPEC, where, f"{value!r} is longer than a label's 63 characters")
    if len(set(names)) != len(names):
        raise ConfigError(_SPEC, where, f"{value!r} names a device twice")
    return tuple(sorted(names))


def _fan_daemonset(spec: ClusterSpec, board: str, devices: tuple[str, ...]) -> dict[str, Any]:
    """The fan controller of one board kind (and device set), on those nodes with a fan.

    Of the host it reaches only: ``/sys`` read-only (thermal zones, hwmon's class
    links), ``/sys/devices/platform`` writable (where the SoC's pwm-fan, an I2C
    fan chip's and a Super I/O's hwmon ``pwm1`` live: ``/sys/class/hwmon`` entries
    are links into it), and the devices of :func:`fan_devices`, through the
    device plugin's extended resources.  No host network, PID namespace, shell or
    ``/dev``; not privileged; root (the pwm files and device nodes are root's) with
    every capability dropped.
    """
    name = f"microrack-fan-{'-'.join((board, *devices))}"
    if len(name) > 63:  # an object name; the hash keeps two long device sets apart
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    labels = {
        "app.kubernetes.io/name": "microrack-fan",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/part-of": "microrack",
    }
    resources: dict[str, Any] = {
        "requests": dict(FAN_RESOURCES["requests"]),
        "limits": dict(FAN_RESOURCES["limits"]) | {f"{DEVICE_DOMAIN}/{d}": 1 for d in devices},
    }
    selector = {BOARD_LABEL: board, FAN_LABEL: "true"}
    # A node selector cannot say "label absent": the affinity keeps the set
    # without devices off the nodes another set gives their devices to.
    device_term = (
        {"key": FAN_DEVICE_LABEL, "operator": "In", "values": [".".join(devices)]}
        if devices
        else {"key": FAN_DEVICE_LABEL, "operator": "DoesNotExist"}
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [device_term]}]
            }
        }
    }
    container = {
        "name": "fan",
        **_image(spec),
        "args": ["fan", "--board", board, "--root", "/host"],
        "resources": resources,
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "runAsNonRoot": False,
            "runAsUser": 0,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "sys", "mountPath": "/host/sys", "readOnly": True},
            {"name": "sys-platform", "mountPath": "/host/sys/devices/platform"},
        ],
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
                    "nodeSelector": selector,
                    "affinity": affinity,
                    "tolerations": [{"operator": "Exists"}],
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    # SIGTERM sets the fans to full before the controller exits.
                    "terminationGracePeriodSeconds": 10,
                    "containers": [container],
                    "volumes": [
                        {"name": "sys", "hostPath": {"path": "/sys", "type": "Directory"}},
                        {
                            "name": "sys-platform",
                            "hostPath": {"path": "/sys/devices/platform", "type": "Directory"},
                        },
                    ],
                },
            },
        },
    }


def _device_plugin(spec: ClusterSpec, devices: list[str]) -> list[dict[str, Any]]:
    """The DaemonSet of squat/generic-device-plugin offering exactly ``devices``.

    The plugin is the one privileged pod (it watches ``/dev`` and registers with
    the kubelet, as its upstream manifest does); it runs only on the nodes with a
    :data:`FAN_DEVICE_LABEL`, and each device is a resource of its own, so a pod
    that requests ``squat.ai/i2c-1`` gets ``/dev/i2c-1`` and nothing else.
    """
    ns = spec.agent.namespace
    name = "microrack-device-plugin"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "microrack"}
    args = ["--domain", DEVICE_DOMAIN]
    for d in devices:
        spec_json = {"name": d, "groups": [{"count": 1, "paths": [{"path": f"/dev/{d}"}]}]}
        args += ["--device", json.dumps(spec_json, separators=(",", ":"))]
    term = {"matchExpressions": [{"key": FAN_DEVICE_LABEL, "operator": "Exists"}]}
    container = {
        "name": "generic-device-plugin",
        "image": DEVICE_PLUGIN_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "resources": DEVICE_PLUGIN_RESOURCES,
        "securityContext": {"privileged": True},
        "volumeMounts": [
            {"name": "device-plugins", "mountPath": "/var/lib/kubelet/device-plugins"},
            {"name": "dev", "mountPath": "/dev"},
        ],
    }
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [term]
                            }
                        }
                    },
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "device-plugins",
                            "hostPath": {
                                "path": "/var/lib/kubelet/device-plugins",
                                "type": "Directory",
                            },
                        },
                        {"name": "dev", "hostPath": {"path": "/dev", "type": "Directory"}},
                    ],
                },
            },
        },
    }
    return [daemonset]


def fan_manifests(spec: ClusterSpec) -> list[dict[str, Any]]:
    """One fan DaemonSet per board kind and device set among the nodes with ``fan: true``,
    and the device plugin that hands those nodes' I2C/GPIO devices to them."""
    wanted = {n.name: fan_devices(n) for n in spec.nodes}  # checks every node's label
    groups = sorted({(n.board, wanted[n.name]) for n in spec.nodes if n.fan})
    devices = sorted({d for _, ds in groups for d in ds})
    plugin = _device_plugin(spec, devices) if devices else []
    return plugin + [_fan_daemonset(spec, b, ds) for b, ds in groups]


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
