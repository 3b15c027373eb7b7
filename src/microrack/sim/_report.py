"""What a person reads after ``microrack sim``: a terminal summary and an HTML report."""

from __future__ import annotations

from pathlib import Path

from microrack.sim._scenario import SimResult, describe_target

__all__ = ["summary_text", "write_html"]


def summary_text(r: SimResult) -> str:
    """Plain-text summary: one line per node, per fault and per alert rule."""
    out = [
        f"scenario {r.scenario} on {r.cluster}: {r.duration_s / 3600:.2f} h simulated, "
        f"{r.energy_kwh:.3f} kWh, {r.cost:.2f} {r.currency} at {r.price_kwh:g}/kWh",
        "",
    ]
    w = max(len(n.name) for n in r.nodes)
    out.append(
        f"{'node':<{w}}  {'board':<22} {'peak °C':>8} {'throttled':>10} "
        f"{'kWh':>8} {'work lost':>9} {'down':>7} {'alerts':>6}"
    )
    for n in r.nodes:
        out.append(
            f"{n.name:<{w}}  {n.board:<22} {n.peak_temp_c:8.1f} {n.throttled_s:9.0f}s "
            f"{n.energy_kwh:8.4f} {n.work_lost_ratio:9.1%} {n.down_s:6.0f}s {n.alerts:6d}"
        )
    out.append("")
    for f, checks in r.faults:
        bad = [c for c in checks if not c.ok]
        verdict = (
            "kept quorum/redundancy"
            if not bad
            else "LOST "
            + ", ".join(f"{c.group} ({c.worst_lost} lost, tolerates {c.tolerates})" for c in bad)
        )
        dur = "" if f.duration is None else f" for {f.duration:g}s"
        out.append(f"fault {f.kind} at {f.at:g}s{dur} on {describe_target(f)}: {verdict}")
    counts: dict[str, int] = {}
    for a in r.alerts:
        counts[a.rule] = counts.get(a.rule, 0) + 1
    out.append("")
    out.append(
        "alerts (hub default rules): "
        + (", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "none")
    )
    return "\n".join(out) + "\n"


def write_html(r: SimResult, path: str | Path) -> None:
    """Temperature, power and clock over time per node, fault windows shaded, tables."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    s = r.series
    t_min = [t / 60 for t in s["t"]]
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        subplot_titles=(
            "SoC temperature (°C)",
            "power (W)",
            "clock ratio (1 = full speed; < 1 throttled)",
        ),
    )
    for i, name in enumerate(s["names"]):
        for row, key in ((1, "temp"), (2, "power"), (3, "clock")):
            fig.add_trace(
                go.Scatter(
                    x=t_min,
                    y=[v[i] for v in s[key]],
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                    mode="lines",
                ),
                row=row,
                col=1,
            )
    for f, _ in r.faults:
        end = (f.at + f.duration) if f.duration is not None else r.duration_s
        fig.add_vrect(
            x0=f.at / 60,
            x1=end / 60,
            fillcolor="red",
            opacity=0.08,
            line_width=0,
            annotation_text=f"{f.kind} {describe_target(f)}",
            annotation_position="top left",
        )
    fig.update_xaxes(title_text="minutes", row=3, col=1)
    fig.update_layout(height=900, title=f"microrack sim: {r.scenario} on {r.cluster}")
    rows = "".join(
        f"<tr><td>{n.name}</td><td>{n.board}</td><td>{n.peak_temp_c:.1f}</td>"
        f"<td>{n.throttled_s:.0f}</td><td>{n.energy_kwh:.4f}</td><td>{n.cost:.4f}</td>"
        f"<td>{n.alerts}</td></tr>"
        for n in r.nodes
    )
    faults = "".join(
        f"<tr><td>{f.kind}</td><td>{f.at:g}</td><td>{describe_target(f)}</td><td>"
        + "<br>".join(
            f"{'ok' if c.ok else 'LOST'} {c.group}: {c.worst_lost} lost, tolerates {c.tolerates}"
            for c in checks
        )
        + "</td></tr>"
        for f, checks in r.faults
    )
    alerts = "".join(
        f"<tr><td>{a.rule}</td><td>{a.node}</td><td>{a.severity}</td><td>{a.start:.0f}</td>"
        f"<td>{'' if a.end is None else f'{a.end:.0f}'}</td></tr>"
        for a in r.alerts
    )
    html = f"""<!doctype html><html><head><meta charset="utf-8">
<title>microrack sim: {r.scenario}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}</style>
</head><body><h1>{r.scenario} on {r.cluster}</h1>
<p>{r.duration_s / 3600:.2f} h simulated; {r.energy_kwh:.3f} kWh;
{r.cost:.2f} {r.currency} at {r.price_kwh:g} {r.currency}/kWh.</p>
{fig.to_html(full_html=False, include_plotlyjs=True)}
<h2>Nodes</h2><table><tr><th>node</th><th>board</th><th>peak °C</th><th>throttled s</th>
<th>kWh</th><th>cost</th><th>alerts</th></tr>{rows}</table>
<h2>Faults: quorum and redundancy</h2><table><tr><th>fault</th><th>at s</th><th>target</th>
<th>groups</th></tr>{faults}</table>
<h2>Alerts (hub default rules)</h2><table><tr><th>rule</th><th>node</th><th>severity</th>
<th>from s</th><th>to s</th></tr>{alerts}</table></body></html>
"""
    Path(path).write_text(html, encoding="utf-8")
