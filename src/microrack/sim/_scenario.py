"""Run a scenario on the twin of a whole cluster, faster than real time.

The cluster comes from ``cluster.yaml`` (``microrack.spec``): boards, roles,
drives, fans.  The scenario (``_script.Scenario``) gives workloads per node or
role, an ambient curve and faults.  Every node is stepped together
(``Twin``); fans with a controller follow the thermal package's default curve
for their board (the curve ``microrack agent --fan auto`` uses).  Each step the
hub's default alert rules are evaluated, and whenever the set of lost nodes
changes, every consensus group and storage pool is checked against
``microrack.spec.tolerance``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microrack.errors import ConfigError
from microrack.sim._alerts import AlertEpisode, AlertTracker
from microrack.sim._faults import FaultFieldError, NodeFacts, Partition, TwinState
from microrack.sim._model import board_model
from microrack.sim._physics import Twin
from microrack.sim._script import Fault, Scenario, interp, io_at

__all__ = ["GroupCheck", "NodeResult", "SimResult", "fault_targets", "run_scenario"]

_MAX_SAMPLES = 720  # points per series kept for the plots
_DEFAULT_DISK_GB = 64.0
_START_DISK_RATIO = 0.3


@dataclass(frozen=True, slots=True)
class NodeResult:
    name: str
    board: str
    roles: tuple[str, ...]
    peak_temp_c: float
    throttled_s: float
    energy_kwh: float
    cost: float
    work_lost_ratio: float
    down_s: float
    alerts: int


@dataclass(frozen=True, slots=True)
class GroupCheck:
    """How one consensus group / storage pool fared through one fault."""

    group: str
    tolerates: int
    worst_lost: int
    ok: bool
    #: members the twin predicts out of quorum at some time in the fault (down, or on
    #: a side without a majority of the group), in spec order
    cut_off: tuple[str, ...] = ()
    members: tuple[str, ...] = ()

    def serving(self, member: str) -> bool:
        """True when ``member`` stays on a side with quorum through the fault."""
        return member not in self.cut_off


@dataclass
class SimResult:
    scenario: str
    cluster: str
    duration_s: float
    price_kwh: float
    currency: str
    nodes: list[NodeResult]
    alerts: list[AlertEpisode]
    faults: list[tuple[Fault, list[GroupCheck]]]
    series: dict[str, Any] = field(default_factory=dict)

    @property
    def energy_kwh(self) -> float:
        return sum(n.energy_kwh for n in self.nodes)

    @property
    def cost(self) -> float:
        return sum(n.cost for n in self.nodes)

    @property
    def kept_quorum(self) -> bool:
        return all(c.ok for _, checks in self.faults for c in checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "cluster": self.cluster,
            "duration_s": self.duration_s,
            "price_kwh": self.price_kwh,
            "currency": self.currency,
            "energy_kwh": round(self.energy_kwh, 6),
            "cost": round(self.cost, 6),
            "kept_quorum": self.kept_quorum,
            "nodes": [
                {
                    "name": n.name,
                    "board": n.board,
                    "roles": list(n.roles),
                    "peak_temp_c": round(n.peak_temp_c, 2),
                    "throttled_s": round(n.throttled_s, 1),
                    "energy_kwh": round(n.energy_kwh, 6),
                    "cost": round(n.cost, 6),
                    "work_lost_ratio": round(n.work_lost_ratio, 4),
                    "down_s": round(n.down_s, 1),
                    "alerts": n.alerts,
                }
                for n in self.nodes
            ],
            "alerts": [a.as_dict() for a in self.alerts],
            "faults": [
                {
                    "at_s": f.at,
                    "kind": f.kind,
                    "duration_s": f.duration,
                    "target": describe_target(f),
                    "groups": [
                        {
                            "group": c.group,
                            "tolerates": c.tolerates,
                            "worst_lost": c.worst_lost,
                            "ok": c.ok,
                            "members": list(c.members),
                            "cut_off": list(c.cut_off),
                        }
                        for c in checks
                    ],
                }
                for f, checks in self.faults
            ],
        }


def describe_target(f: Fault) -> str:
    return f.describe()


class _Cluster:
    """Names, roles and group membership of the spec's nodes."""

    def __init__(self, spec: Any) -> None:
        from microrack.spec import Role, tolerance

        self.spec = spec
        self.names = [n.name for n in spec.nodes]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.roles = [
            tuple(str(r.value if hasattr(r, "value") else r) for r in n.roles) for n in spec.nodes
        ]
        self.facts = NodeFacts(
            self.names, [[str(nic.address) for nic in n.nics] for n in spec.nodes], self.roles
        )
        self.tolerance = tolerance(spec)
        self.groups: dict[str, list[int]] = {}
        for key in self.tolerance:
            if key.startswith("ceph-pool:"):
                role = Role.CEPH_OSD
            elif key == "nfs":
                role = Role.NFS_SERVER
            else:
                role = Role(key)
            self.groups[key] = [self.index[n.name] for n in spec.with_role(role)]

    def with_role(self, role: str) -> list[int]:
        return [i for i, r in enumerate(self.roles) if role in r]


