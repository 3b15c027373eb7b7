"""The plan as a picture: what each build costs against what it leaves to spare.

Left: every qualifying build (or, when none qualifies, the closest ones) by
cost of ownership and the RAM left after the planned node losses; marker size
is typical watts.  Right: the top builds' cost of ownership split into
hardware and electricity, the split a table hides.
"""

from __future__ import annotations

import os

from microrack.plan._build import Build
from microrack.plan._search import PlanResult

__all__ = ["write_html"]


def _gflops(b: Build) -> str:
    if b.gflops is None:
        return "unknown (a board has no published run)"
    per_watt = f", {b.gflops_per_watt:.2f} Gflops/W" if b.gflops_per_watt else ""
    return f"{b.gflops:.1f} Gflops{per_watt}"


def write_html(result: PlanResult, top: int, path: str | os.PathLike[str]) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    req = result.requirements
    builds = result.ranked or result.closest
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.55, 0.45],
        horizontal_spacing=0.22,
        subplot_titles=(
            f"Cost of ownership over {req.years:g} years vs RAM left after "
            f"{req.survive_node_losses} lost node{'s' if req.survive_node_losses != 1 else ''}",
            f"Top {min(top, len(builds))}: hardware and electricity",
        ),
    )
    by_board: dict[str, list[int]] = {}
    for i, b in enumerate(builds):
        by_board.setdefault(b.groups[0].board.name.split(" (")[0], []).append(i)
    for name, idx in by_board.items():
        chosen = [builds[i] for i in idx]
        fig.add_trace(
            go.Scatter(
                x=[b.tco_usd for b in chosen],
                y=[b.ram_left_after_losses_gb for b in chosen],
                mode="markers",
                name=name,
                marker={
                    "size": [8 + min(40.0, b.typical_w / 4) for b in chosen],
                    "symbol": "circle" if result.ranked else "x",
                },
                text=[
                    b.label
                    + ("" if b.ok else "<br>misses: " + "; ".join(c.message for c in b.failures))
                    for b in chosen
                ],
                customdata=[
                    [
                        b.hardware_usd,
                        b.typical_w,
                        b.nodes,
                        _gflops(b),
                        f"{b.uplink_gbps:g}",
                        f"{b.node_link_gbps:g}",
                        len(b.estimates),
                    ]
                    for b in chosen
                ],
                hovertemplate=(
                    "%{text}<br>TCO $%{x:,.0f} (hardware $%{customdata[0]:,.0f})"
                    "<br>RAM left %{y:.1f} GB<br>typical %{customdata[1]:.0f} W, "
                    "%{customdata[2]} nodes<br>HPL %{customdata[3]}"
                    "<br>uplink %{customdata[4]} Gbps in total, "
                    "%{customdata[5]} Gbps between nodes"
                    "<br>%{customdata[6]} facts are estimates<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
    if req.workload_ram_gb:
        fig.add_hline(
            y=req.workload_ram_gb,
            line_dash="dash",
            line_color="grey",
            annotation_text="workload RAM",
            row=1,
            col=1,
        )  # type: ignore[arg-type]
    head = builds[:top]
    labels = [f"#{i} {b.label}" for i, b in enumerate(head, 1)]
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[b.hardware_usd for b in head],
            name="hardware",
            orientation="h",
            marker_color="#4c78a8",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[b.energy_usd_per_year * req.years for b in head],
            name=f"electricity ({req.years:g} y at ${req.electricity_usd_per_kwh:g}/kWh)",
            orientation="h",
            marker_color="#f58518",
        ),
        row=1,
        col=2,
    )
    fig.update_layout(
        barmode="stack",
        title=f"microrack plan: {req.name}"
        + ("" if result.ranked else " (no build meets every requirement: closest shown)"),
        height=560,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    fig.update_xaxes(title_text="cost of ownership, USD", row=1, col=1)
    fig.update_yaxes(title_text="RAM left after losses, GB", row=1, col=1)
    fig.update_xaxes(title_text="USD", row=1, col=2)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    # inline plotly.js: the file opens without network access
    fig.write_html(os.fspath(path), include_plotlyjs=True, full_html=True)
