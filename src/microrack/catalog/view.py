"""Showing the catalog: a rich table of boards, one board with its sources, and JSON.

Separate from the package face because it needs rich, which the agent does not.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from microrack.catalog import BoardProfile, Catalog, Quantity

__all__ = ["board_detail", "board_table", "board_to_json", "catalog_to_json", "variant_table"]


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "?"
    text = f"{value:g}"
    return f"{text}{unit}"


def _nics(p: BoardProfile) -> str:
    parts = [f"{n.count}x{n.speed_gbps:g}G" + ("" if n.uplink else " (no uplink)") for n in p.nics]
    if p.backplane:
        parts.append(f"bp {p.backplane.speed_gbps:g}G")
    return " + ".join(parts) or "-"


def _storage(p: BoardProfile) -> str:
    parts = []
    for s in p.m2_slots:
        kind = "NVMe" if s.nvme else "SATA" if s.sata else f"{s.key}-key"
        via = "" if s.via == "onboard" else f" ({s.via})"
        parts.append(f"M.2 {kind} g{s.pcie_gen}x{s.pcie_lanes}{via}")
    if p.sata_ports:
        parts.append(f"{p.sata_ports}xSATA")
    return ", ".join(parts) or "USB only"


def _hpl(p: BoardProfile) -> str:
    """``51.4`` measured, ``~51.4`` copied from a same-SoC run (an estimate), ``-`` none."""
    if p.hpl is None:
        return "-"
    fact = p.fact("hpl.gflops")
    return f"{'~' if fact is not None and fact.estimate else ''}{p.hpl.gflops:.3g}"


def _soc(p: BoardProfile) -> str:
    return p.soc.split(" (")[0].split(" or ")[0].removeprefix("Intel ")[:16]


def board_table(catalog: Catalog) -> Table:
    """One row per board: the numbers a builder compares first."""
    table = Table(box=box.SIMPLE_HEAD, title="microrack board catalog", title_justify="left")
    for column, justify in [
        ("id", "left"),
        ("ISA", "left"),
        ("SoC", "left"),
        ("cores", "right"),
        ("MHz", "right"),
        ("RAM GB", "left"),
        ("from $", "right"),
        ("NICs", "left"),
        ("storage", "left"),
        ("PoE", "left"),
        ("idle W", "right"),
        ("load W", "right"),
        ("Gflops", "right"),
        ("transcode", "left"),
    ]:
        table.add_column(column, justify=justify, no_wrap=column in ("id", "SoC", "RAM GB"))  # type: ignore[arg-type]
    for p in catalog:
        table.add_row(
            p.id,
            p.isa,
            _soc(p),
            str(p.cores),
            str(p.max_mhz),
            "/".join(f"{v.ram_gb:g}" for v in p.variants),
            _num(p.price_usd),
            _nics(p),
            _storage(p),
            p.poe.support
            if p.poe.support == "none"
            else f"{p.poe.support} {p.poe.standard or ''}".strip(),
            _num(p.idle_w),
            _num(p.load_w),
            _hpl(p),
            "yes" if p.hw_transcode else "no",
        )
    table.caption = "Every number has a source or is an estimate: `microrack catalog BOARD`."
    return table


def variant_table(catalog: Catalog) -> Table:
    """One row per board and RAM variant: the unit a build is made of."""
    table = Table(
        box=box.SIMPLE_HEAD, title="microrack board catalog: RAM variants", title_justify="left"
    )
    for column in (
        "id",
        "RAM GB",
        "price $",
        "price source",
        "idle W",
        "load W",
        "ISA",
        "link Gbps",
        "NVMe",
        "PoE",
        "transcode",
    ):
        table.add_column(
            column,
            justify="left" if column in ("id", "price source", "ISA") else "right",
            no_wrap=column == "id",
        )
    for p in catalog:
        for i, v in enumerate(p.variants):
            price = p.fact(f"variants[{i}].price_usd")
            table.add_row(
                p.id,
                f"{v.ram_gb:g}",
                _num(v.price_usd),
                price.cite() if price else "unknown",
                _num(v.idle_w if v.idle_w is not None else p.idle_w),
                _num(v.load_w if v.load_w is not None else p.load_w),
                p.isa,
                f"{p.node_link_gbps:g}",
                "yes" if p.has_nvme_slot else "no",
                p.poe.support,
                "yes" if p.hw_transcode else "no",
            )
    return table


def _cite(q: Quantity | None, catalog: Catalog) -> Text:
    if q is None:
        return Text("")
    if q.source:
        return Text(q.source, style="cyan")
    return Text(q.cite(), style="yellow")


def _shown(q: Quantity) -> str:
    value = q.value
    return "/".join(f"{v:g}" for v in value) if isinstance(value, tuple) else f"{value:g}"


def board_detail(p: BoardProfile, catalog: Catalog) -> RenderableType:
    """Every number of one board, each next to its source or the word estimate."""
    head = Text.assemble(
        (p.name, "bold"),
        f"  [{p.id}]  ",
        f"aliases: {', '.join(p.aliases)}" if p.aliases else "",
        f"  confidence: {p.confidence}",
    )
    table = Table(box=box.SIMPLE_HEAD, show_header=True)
    table.add_column("field")
    table.add_column("value", justify="right")
    table.add_column("source")
    info = [
        ("SoC", p.soc),
        ("ISA", p.isa),
        ("core type", p.core_type or "-"),
        ("power measured at", p.power_source),
        ("eMMC", p.emmc),
        ("storage", _storage(p)),
        ("NICs", _nics(p)),
        (
            "PoE",
            f"{p.poe.support} {p.poe.standard or ''} class {p.poe.pd_class}"
            if p.poe.support != "none"
            else "none",
        ),
        ("video decode", p.video.decode or "-"),
        ("video encode", p.video.encode or "-"),
        ("thermal profile", p.thermal_profile),
    ]
    for name, value in info:
        table.add_row(name, value, "")
    for name, q in p.facts.items():
        table.add_row(name, _shown(q), _cite(q, catalog))
        for other in q.others:  # a source that disagrees, or agrees independently
            table.add_row(Text("  also", style="magenta"), _shown(other), _cite(other, catalog))
    parts: list[RenderableType] = [head, table]
    used = sorted(
        {q.source for q in p.facts.values() if q.source}
        | {o.source for q in p.facts.values() for o in q.others if o.source}
    )
    sources = Table(box=None, show_header=False, title="sources", title_justify="left")
    for sid in used:
        src = catalog.sources.get(sid)
        sources.add_row(Text(sid, style="cyan"), f"{src.title} <{src.url}>" if src else "")
    parts.append(sources)
    if p.carrier:
        per = "one per node" if p.carrier.nodes == 1 else f"{p.carrier.nodes} nodes per carrier"
        parts.append(Text(f"needs carrier: {p.carrier.name} ({per})"))
    if p.notes:
        parts.append(Text(f"notes: {p.notes}", style="dim"))
    return Group(*parts)


def _quantity(q: Quantity) -> dict[str, Any]:
    out: dict[str, Any] = {"value": list(q.value) if isinstance(q.value, tuple) else q.value}
    if q.source:
        out["source"] = q.source
    else:
        out["estimate"] = True
        if q.basis:
            out["basis"] = q.basis
    if q.note:
        out["note"] = q.note
    if q.others:
        out["also"] = [_quantity(o) for o in q.others]
    return out


def board_to_json(p: BoardProfile) -> dict[str, Any]:
    """A plain-JSON view of one board (numbers plus a ``facts`` map of their sources)."""
    return {
        "id": p.id,
        "name": p.name,
        "aliases": list(p.aliases),
        "confidence": p.confidence,
        "soc": p.soc,
        "isa": p.isa,
        "core_type": p.core_type,
        "cores": p.cores,
        "max_mhz": p.max_mhz,
        "idle_w": p.idle_w,
        "load_w": p.load_w,
        "power_source": p.power_source,
        "throttle_soft_c": p.throttle_soft_c,
        "throttle_hard_c": p.throttle_hard_c,
        "thermal_profile": p.thermal_profile,
        "has_nvme_slot": p.has_nvme_slot,
        "price_usd": p.price_usd,
        "ram_gb": p.ram_gb,
        "variants": [
            {"ram_gb": v.ram_gb, "price_usd": v.price_usd, "idle_w": v.idle_w, "load_w": v.load_w}
            for v in p.variants
        ],
        "nics": [
            {
                "count": n.count,
                "speed_gbps": n.speed_gbps,
                "uplink": n.uplink,
                "bond": n.bond,
                "bond_source": n.bond_source,
            }
            for n in p.nics
        ],
        "uplink_gbps_per_node": {
            "unbonded": p.node_uplink_gbps(False),
            "bonded": p.node_uplink_gbps(True),
        },
        "lane_sharing": None
        if p.lane_sharing is None
        else {
            "lanes": p.lane_sharing.lanes,
            "m2_lanes": p.lane_sharing.m2_lanes,
            "shared_with": p.lane_sharing.shared_with,
        },
        "hpl": None
        if p.hpl is None
        else {
            "gflops": p.hpl.gflops,
            "watts": p.hpl.watts,
            "gflops_per_watt": p.hpl.gflops_per_watt,
        },
        "measured_mhz": p.measured_mhz,
        "emmc_gb": p.emmc_gb,
        "sd_card": p.sd_card,
        "noise_dba": p.noise_dba,
        "node_link_gbps": p.node_link_gbps,
        "uplink_gbps": p.uplink_gbps,
        "backplane": None
        if p.backplane is None
        else {
            "name": p.backplane.name,
            "speed_gbps": p.backplane.speed_gbps,
            "uplink_gbps": p.backplane.uplink_gbps,
        },
        "m2_slots": [
            {
                "key": s.key,
                "lengths": list(s.lengths),
                "via": s.via,
                "pcie_gen": s.pcie_gen,
                "pcie_lanes": s.pcie_lanes,
                "nvme": s.nvme,
                "sata": s.sata,
                "extra_usd": s.extra_usd,
            }
            for s in p.m2_slots
        ],
        "sata_ports": p.sata_ports,
        "emmc": p.emmc,
        "poe": {
            "support": p.poe.support,
            "standard": p.poe.standard,
            "pd_class": p.poe.pd_class,
            "extra_usd": p.poe.extra_usd,
        },
        "video": {
            "decode": p.video.decode,
            "encode": p.video.encode,
            "hw_transcode": p.video.hw_transcode,
        },
        "carrier": None
        if p.carrier is None
        else {
            "name": p.carrier.name,
            "nodes": p.carrier.nodes,
            "price_usd": p.carrier.price_usd,
            "idle_w": p.carrier.idle_w,
            "uplinks": [
                {
                    "count": n.count,
                    "speed_gbps": n.speed_gbps,
                    "uplink": n.uplink,
                    "bond": n.bond,
                    "note": n.note,
                }
                for n in p.carrier.uplinks
            ],
        },
        "notes": p.notes,
        "facts": {name: _quantity(q) for name, q in p.facts.items()},
    }


def catalog_to_json(catalog: Catalog) -> dict[str, Any]:
    return {
        "boards": [board_to_json(p) for p in catalog],
        "sources": {
            s.id: {"title": s.title, "url": s.url, "kind": s.kind} for s in catalog.sources.values()
        },
    }
