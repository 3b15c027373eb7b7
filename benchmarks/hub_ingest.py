"""Hub ingest, side by side with Prometheus scraping the same agents.

Phases (all on loopback, the stand-in agents in one separate process):

1. steady  — AGENTS agents at INTERVAL; the hub pulls them and a real Prometheus
   scrapes their /metrics for the same wall time.  Prints CPU per sample of both
   and the ratio hub/Prometheus, the hub's RSS and CPU % of one core.
2. idle    — 25 agents at 5 s (the issue's target: under 100 MB and 1 % of a core).
3. saturation — agents whose rings are full (backdated); the hub pulls everything
   as fast as it can.  Prints samples stored per CPU-second and per wall-second.
4. storage — on-disk bytes per raw sample: the hub's SQLite file after its heads are
   cut into chunks, and a Prometheus TSDB snapshot (head written as a block) after
   the steady phase.
5. query   — p50/p99 latency of /api/v1/query over a 24 h range at 1 000 points.
6. validation — CPU of decoding an agent's answer with the hub's validation boundary
   (``hub._validate``) against decoding it unchecked, as the hub did before, on the
   stand-in's own answers (one new sample per pull, and a full-ring catch-up); the
   steady phase's hub/Prometheus ratio is printed with and without that difference.

    python benchmarks/hub_ingest.py [--agents 50] [--series 100] [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from _procs import cpu_seconds, free_block, free_port, hub_command, process, rss_bytes
from rich.console import Console
from rich.table import Table

from microrack.hub import Retention, Store
from microrack.hub._standin import StandIn, series_keys, value_of
from microrack.hub._standin import command as standin_command
from microrack.hub._store import Batch
from microrack.hub._validate import Limits, check_answer, parse_answer

console = Console(stderr=True)


def get_json(url: str, data: bytes | None = None) -> Any:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def hub_metric(base: str, name: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def prom_value(base: str, name: str) -> float:
    """Sum of a metric in Prometheus's own /metrics (it does not scrape itself here)."""
    total = 0.0
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def standins(
    tmp: Path, name: str, count: int, series: int, interval: float, ring: int, backdate: float
) -> tuple[list[str], contextlib.AbstractContextManager]:
    port = free_block(count)
    argv = standin_command(
        port,
        name=name,
        count=count,
        series=series,
        interval=interval,
        ring=ring,
        backdate=backdate,
    )
    targets = [f"127.0.0.1:{port + i}" for i in range(count)]
    return targets, process(argv, tmp / f"{name}.log", port + count - 1)


# ---------------------------------------------------------------------------
def _unchecked(raw: bytes, since: int, known: Any = None) -> list[tuple[int, float, Any]]:
    """The decode the hub did before it checked anything (the baseline): JSON, the
    identity, the series list compared with the last one seen, the samples converted."""
    body = json.loads(raw)
    ident = body["node"]
    _ = str(ident["boot_id"]), str(ident["name"]), float(ident.get("interval") or 5.0)
    _ = int(body["last_seq"]), body["series"] != known
    return [
        (int(s["seq"]), float(s["ts"]), s["values"])
        for s in body["samples"]
        if int(s["seq"]) > since
    ]


