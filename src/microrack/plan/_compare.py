"""``plan --compare``: boards side by side, every number next to its source.

The rows are those a builder compares first (price per RAM variant, NICs and
which of them reach the outside, M.2, SATA, eMMC, uplink, HPL Gflops and the
watts of that run, measured against advertised clock).  Where sources disagree
the other values are shown beside the one the planner uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Group as RichGroup
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from microrack.catalog import BoardProfile, Catalog, Quantity
from microrack.plan._build import gbe

__all__ = ["Cell", "compare_json", "compare_rows", "render_compare"]


@dataclass(frozen=True, slots=True)
class Cell:
    """One value in the table: the text, the sources behind it, and disagreeing values."""

    text: str
    sources: tuple[str, ...] = ()
    estimate: bool = False
    others: tuple[tuple[str, str], ...] = ()  # (value, source) another source gives
    inline: bool = False  # the text already cites each value


def _num(value: Any) -> str:
    if isinstance(value, tuple):
        return "/".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _cell(text: str, *facts: Quantity | None) -> Cell:
    found = [q for q in facts if q is not None]
    sources = tuple(dict.fromkeys(q.source for q in found if q.source))
    others = tuple(
        (_num(o.value), o.source or "")
        for q in found
        for o in q.others
        if o.value != q.value or o.source not in sources
    )
    return Cell(text, sources, any(q.estimate for q in found), others)


def _price(b: BoardProfile) -> Cell:
    parts, facts = [], []
    for i, v in enumerate(b.variants):
        q = b.fact(f"variants[{i}].price_usd")
        cite = f" [{q.source or 'estimate'}]" if q is not None else ""
        also = "".join(f", also ${_num(o.value)} [{o.source}]" for o in q.others) if q else ""
        parts.append(
            f"{v.ram_gb:g} GB "
            + (f"${v.price_usd:g}{cite}{also}" if v.price_usd is not None else "no price")
        )
        facts.append(q)
    found = [q for q in facts if q is not None]
    sources = tuple(
        dict.fromkeys(
            [q.source for q in found if q.source]
            + [o.source for q in found for o in q.others if o.source]
        )
    )
    return Cell("\n".join(parts), sources, inline=True)


def _nics(b: BoardProfile) -> Cell:
    parts, facts = [], []
    for i, n in enumerate(b.nics):
        flags = [] if n.uplink else ["not an uplink"]
        if n.bond:
            flags.append(f"{n.bond.upper()} ({n.bond_source})")
        parts.append(
            f"{n.count} x {gbe(n.speed_gbps)}" + (f" [{', '.join(flags)}]" if flags else "")
        )
        facts += [b.fact(f"nics[{i}].count"), b.fact(f"nics[{i}].speed_gbps")]
    if b.backplane is not None:
        text = f"backplane {gbe(b.backplane.speed_gbps)}"
        if b.lane_sharing is not None:
            text += f", {gbe(b.backplane_gbps(True) or 0)} with the M.2 drive in use"
        parts.append(text)
        facts += [b.fact("backplane.speed_gbps"), b.fact("lane_sharing.m2_lanes")]
    return _cell("; ".join(parts) or "none", *facts)


def _m2(b: BoardProfile) -> Cell:
    parts, facts = [], []
    for i, s in enumerate(b.m2_slots):
        kind = "NVMe" if s.nvme else "SATA" if s.sata else "no drive"
        via = "" if s.via == "onboard" else f" on the {s.via}"
        parts.append(
            f"{s.key} key PCIe {s.pcie_gen}.0 x{s.pcie_lanes} {kind} {_num(s.lengths)}{via}"
        )
        facts += [b.fact(f"m2[{i}].lengths"), b.fact(f"m2[{i}].pcie_lanes")]
    if b.lane_sharing is not None:
        ls = b.lane_sharing
        parts.append(f"takes {ls.m2_lanes} of the {ls.lanes} lanes of the {ls.shared_with}")
        facts.append(b.fact("lane_sharing.lanes"))
    return _cell("; ".join(parts) or "none", *facts)


def _sata(b: BoardProfile) -> Cell:
    via_m2 = sum(1 for s in b.m2_slots if s.sata)
    text = f"{b.sata_ports} port{'s' if b.sata_ports != 1 else ''}" if b.sata_ports else "none"
    if via_m2:
        text += f" (+{via_m2} via M.2)"
    return _cell(text, b.fact("sata_ports"))


def _emmc(b: BoardProfile) -> Cell:
    text = {
        "none": "none",
        "socket": "socket, module not included",
        "onboard": "onboard",
        "module": "on the module",
    }[b.emmc]
    if b.emmc_gb:
        text += f", {b.emmc_gb:g} GB"
    return _cell(text, b.fact("emmc_gb"))


def _uplink(b: BoardProfile) -> Cell:
    own = [b.node_uplink_gbps(False), b.node_uplink_gbps(True)]
    parts = []
    if own[1]:
        parts.append(
            f"{own[0]:g} Gbps per node" + (f", {own[1]:g} bonded" if own[1] != own[0] else "")
        )
    facts: list[Quantity | None] = []
    if b.carrier is not None:
        for i, n in enumerate(b.carrier.uplinks):
            what = f"{n.count} x {gbe(n.speed_gbps)} on the {b.carrier.name}"
            parts.append(
                what
                + ("" if n.uplink else " (not an uplink" + (f": {n.note}" if n.note else "") + ")")
            )
            facts += [
                b.fact(f"carrier.uplinks[{i}].count"),
                b.fact(f"carrier.uplinks[{i}].speed_gbps"),
            ]
    return _cell("; ".join(parts) or "none", *facts)


def _hpl(b: BoardProfile) -> Cell:
    if b.hpl is None:
        return Cell("no published run")
    per_watt = f" = {b.hpl.gflops_per_watt:.2f} Gflops/W" if b.hpl.gflops_per_watt else ""
    watts = f" at {b.hpl.watts:g} W" if b.hpl.watts else ""
    return _cell(
        f"{b.hpl.gflops:g} Gflops{watts}{per_watt}", b.fact("hpl.gflops"), b.fact("hpl.watts")
    )


def _watts(b: BoardProfile) -> Cell:
    at = "at the wall" if b.power_source == "wall" else "at the USB input"
    return _cell(
        f"idle {b.idle_w:g} W, stress {b.load_w:g} W ({at})", b.fact("idle_w"), b.fact("load_w")
    )


def _clock(b: BoardProfile) -> Cell:
    text = f"{b.max_mhz} MHz advertised"
    if b.measured_mhz:
        text += f", {b.measured_mhz} MHz measured"
    return _cell(text, b.fact("max_mhz"), b.fact("measured_mhz"))


def _ram(b: BoardProfile) -> Cell:
    return _cell(
        "/".join(f"{v.ram_gb:g}" for v in b.variants) + " GB",
        *(b.fact(f"variants[{i}].ram_gb") for i in range(len(b.variants))),
    )


def _noise(b: BoardProfile) -> Cell:
    if b.noise_dba is None:
        return Cell("unknown (no sourced figure)")
    return _cell(f"{b.noise_dba:g} dBA", b.fact("noise_dba"))


_ROWS: tuple[tuple[str, Callable[[BoardProfile], Cell]], ...] = (
    ("price", _price),
    ("RAM", _ram),
    ("NICs", _nics),
    ("M.2", _m2),
    ("SATA", _sata),
    ("eMMC", _emmc),
    ("uplink", _uplink),
    ("HPL", _hpl),
    ("watts", _watts),
    ("clock", _clock),
    ("noise", _noise),
)


def compare_rows(boards: Sequence[BoardProfile]) -> list[tuple[str, list[Cell]]]:
    return [(name, [row(b) for b in boards]) for name, row in _ROWS]


def _show(cell: Cell) -> Text:
    text = Text(cell.text)
    if cell.inline:
        return text
    if cell.sources:
        text.append(f" [{', '.join(cell.sources)}]", style="cyan")
    if cell.estimate:
        text.append(" (estimate)" if cell.sources else " [estimate]", style="yellow")
    for value, source in cell.others:
        text.append(f"\nalso {value} [{source}]", style="magenta")
    return text


def _used(rows: list[tuple[str, list[Cell]]]) -> list[str]:
    """Every source a cell cites, its own or a disagreeing value's."""
    return sorted(
        {s for _, cells in rows for c in cells for s in c.sources}
        | {source for _, cells in rows for c in cells for _, source in c.others}
    )


