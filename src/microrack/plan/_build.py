"""One candidate build, costed and checked against every requirement.

``evaluate`` is a pure function of the boards, the requirements and the
planning rules: it prices the hardware, works out idle/typical/peak watts and
the energy bill, lays out each board's drives (data drive, OS drive, whether
the M.2 slot takes lanes from the backplane), works out the RAM left after
losing the nodes the build must survive, and then asks each requirement in
turn (one function each, ``_REQUIREMENTS``) for its :class:`Check` with the
margin (or the shortfall in words).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from microrack.catalog import (
    BoardProfile,
    M2Slot,
    PlanningRules,
    Quantity,
    RamVariant,
    ceph_pool_tolerates,
    quorum_members,
    quorum_tolerates,
)
from microrack.plan._power import annual_cost_usd, annual_kwh, average_watts
from microrack.plan._requirements import Requirements, Storage

__all__ = [
    "Build",
    "Check",
    "Group",
    "Layout",
    "estimates",
    "evaluate",
    "gbe",
    "layout",
    "rank_key",
]


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
class Layout:
    """Where one board keeps its data drive and its OS, and what that costs the network.

    ``data``/``os`` name the medium (``M.2 NVMe 2280``, ``SATA``, ``eMMC``, ...), or
    are None when not asked for; ``why`` is set when no layout meets the requirement.
    """

    data: str | None
    os: str | None
    m2_in_use: bool
    adapter_usd: float
    link_gbps: float
    why: str = ""
    note: str = ""
    m2_slots: tuple[int, ...] = ()  # indices into the board's m2_slots that hold a drive

    @property
    def ok(self) -> bool:
        return not self.why


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
    node_link_gbps: float = 0.0
    uplink_gbps: float = 0.0  # to the outside in total, as the requirements allow it
    uplink_ports: tuple[tuple[str, str], ...] = ()  # (board id, "2 x 2.5 GbE LACP") per group
    gflops: float | None = None  # sum of single-node HPL runs; None if a board has none
    hpl_w: float | None = None
    layouts: tuple[tuple[str, Layout], ...] = ()
    estimates: tuple[str, ...] = ()  # facts behind this build that have no source

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

    @property
    def gflops_per_watt(self) -> float | None:
        return self.gflops / self.hpl_w if self.gflops and self.hpl_w else None

    @property
    def usd_per_gflops(self) -> float | None:
        return self.tco_usd / self.gflops if self.gflops else None


def rank_key(build: Build, by: str) -> tuple[float, float, int]:
    """Sort key, best first: cost of ownership, its cost per Gflops, or Gflops per watt
    (builds without an HPL figure last); ties go to the cheaper, then smaller build."""
    if by == "cost_per_gflops":
        first = build.usd_per_gflops if build.usd_per_gflops is not None else math.inf
    elif by == "gflops_per_watt":
        first = -build.gflops_per_watt if build.gflops_per_watt is not None else math.inf
    else:
        first = build.tco_usd
    return (first, build.tco_usd, build.nodes)


_ETHERNET = (1, 2.5, 5, 10, 25, 40, 50, 100)


def gbe(speed_gbps: float) -> str:
    """``1 GbE``, ``2.5 GbE``, ``100 Mbps``, ``8 Gbps`` — how people name link speeds."""
    if speed_gbps < 1:
        return f"{speed_gbps * 1000:g} Mbps"
    return f"{speed_gbps:g} GbE" if speed_gbps in _ETHERNET else f"{speed_gbps:g} Gbps"


def _nodes(count: int) -> str:
    return f"{count} node" if count == 1 else f"{count} nodes"


def _losses(count: int) -> str:
    return f"loss{'es' if count != 1 else ''}"


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


# --- drives: which medium holds the data, which the OS -------------------------------------


@dataclass(frozen=True, slots=True)
class _Medium:
    kind: str  # m2 | sata | emmc | sd | usb
    name: str
    slot: M2Slot | None = None
    index: int = -1  # of the M.2 slot


def _media(board: BoardProfile) -> list[_Medium]:
    out = []
    for i, s in enumerate(board.m2_slots):
        if s.nvme or s.sata:
            kind = "NVMe" if s.nvme else "SATA"
            lengths = "/".join(str(x) for x in s.lengths)
            out.append(_Medium("m2", f"M.2 {kind} {lengths}", s, i))
    out += [_Medium("sata", "SATA port") for _ in range(board.sata_ports)]
    if board.emmc != "none":
        size = f" {board.emmc_gb:g} GB" if board.emmc_gb else ""
        out.append(
            _Medium(
                "emmc", f"eMMC{size}" + (" (module not included)" if board.emmc == "socket" else "")
            )
        )
    if board.sd_card:
        out.append(_Medium("sd", "microSD"))
    out.append(_Medium("usb", "USB drive"))
    return out


def _holds(m: _Medium, want: Storage) -> bool:
    """Whether medium ``m`` takes a data drive of the kind ``want`` describes."""
    if m.kind == "sata":
        return want.kind in ("sata", "any")
    if m.kind != "m2" or m.slot is None:
        return False
    s = m.slot
    if not ((want.kind in ("nvme", "any") and s.nvme) or (want.kind in ("sata", "any") and s.sata)):
        return False
    if want.m2_min_length is not None:  # PLP drives are 2280 or longer
        least = max(want.m2_min_length, 2280 if want.power_loss_protection else 0)
        return max(s.lengths) >= least
    length = want.m2_length or (2280 if want.power_loss_protection else None)
    return length is None or length in s.lengths


def _os_medium_allowed(m: _Medium, allow: Sequence[str]) -> bool:
    if m.kind in ("m2", "sata"):
        return "second_slot" in allow
    return m.kind in allow


def _miss(board: BoardProfile, options: tuple[Storage, ...]) -> str:
    """Why no medium of ``board`` takes any of the data drives asked for."""
    wanted = " or ".join(dict.fromkeys(o.describe().split(" (")[0] for o in options))
    slots = [m.slot for m in _media(board) if m.slot is not None]
    if not slots and not board.sata_ports:
        return f"no {wanted} slot (storage only over USB)"
    first = options[0]
    if (
        len(options) == 1
        and slots
        and (first.m2_length or first.m2_min_length or first.power_loss_protection)
    ):
        took = "/".join(str(x) for x in sorted({x for s in slots for x in s.lengths}))
        length = first.m2_length or first.m2_min_length or 2280
        why = "a power-loss-protected drive" if first.power_loss_protection else "the drive"
        return f"M.2 slot takes {took}, {why} needs {length}"
    if len(options) == 1:
        return f"no {wanted} slot"
    return f"no slot for {' or '.join(o.describe() for o in options)}"


def layout(board: BoardProfile, req: Requirements) -> Layout:
    """The best place for the data drive and the OS on ``board``: every alternative that
    meets the storage and OS-drive requirements, preferring the fastest backplane left
    (an M.2 drive can take lanes from it) and then the cheapest adapter."""
    options = req.storage_options
    media = _media(board)
    if not options:
        return Layout(None, None, False, 0.0, board.link_gbps(False))
    best: tuple[tuple[float, float], Layout] | None = None
    data_fits = False
    for want in options:
        for i, data in enumerate(media):
            if not _holds(data, want):
                continue
            data_fits = True
            os_choices: list[_Medium | None] = [None]
            if req.os_drive is not None:
                os_choices = [
                    m
                    for j, m in enumerate(media)
                    if j != i and _os_medium_allowed(m, req.os_drive.allow)
                ]
            for os_medium in os_choices:
                m2 = data.kind == "m2" or (os_medium is not None and os_medium.kind == "m2")
                adapter = sum(
                    m.slot.extra_usd
                    for m in (data, os_medium)
                    if m is not None and m.slot is not None
                )
                link = board.link_gbps(m2)
                note = ""
                if m2 and board.backplane_gbps(True) != board.backplane_gbps(False):
                    note = (
                        f"the M.2 drive takes PCIe lanes from the backplane: "
                        f"{gbe(board.backplane_gbps(True) or 0)} left of "
                        f"{gbe(board.backplane_gbps(False) or 0)}"
                    )
                used = tuple(m.index for m in (data, os_medium) if m is not None and m.slot)
                found = Layout(
                    data.name,
                    os_medium.name if os_medium else None,
                    m2,
                    adapter,
                    link,
                    note=note,
                    m2_slots=used,
                )
                score = (-link, adapter)
                if best is None or score < best[0]:
                    best = (score, found)
    if best is not None:
        return best[1]
    if not data_fits:
        why = _miss(board, options)
    else:
        allowed = ", ".join(req.os_drive.allow) if req.os_drive else ""
        why = f"no separate OS drive ({allowed}) beside the data drive"
    return Layout(None, None, False, 0.0, board.link_gbps(False), why=why)


# --- the facts one build rests on ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ram:
    usable: float
    left: float
    tolerance: tuple[tuple[str, int], ...]
    control_plane: int
    short: bool  # some node is used up by its overhead


@dataclass(frozen=True, slots=True)
class _Ctx:
    groups: tuple[Group, ...]
    nodes: tuple[_Node, ...]
    req: Requirements
    rules: PlanningRules
    layouts: dict[str, Layout]
    hardware: float
    uplink: float
    ram: _Ram
    poe_used: float | None

    @property
    def n(self) -> int:
        return len(self.nodes)

    @property
    def f(self) -> int:
        return self.req.survive_node_losses

    def boards(self) -> Iterator[BoardProfile]:
        """Each board of the build once, in group order."""
        seen: set[str] = set()
        for g in self.groups:
            if g.board.id not in seen:
                seen.add(g.board.id)
                yield g.board


def _costs(
    groups: tuple[Group, ...], req: Requirements, layouts: dict[str, Layout], n: int
) -> tuple[list[tuple[str, float]], float, list[Check]]:
    """Bill lines, the watts of carriers and extras, and a check per variant with no price."""
    lines: list[tuple[str, float]] = []
    checks: list[Check] = []
    const_w = 0.0
    for g in groups:
        price = g.variant.price_usd
        if price is None:
            checks.append(
                Check(
                    "price",
                    False,
                    f"no price known for the {g.variant.ram_gb:g} GB variant of {g.board.name}",
                )
            )
            price = 0.0
        lines.append((g.label, g.count * price))
        adapter = layouts[g.board.id].adapter_usd
        if layouts[g.board.id].ok and adapter:
            lines.append((f"{g.count} x M.2 adapter for {g.board.id}", g.count * adapter))
        poe = g.board.poe
        if req.poe is not None and poe.support in ("hat", "carrier") and poe.extra_usd:
            lines.append(
                (f"{g.count} x PoE {poe.support} for {g.board.id}", g.count * poe.extra_usd)
            )
        if g.board.carrier is not None:
            carriers = math.ceil(g.count / g.board.carrier.nodes)
            lines.append(
                (f"{carriers} x {g.board.carrier.name}", carriers * g.board.carrier.price_usd)
            )
            const_w += carriers * g.board.carrier.idle_w
    for extra in req.extras:
        count = n if extra.per_node else 1
        lines.append(
            (f"{count} x {extra.name}" if extra.per_node else extra.name, count * extra.cost_usd)
        )
        const_w += count * extra.watts
    return lines, const_w, checks


def _uplinks(
    groups: tuple[Group, ...], req: Requirements
) -> tuple[float, tuple[tuple[str, str], ...]]:
    """Gbps to the outside in total, and the ports each board uses for it.

    A node counts its best uplink-capable link (a bond of its LACP ports when the
    requirements allow bonds); a carrier counts its own ports once per carrier. With
    ``uplink_nodes`` only that many of the best nodes (or carriers) are wired out.
    """
    bonding = req.network.uplink_bonding
    units: list[float] = []
    ports: list[tuple[str, str]] = []
    for g in groups:
        b = g.board
        own = b.node_uplink_gbps(bonding)
        if own > 0:
            units += [own] * g.count
            nic = max((x for x in b.nics if x.uplink), key=lambda x: x.uplink_gbps(bonding))
            bonded = bonding and nic.bond and nic.count > 1
            ports.append(
                (
                    b.id,
                    f"{nic.count if bonded else 1} x {gbe(nic.speed_gbps)}"
                    + (f" {nic.bond.upper()}" if bonded and nic.bond else "")
                    + " per node",
                )
            )
        if b.carrier is not None and b.carrier_uplink_gbps(bonding) > 0:
            carriers = math.ceil(g.count / b.carrier.nodes)
            units += [b.carrier_uplink_gbps(bonding)] * carriers
            used = [x for x in b.carrier.uplinks if x.uplink]
            ports.append(
                (
                    b.id,
                    ", ".join(
                        f"{(x.count if bonding and x.bond else 1)} x {gbe(x.speed_gbps)}"
                        for x in used
                    )
                    + f" per {b.carrier.name}",
                )
            )
    units.sort(reverse=True)
    if req.network.uplink_nodes is not None:
        units = units[: req.network.uplink_nodes]
    return sum(units), tuple(ports)


def _ram(nodes: tuple[_Node, ...], req: Requirements, rules: PlanningRules) -> _Ram:
    n, f = len(nodes), req.survive_node_losses
    order = sorted(nodes, key=lambda x: -x.variant.ram_gb)  # control plane on the largest nodes
    cp = quorum_members(n, f) if req.kubernetes is not None else 0
    usable: list[float] = []
    for i, x in enumerate(order):
        overhead = req.system_reserved_gb
        if req.kubernetes is not None:
            if i < cp:
                overhead += (
                    rules.k3s_server_gb
                    if req.kubernetes.distribution == "k3s"
                    else rules.kubeadm_min_ram_gb
                )
            else:
                overhead += rules.k3s_agent_gb
        if req.ceph is not None:
            overhead += req.ceph.osd_memory_gb or rules.ceph_osd_memory_gb
        usable.append(x.variant.ram_gb - overhead)
    # lost[k]: RAM gone with the k largest nodes (the worst k losses)
    lost = [0.0, *itertools.accumulate(sorted((max(0.0, u) for u in usable), reverse=True))]
    total = lost[-1]
    left = total - lost[min(f, n)]
    survives = 0
    while survives < n - 1 and total - lost[survives + 1] >= req.workload_ram_gb:
        survives += 1
    tolerance = [("ram", survives)]
    if req.kubernetes is not None:
        tolerance.append(("etcd", quorum_tolerates(cp)))
    if req.ceph is not None:
        size = rules.ceph_pool_size(f)
        mons = quorum_members(n, max(f, (rules.ceph_min_monitors - 1) // 2))
        pool = ceph_pool_tolerates(size, rules.ceph_min_size, n)
        tolerance.append(("ceph", min(quorum_tolerates(mons), pool)))
    return _Ram(total, left, tuple(tolerance), cp, any(u < 0 for u in usable))


# --- one function per requirement ----------------------------------------------------------


def _check_isa(c: _Ctx) -> list[Check]:
    return [
        Check("isa", False, f"{b.isa} is not an allowed ISA ({', '.join(c.req.isa)})")
        for b in c.boards()
        if b.isa not in c.req.isa
    ]


def _check_node_ram(c: _Ctx) -> list[Check]:
    need = c.req.min_node_ram_gb
    return [
        Check(
            "min_node_ram_gb",
            False,
            f"{g.variant.ram_gb:g} GB per node < {need:g} GB required",
            g.variant.ram_gb - need,
            need,
        )
        for g in c.groups
        if need and g.variant.ram_gb < need
    ]


def _check_storage(c: _Ctx) -> list[Check]:
    if c.req.storage is None:
        return []
    misses = [
        Check("storage", False, c.layouts[b.id].why) for b in c.boards() if not c.layouts[b.id].ok
    ]
    if misses:
        return misses
    parts = []
    for b in c.boards():
        lay = c.layouts[b.id]
        parts.append(f"{lay.data}" + (f", OS on {lay.os}" if lay.os else ""))
    what = "; ".join(dict.fromkeys(parts))
    return [Check("storage", True, f"data on {what}")]


def _check_load(c: _Ctx) -> list[Check]:
    cap = c.req.max_node_load_w
    if cap is None:
        return []
    out = []
    for b in c.boards():
        load = max(x.load_w for x in c.nodes if x.board is b)
        if load > cap:
            out.append(
                Check(
                    "max_node_load_w",
                    False,
                    f"{load:.3g} W at full load > {cap:g} W allowed per node",
                    cap - load,
                    cap,
                )
            )
    if out:
        return out
    worst = max(x.load_w for x in c.nodes)
    return [Check("max_node_load_w", True, f"{worst:.3g} W per node at full load", cap - worst)]


def _check_poe_support(c: _Ctx) -> list[Check]:
    if c.req.poe is None:
        return []
    return [
        Check("poe", False, "no PoE (native, HAT or carrier)")
        for b in c.boards()
        if b.poe.support == "none"
    ]


def _poe_used(
    groups: tuple[Group, ...], nodes: tuple[_Node, ...], req: Requirements, rules: PlanningRules
) -> float | None:
    """Watts the PoE switch gives the nodes, by class reservation or by measured draw."""
    if req.poe is None or any(g.board.poe.support == "none" for g in groups):
        return None
    if req.poe.allocation == "class":
        return sum(rules.poe_reservation_w(x.board.poe.pd_class or 0) for x in nodes)
    # the HAT replaces the wall adapter: its loss applies to the board's own draw
    return sum(x.input_load_w / rules.pd_hat_efficiency for x in nodes)


def _check_poe_budget(c: _Ctx) -> list[Check]:
    used = c.poe_used
    budget = c.req.poe.switch_budget_w if c.req.poe is not None else None
    if used is None or budget is None or c.req.poe is None:
        return []
    return [
        Check(
            "poe_budget_w",
            used <= budget,
            f"PoE {used:.0f} W ({c.req.poe.allocation} allocation) > {budget:g} W switch budget"
            if used > budget
            else f"PoE {used:.0f} W of {budget:g} W",
            budget - used,
            budget,
        )
    ]


def _check_node_link(c: _Ctx) -> list[Check]:
    link = min(c.layouts[g.board.id].link_gbps for g in c.groups)
    need = c.req.network.node_link_gbps
    shared = [c.layouts[b.id].note for b in c.boards() if c.layouts[b.id].note]
    why = f" ({shared[0]})" if shared else ""
    return [
        Check(
            "node_link_gbps",
            link >= need,
            f"{gbe(link)} per node < {need:g} Gbps required{why}"
            if link < need
            else f"{gbe(link)} between nodes{why}",
            link - need,
            need,
        )
    ]


def _check_uplink(c: _Ctx) -> list[Check]:
    need = c.req.network.uplink_gbps
    how = "bonded" if c.req.network.uplink_bonding else "without bonding"
    wired = c.req.network.uplink_nodes
    over = f" over {_nodes(wired)}" if wired else ""
    return [
        Check(
            "uplink_gbps",
            c.uplink >= need,
            f"{c.uplink:g} Gbps to the outside in total ({how}{over}) < {need:g} Gbps required"
            if c.uplink < need
            else f"{c.uplink:g} Gbps uplink in total ({how}{over})",
            c.uplink - need,
            need,
        )
    ]


def _check_transcode(c: _Ctx) -> list[Check]:
    need = c.req.transcode_nodes
    if not need:
        return []
    have = sum(g.count for g in c.groups if g.board.hw_transcode)
    return [
        Check(
            "transcode_nodes",
            have >= need,
            f"{have} of {need} nodes with hardware video encode"
            if have < need
            else f"{have} transcoding nodes",
            have - need,
            need,
        )
    ]


def _check_workload_ram(c: _Ctx) -> list[Check]:
    out = []
    if c.ram.short:
        low = min(x.variant.ram_gb for x in c.nodes)
        out.append(
            Check(
                "node_overhead",
                False,
                f"{low:g} GB per node is used up by the OS, "
                "Kubernetes and Ceph before any workload",
            )
        )
    need, f, left = c.req.workload_ram_gb, c.f, c.ram.left
    if need or f:
        out.append(
            Check(
                "workload_ram_gb",
                left >= need and c.n > f,
                f"RAM left after losing {_nodes(f)} {left:.1f} GB < {need:g} GB required"
                if left < need
                else f"cannot survive losing {f} of {_nodes(c.n)}"
                if c.n <= f
                else f"{left:.1f} GB left after losing {_nodes(f)}",
                left - need,
                need,
            )
        )
    return out


def _check_quorum(c: _Ctx) -> list[Check]:
    if c.req.kubernetes is None:
        return []
    cp, f = c.ram.control_plane, c.f
    etcd = quorum_tolerates(cp)
    out = [
        Check(
            "quorum",
            etcd >= f,
            f"{_nodes(c.n)} cannot keep an etcd quorum through {f} {_losses(f)} (needs "
            f"{c.rules.quorum_members_for(f)})"
            if etcd < f
            else f"{cp} control-plane nodes, etcd survives {etcd}",
            etcd - f,
        )
    ]
    if c.req.kubernetes.distribution == "kubeadm":
        order = sorted(c.nodes, key=lambda x: -x.variant.ram_gb)
        small = [
            x
            for x in order[:cp]
            if x.variant.ram_gb < c.rules.kubeadm_min_ram_gb
            or x.board.cores < c.rules.kubeadm_min_cpus
        ]
        if small:
            out.append(
                Check(
                    "kubeadm",
                    False,
                    f"kubeadm control plane needs "
                    f"{c.rules.kubeadm_min_ram_gb:g} GB and "
                    f"{c.rules.kubeadm_min_cpus} CPUs per node",
                )
            )
    return out


def _check_ceph(c: _Ctx) -> list[Check]:
    if c.req.ceph is None:
        return []
    rules, f, n = c.rules, c.f, c.n
    size = rules.ceph_pool_size(f)
    mons = quorum_members(n, max(f, (rules.ceph_min_monitors - 1) // 2))
    survives = dict(c.ram.tolerance)["ceph"]
    return [
        Check(
            "ceph",
            n >= size and survives >= f,
            f"Ceph needs {size} hosts for size-{size} replicas surviving {f} {_losses(f)}, have {n}"
            if n < size or survives < f
            else f"Ceph size {size}/min {rules.ceph_min_size}, {mons} mons",
            n - size,
        )
    ]


def _gflops(c: _Ctx) -> tuple[float | None, float | None]:
    if any(g.board.hpl is None for g in c.groups):
        return None, None
    gflops = sum(g.count * g.board.hpl.gflops for g in c.groups if g.board.hpl)
    watts = [g.count * g.board.hpl.watts for g in c.groups if g.board.hpl and g.board.hpl.watts]
    return gflops, (sum(watts) if len(watts) == len(c.groups) else None)


def _check_gflops(c: _Ctx) -> list[Check]:
    need = c.req.min_cluster_gflops
    if need is None:
        return []
    unknown = [b.name.split(" (")[0] for b in c.boards() if b.hpl is None]
    if unknown:
        return [
            Check("min_cluster_gflops", False, f"no published HPL figure for {', '.join(unknown)}")
        ]
    have, _ = _gflops(c)
    assert have is not None
    return [
        Check(
            "min_cluster_gflops",
            have >= need,
            f"{have:.1f} Gflops (HPL, sum of single nodes) < {need:g} required"
            if have < need
            else f"{have:.1f} Gflops (HPL, sum of single nodes)",
            have - need,
            need,
        )
    ]


def _check_noise(c: _Ctx) -> list[Check]:
    cap = c.req.max_noise_dba
    if cap is None:
        return []
    out, unknown = [], []
    for b in c.boards():
        if b.noise_dba is None:
            unknown.append(b.name.split(" (")[0])
        elif b.noise_dba > cap:
            out.append(
                Check(
                    "max_noise_dba",
                    False,
                    f"{b.noise_dba:g} dBA > {cap:g} dBA allowed",
                    cap - b.noise_dba,
                    cap,
                )
            )
    if out:
        return out
    known = [b.noise_dba for b in c.boards() if b.noise_dba is not None]
    # a limit is only enforced where a source measured the noise; never guessed
    text = (
        f"noise unknown for {', '.join(unknown)} (no sourced figure, not checked)"
        if unknown
        else f"{max(known):g} dBA"
    )
    return [
        Check("max_noise_dba", True, text, cap - max(known) if known and not unknown else None, cap)
    ]


def _check_budget(c: _Ctx) -> list[Check]:
    budget = c.req.budget_usd
    if budget is None:
        return []
    return [
        Check(
            "budget_usd",
            c.hardware <= budget,
            f"hardware ${c.hardware:,.0f} > ${budget:,.0f} budget"
            if c.hardware > budget
            else f"${budget - c.hardware:,.0f} under budget",
            budget - c.hardware,
            budget,
        )
    ]


_REQUIREMENTS: tuple[Callable[[_Ctx], list[Check]], ...] = (
    _check_isa,
    _check_node_ram,
    _check_storage,
    _check_load,
    _check_poe_support,
    _check_node_link,
    _check_uplink,
    _check_transcode,
    _check_poe_budget,
    _check_workload_ram,
    _check_quorum,
    _check_ceph,
    _check_gflops,
    _check_noise,
    _check_budget,
)


def _fact_used(key: str, variant_index: int, lay: Layout, req: Requirements) -> bool:
    """Whether the catalog fact ``key`` of a board is one this build's numbers rest on."""
    if key.startswith("m2["):
        return any(key.startswith(f"m2[{i}].") for i in lay.m2_slots)
    if key.startswith("variants["):
        return key.startswith(f"variants[{variant_index}].")
    if key in ("idle_w", "load_w", "cores") or key.startswith("carrier."):
        return True
    if key.startswith(("nics[", "backplane.", "lane_sharing.")):
        return bool(req.network.node_link_gbps or req.network.uplink_gbps)
    if key.startswith(("sata_ports", "emmc_gb")):
        return req.storage is not None
    if key.startswith("hpl."):
        return req.min_cluster_gflops is not None or req.rank_by != "tco"
    if key.startswith("poe."):
        return req.poe is not None
    if key == "noise_dba":
        return req.max_noise_dba is not None
    return False


