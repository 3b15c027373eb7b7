"""Showing a plan: rich tables for a person, a JSON document for a script."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group as RichGroup
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from microrack.plan._build import Build
from microrack.plan._search import PlanResult

__all__ = ["build_to_json", "render", "result_to_json"]

_MARGIN_UNITS = {
    "node_link_gbps": " Gbps",
    "uplink_gbps": " Gbps",
    "workload_ram_gb": " GB",
    "budget_usd": " $",
    "poe_budget_w": " W",
    "max_node_load_w": " W",
    "quorum": " loss",
    "ceph": " host",
    "transcode_nodes": " node",
    "min_cluster_gflops": " Gflops",
    "max_noise_dba": " dBA",
}
_MARGIN_NAMES = {
    "node_link_gbps": "link",
    "uplink_gbps": "uplink",
    "workload_ram_gb": "RAM",
    "budget_usd": "budget",
    "poe_budget_w": "PoE",
    "max_node_load_w": "W/node",
    "quorum": "quorum",
    "ceph": "ceph",
    "transcode_nodes": "transcode",
    "min_cluster_gflops": "HPL",
    "max_noise_dba": "noise",
}
_RANKING = {
    "tco": "cost of ownership",
    "cost_per_gflops": "cost of ownership per HPL Gflops",
    "gflops_per_watt": "HPL Gflops per watt",
}


def _margins(build: Build) -> str:
    parts = []
    for c in build.checks:
        if c.margin is None or c.requirement not in _MARGIN_NAMES:
            continue
        unit = _MARGIN_UNITS[c.requirement]
        value = f"+${c.margin:,.0f}" if unit == " $" else f"+{c.margin:.3g}{unit}"
        parts.append(f"{_MARGIN_NAMES[c.requirement]} {value}")
    return ", ".join(parts)


def _hpl(b: Build) -> str:
    if b.gflops is None:
        return "?"
    return f"{b.gflops:.0f}" + (f" ({b.gflops_per_watt:.2f})" if b.gflops_per_watt else "")


def _builds_table(builds: tuple[Build, ...], title: str, years: float, misses: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("build")
    table.add_column("hardware", justify="right")
    table.add_column("W idle/typ/peak", justify="right")
    table.add_column("kWh/yr", justify="right")
    table.add_column("$/yr", justify="right")
    table.add_column(f"TCO {years:g} y", justify="right")
    table.add_column("RAM/cores", justify="right")
    table.add_column("RAM after losses", justify="right")
    table.add_column("survives", justify="right")
    table.add_column("PoE W", justify="right")
    table.add_column("HPL Gflops (/W)", justify="right")
    table.add_column("misses" if misses else "margins")
    for i, b in enumerate(builds, 1):
        table.add_row(
            str(i),
            b.label,
            f"${b.hardware_usd:,.0f}",
            f"{b.idle_w:.0f}/{b.typical_w:.0f}/{b.peak_w:.0f}",
            f"{b.kwh_per_year:,.0f}",
            f"${b.energy_usd_per_year:,.0f}",
            f"${b.tco_usd:,.0f}",
            f"{b.ram_gb:g}/{b.cores}",
            f"{b.ram_left_after_losses_gb:.1f} GB (-{b.losses_planned})",
            str(b.tolerates),
            "-" if b.poe_used_w is None else f"{b.poe_used_w:.0f}",
            _hpl(b),
            Text("; ".join(c.message for c in b.failures), style="red")
            if misses
            else Text(_margins(b), style="green"),
        )
    return table


def render(result: PlanResult, top: int) -> RenderableType:
    req = result.requirements
    parts: list[RenderableType] = [
        Text.assemble(
            ("microrack plan: ", "bold"),
            req.name,
            f"  ({result.evaluated} builds evaluated; ranked by "
            + ("" if req.rank_by == "tco" else f"{_RANKING[req.rank_by]}; ")
            + f"cost of ownership over {req.years:g} years at "
            f"${req.electricity_usd_per_kwh:g}/kWh, "
            f"{req.typical_load:.0%} typical load)",
        )
    ]
    if result.ranked:
        parts.append(
            _builds_table(
                result.ranked[:top], "Builds that meet every requirement", req.years, misses=False
            )
        )
        best = result.ranked[0]
        parts.append(Text(f"Bill for #1: {best.label}", style="bold"))
        lines = Table(box=None, show_header=False)
        for label, cost in best.cost_lines:
            lines.add_row(label, f"${cost:,.0f}")
        lines.add_row(
            Text("hardware", style="bold"), Text(f"${best.hardware_usd:,.0f}", style="bold")
        )
        lines.add_row(
            f"electricity x {req.years:g} y", f"${best.energy_usd_per_year * req.years:,.0f}"
        )
        tol = ", ".join(f"{name} {n}" for name, n in best.tolerance)
        parts += [lines, Text(f"failure tolerance (node losses survived): {tol}")]
        parts += _facts(best)
    else:
        parts.append(
            Text(
                "No build meets every requirement. The closest builds, and what each misses:",
                style="bold red",
            )
        )
        parts.append(_builds_table(result.closest[:top], "Closest builds", req.years, misses=True))
    if result.rejected:
        rej = Table(
            box=None,
            show_header=False,
            title="Boards with no build that qualifies",
            title_justify="left",
        )
        for r in result.rejected:
            tried = ", ".join(f"{g.count} x {g.variant.ram_gb:g} GB" for g in r.closest.groups)
            rej.add_row(
                Text(f"{r.board_name}: ", style="bold"),
                Text(f"as {tried}: ", style="dim")  # its closest build
                + Text("; ".join(c.message for c in r.closest.failures), style="yellow"),
            )
        parts.append(rej)
    return RichGroup(*parts)


def _facts(best: Build) -> list[RenderableType]:
    """Where #1 keeps its drives, how it reaches the outside, and which facts are estimates."""
    out: list[RenderableType] = []
    for board_id, lay in best.layouts:
        if lay.data is not None:
            out.append(
                Text(
                    f"drives on {board_id}: data on {lay.data}"
                    + (f", OS on {lay.os}" if lay.os else "")
                    + (f"; {lay.note}" if lay.note else "")
                )
            )
    for board_id, ports in best.uplink_ports:
        out.append(Text(f"uplink from {board_id}: {ports} ({best.uplink_gbps:g} Gbps in total)"))
    if best.estimates:
        out.append(
            Text(
                f"Facts behind #1 that are estimates ({len(best.estimates)}), to check "
                "before buying:",
                style="bold yellow",
            )
        )
        out += [Text(f"  {line}", style="yellow") for line in best.estimates]
    else:
        out.append(Text("Every fact behind #1 has a source.", style="green"))
    return out


