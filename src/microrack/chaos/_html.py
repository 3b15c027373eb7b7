"""The chaos report as one HTML file: fault windows and member checks on a timeline, tables.

plotly.js is embedded (no network needed to open the file), as ``microrack sim``'s
report does.  Every text from outside (node names, URLs, answers) is escaped.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

__all__ = ["write_html"]


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _num(v: Any, fmt: str, none: str = "not measured") -> str:
    return none if v is None else format(v, fmt)


def _timeline(rep: dict[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    run = rep["run"]
    t0 = run["t0_unix"] or run["start_unix"]
    members = [m for g in rep["groups"] for m in g["members"]]
    rows = 2 if members else 1
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(
            "fault windows: twin (scenario) and cluster (requests)",
            "member checks (green serving, red not; orange: the twin predicts it cut off)",
        )[:rows],
    )
    for k, f in enumerate(rep["predicted"]["faults"]):
        end = (
            rep["predicted"]["duration_s"]
            if f["duration_s"] is None
            else f["at_s"] + f["duration_s"]
        )
        fig.add_trace(
            go.Bar(
                x=[end - f["at_s"]],
                base=[f["at_s"]],
                y=[f"twin: {f['kind']} {f['target']}"],
                orientation="h",
                marker_color="rgba(120,120,220,0.6)",
                name=f"twin fault {k}",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    for f in run["faults"]:
        start = f["start_unix"] - t0
        end = (f["end_unix"] if f["end_unix"] is not None else run["end_unix"]) - t0
        fig.add_trace(
            go.Bar(
                x=[end - start],
                base=[start],
                y=[f"{f['node']}: {f['kind']}"],
                orientation="h",
                marker_color="rgba(220,60,60,0.7)" if f["error"] is None else "black",
                name=f["id"],
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    for m in members:
        who = f"{m['group']} {m['node'] or m['url']}"
        for a, b in m.get("predicted_out", []):
            # the twin's verdict on this member's own line: out of quorum from a to b
            fig.add_trace(
                go.Scatter(
                    x=[a, b],
                    y=[who, who],
                    mode="lines",
                    line={"color": "orange", "width": 14},
                    opacity=0.45,
                    name="twin: cut off",
                    showlegend=False,
                    hoverinfo="name",
                ),
                row=2,
                col=1,
            )
        times, oks = m.get("times", []), m.get("results", [])
        fig.add_trace(
            go.Scatter(
                x=times,
                y=[who] * len(times),
                mode="markers",
                marker={"color": ["green" if ok else "red" for ok in oks], "size": 6},
                name=who,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    fig.update_xaxes(title_text="seconds after the run's start", row=rows, col=1)
    fig.update_layout(height=300 + 40 * (len(members) + len(run["faults"])), barmode="overlay")
    return fig


_VERDICT = {None: "-", True: "agree", False: "DISAGREE"}
_AVAIL = {None: "not measured", True: "available", False: "lost"}
_TWIN_AVAIL = {None: "no twin group", True: "available", False: "lost"}
_TWIN_MEMBER = {None: "-", True: "serving", False: "cut off"}


def _cells(*values: str, tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{v}</{tag}>" for v in values) + "</tr>"


def _node_row(n: dict[str, Any], hub: bool) -> str:
    return _cells(
        _e(n["name"]),
        _e(", ".join(n["faults"]) or "-"),
        f"{n['predicted_peak_temp_c']:.1f}",
        _num(n["measured_peak_temp_c"], ".1f"),
        f"{n['predicted_throttled_s']:.0f}",
        _num(n["measured_throttled_s"], ".0f"),
        f"{n['predicted_energy_wh']:.3f}",
        _num(n["measured_energy_wh"], ".3f"),
        _num(n["predicted_nodedown_delay_s"], ".1f", "none"),
        # with a hub, no delay means no NodeDown fired; without one, nothing was asked
        _num(n["measured_nodedown_delay_s"], ".1f", "none" if hub else "not measured"),
    )


def _member_row(m: dict[str, Any]) -> str:
    state = f"{m['checks'] - m['failed']}/{m['checks']} served"
    if m["first_failed_s"] is not None:
        state += f", first failure t+{m['first_failed_s']}s"
    if m["recovered_s"] is not None:
        state += f", recovered t+{m['recovered_s']}s"
    if m["forgiven"]:
        state += f" ({m['forgiven']} within the {m['grace_s']:g} s grace)"
    return _cells(
        "",
        f"{_e(m['node'] or '')} {_e(m['url'])}",
        state,
        _TWIN_MEMBER[m["predicted_serving"]],
        _e(m["last_answer"]),
        _VERDICT[m["agree"]],
    )


def _group_rows(g: dict[str, Any]) -> list[str]:
    if g["skipped"]:
        return [
            f"<tr><td>{_e(g['group'])}</td><td colspan=5>not probed: {_e(g['skipped'])}</td></tr>"
        ]
    head = _cells(
        _e(g["group"]),
        _e(g["check"]),
        _AVAIL[g["measured_available"]],
        _TWIN_AVAIL[g["predicted_available"]],
        "",
        _VERDICT[g["agree"]],
        tag="th",
    )
    return [head, *(_member_row(m) for m in g["members"])]


def write_html(rep: dict[str, Any], path: str | Path) -> None:
    """The report ``compare`` built, as a self-contained HTML page."""
    run = rep["run"]
    fig = _timeline(rep)
    nodes = "".join(_node_row(n, rep["measured_from"] is not None) for n in rep["nodes"])
    groups = [row for g in rep["groups"] for row in _group_rows(g)]
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>microrack chaos: {_e(run["scenario"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}</style>
</head><body><h1>chaos run {_e(run["scenario"])} ({_e(run["run_id"])})</h1>
<p>{len(run["faults"])} fault request(s){", interrupted" if run["interrupted"] else ""};
measured figures: {"from the hub" if rep["measured_from"] else "not measured (no --hub)"};
twin and cluster {"agree" if rep["agree"] else "DISAGREE"}.</p>
{fig.to_html(full_html=False, include_plotlyjs=True)}
<h2>Nodes: twin vs measured</h2>
<table><tr><th>node</th><th>faults</th><th>peak °C twin</th><th>measured</th>
<th>throttled s twin</th><th>measured</th><th>energy Wh twin</th><th>measured</th>
<th>NodeDown delay s twin</th><th>measured</th></tr>{nodes}</table>
<h2>Quorum groups</h2>
<table><tr><th>group</th><th>check / member</th><th>measured</th><th>twin</th><th>last answer</th>
<th>verdict</th></tr>{"".join(groups)}</table>
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")
