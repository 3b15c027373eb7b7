"""Where each node sits, from ``cluster.yaml``: racks, shelves, switch ports, PoE budgets.

``cluster.yaml`` has switches and the port each NIC plugs into; racks and shelves
(or trays) come from a node's labels (``rack``, ``shelf`` or ``tray``, ``slot``),
so that a spec without them still draws: one rack, one shelf per switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from microrack.spec import ClusterSpec

__all__ = ["POE_CLASS_WATTS", "RackLayout", "RackNode", "SwitchInfo", "poe_usage", "rack_layout"]

# Power a PSE reserves at the port for each 802.3af/at/bt class (watts).
POE_CLASS_WATTS: dict[int, float] = {
    0: 15.4,
    1: 4.0,
    2: 7.0,
    3: 15.4,
    4: 30.0,
    5: 45.0,
    6: 60.0,
    7: 75.0,
    8: 90.0,
}


@dataclass(frozen=True, slots=True)
class RackNode:
    name: str
    board: str
    roles: tuple[str, ...]
    rack: str
    shelf: str
    slot: int
    switch: str | None
    port: int | None
    poe: bool
    poe_class: int | None


@dataclass(frozen=True, slots=True)
class SwitchInfo:
    name: str
    ports: int
    poe_budget_w: float | None
    poe_allocation: str


@dataclass(frozen=True, slots=True)
class RackLayout:
    cluster: str
    nodes: tuple[RackNode, ...]
    switches: tuple[SwitchInfo, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _slot(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def rack_layout(spec: ClusterSpec) -> RackLayout:
    """The layout of every node in spec order (the order is the slot when none is given)."""
    nodes = []
    per_shelf: dict[tuple[str, str], int] = {}
    for n in spec.nodes:
        nic = next((x for x in n.nics if x.switch), n.primary)
        rack = n.labels.get("rack") or "rack"
        shelf = n.labels.get("shelf") or n.labels.get("tray") or (nic.switch or "nodes")
        i = per_shelf.get((rack, shelf), 0) + 1
        per_shelf[(rack, shelf)] = i
        sw = spec.switch(nic.switch) if nic.switch else None
        nodes.append(
            RackNode(
                name=n.name,
                board=n.board,
                roles=tuple(str(r) for r in n.roles),
                rack=rack,
                shelf=shelf,
                slot=_slot(n.labels.get("slot"), i),
                switch=nic.switch,
                port=nic.port,
                poe=nic.poe,
                poe_class=sw.class_of(nic.port) if sw is not None and nic.port else None,
            )
        )
    switches = tuple(
        SwitchInfo(s.name, s.ports, s.poe_budget_w, s.poe_allocation) for s in spec.switches
    )
    return RackLayout(spec.cluster.name, tuple(nodes), switches)


def poe_usage(layout: RackLayout, watts: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Per switch with a PoE budget: watts drawn (or reserved by class) against the budget."""
    out = []
    for sw in layout.switches:
        if sw.poe_budget_w is None:
            continue
        powered = [n for n in layout.nodes if n.switch == sw.name and n.poe]
        if sw.poe_allocation == "class":
            used = sum(POE_CLASS_WATTS.get(n.poe_class or 0, 15.4) for n in powered)
        else:
            used = sum(w for n in powered if (w := watts.get(n.name)) is not None)
        out.append(
            {
                "switch": sw.name,
                "budget_w": sw.poe_budget_w,
                "used_w": used,
                "allocation": sw.poe_allocation,
                "ports_powered": len(powered),
            }
        )
    return out