def _targets(cl: _Cluster, f: Fault, where: str, path: str) -> list[int]:
    if f.node is not None:
        if f.node not in cl.index:
            raise ConfigError(path, f"{where}.node", f"no node {f.node!r} in the cluster")
        return [cl.index[f.node]]
    if f.nodes is not None:
        for j, name in enumerate(f.nodes):
            if name not in cl.index:
                raise ConfigError(path, f"{where}.nodes[{j}]", f"no node {name!r} in the cluster")
        return [cl.index[n] for n in f.nodes]
    if f.role is not None:
        found = cl.with_role(f.role)
        if not found:
            raise ConfigError(path, f"{where}.role", f"no node has role {f.role!r}")
        return found
    if f.needs_target:
        raise ConfigError(path, where, f"a {f.kind} fault needs node, nodes or role")
    return list(range(len(cl.names)))


def fault_targets(spec: Any, scenario: Scenario, path: str = "scenario") -> list[list[int]]:
    """Node indices (``spec.nodes`` order) each fault of ``scenario`` aims at.

    The same rules as ``run_scenario``: a bad node, role or group raises
    ``ConfigError`` naming ``path`` and ``faults[k]...``.
    """
    cl = _Cluster(spec)
    out = [_targets(cl, f, f"faults[{k}]", path) for k, f in enumerate(scenario.faults)]
    for k, f in enumerate(scenario.faults):
        if isinstance(f, Partition):
            _partition_sides(cl, f, f"faults[{k}]", path)
    return out


def _partition_sides(cl: _Cluster, f: Partition, where: str, path: str) -> np.ndarray:
    """Side number of every node (unlisted nodes share one extra side)."""
    if not f.groups or len(f.groups) < 2:
        raise ConfigError(path, f"{where}.groups", "a partition needs two or more groups")
    try:
        return f.sides(cl.facts)
    except FaultFieldError as exc:
        raise ConfigError(path, f"{where}.{exc.where}", exc.message) from None


def _lost_in_group(members: list[int], up: np.ndarray, side: np.ndarray | None) -> int:
    """Members that cannot take part: down, or cut off from the best-connected side."""
    alive = [i for i in members if up[i] > 0]
    if side is None or not alive:
        return len(members) - len(alive)
    counts = np.bincount(side[alive])
    return len(members) - int(counts.max())


def _out_of_quorum(members: list[int], up: np.ndarray, side: np.ndarray | None) -> set[int]:
    """Members not serving: down, or on a side holding less than a majority of the group."""
    alive = [i for i in members if up[i] > 0]
    need = len(members) // 2 + 1
    out = set(members) - set(alive)
    if side is None:
        return out if len(alive) >= need else set(members)
    counts = np.bincount(side[alive]) if alive else np.zeros(1, np.int64)
    for i in alive:
        if counts[side[i]] < need:
            out.add(i)
    return out


def _assign_workloads(cl: _Cluster, scenario: Scenario, path: str) -> dict[int, list[int]]:
    """Workload index -> node indices: node match, then role, then the catch-all (-1: none)."""
    plan: dict[int, list[int]] = {}
    for i in range(len(cl.names)):
        chosen = None
        for k, w in enumerate(scenario.workloads):
            if w.node == cl.names[i]:
                chosen = k
                break
        if chosen is None:
            chosen = next(
                (
                    k
                    for k, w in enumerate(scenario.workloads)
                    if w.role is not None and w.role in cl.roles[i]
                ),
                None,
            )
        if chosen is None:
            chosen = next(
                (k for k, w in enumerate(scenario.workloads) if w.role is None and w.node is None),
                -1,
            )
        plan.setdefault(chosen, []).append(i)
    for k, w in enumerate(scenario.workloads):
        where = f"workloads[{k}]"
        if w.node is not None and w.node not in cl.index:
            raise ConfigError(path, f"{where}.node", f"no node {w.node!r} in the cluster")
        if w.role is not None and not cl.with_role(w.role):
            raise ConfigError(path, f"{where}.role", f"no node has role {w.role!r}")
    return plan


