"""Plots a person would rather look at: a fan's control law, and a closed-loop run.

plotly is imported here only, so the control loop never needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microrack.thermal._curve import FanState, control_step
from microrack.thermal._service import Fan

__all__ = ["law_figure", "law_table", "trace_figure"]


def law_table(
    fan: Fan, lo: float = 20.0, hi: float = 100.0, step: float = 0.25
) -> dict[str, list[float]]:
    """Duty written while the temperature sweeps up from ``lo`` to ``hi`` and back down.

    Runs the real control step (hysteresis, minimum duty, stop), without kick
    or rate limit, so the two branches show the hysteresis band as it acts.
    """
    from dataclasses import replace

    tuning = replace(fan.tuning, kick_s=0.0, max_rate=None, stall_s=float("inf"))
    n = int((hi - lo) / step)
    up = [lo + i * step for i in range(n + 1)]
    state = FanState()
    rising: list[float] = []
    falling: list[float] = []
    for temps, out in ((up, rising), (up[::-1], falling)):
        for i, t in enumerate(temps):
            state = control_step(
                state,
                float(i),
                t,
                None,
                law=fan.law,
                hysteresis_c=fan.hysteresis_c,
                tuning=tuning,
            )
            out.append(state.duty)
    return {"temp_c": up, "rising": rising, "falling": falling[::-1]}


def law_figure(fans: Sequence[Fan]) -> Any:
    """One panel per fan: duty against temperature, rising and falling."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(fans), cols=1, subplot_titles=[f"fan {f.name}" for f in fans])
    for row, fan in enumerate(fans, start=1):
        table = law_table(fan)
        for branch, dash in (("rising", "solid"), ("falling", "dash")):
            fig.add_trace(
                go.Scatter(
                    x=table["temp_c"],
                    y=[d * 100 for d in table[branch]],
                    name=f"{fan.name} {branch}",
                    line={"dash": dash},
                ),
                row=row,
                col=1,
            )
        fig.update_xaxes(title_text="input °C", row=row, col=1)
        fig.update_yaxes(title_text="duty %", range=[0, 105], row=row, col=1)
    fig.update_layout(
        title="microrack fan: control law (dashed: temperature falling)", height=380 * len(fans)
    )
    return fig


def trace_figure(runs: dict[str, dict[str, list[float]]], limit_c: float | None = None) -> Any:
    """Temperature and duty over time for named runs (``{"t", "temp_c", "duty"}`` each)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, subplot_titles=["temperature", "fan duty"]
    )
    for name, run in runs.items():
        fig.add_trace(go.Scatter(x=run["t"], y=run["temp_c"], name=f"{name} °C"), row=1, col=1)
        fig.add_trace(
            go.Scatter(x=run["t"], y=[d * 100 for d in run["duty"]], name=f"{name} duty %"),
            row=2,
            col=1,
        )
    if limit_c is not None:
        fig.add_hline(y=limit_c, line_dash="dot", annotation_text="throttle limit", row=1, col=1)
    fig.update_xaxes(title_text="seconds", row=2, col=1)
    fig.update_layout(title="microrack fan: closed loop", height=700)
    return fig
