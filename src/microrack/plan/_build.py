"""One candidate build, costed and checked against every requirement.

``evaluate`` is a pure function of the boards, the requirements and the
planning rules: it prices the hardware, works out idle/typical/peak watts and
the energy bill, the RAM left after losing the nodes the build must survive,
the failure tolerance of its consensus groups and Ceph pool, and one
:class:`Check` per requirement with the margin (or the shortfall in words).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from microrack.catalog import BoardProfile, PlanningRules, RamVariant
from microrack.plan._power import annual_cost_usd, annual_kwh, average_watts
from microrack.plan._requirements import Requirements

__all__ = ["Build", "Check", "Group", "evaluate", "gbe"]


@dataclass(frozen=True, slots=True)
class Group:
    """``count`` nodes of one board in one RAM variant."""

    board: BoardProfile
    variant: RamVariant
    count: int

    @property
    def label(self) -> str:
        return f"{self.count} x {self.board.name.split(' (')[0]} {self.variant.ram_gb:g} GB"


@dataclass(frozen=True, slots=True)
class Check:
    """One requirement against one build: passed or not, the margin, and why in words."""

    requirement: str
    ok: bool
    message: str
    margin: float | None = None
    required: float | None = None  # the number asked for, when the requirement is one

    @property
    def shortfall(self) -> float:
        """How far a failed check misses, 0..1 of what was asked (1 when not a number)."""
        if self.ok:
            return 0.0
        if self.margin is None or not self.required or self.margin >= 0:
            return 1.0
        return min(1.0, -self.margin / self.required)


@dataclass(frozen=True, slots=True)
class Build:
    groups: tuple[Group, ...]
    nodes: int
    hardware_usd: float
    cost_lines: tuple[tuple[str, float], ...]
    idle_w: float
    typical_w: float
    peak_w: float
    kwh_per_year: float
    energy_usd_per_year: float
    tco_usd: float
    years: float
    ram_gb: float
    cores: int
    usable_ram_gb: float
    ram_left_after_losses_gb: float
    losses_planned: int
    tolerates: int
    tolerance: tuple[tuple[str, int], ...]
    poe_used_w: float | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    @property
    def label(self) -> str:
        return " + ".join(g.label for g in self.groups)

    @property
    def mixed(self) -> bool:
        return len(self.groups) > 1


_ETHERNET = (1, 2.5, 5, 10, 25, 40, 50, 100)


def gbe(speed_gbps: float) -> str:
    """``1 GbE``, ``2.5 GbE``, ``100 Mbps``, ``8 Gbps`` — how people name link speeds."""
    if speed_gbps < 1:
        return f"{speed_gbps * 1000:g} Mbps"
    return f"{speed_gbps:g} GbE" if speed_gbps in _ETHERNET else f"{speed_gbps:g} Gbps"


def _nodes(count: int) -> str:
    return f"{count} node" if count == 1 else f"{count} nodes"


@dataclass(frozen=True, slots=True)
class _Node:
    board: BoardProfile
    variant: RamVariant
    idle_w: float  # at the wall
    load_w: float
    input_load_w: float  # as measured (at the board's input where the catalog says so)


def _node(g: Group, rules: PlanningRules) -> _Node:
    """One node's watts at the wall: figures measured at a USB input pay the adapter's loss."""
    idle = g.variant.idle_w if g.variant.idle_w is not None else g.board.idle_w
    load = g.variant.load_w if g.variant.load_w is not None else g.board.load_w
    measured = load
    if g.board.power_source == "usb_input":
        idle, load = idle / rules.usb_psu_efficiency, load / rules.usb_psu_efficiency
    return _Node(g.board, g.variant, idle, load, measured)


def _storage_fits(board: BoardProfile, req: Requirements) -> tuple[bool, str, float]:
    """Whether one drive of the required kind fits; why not; the adapter cost if it does."""
    storage = req.storage
    if storage is None:
        return True, "", 0.0
    length = storage.m2_length or (2280 if storage.power_loss_protection else None)
    want_nvme = storage.kind in ("nvme", "any")
    want_sata = storage.kind in ("sata", "any")
    slots = [s for s in board.m2_slots if (want_nvme and s.nvme) or (want_sata and s.sata)]
    fitting = [s for s in slots if length is None or length in s.lengths]
    if fitting:
        best = min(fitting, key=lambda s: s.extra_usd)
        return True, "", best.extra_usd
    if want_sata and board.sata_ports > 0:
        return True, "", 0.0
    if slots and length is not None:
        took = "/".join(str(x) for x in sorted({x for s in slots for x in s.lengths}))
        why = "a power-loss-protected drive" if storage.power_loss_protection else "the drive"
        return False, f"M.2 slot takes {took}, {why} needs {length}", 0.0
    wanted = {"nvme": "NVMe", "sata": "SATA", "any": "NVMe or SATA"}[storage.kind]
    return False, f"no {wanted} slot (storage only over USB)" if not board.m2_slots and not \
        board.sata_ports else f"no {wanted} slot", 0.0


def _quorum_members(nodes: int, failures: int) -> int:
    """Voters in a majority-quorum group: 2f+1 when there are enough nodes, else the largest odd."""
    want = 2 * failures + 1
    if nodes >= want:
        return want
    return nodes if nodes % 2 else max(1, nodes - 1)


def evaluate(groups: tuple[Group, ...], req: Requirements, rules: PlanningRules) -> Build:
    f = req.survive_node_losses
    nodes = [_node(g, rules) for g in groups for _ in range(g.count)]
    n = len(nodes)
    checks: list[Check] = []

    # --- what it costs -------------------------------------------------------------------
    lines: list[tuple[str, float]] = []
    const_idle = const_peak = 0.0
    for g in groups:
        price = g.variant.price_usd
        if price is None:
            checks.append(Check("price", False, f"no price known for the {g.variant.ram_gb:g} GB "
                                f"variant of {g.board.name}"))
            price = 0.0
        lines.append((g.label, g.count * price))
        fits, _why, adapter = _storage_fits(g.board, req)
        if fits and adapter:
            lines.append((f"{g.count} x M.2 adapter for {g.board.id}", g.count * adapter))
        poe = g.board.poe
        if req.poe is not None and poe.support in ("hat", "carrier") and poe.extra_usd:
            lines.append((f"{g.count} x PoE {g.board.poe.support} for {g.board.id}",
                          g.count * g.board.poe.extra_usd))
        if g.board.carrier is not None:
            carriers = math.ceil(g.count / g.board.carrier.nodes)
            lines.append((f"{carriers} x {g.board.carrier.name}",
                          carriers * g.board.carrier.price_usd))
            const_idle += carriers * g.board.carrier.idle_w
            const_peak += carriers * g.board.carrier.idle_w
    for extra in req.extras:
        count = n if extra.per_node else 1
        lines.append((f"{count} x {extra.name}" if extra.per_node else extra.name,
                      count * extra.cost_usd))
        const_idle += count * extra.watts
        const_peak += count * extra.watts
    hardware = sum(cost for _, cost in lines)

    # --- what it draws -------------------------------------------------------------------
    idle = sum(x.idle_w for x in nodes) + const_idle
    peak = sum(x.load_w for x in nodes) + const_peak
    typical = average_watts(idle, peak, req.typical_load)
    kwh = annual_kwh(typical, rules.kwh_per_watt_year)
    energy = annual_cost_usd(typical, req.electricity_usd_per_kwh, rules.kwh_per_watt_year)

    # --- hard requirements on each board -------------------------------------------------
    seen: set[str] = set()
    for g in groups:
        b = g.board
        if b.isa not in req.isa:
            checks.append(Check("isa", False, f"{b.isa} is not an allowed ISA "
                                f"({', '.join(req.isa)})"))
        if req.min_node_ram_gb and g.variant.ram_gb < req.min_node_ram_gb:
            checks.append(Check("min_node_ram_gb", False, f"{g.variant.ram_gb:g} GB per node < "
                                f"{req.min_node_ram_gb:g} GB required"))
        if b.id in seen:
            continue
        seen.add(b.id)
        fits, why, _ = _storage_fits(b, req)
        if not fits:
            checks.append(Check("storage", False, why))
        if req.max_node_load_w is not None and max(x.load_w for x in nodes if x.board is b) \
                > req.max_node_load_w:
            load = max(x.load_w for x in nodes if x.board is b)
            checks.append(Check("max_node_load_w", False, f"{load:.3g} W at full load > "
                                f"{req.max_node_load_w:g} W allowed per node"))
        if req.poe is not None and b.poe.support == "none":
            checks.append(Check("poe", False, "no PoE (native, HAT or carrier)"))
    if req.storage is not None and "storage" not in {c.requirement for c in checks}:
        checks.append(Check("storage", True, f"{req.storage.kind} drive fits on every node"))

    link = min(g.board.node_link_gbps for g in groups)
    need = req.network.node_link_gbps
    checks.append(Check("node_link_gbps", link >= need,
                        f"{gbe(link)} per node < {need:g} Gbps required" if link < need
                        else f"{gbe(link)} between nodes", link - need, need))
    uplink = max(g.board.uplink_gbps for g in groups)
    need = req.network.uplink_gbps
    checks.append(Check("uplink_gbps", uplink >= need,
                        f"{gbe(uplink)} to the outside < {need:g} Gbps required" if uplink < need
                        else f"{gbe(uplink)} uplink", uplink - need, need))
    if req.transcode_nodes:
        have = sum(g.count for g in groups if g.board.hw_transcode)
        checks.append(Check("transcode_nodes", have >= req.transcode_nodes,
                            f"{have} of {req.transcode_nodes} nodes with hardware video encode"
                            if have < req.transcode_nodes else f"{have} transcoding nodes",
                            have - req.transcode_nodes, req.transcode_nodes))
    if req.max_node_load_w is not None and "max_node_load_w" not in {c.requirement for c in checks}:
        worst = max(x.load_w for x in nodes)
        checks.append(Check("max_node_load_w", True, f"{worst:.3g} W per node at full load",
                            req.max_node_load_w - worst))

    # --- PoE budget --------------------------------------------------------------------------
    poe_used: float | None = None
    if req.poe is not None and all(g.board.poe.support != "none" for g in groups):
        if req.poe.allocation == "class":
            poe_used = sum(rules.poe_reservation_w(x.board.poe.pd_class or 0) for x in nodes)
        else:
            # the HAT replaces the wall adapter: its loss applies to the board's own draw
            poe_used = sum(x.input_load_w / rules.pd_hat_efficiency for x in nodes)
        budget = req.poe.switch_budget_w
        if budget is not None:
            checks.append(Check("poe_budget_w", poe_used <= budget,
                                f"PoE {poe_used:.0f} W ({req.poe.allocation} allocation) > "
                                f"{budget:g} W switch budget" if poe_used > budget
                                else f"PoE {poe_used:.0f} W of {budget:g} W", budget - poe_used,
                                budget))

    # --- RAM and failure tolerance ----------------------------------------------------------
    order = sorted(nodes, key=lambda x: -x.variant.ram_gb)  # control plane on the largest nodes
    tolerance: list[tuple[str, int]] = []
    cp = _quorum_members(n, f) if req.kubernetes is not None else 0
    usable: list[float] = []
    for i, x in enumerate(order):
        overhead = req.system_reserved_gb
        if req.kubernetes is not None:
            if i < cp:
                overhead += (rules.k3s_server_gb if req.kubernetes.distribution == "k3s"
                             else rules.kubeadm_min_ram_gb)
            else:
                overhead += rules.k3s_agent_gb
        if req.ceph is not None:
            overhead += req.ceph.osd_memory_gb or rules.ceph_osd_memory_gb
        usable.append(x.variant.ram_gb - overhead)
    if any(u < 0 for u in usable):
        low = min(x.variant.ram_gb for x in nodes)
        checks.append(Check("node_overhead", False, f"{low:g} GB per node is used up by the OS, "
                            "Kubernetes and Ceph before any workload"))
    usable_sorted = sorted((max(0.0, u) for u in usable), reverse=True)
    total_usable = sum(usable_sorted)
    left = total_usable - sum(usable_sorted[:f])
    ram_tolerates = 0
    while ram_tolerates < n - 1 and \
            total_usable - sum(usable_sorted[: ram_tolerates + 1]) >= req.workload_ram_gb:
        ram_tolerates += 1
    tolerance.append(("ram", ram_tolerates))
    if req.workload_ram_gb or f:
        checks.append(Check("workload_ram_gb", left >= req.workload_ram_gb and n > f,
                            f"RAM left after losing {_nodes(f)} {left:.1f} GB < "
                            f"{req.workload_ram_gb:g} GB required" if left < req.workload_ram_gb
                            else f"cannot survive losing {f} of {_nodes(n)}" if n <= f
                            else f"{left:.1f} GB left after losing {_nodes(f)}",
                            left - req.workload_ram_gb, req.workload_ram_gb))
    if req.kubernetes is not None:
        etcd = rules.quorum_tolerates(cp)
        tolerance.append(("etcd", etcd))
        need_members = rules.quorum_members_for(f)
        checks.append(Check("quorum", etcd >= f,
                            f"{_nodes(n)} cannot keep an etcd quorum through {f} "
                            f"loss{'es' if f != 1 else ''} (needs {need_members})" if etcd < f
                            else f"{cp} control-plane nodes, etcd survives {etcd}", etcd - f))
        if req.kubernetes.distribution == "kubeadm":
            small = [x for x in order[:cp] if x.variant.ram_gb < rules.kubeadm_min_ram_gb
                     or x.board.cores < rules.kubeadm_min_cpus]
            if small:
                checks.append(Check("kubeadm", False, f"kubeadm control plane needs "
                                    f"{rules.kubeadm_min_ram_gb:g} GB and "
                                    f"{rules.kubeadm_min_cpus} CPUs per node"))
    if req.ceph is not None:
        size = max(rules.ceph_replica_size, f + rules.ceph_min_size)
        mons = _quorum_members(n, max(f, (rules.ceph_min_monitors - 1) // 2))
        ceph = min(rules.quorum_tolerates(mons), max(0, min(size, n) - rules.ceph_min_size))
        tolerance.append(("ceph", ceph))
        checks.append(Check("ceph", n >= size and ceph >= f,
                            f"Ceph needs {size} hosts for size-{size} replicas surviving {f} "
                            f"loss{'es' if f != 1 else ''}, have {n}" if n < size or ceph < f
                            else f"Ceph size {size}/min {rules.ceph_min_size}, {mons} mons",
                            n - size))
    tolerates = min(t for _, t in tolerance)
    if req.budget_usd is not None:
        checks.append(Check("budget_usd", hardware <= req.budget_usd,
                            f"hardware ${hardware:,.0f} > ${req.budget_usd:,.0f} budget"
                            if hardware > req.budget_usd
                            else f"${req.budget_usd - hardware:,.0f} under budget",
                            req.budget_usd - hardware, req.budget_usd))
    return Build(
        groups=groups,
        nodes=n,
        hardware_usd=hardware,
        cost_lines=tuple(lines),
        idle_w=idle,
        typical_w=typical,
        peak_w=peak,
        kwh_per_year=kwh,
        energy_usd_per_year=energy,
        tco_usd=hardware + req.years * energy,
        years=req.years,
        ram_gb=sum(x.variant.ram_gb for x in nodes),
        cores=sum(x.board.cores for x in nodes),
        usable_ram_gb=total_usable,
        ram_left_after_losses_gb=left,
        losses_planned=f,
        tolerates=tolerates,
        tolerance=tuple(tolerance),
        poe_used_w=poe_used,
        checks=tuple(checks),
    )