def render_compare(boards: Sequence[BoardProfile], catalog: Catalog) -> RenderableType:
    table = Table(
        box=box.SIMPLE_HEAD, title="microrack plan --compare", title_justify="left", show_lines=True
    )
    table.add_column("")
    for b in boards:
        table.add_column(b.name.split(" (")[0], ratio=1)
    rows = compare_rows(boards)
    for name, cells in rows:
        table.add_row(Text(name, style="bold"), *(_show(c) for c in cells))
    used = _used(rows)
    sources = Table(box=None, show_header=False, title="sources", title_justify="left")
    for sid in used:
        src = catalog.sources.get(sid)
        sources.add_row(Text(sid, style="cyan"), f"{src.title} <{src.url}>" if src else "")
    return RichGroup(
        table,
        Text(
            "[id] cites a source below; 'also' is a value another "
            "source gives; estimates have no source.",
            style="dim",
        ),
        sources,
    )


def compare_json(boards: Sequence[BoardProfile], catalog: Catalog) -> dict[str, Any]:
    rows = compare_rows(boards)
    used = _used(rows)
    return {
        "boards": [b.id for b in boards],
        "rows": {
            name: {
                b.id: {
                    "value": c.text,
                    "sources": list(c.sources),
                    "estimate": c.estimate,
                    "also": [{"value": v, "source": src} for v, src in c.others],
                }
                for b, c in zip(boards, cells, strict=True)
            }
            for name, cells in rows
        },
        "sources": {
            sid: {"title": catalog.sources[sid].title, "url": catalog.sources[sid].url}
            for sid in used
            if sid in catalog.sources
        },
    }
