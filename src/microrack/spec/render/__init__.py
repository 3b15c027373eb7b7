"""Render a spec into the configuration files the rest of the stack reads.

``render(spec)`` is pure: it returns every file as bytes, keyed by its path
under the output directory, and the same spec always gives the same bytes.
``render_to`` writes them without losing anything: all files are produced in
memory first, hand-edited files are refused unless forced, and each file is
replaced atomically.
"""

from __future__ import annotations

from typing import Any

import yaml

from microrack.spec._model import ClusterSpec
from microrack.spec.render._ansible import inventory
from microrack.spec.render._cloudinit import cloudinit_files
from microrack.spec.render._grafana import PANELS, dashboard_json
from microrack.spec.render._kubernetes import (
    agent_manifests,
    fan_manifests,
    k3s_config,
    metallb_manifests,
)
from microrack.spec.render._netboot import netboot_files
from microrack.spec.render._nfs import nfs_files
from microrack.spec.render._playbook import playbook
from microrack.spec.render._prometheus import prometheus_config
from microrack.spec.render._systemd import (
    POLKIT_RULE,
    agent_unit,
    chaos_rights,
    fan_unit,
    hub_nodes,
    hub_unit,
)
from microrack.spec.render._talos import talos_patch
from microrack.spec.render._text import HEADER, dnsmasq_conf, hosts_file
from microrack.spec.render._write import MANIFEST, EditedFiles, render_to

__all__ = ["MANIFEST", "PANELS", "EditedFiles", "render", "render_to"]


class _Dumper(yaml.SafeDumper):
    """Block style, and no anchors/aliases for repeated sub-objects."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(data: Any, header: str = "") -> bytes:
    return (header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100)).encode()


def _yaml_all(docs: list[Any], header: str) -> bytes:
    body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=100, explicit_start=True)
    return (header + body).encode()


def render(spec: ClusterSpec) -> dict[str, bytes]:
    """Every file, ``relative path -> content``, in a stable order."""
    head = HEADER.format(name=spec.cluster.name)
    files: dict[str, bytes] = {
        "dnsmasq.conf": dnsmasq_conf(spec).encode(),
        "hosts": hosts_file(spec).encode(),
        "ansible/inventory.yaml": _yaml(inventory(spec), head),
        "ansible/playbook.yaml": _yaml(playbook(spec), head),
        "prometheus/prometheus.yml": _yaml(prometheus_config(spec), head),
        "kubernetes/microrack-agent.yaml": _yaml_all(agent_manifests(spec), head),
        "grafana/microrack-dashboard.json": dashboard_json(spec).encode(),
    }
    fans = fan_manifests(spec)
    if fans:
        files["kubernetes/microrack-fan.yaml"] = _yaml_all(fans, head)
    metallb = metallb_manifests(spec)
    if metallb:
        files["kubernetes/metallb-pool.yaml"] = _yaml_all(metallb, head)
    for node in spec.nodes:
        files[f"systemd/{node.name}/microrack-agent.service"] = agent_unit(spec, node).encode()
        polkit = chaos_rights(node).polkit
        if polkit is not None:
            files[f"polkit/{node.name}/{POLKIT_RULE}"] = polkit.encode()
        if node.fan:
            files[f"systemd/{node.name}/microrack-fan.service"] = fan_unit(spec, node).encode()
        if node in hub_nodes(spec):
            files[f"systemd/{node.name}/microrack-hub.service"] = hub_unit(spec, node).encode()
        files[f"talos/{node.name}.yaml"] = _yaml_all(talos_patch(spec, node), head)
        k3s = k3s_config(spec, node)
        if k3s is not None:
            role, conf = k3s
            note = f"# /etc/rancher/k3s/config.yaml of {node.name}: run 'k3s {role}'\n"
            files[f"k3s/{node.name}.yaml"] = _yaml(conf, head + note)
    for extra in (netboot_files(spec), nfs_files(spec), cloudinit_files(spec)):
        files.update((path, text.encode()) for path, text in extra.items())
    return dict(sorted(files.items()))
