"""Failure tolerance: what survives the loss of nodes.

``tolerance(spec)`` answers "how many node failures does each group survive"
with the majority rule (n = 2f+1; etcd_faq, consul_ft, vault_raft, ceph_mons)
and Ceph's replication rule (a pool accepts writes while ``min_size`` of its
``size`` replicas remain; ceph_size).  ``failure_scenarios`` walks every loss of
one and of two nodes for ``microrack spec describe``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from microrack.catalog import (
    ceph_pool_tolerates,
    ceph_replicas_left,
    quorum_majority,
    quorum_tolerates,
)
from microrack.spec._model import ClusterSpec, Role
from microrack.spec._rules import node_ram_need_gb, power_source, quorum_groups

__all__ = [
    "Outcome",
    "Scenario",
    "agent_targets",
    "boot_outcomes",
    "boot_tolerance",
    "failure_domains",
    "failure_scenarios",
    "tolerance",
]


def agent_targets(spec: ClusterSpec) -> list[tuple[str, str, int]]:
    """``(node name, address, agent port)`` of every node, in spec order."""
    return [(n.name, n.address, n.agent_port) for n in spec.nodes]


def tolerance(spec: ClusterSpec) -> dict[str, int]:
    """Node failures each consensus group and storage service survives.

    Keys: the role of a consensus group (``consul-server``, ``etcd``, ``ceph-mon``,
    ``control-plane``; 0 for a single server), ``ceph-pool:<name>`` per Ceph
    pool, ``nfs`` when NFS is served.
    """
    out: dict[str, int] = {}
    for role, members in quorum_groups(spec).items():
        out[role] = quorum_tolerates(len(members))
    if len(spec.with_role(Role.CONTROL_PLANE)) == 1:  # one k3s server (SQLite): no quorum
        out[Role.CONTROL_PLANE.value] = 0
    osd_hosts = len(spec.with_role(Role.CEPH_OSD))
    if spec.services.ceph is not None:
        for pool in spec.services.ceph.pools:
            # Worst case the lost hosts all held replicas of one placement group.
            out[f"ceph-pool:{pool.name}"] = ceph_pool_tolerates(pool.size, pool.min_size, osd_hosts)
    if spec.services.nfs is not None:
        out["nfs"] = max(0, len(spec.with_role(Role.NFS_SERVER)) - 1)
    return out


def boot_tolerance(spec: ClusterSpec) -> dict[str, int]:
    """``{"netboot": 0}`` when a netbooted node needs another spec node to boot: each
    boot service (DHCP, TFTP, its root) has one server, so losing it stops the boot.

    Kept apart from :func:`tolerance`, whose keys name groups of nodes by role."""
    from microrack.spec._boot import boot_dependencies, netbooted

    names = {n.name for n in spec.nodes}
    for node, _ in netbooted(spec):
        if any(d.hard and d.node in names for d in boot_dependencies(spec, node)):
            return {"netboot": 0}
    return {}


def boot_outcomes(spec: ClusterSpec, lost: frozenset[str]) -> list[Outcome]:
    """Whether every netbooted node still standing can boot once ``lost`` are down."""
    from microrack.spec._boot import boot_dependencies, cannot_boot, netbooted

    if not netbooted(spec):
        return []
    stuck = cannot_boot(spec, lost)
    if not stuck:
        return [Outcome("netboot", "boot", True, "every netbooted node can boot")]
    needed = sorted(
        {
            f"{d.service} from {d.node}"
            for n in spec.nodes
            if n.name in stuck
            for d in boot_dependencies(spec, n)
            if d.hard and d.node in lost
        }
    )
    return [
        Outcome(
            "netboot",
            "boot",
            False,
            f"cannot boot: {', '.join(stuck)} (lost {'; '.join(needed)})",
        )
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One group or service after a loss."""

    name: str
    kind: str  # quorum | storage | ram
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Scenario:
    """The loss of ``lost`` nodes; ``cause`` names a shared switch or power supply."""

    lost: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    cause: str = ""

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def _after_loss(spec: ClusterSpec, lost: frozenset[str]) -> tuple[Outcome, ...]:
    outcomes: list[Outcome] = []
    for role, members in quorum_groups(spec).items():
        alive = [m for m in members if m not in lost]
        need = quorum_majority(len(members))
        outcomes.append(
            Outcome(
                role,
                "quorum",
                len(alive) >= need,
                f"{len(alive)}/{len(members)} alive, majority {need}",
            )
        )
    servers = [n.name for n in spec.with_role(Role.CONTROL_PLANE)]
    if len(servers) == 1:
        up = servers[0] not in lost
        outcomes.append(
            Outcome(
                Role.CONTROL_PLANE.value,
                "single",
                up,
                f"the only server {servers[0]} is {'up' if up else 'lost'}",
            )
        )
    osd_hosts = [n.name for n in spec.with_role(Role.CEPH_OSD)]
    if spec.services.ceph is not None:
        gone = sum(1 for h in osd_hosts if h in lost)
        mons = [n.name for n in spec.with_role(Role.CEPH_MON)]
        mon_ok = sum(1 for m in mons if m not in lost) >= quorum_majority(len(mons))
        for pool in spec.services.ceph.pools:
            left = ceph_replicas_left(pool.size, len(osd_hosts), gone)
            ok = left >= pool.min_size and mon_ok
            outcomes.append(
                Outcome(
                    f"ceph-pool:{pool.name}",
                    "storage",
                    ok,
                    f"{left} of {pool.size} replicas worst case, min_size "
                    f"{pool.min_size}" + ("" if mon_ok else ", monitors lost quorum"),
                )
            )
    if spec.services.nfs is not None:
        servers = [n.name for n in spec.with_role(Role.NFS_SERVER)]
        alive = [s for s in servers if s not in lost]
        outcomes.append(
            Outcome("nfs", "storage", bool(alive), f"servers alive: {', '.join(alive) or 'none'}")
        )
    outcomes.extend(boot_outcomes(spec, lost))
    wanted = sum(w.ram_gb for w in spec.services.workloads)
    if wanted:
        free = sum(
            max(0.0, n.ram_gb - node_ram_need_gb(n)) for n in spec.nodes if n.name not in lost
        )
        outcomes.append(
            Outcome(
                "workloads",
                "ram",
                free >= wanted,
                f"{free:.1f} GB free for {wanted:g} GB of workloads",
            )
        )
    return tuple(outcomes)


def failure_domains(spec: ClusterSpec) -> dict[str, tuple[str, ...]]:
    """Nodes that go down together: per switch (their first NIC's) and per power source."""
    domains: dict[str, list[str]] = {}
    for node in spec.nodes:
        if node.primary.switch:
            domains.setdefault(f"switch {node.primary.switch}", []).append(node.name)
        source = power_source(spec, node)
        if source:
            domains.setdefault(source, []).append(node.name)
    return {k: tuple(v) for k, v in domains.items()}


def failure_scenarios(
    spec: ClusterSpec, max_lost: int = 2, *, domains: bool = False
) -> list[Scenario]:
    """Every loss of 1..``max_lost`` nodes and what it leaves working; with ``domains``,
    also the loss of each switch and each power supply."""
    names = [n.name for n in spec.nodes]
    out = []
    for k in range(1, min(max_lost, len(names)) + 1):
        for lost in itertools.combinations(names, k):
            out.append(Scenario(lost, _after_loss(spec, frozenset(lost))))
    if domains:
        for cause, lost in failure_domains(spec).items():
            out.append(Scenario(lost, _after_loss(spec, frozenset(lost)), cause))
    return out