def phase_validation(series: int, ring: int, repeat_s: float = 3.0) -> dict[str, Any]:
    agent = StandIn("bench", 1, interval=1.0, series=series, ring=ring, start=time.time() - ring)
    last = agent.last_seq()
    out: dict[str, Any] = {"series": series}
    limits = Limits()
    for label, since in (("steady", last - 1), ("catchup", 0)):
        raw = agent.samples_body(since)
        rows = len(_unchecked(raw, since))
        cached = None
        ans = check_answer(parse_answer(raw), since, limits)
        cached = (ans.wire, ans.series)  # as a pull loop keeps it between pulls

        def checked(raw: bytes = raw, since: int = since, cached: Any = cached) -> None:
            check_answer(parse_answer(raw), since, limits, cached)

        known = json.loads(raw)["series"]

        def plain(raw: bytes = raw, since: int = since, known: Any = known) -> None:
            _unchecked(raw, since, known)

        # interleaved rounds, the fastest of each: the least disturbed by other processes
        number = max(1, int(2000 / max(rows, 1)))
        best = {"checked": float("inf"), "unchecked": float("inf")}
        deadline = time.monotonic() + repeat_s
        while time.monotonic() < deadline:
            for name, fn in (("checked", checked), ("unchecked", plain)):
                t0 = time.process_time()
                for _ in range(number):
                    fn()
                best[name] = min(best[name], (time.process_time() - t0) / number)
        for name, per_call in best.items():
            out[f"{label}_{name}_us_per_pull"] = per_call * 1e6
            out[f"{label}_{name}_cpu_s_per_million"] = per_call / (rows * series) * 1e6
        out[f"{label}_ratio"] = (
            out[f"{label}_checked_cpu_s_per_million"] / out[f"{label}_unchecked_cpu_s_per_million"]
        )
        out[f"{label}_rows"] = rows
    return out


def phase_steady(
    tmp: Path, agents: int, series: int, interval: float, seconds: float, prom_bin: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "agents": agents,
        "series": series,
        "interval": interval,
        "seconds": seconds,
    }
    targets, agents_cm = standins(tmp, "steady", agents, series, interval, 2000, 0)
    hub_port, prom_port = free_port(), free_port()
    db = tmp / "steady.db"
    with (
        agents_cm,
        process(
            hub_command(db, hub_port, targets, "--maintenance", "3600s"),
            tmp / "hub-steady.log",
            hub_port,
        ) as hub,
    ):
        prom_cm: contextlib.AbstractContextManager = contextlib.nullcontext()
        prom_dir = tmp / "prom"
        if prom_bin:
            cfg = tmp / "prometheus.yml"
            cfg.write_text(
                f"global: {{scrape_interval: {int(interval * 1000)}ms,"
                f" scrape_timeout: {int(min(interval, 10) * 1000)}ms}}\n"
                "scrape_configs:\n- job_name: standin\n  static_configs:\n"
                f"  - targets: {json.dumps(targets)}\n"
            )
            prom_cm = process(
                [
                    prom_bin,
                    f"--config.file={cfg}",
                    f"--storage.tsdb.path={prom_dir}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--web.enable-admin-api",
                    "--log.level=warn",
                ],
                tmp / "prometheus.log",
                prom_port,
            )
        with prom_cm as prom:
            hub_base = f"http://127.0.0.1:{hub_port}"
            prom_base = f"http://127.0.0.1:{prom_port}"
            time.sleep(max(3 * interval, 5))  # warm-up: both reach steady state
            h0, hs0 = (
                cpu_seconds(hub.pid),
                hub_metric(hub_base, "microrack_hub_samples_stored_total"),
            )
            if prom:
                p0 = cpu_seconds(prom.pid)
                ps0 = prom_value(prom_base, "prometheus_tsdb_head_samples_appended_total")
            t0 = time.monotonic()
            with console.status(
                f"steady: {agents} agents x {series} series every {interval:g}s for {seconds:g}s"
            ):
                time.sleep(seconds)
            wall = time.monotonic() - t0
            h1, hs1 = (
                cpu_seconds(hub.pid),
                hub_metric(hub_base, "microrack_hub_samples_stored_total"),
            )
            out["hub_cpu_s"] = h1 - h0
            out["hub_samples"] = hs1 - hs0
            out["hub_cpu_s_per_million"] = (h1 - h0) / max(hs1 - hs0, 1) * 1e6
            out["hub_core_percent"] = (h1 - h0) / wall * 100
            out["hub_rss_mb"] = rss_bytes(hub.pid) / 2**20
            if prom:
                p1 = cpu_seconds(prom.pid)
                ps1 = prom_value(prom_base, "prometheus_tsdb_head_samples_appended_total")
                out["prom_cpu_s"] = p1 - p0
                out["prom_samples"] = ps1 - ps0
                out["prom_cpu_s_per_million"] = (p1 - p0) / max(ps1 - ps0, 1) * 1e6
                out["prom_core_percent"] = (p1 - p0) / wall * 100
                out["prom_rss_mb"] = rss_bytes(prom.pid) / 2**20
                out["prom_total_samples"] = ps1
                snap = get_json(f"{prom_base}/api/v1/admin/tsdb/snapshot", data=b"")
                snap_dir = prom_dir / "snapshots" / snap["data"]["name"]
                out["prom_snapshot_bytes"] = dir_bytes(snap_dir)
                chunk_bytes = sum(p.stat().st_size for p in snap_dir.rglob("chunks/*"))
                out["prom_bytes_per_sample"] = out["prom_snapshot_bytes"] / max(ps1, 1)
                out["prom_chunk_bytes_per_sample"] = chunk_bytes / max(ps1, 1)
                out["prom_wal_bytes"] = dir_bytes(prom_dir / "wal")
    # the hub is stopped: cut every head into chunks (its CPU counted too) and measure
    store = Store(db, Retention())
    c0 = time.process_time()
    store.close_heads(force=True)
    close_cpu = time.process_time() - c0
    store.vacuum()
    st = store.stats()
    store.close()
    out["hub_close_cpu_s"] = close_cpu
    out["hub_total_samples"] = st["chunk_samples"]
    out["hub_file_bytes"] = Path(db).stat().st_size
    out["hub_bytes_per_sample"] = out["hub_file_bytes"] / max(st["chunk_samples"], 1)
    out["hub_chunk_bytes_per_sample"] = st["chunk_bytes"] / max(st["chunk_samples"], 1)
    # close_heads covers every sample ever stored, the CPU window only part of them
    share = out["hub_samples"] / max(st["chunk_samples"], 1)
    out["hub_cpu_s_per_million_incl_chunking"] = (
        (out["hub_cpu_s"] + close_cpu * share) / max(out["hub_samples"], 1) * 1e6
    )
    return out


