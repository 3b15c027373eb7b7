"""The demo's terminal view: one row per node, and the alerts the hub raised."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from microrack.demo._run import Demo

__all__ = ["render", "status_line"]


def _row(node: Any) -> list[str]:
    head = node.last.get("headline", {})
    if node.crashed:
        state = "[red]crashed[/red]"
    elif not node.last:
        state = "[yellow]no answer[/yellow]"
    else:
        state = f"[green]up[/green] boot {node.boots}"
    temp = head.get("temp_max_celsius")
    thr = head.get("throttled")
    return [
        node.name,
        node.board,
        state,
        "" if temp is None else f"{temp:.1f}",
        "" if head.get("cpu_busy_ratio") is None else f"{head['cpu_busy_ratio']:.0%}",
        "" if head.get("fan_rpm") is None else f"{head['fan_rpm']:.0f}",
        "" if head.get("power_watts") is None else f"{head['power_watts']:.1f}",
        "" if thr is None else ("[red]yes[/red]" if thr else "no"),
        node.role,
    ]


def render(demo: Demo) -> Group:
    table = Table(title=f"microrack demo — {demo.elapsed:.0f} s", expand=False)
    for col in ("node", "board", "state", "max °C", "cpu", "fan rpm", "W", "throttled", "story"):
        table.add_column(col)
    for node in demo.nodes:
        table.add_row(*_row(node))
    colour = {"firing": "red", "pending": "yellow", "resolved": "green"}
    lines = [
        Text.from_markup(
            f"  [bold]{a.get('name')}[/bold] {a.get('node')} "
            f"[{colour.get(str(a.get('state')), 'white')}]{a.get('state')}[/]"
            + (f" — {a['summary']}" if a.get("summary") else "")
        )
        for a in sorted(
            demo.alerts,
            key=lambda a: (a.get("state") == "resolved", str(a.get("node")), str(a.get("name"))),
        )
    ]
    source = "hub" if demo.hub is not None else "terminal-only (no hub installed)"
    return Group(table, Text(f"alerts [{source}]:" + ("" if lines else " none")), *lines)


def status_line(demo: Demo) -> str:
    """One plain line for logs and non-terminal output."""
    parts = []
    for node in demo.nodes:
        head = node.last.get("headline", {})
        t = head.get("temp_max_celsius")
        parts.append(
            f"{node.name}={'down' if node.crashed or not node.last else f'{t:.0f}C'}"
            + ("!" if head.get("throttled") else "")
        )
    alerts = sorted(
        {f"{a.get('name')}:{a.get('node')}" for a in demo.alerts if a.get("state") == "firing"}
    )
    return (
        f"[{demo.elapsed:5.0f}s] " + " ".join(parts) + " | alerts: " + (", ".join(alerts) or "none")
    )