def estimates(build: Build, req: Requirements) -> tuple[str, ...]:
    """The catalog facts behind ``build`` that have no source, one line each."""
    layouts = dict(build.layouts)
    out: list[str] = []
    for g in build.groups:
        b = g.board
        index = b.variants.index(g.variant)
        overridden = {k for k in ("idle_w", "load_w") if getattr(g.variant, k) is not None}
        for key, q in b.facts.items():
            used = _fact_used(key, index, layouts[b.id], req)
            if key in overridden or not q.estimate or not used:
                continue
            out.append(f"{b.name.split(' (')[0]} {key} = {_show(q)}: {q.cite()}")
    return tuple(dict.fromkeys(out))


def _show(q: Quantity) -> str:
    value = q.value
    if isinstance(value, tuple):
        return "/".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def evaluate(
    groups: tuple[Group, ...],
    req: Requirements,
    rules: PlanningRules,
    *,
    with_estimates: bool = True,
    layouts: Mapping[str, Layout] | None = None,
) -> Build:
    """Price and check one build.  ``with_estimates=False`` leaves ``Build.estimates``
    empty (the search fills it in, with :func:`estimates`, for the builds it returns);
    ``layouts`` are :func:`layout` of each board for ``req``, when already known."""
    nodes = tuple(x for g in groups for x in (_node(g, rules),) * g.count)
    n = len(nodes)
    known = layouts or {}
    layouts = {g.board.id: known.get(g.board.id) or layout(g.board, req) for g in groups}
    lines, const_w, price_checks = _costs(groups, req, layouts, n)
    hardware = sum(cost for _, cost in lines)
    idle = sum(x.idle_w for x in nodes) + const_w
    peak = sum(x.load_w for x in nodes) + const_w
    typical = average_watts(idle, peak, req.typical_load)
    energy = annual_cost_usd(typical, req.electricity_usd_per_kwh, rules.kwh_per_watt_year)
    uplink, ports = _uplinks(groups, req)
    ram = _ram(nodes, req, rules)
    poe = _poe_used(groups, nodes, req, rules)
    ctx = _Ctx(groups, nodes, req, rules, layouts, hardware, uplink, ram, poe)
    checks = price_checks + [check for requirement in _REQUIREMENTS for check in requirement(ctx)]
    gflops, hpl_w = _gflops(ctx)
    build = Build(
        groups=groups,
        nodes=n,
        hardware_usd=hardware,
        cost_lines=tuple(lines),
        idle_w=idle,
        typical_w=typical,
        peak_w=peak,
        kwh_per_year=annual_kwh(typical, rules.kwh_per_watt_year),
        energy_usd_per_year=energy,
        tco_usd=hardware + req.years * energy,
        years=req.years,
        ram_gb=sum(x.variant.ram_gb for x in nodes),
        cores=sum(x.board.cores for x in nodes),
        usable_ram_gb=ram.usable,
        ram_left_after_losses_gb=ram.left,
        losses_planned=req.survive_node_losses,
        tolerates=min(t for _, t in ram.tolerance),
        tolerance=ram.tolerance,
        poe_used_w=ctx.poe_used,
        checks=tuple(checks),
        node_link_gbps=min(layouts[g.board.id].link_gbps for g in groups),
        uplink_gbps=uplink,
        uplink_ports=ports,
        gflops=gflops,
        hpl_w=hpl_w,
        layouts=tuple(layouts.items()),
    )
    return replace(build, estimates=estimates(build, req)) if with_estimates else build