def phase_idle(tmp: Path, seconds: float) -> dict[str, Any]:
    targets, agents_cm = standins(tmp, "idle", 25, 100, 5.0, 720, 0)
    port = free_port()
    with (
        agents_cm,
        process(hub_command(tmp / "idle.db", port, targets), tmp / "hub-idle.log", port) as hub,
    ):
        time.sleep(10)
        c0, t0 = cpu_seconds(hub.pid), time.monotonic()
        with console.status(f"idle: 25 agents x 100 series every 5 s for {seconds:g}s"):
            time.sleep(seconds)
        cpu = cpu_seconds(hub.pid) - c0
        return {
            "agents": 25,
            "interval": 5.0,
            "seconds": seconds,
            "hub_core_percent": cpu / (time.monotonic() - t0) * 100,
            "hub_rss_mb": rss_bytes(hub.pid) / 2**20,
        }


def phase_saturation(tmp: Path, agents: int, series: int, ring: int) -> dict[str, Any]:
    # rings full: each agent holds `ring` samples at 5 s, all to be pulled at once
    targets, agents_cm = standins(tmp, "sat", agents, series, 5.0, ring, ring * 5.0)
    port = free_port()
    expected = agents * series * ring
    with agents_cm:
        # warm the stand-ins' row cache so that they answer at full speed
        for t in targets[:1]:
            urllib.request.urlopen(f"http://{t}/api/v1/samples?since=0", timeout=120).read()
        with process(
            hub_command(tmp / "sat.db", port, targets, "--maintenance", "3600s"),
            tmp / "hub-sat.log",
            port,
        ) as hub:
            base = f"http://127.0.0.1:{port}"
            c0, t0 = cpu_seconds(hub.pid), time.monotonic()
            stored = 0.0
            while stored < expected and time.monotonic() - t0 < 600:
                time.sleep(0.2)
                stored = hub_metric(base, "microrack_hub_samples_stored_total")
            wall = time.monotonic() - t0
            cpu = cpu_seconds(hub.pid) - c0
    # the same samples cut into compressed chunks (what the hub's maintenance does later)
    store = Store(tmp / "sat.db", Retention())
    c1 = time.process_time()
    store.close_heads(force=True)
    chunk_cpu = time.process_time() - c1
    store.close()
    return {
        "agents": agents,
        "series": series,
        "ring": ring,
        "samples": stored,
        "wall_s": wall,
        "cpu_s": cpu,
        "chunk_cpu_s": chunk_cpu,
        "samples_per_cpu_s": stored / max(cpu, 1e-9),
        "samples_per_cpu_s_incl_chunking": stored / max(cpu + chunk_cpu, 1e-9),
        "samples_per_wall_s": stored / wall,
    }