def run_scenario(
    spec: Any,
    scenario: Scenario,
    *,
    path: str = "scenario",
    cluster_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimResult:
    """Run ``scenario`` on the cluster ``spec``; ``path`` names the file in errors.

    ``progress(done, total)`` is called every few thousand steps (a progress bar).
    """
    from microrack.thermal import default_curve

    cl = _Cluster(spec)
    n = len(cl.names)
    models = []
    for node in spec.nodes:
        cooler = scenario.cooler or ("fan" if node.fan else "heatsink")
        models.append(board_model(node.board, cooler=cooler, ram_gb=node.ram_gb))
    nvme = [any(d.kind == "nvme" for d in node.drives) for node in spec.nodes]
    tw = Twin(models, ambient_c=scenario.ambient_c, nvme=nvme)
    # fans with a controller follow the thermal package's default curve
    by_board: dict[str, list[int]] = {}
    for i, m in enumerate(models):
        if m.has_fan:
            by_board.setdefault(m.id, []).append(i)
    for board, idx in by_board.items():
        points, _hyst = default_curve(board)
        tw.use_curve(idx, points)
        tw.auto_fan[idx] = True
    disk_size = np.array(
        [(node.drives[0].size_gb if node.drives else _DEFAULT_DISK_GB) * 1e9 for node in spec.nodes]
    )
    disk_used = disk_size * _START_DISK_RATIO

    plan = _assign_workloads(cl, scenario, path)
    io_share: dict[int, np.ndarray] = {}
    for k, idx in plan.items():
        kind = scenario.workloads[k].kind if k >= 0 else "mixed"
        tw.set_kind(idx, kind)
        io_share[k] = np.array([tw.io_share(i, kind) for i in idx], dtype=np.float32)

    targets = [_targets(cl, f, f"faults[{k}]", path) for k, f in enumerate(scenario.faults)]
    for k, f in enumerate(scenario.faults):
        if isinstance(f, Partition):
            _partition_sides(cl, f, f"faults[{k}]", path)  # checked before the run

    dt = float(scenario.step)
    steps = max(1, round(scenario.duration / dt))
    every = max(1, steps // _MAX_SAMPLES)
    hub_every = max(1, round(5.0 / dt))  # the hub evaluates rules every scrape (5 s)
    tracker = AlertTracker(cl.names)
    fault_checks: list[dict[str, int]] = [{} for _ in scenario.faults]
    fault_cut: list[dict[str, set[int]]] = [{} for _ in scenario.faults]
    last_active: tuple[int, ...] | None = None
    last_lost_key: tuple[Any, ...] | None = None
    st = TwinState(
        tw=tw,
        facts=cl.facts,
        cores=np.array([m.cores for m in models], float),
        sensor_ok=np.ones(n, bool),
        fill_rate=np.zeros(n),
        extra_util=np.zeros(n),
        ambient_add=np.zeros(n),
    )
    sensor_ok, fill_rate = st.sensor_ok, st.fill_rate
    rpm_zero = np.zeros(n, bool)
    down_s = np.zeros(n)
    series: dict[str, list[Any]] = {"t": [], "temp": [], "power": [], "clock": [], "up": []}
    tw.settle()
    tw.time = 0.0

    for s in range(steps):
        if progress is not None and s % 2000 == 0:
            progress(s, steps)
        t = s * dt
        tmid = t + dt / 2
        for k, idx in plan.items():
            if k >= 0:
                load = scenario.workloads[k].load
                u = interp(load, tmid, "util")
                io = io_at(load, tmid)
                tw.util[idx] = u
                tw.io[idx] = io_share[k] * u if io is None else io
            else:
                tw.util[idx] = 0.1
                tw.io[idx] = 0.1 * io_share[k]
        amb = interp(scenario.ambient, tmid, "c") if scenario.ambient else scenario.ambient_c
        active = tuple(k for k, f in enumerate(scenario.faults) if f.active(tmid))
        faults_changed = active != last_active
        if faults_changed:
            last_active = active
            st.reset()
            for k in active:
                scenario.faults[k].twin(st, targets[k])
            tw.changed()
        side = st.side
        if st.extra_util.any():
            np.minimum(tw.util + st.extra_util, 1.0, out=tw.util, casting="unsafe")
        tw.ambient[:] = amb
        if st.ambient_add.any():
            tw.ambient += st.ambient_add
        tw.step(dt)
        disk_used = np.minimum(disk_size, disk_used + fill_rate * dt * (tw.up > 0))
        down_s += (tw.up == 0) * dt
        # quorum and redundancy whenever the set of lost nodes changes
        lost_key = (tuple(np.nonzero(tw.up == 0)[0]), None if side is None else tuple(side))
        if lost_key != last_lost_key or faults_changed:
            last_lost_key = lost_key
            lost = {g: _lost_in_group(m, tw.up, side) for g, m in cl.groups.items()}
            cut = {
                g: _out_of_quorum(m, tw.up, side)
                for g, m in cl.groups.items()
                if not g.startswith("ceph-pool:") and g != "nfs"
            }  # consensus groups
            for k in active:
                checks = fault_checks[k]
                for g, v in lost.items():
                    checks[g] = max(checks.get(g, 0), v)
                    fault_cut[k].setdefault(g, set()).update(cut.get(g, ()))
        if s % hub_every == 0:
            np.equal(tw.fan_duty, 0.0, out=rpm_zero)
            tracker.evaluate(
                t + dt,
                up=tw.up,
                sensor_ok=sensor_ok,
                temp=tw.temp,
                soft_c=tw.soft_c,
                flags=tw.flags(),
                disk_ratio=disk_used / disk_size,
                nvme_temp=tw.nvme_temp,
                has_nvme=tw.has_nvme,
                duty=tw.duty,
                rpm_zero=rpm_zero,
                has_fan=tw.has_fan,
            )
        if s % every == 0 or s == steps - 1:
            series["t"].append(t + dt)
            series["temp"].append(tw.temp.astype(float).round(2).tolist())
            series["power"].append(tw.power.astype(float).round(3).tolist())
            series["clock"].append(tw.clock.astype(float).round(3).tolist())
            series["up"].append(tw.up.astype(int).tolist())

    if progress is not None:
        progress(steps, steps)
    price = scenario.price_kwh
    alerts_per = {name: 0 for name in cl.names}
    for ep in tracker.episodes:
        alerts_per[ep.node] += 1
    nodes = []
    for i, name in enumerate(cl.names):
        kwh = float(tw.energy_j[i]) / 3.6e6
        busy = float(tw.busy_s[i])
        nodes.append(
            NodeResult(
                name=name,
                board=models[i].id,
                roles=cl.roles[i],
                peak_temp_c=float(tw.peak_temp[i]),
                throttled_s=float(tw.throttled_s[i]),
                energy_kwh=kwh,
                cost=kwh * price,
                work_lost_ratio=(1.0 - float(tw.work_s[i]) / busy) if busy > 0 else 0.0,
                down_s=float(down_s[i]),
                alerts=alerts_per[name],
            )
        )
    faults: list[tuple[Fault, list[GroupCheck]]] = []
    for k, f in enumerate(scenario.faults):
        worst = fault_checks[k]
        faults.append(
            (
                f,
                [
                    GroupCheck(
                        g,
                        tol,
                        worst.get(g, 0),
                        worst.get(g, 0) <= tol,
                        tuple(cl.names[i] for i in sorted(fault_cut[k].get(g, ()))),
                        tuple(cl.names[i] for i in cl.groups.get(g, [])),
                    )
                    for g, tol in cl.tolerance.items()
                ],
            )
        )
    series["names"] = cl.names
    return SimResult(
        scenario=scenario.name,
        cluster=cluster_name or str(getattr(getattr(spec, "cluster", None), "name", "cluster")),
        duration_s=steps * dt,
        price_kwh=price,
        currency=scenario.currency,
        nodes=nodes,
        alerts=tracker.episodes,
        faults=faults,
        series=series,
    )


def run_files(
    cluster: str | Path, scenario: str | Path, progress: Callable[[int, int], None] | None = None
) -> SimResult:
    """``run_scenario`` on files: errors name the file and the field."""
    from microrack.sim._script import load_scenario
    from microrack.spec import load_spec

    spec = load_spec(cluster)
    sc = load_scenario(scenario)
    return run_scenario(spec, sc, path=str(scenario), progress=progress)
