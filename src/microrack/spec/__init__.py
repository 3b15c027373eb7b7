"""One ``cluster.yaml``: the validated inventory and network plan of a cluster.

``load_spec`` reads and checks it; ``check_spec`` lists every error and warning;
``tolerance`` and ``failure_scenarios`` say what survives losing nodes;
``boot_dependencies`` what a node needs from others to boot;
``render`` writes the configuration the rest of the stack reads (dnsmasq, hosts,
Ansible, Prometheus, systemd, Kubernetes, Grafana).
"""

from __future__ import annotations

from microrack.spec._boot import BootDependency, boot_dependencies
from microrack.spec._load import Problem, SpecInvalid, check_file, load_spec, parse_spec
from microrack.spec._model import ClusterSpec, Network, NetworkKind, Nic, Node, Role, Switch
from microrack.spec._rules import check_spec
from microrack.spec._tolerance import Outcome, Scenario, agent_targets, failure_scenarios, tolerance

__all__ = [
    "BootDependency",
    "ClusterSpec",
    "Network",
    "NetworkKind",
    "Nic",
    "Node",
    "Outcome",
    "Problem",
    "Role",
    "Scenario",
    "SpecInvalid",
    "Switch",
    "agent_targets",
    "boot_dependencies",
    "check_file",
    "check_spec",
    "failure_scenarios",
    "json_schema",
    "load_spec",
    "parse_spec",
    "tolerance",
]


def json_schema() -> dict[str, object]:
    """JSON Schema of ``cluster.yaml`` for editors (yaml-language-server)."""
    schema = ClusterSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "microrack cluster.yaml"
    return schema