def _layout_json(b: Build) -> dict[str, Any]:
    return {
        board_id: {
            "data": lay.data,
            "os": lay.os,
            "m2_in_use": lay.m2_in_use,
            "link_gbps": lay.link_gbps,
            "note": lay.note or None,
            "miss": lay.why or None,
        }
        for board_id, lay in b.layouts
    }


def build_to_json(b: Build) -> dict[str, Any]:
    return {
        "label": b.label,
        "groups": [
            {
                "board": g.board.id,
                "name": g.board.name,
                "ram_gb": g.variant.ram_gb,
                "count": g.count,
                "price_usd": g.variant.price_usd,
            }
            for g in b.groups
        ],
        "nodes": b.nodes,
        "hardware_usd": round(b.hardware_usd, 2),
        "cost_lines": [{"item": label, "usd": round(cost, 2)} for label, cost in b.cost_lines],
        "watts": {
            "idle": round(b.idle_w, 2),
            "typical": round(b.typical_w, 2),
            "peak": round(b.peak_w, 2),
        },
        "kwh_per_year": round(b.kwh_per_year, 1),
        "energy_usd_per_year": round(b.energy_usd_per_year, 2),
        "tco_usd": round(b.tco_usd, 2),
        "years": b.years,
        "ram_gb": b.ram_gb,
        "cores": b.cores,
        "usable_ram_gb": round(b.usable_ram_gb, 2),
        "ram_left_after_losses_gb": round(b.ram_left_after_losses_gb, 2),
        "losses_planned": b.losses_planned,
        "tolerates": b.tolerates,
        "tolerance": dict(b.tolerance),
        "poe_used_w": None if b.poe_used_w is None else round(b.poe_used_w, 1),
        "node_link_gbps": b.node_link_gbps,
        "uplink_gbps": b.uplink_gbps,
        "uplink_ports": dict(b.uplink_ports),
        "hpl_gflops": None if b.gflops is None else round(b.gflops, 3),
        "hpl_watts": None if b.hpl_w is None else round(b.hpl_w, 2),
        "gflops_per_watt": None if b.gflops_per_watt is None else round(b.gflops_per_watt, 3),
        "usd_per_gflops": None if b.usd_per_gflops is None else round(b.usd_per_gflops, 2),
        "drives": _layout_json(b),
        "estimates": list(b.estimates),
        "ok": b.ok,
        "checks": [
            {
                "requirement": c.requirement,
                "ok": c.ok,
                "message": c.message,
                "margin": None if c.margin is None else round(c.margin, 3),
                "required": c.required,
            }
            for c in b.checks
        ],
        "misses": [c.message for c in b.failures],
    }


def result_to_json(result: PlanResult, top: int) -> dict[str, Any]:
    return {
        "requirements": result.requirements.model_dump(mode="json"),
        "evaluated": result.evaluated,
        "rank_by": result.requirements.rank_by,
        "ranked": [build_to_json(b) for b in result.ranked[:top]],
        "closest": [build_to_json(b) for b in result.closest[:top]],
        "rejected": [
            {"board": r.board.id, "reasons": r.reasons, "closest": build_to_json(r.closest)}
            for r in result.rejected
        ],
    }