def phase_query(tmp: Path, nodes: int, series: int, requests: int) -> dict[str, Any]:
    """24 h of 5 s samples written straight into a store, then queried through the API."""
    db = tmp / "query.db"
    store = Store(db, Retention(chunk_seconds=3600))
    keys = series_keys(series)
    now = time.time()
    n = 24 * 3600 // 5
    start = now - n * 5
    wire = [(k.name, dict(k.labels), k.type) for k in keys]
    with console.status(f"query: writing 24 h x {nodes} nodes x {series} series"):
        for node in range(nodes):
            for lo in range(1, n + 1, 720):
                seqs = range(lo, min(n, lo + 719) + 1)
                samples = [
                    (s, start + (s - 1) * 5.0, [value_of(k, i, s) for i, k in enumerate(keys)])
                    for s in seqs
                ]
                store.write(
                    [
                        Batch(
                            f"q{node:02d}",
                            "rpi-4b",
                            "127.0.0.1",
                            1,
                            "b",
                            5.0,
                            seqs[-1],
                            wire,
                            samples,
                        )
                    ]
                )
            store.close_heads(force=True)
    store.close()
    port = free_port()
    lat: dict[str, list[float]] = {"one_node": [], "all_nodes": []}
    with process(hub_command(db, port, []), tmp / "hub-query.log", port):
        base = (
            f"http://127.0.0.1:{port}/api/v1/query?metric=microrack_cpu_busy_ratio"
            "&from=now-24h&to=now&points=1000"
        )
        for i in range(requests):
            for kind, url in (("one_node", f"{base}&node=q{i % nodes:02d}"), ("all_nodes", base)):
                t0 = time.perf_counter()
                body = get_json(url)
                lat[kind].append(time.perf_counter() - t0)
                assert all(len(s["points"]) <= 1000 for s in body["series"])
    out: dict[str, Any] = {"nodes": nodes, "raw_points_per_series": n, "requests": requests}
    for kind, values in lat.items():
        values.sort()
        out[f"{kind}_p50_ms"] = statistics.median(values) * 1000
        out[f"{kind}_p99_ms"] = values[min(len(values) - 1, int(len(values) * 0.99))] * 1000
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--sat-agents", type=int, default=50)
    ap.add_argument("--sat-ring", type=int, default=720)
    ap.add_argument("--query-nodes", type=int, default=5)
    ap.add_argument("--query-requests", type=int, default=50)
    ap.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["steady", "idle", "saturation", "query", "validation"],
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    prom_bin = shutil.which("prometheus")
    if prom_bin is None:
        console.print("[yellow]prometheus not installed: hub figures only[/]")
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    results: dict[str, Any] = {}
    try:
        if "steady" not in a.skip:
            results["steady"] = phase_steady(
                tmp, a.agents, a.series, a.interval, a.seconds, prom_bin
            )
        if "idle" not in a.skip:
            results["idle"] = phase_idle(tmp, a.idle_seconds)
        if "saturation" not in a.skip:
            results["saturation"] = phase_saturation(tmp, a.sat_agents, a.series, a.sat_ring)
        if "query" not in a.skip:
            results["query"] = phase_query(tmp, a.query_nodes, a.series, a.query_requests)
        if "validation" not in a.skip:
            with console.status("validation: decoding answers checked and unchecked"):
                results["validation"] = phase_validation(a.series, a.sat_ring)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)
    return 0


