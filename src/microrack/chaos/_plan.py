"""A scenario on a real cluster: which agent (or BMC) gets which request, when.

``plan_run`` checks the scenario against cluster.yaml before anything is sent:
each fault's kind must have a real counterpart, each target node must accept
that kind (its ``chaos:`` field), a crash must name one of the node's units, a
power cycle needs the node's ``bmc:``.  Every refusal is one ``ConfigError``
naming the file and the field.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from microrack.errors import ConfigError
from microrack.faults import FaultError, check_params
from microrack.sim import NodeFacts, Scenario, fault_targets
from microrack.sim._faults import Crash, DiskFill, PowerCycle

__all__ = ["AgentStep", "BmcStep", "ChaosPlan", "agent_urls", "node_facts", "plan_run"]

_ID_BAD = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class AgentStep:
    """One fault request of the chaos contract to one node's agent."""

    fault: int  # index in the scenario's faults
    at_s: float
    duration_s: float
    node: str
    url: str  # the agent's base URL
    kind: str
    params: dict[str, Any]
    id: str


@dataclass(frozen=True, slots=True)
class BmcStep:
    """A power cycle through a Turing Pi 2 BMC: off at ``at_s``, on after ``duration_s``."""

    fault: int
    at_s: float
    duration_s: float
    node: str
    bmc_url: str
    slot: int


@dataclass(frozen=True, slots=True)
class ChaosPlan:
    scenario: str
    run_id: str
    duration_s: float
    agents: tuple[AgentStep, ...]
    bmcs: tuple[BmcStep, ...]
    urls: dict[str, str] = field(default_factory=dict)  # every node with chaos: -> agent URL

    @property
    def nodes(self) -> list[str]:
        return sorted({s.node for s in self.agents} | {s.node for s in self.bmcs})


def node_facts(spec: Any) -> NodeFacts:
    return NodeFacts(
        [n.name for n in spec.nodes],
        [[str(nic.address) for nic in n.nics] for n in spec.nodes],
        [[str(getattr(r, "value", r)) for r in n.roles] for n in spec.nodes],
    )


def agent_urls(spec: Any, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Each node's agent URL from cluster.yaml (first NIC, ``agent_port``), or an override."""
    out = {n.name: f"http://{n.nics[0].address}:{n.agent_port}" for n in spec.nodes}
    for name, url in (overrides or {}).items():
        if name not in out:
            raise ConfigError("--agent", None, f"no node {name!r} in the cluster")
        out[name] = url.rstrip("/")
    return out


def _fault_id(run_id: str, k: int, kind: str, node: str) -> str:
    text = _ID_BAD.sub("-", f"{run_id}-{k}-{kind}-{node}")
    return text[:64]


def plan_run(
    spec: Any,
    scenario: Scenario,
    *,
    path: str,
    spec_path: str,
    urls: dict[str, str] | None = None,
    run_id: str | None = None,
) -> ChaosPlan:
    """The requests that make ``scenario`` real on ``spec``'s nodes (checked, nothing sent)."""
    facts = node_facts(spec)
    targets = fault_targets(spec, scenario, path)
    base = agent_urls(spec, urls)
    rid = run_id or secrets.token_hex(3)
    agents: list[AgentStep] = []
    bmcs: list[BmcStep] = []
    for k, f in enumerate(scenario.faults):
        where = f"faults[{k}]"
        if f.at >= scenario.duration:
            raise ConfigError(path, f"{where}.at", "starts after the scenario's duration")
        dur = min(
            f.duration if f.duration is not None else scenario.duration - f.at,
            scenario.duration - f.at,
        )
        if dur <= 0:
            raise ConfigError(path, f"{where}.duration", "must be more than 0 s on a cluster")
        if isinstance(f, PowerCycle):
            for i in targets[k]:
                node = spec.nodes[i]
                if node.bmc is None:
                    raise ConfigError(
                        spec_path,
                        f"nodes[{i}].bmc",
                        f"node {node.name!r} names no BMC: {where} power_cycle "
                        "needs one (a Turing Pi 2 slot)",
                    )
                bmcs.append(
                    BmcStep(k, f.at, dur, node.name, node.bmc.url.rstrip("/"), node.bmc.slot)
                )
            continue
        if f.contract_kind is None:
            raise ConfigError(
                path, f"{where}.kind", f"{f.kind} exists in the twin only; a cluster cannot do it"
            )
        for req in f.requests(facts, targets[k]):
            i = facts.index[req.node]
            node = spec.nodes[i]
            params = dict(req.params)
            _check_node(node, i, req.kind, params, f, where, path, spec_path)
            agents.append(
                AgentStep(
                    k,
                    f.at,
                    dur,
                    req.node,
                    base[req.node],
                    req.kind,
                    params,
                    _fault_id(rid, k, req.kind, req.node),
                )
            )
    chaos_urls = {n.name: base[n.name] for n in spec.nodes if n.chaos is not None}
    return ChaosPlan(
        scenario.name, rid, float(scenario.duration), tuple(agents), tuple(bmcs), chaos_urls
    )


def _check_node(
    node: Any,
    i: int,
    kind: str,
    params: dict[str, Any],
    f: Any,
    where: str,
    path: str,
    spec_path: str,
) -> None:
    c = node.chaos
    if c is None:
        raise ConfigError(
            spec_path,
            f"nodes[{i}].chaos",
            f"node {node.name!r} accepts no faults ({where} is a {kind})",
        )
    if kind not in c.allow:
        raise ConfigError(
            spec_path,
            f"nodes[{i}].chaos.allow",
            f"node {node.name!r} does not allow {kind} ({where})",
        )
    if isinstance(f, Crash):
        if f.target is None:
            if len(c.units) != 1:
                raise ConfigError(
                    path,
                    f"{where}.target",
                    f"name the unit to stop on {node.name!r}; it allows "
                    f"{', '.join(c.units) or 'none'}",
                )
            params["target"] = c.units[0]
        elif f.target not in c.units:
            raise ConfigError(
                path,
                f"{where}.target",
                f"{f.target!r} is not in node {node.name!r}'s chaos.units "
                f"({', '.join(c.units) or 'none'})",
            )
    try:
        check_params(kind, params)
    except FaultError as exc:
        sub = (exc.field or "").removeprefix("params.")
        raise ConfigError(
            path, f"{where}.{sub}" if sub else where, f"node {node.name!r}: {exc.message}"
        ) from None
    if isinstance(f, DiskFill) and not c.fill_dir:
        raise ConfigError(
            spec_path,
            f"nodes[{i}].chaos.fill_dir",
            f"node {node.name!r} names no directory for disk_fill ({where})",
        )
