"""What a run leaves behind: a summary table, ``--json`` and an HTML page of plots."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from microrack.bench.measure import Measurement, format_value
from microrack.bench.suite import BenchRun
from microrack.errors import ResourceError, UsageError

__all__ = [
    "check_writable",
    "compare_runs",
    "load_run",
    "print_compare",
    "print_summary",
    "write_html",
    "write_json",
]


def _console() -> Any:
    """stdout; wide when it is a file or a pipe, so rows are not wrapped for grep."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def summary_rows(result: Any) -> list[tuple[str, str, str, str]]:
    """(measurement, where, value, unit) rows; percentiles of one thing share a row."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Measurement]] = {}
    for m in result.measurements:
        rest = tuple(kv for kv in m.labels if kv[0] != "quantile")
        groups.setdefault((m.name, rest), []).append(m)
    rows = []
    for (name, rest), ms in groups.items():
        where = " ".join(f"{k}={v}" for k, v in rest)
        quantiles = [m.label("quantile") for m in ms]
        if all(quantiles):
            name = f"{name} {'/'.join(quantiles)}"
        rows.append((name, where, " / ".join(format_value(m) for m in ms), ms[0].unit))
    return rows


def print_summary(run: BenchRun) -> None:
    """One table per workload on stdout."""
    from rich.table import Table

    console = _console()
    for name, result in run.results.items():
        table = Table(title=f"bench {name}", title_justify="left")
        table.add_column("measurement")
        table.add_column("where")
        table.add_column("value", justify="right")
        table.add_column("unit")
        for row in summary_rows(result):
            table.add_row(*row)
        console.print(table)


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def check_writable(path: str, argument: str) -> None:
    """Before any work: an output file that cannot be written would lose the whole run."""
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise UsageError(argument, f"{parent} is not a directory")
    if Path(path).is_dir():
        raise UsageError(argument, f"{path} is a directory")
    if Path(path).exists() and not os.access(path, os.W_OK):
        raise UsageError(argument, f"{path} is not writable")
    try:  # a real file in that directory (os.access says yes to root on a read-only mount)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".microrack-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(argument, f"{path} is not writable ({exc.strerror or exc})") from None


def write_json(run: BenchRun, path: str) -> None:
    try:
        Path(path).write_text(
            json.dumps(_finite(run.to_json()), indent=1, allow_nan=False) + "\n", encoding="utf-8"
        )
    except OSError as exc:
        raise ResourceError(f"--json: cannot write {path} ({exc.strerror or exc})") from None


def load_run(path: str, argument: str) -> BenchRun:
    from microrack._yaml import read_json
    from microrack.errors import ConfigError

    try:  # the shared hygiene: regular file, size, UTF-8, depth, duplicate keys, no NaN
        data = read_json(path)
    except ConfigError as exc:
        raise UsageError(argument, str(exc)) from None
    if not isinstance(data, dict) or data.get("format") != "microrack-bench/1":
        raise UsageError(argument, f"{path} is not a microrack bench --json file")
    return BenchRun.from_json(data)


def compare_runs(a: BenchRun, b: BenchRun) -> list[dict[str, Any]]:
    """Measurements present in both runs, with ratio B/A."""
    rows = []
    for name, ra in a.results.items():
        rb = b.results.get(name)
        if rb is None:
            continue
        other = {m.key: m for m in rb.measurements}
        for m in ra.measurements:
            n = other.get(m.key)
            # a checksum or a yes/no has no meaningful ratio
            if n is None or m.unit == "bool" or "checksum" in m.name or m.unit != n.unit:
                continue
            ratio = n.value / m.value if m.value and math.isfinite(m.value) else math.nan
            rows.append(
                {
                    "workload": name,
                    "name": m.name,
                    "labels": dict(m.labels),
                    "unit": m.unit,
                    "a": m.value,
                    "b": n.value,
                    "ratio": ratio if math.isfinite(ratio) else None,
                }
            )
    return rows


def print_compare(rows: list[dict[str, Any]], a_name: str, b_name: str) -> None:
    from rich.table import Table

    table = Table(title=f"B/A  (A={a_name}, B={b_name})", title_justify="left")
    for col in ("workload", "measurement", "where", "A", "B", "B/A"):
        table.add_column(col, justify="right" if col in {"A", "B", "B/A"} else "left")
    for r in rows:
        labels = tuple(sorted(r["labels"].items()))
        fa = format_value(Measurement(r["name"], r["a"], r["unit"], labels))
        fb = format_value(Measurement(r["name"], r["b"], r["unit"], labels))
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}"
        where = " ".join(f"{k}={v}" for k, v in labels)
        table.add_row(r["workload"], r["name"], where, fa, fb, ratio)
    _console().print(table)


# --- HTML -----------------------------------------------------------------------------------


def _figures(run: BenchRun) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go

    figs: list[tuple[str, Any]] = []
    cpu = run.results.get("cpu")
    if cpu:
        fig = go.Figure()
        for name in ("int_single_core", "int_all_cores"):
            ms = cpu.all(name)
            fig.add_bar(name=name, x=[m.label("node") for m in ms], y=[m.value for m in ms])
        fig.update_layout(
            title="CPU integer throughput per node", yaxis_title="ops/s", barmode="group"
        )
        figs.append(("cpu", fig))
        ms = cpu.all("float_single_core")
        fig = go.Figure(go.Bar(x=[m.label("node") for m in ms], y=[m.value / 1e9 for m in ms]))
        fig.update_layout(title="Floating point (numpy matmul), one core", yaxis_title="GFLOP/s")
        figs.append(("cpu-float", fig))
    st = run.results.get("storage")
    if st:
        fig = go.Figure()
        for name in ("seq_write_throughput", "seq_read_throughput"):
            ms = st.all(name)
            fig.add_bar(name=name, x=[m.label("node") for m in ms], y=[m.value / 2**20 for m in ms])
        fig.update_layout(title="Sequential throughput", yaxis_title="MiB/s", barmode="group")
        figs.append(("storage-seq", fig))
        fig = go.Figure()
        for node, phases in st.details.get("latency_samples_s", {}).items():
            for phase, values in phases.items():
                fig.add_trace(
                    go.Box(y=[v * 1e6 for v in values], name=f"{node} {phase}", boxpoints=False)
                )
        fig.update_layout(
            title="Storage latency distribution per phase", yaxis_title="µs", yaxis_type="log"
        )
        figs.append(("storage-latency", fig))
    net = run.results.get("net")
    if net:
        fig = go.Figure()
        for pair, by in net.details.get("latency_samples_s", {}).items():
            for transport, values in by.items():
                fig.add_trace(
                    go.Histogram(
                        x=[v * 1e6 for v in values], name=f"{pair} {transport}", opacity=0.6
                    )
                )
        fig.update_layout(title="Ping-pong round-trip latency", xaxis_title="µs", barmode="overlay")
        figs.append(("net-latency", fig))
        fig = go.Figure()
        for transport in ("tcp", "dask", "ray"):
            ms = [m for m in net.all("throughput") if m.label("transport") == transport]
            if not ms:
                continue
            fig.add_bar(
                name=transport, x=[m.label("pair") for m in ms], y=[m.value * 8 / 1e9 for m in ms]
            )
        fig.update_layout(
            title="Stream throughput: plain TCP vs the engine's own transfer",
            yaxis_title="Gbit/s",
            barmode="group",
        )
        figs.append(("net-throughput", fig))
    mixed = run.results.get("mixed")
    if mixed:
        colours = {"cpu": "#1f77b4", "io": "#ff7f0e", "shuffle": "#2ca02c", "final": "#d62728"}
        for mode, data in mixed.details.get("runs", {}).items():
            fig = go.Figure()
            for kind, colour in colours.items():
                tl = [t for t in data["timeline"] if t["kind"] == kind]
                if tl:
                    fig.add_bar(
                        name=kind,
                        orientation="h",
                        y=[t["node"] for t in tl],
                        x=[t["stop"] - t["start"] for t in tl],
                        base=[t["start"] for t in tl],
                        marker_color=colour,
                        hovertext=[t["key"] for t in tl],
                    )
            fig.update_layout(
                title=f"Mixed graph per-worker timeline, work stealing {mode}",
                xaxis_title="seconds since submit",
                barmode="overlay",
            )
            figs.append((f"mixed-{mode}", fig))
        fig = go.Figure()
        for mode, data in mixed.details.get("runs", {}).items():
            width = data.get("bin_seconds", 0.0)
            for node, row in data.get("utilisation", {}).items():
                fig.add_scatter(
                    x=[(i + 0.5) * width for i in range(len(row))],
                    y=row,
                    mode="lines",
                    line_shape="hv",
                    name=f"{node} stealing {mode}",
                    line_dash="solid" if mode == "on" else "dot",
                )
        fig.update_layout(
            title="Mixed graph: per-worker utilisation over time",
            xaxis_title="seconds since submit",
            yaxis_title="busy threads / threads",
            yaxis_range=[0, 1.05],
        )
        figs.append(("mixed-utilisation", fig))
    return figs


def write_html(run: BenchRun, path: str) -> None:
    """One self-contained page (plotly.js inlined once: the network may be closed)."""
    parts = []
    for i, (name, fig) in enumerate(_figures(run)):
        parts.append(
            f'<section id="{name}">'
            + fig.to_html(full_html=False, include_plotlyjs=(i == 0))
            + "</section>"
        )
    env = run.environment
    workers = "".join(
        f"<li>{w.get('node')} {w.get('address')} {w.get('hostname', '')} {w.get('board', '')}</li>"
        for w in env.get("workers", [])
    )
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>microrack bench</title>"
        "</head><body><h1>microrack bench</h1>"
        f"<p>started {run.started}; workloads: {', '.join(run.results)}</p>"
        f"<ul>{workers}</ul>{''.join(parts)}</body></html>"
    )
    try:
        Path(path).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ResourceError(f"--report: cannot write {path} ({exc.strerror or exc})") from None