def report(r: dict[str, Any]) -> None:
    out = Console(width=120)
    t = Table(title="microrack hub ingest vs Prometheus (same agents, same run)")
    t.add_column("measure")
    t.add_column("hub", justify="right")
    t.add_column("Prometheus", justify="right")
    t.add_column("hub / Prometheus", justify="right")
    t.add_column("target", justify="right")

    def row(name: str, hub: float | None, prom: float | None, fmt: str, target: str = "") -> None:
        ratio = f"{hub / prom:.2f}" if hub is not None and prom else ""
        t.add_row(
            name,
            "" if hub is None else format(hub, fmt),
            "" if prom is None else format(prom, fmt),
            ratio,
            target,
        )

    s = r.get("steady")
    if s:
        row(
            f"CPU s per 1M samples ({s['agents']} agents, {s['interval']:g}s)",
            s["hub_cpu_s_per_million"],
            s.get("prom_cpu_s_per_million"),
            ".2f",
            "<= Prometheus",
        )
        row(
            "  incl. cutting heads into chunks",
            s["hub_cpu_s_per_million_incl_chunking"],
            s.get("prom_cpu_s_per_million"),
            ".2f",
        )
        row("samples ingested in the window", s["hub_samples"], s.get("prom_samples"), ",.0f")
        row("% of one core", s["hub_core_percent"], s.get("prom_core_percent"), ".1f")
        row("RSS MB", s["hub_rss_mb"], s.get("prom_rss_mb"), ".0f")
        row(
            "disk bytes per raw sample (whole store)",
            s["hub_bytes_per_sample"],
            s.get("prom_bytes_per_sample"),
            ".2f",
            "<= 4",
        )
        row(
            "  chunk bytes only",
            s["hub_chunk_bytes_per_sample"],
            s.get("prom_chunk_bytes_per_sample"),
            ".2f",
        )
    i = r.get("idle")
    if i:
        row("25 agents @5s: % of one core", i["hub_core_percent"], None, ".2f", "< 1")
        row("25 agents @5s: RSS MB", i["hub_rss_mb"], None, ".0f", "< 100")
    sat = r.get("saturation")
    if sat:
        row(
            f"saturation: samples per CPU-second ({sat['agents']} full rings)",
            sat["samples_per_cpu_s"],
            None,
            ",.0f",
            ">= 200,000",
        )
        row(
            "  incl. cutting them into chunks",
            sat["samples_per_cpu_s_incl_chunking"],
            None,
            ",.0f",
            ">= 200,000",
        )
        row("saturation: samples per wall-second", sat["samples_per_wall_s"], None, ",.0f")
    v = r.get("validation")
    if v:
        for label, what in (
            ("steady", "one new sample"),
            ("catchup", f"{v['catchup_rows']} samples"),
        ):
            row(
                f"decode an answer of {what}: us checked / unchecked",
                v[f"{label}_checked_us_per_pull"],
                None,
                ".1f",
            )
            t.add_row(
                "",
                f"{v[f'{label}_unchecked_us_per_pull']:.1f} unchecked",
                "",
                f"{v[f'{label}_ratio']:.2f} checked / unchecked",
                "",
            )
        if s and s.get("prom_cpu_s_per_million"):
            extra = v["steady_checked_cpu_s_per_million"] - v["steady_unchecked_cpu_s_per_million"]
            hub_on = s["hub_cpu_s_per_million"]
            hub_off = max(hub_on - extra, 1e-9)
            prom = s["prom_cpu_s_per_million"]
            row("steady CPU per 1M, validation on", hub_on, prom, ".2f", "<= Prometheus")
            row("  validation off (estimated: on minus its measured cost)", hub_off, prom, ".2f")
    q = r.get("query")
    if q:
        row("query 24 h @1000 points, one node: p50 ms", q["one_node_p50_ms"], None, ".1f")
        row("  p99 ms", q["one_node_p99_ms"], None, ".1f")
        row(
            f"query 24 h @1000 points, {q['nodes']} nodes: p50 ms",
            q["all_nodes_p50_ms"],
            None,
            ".1f",
        )
        row("  p99 ms", q["all_nodes_p99_ms"], None, ".1f")
    out.print(t)


if __name__ == "__main__":
    raise SystemExit(main())
