"""The hub's dashboard with 100 nodes and 24 h of data, in Debian's Chromium (Playwright).

1. history — 24 h of one-minute samples of a node's full page (CPU per core and mode,
   memory, filesystems, disks, NVMe, network, temperatures, fans, power, throttling)
   for NODES nodes, written straight into a store.  The hub then serves that store
   while NODES stand-in agents (one process) are pulled live every second.
2. load   — the overview (table, cluster strip, cluster charts over 24 h) and a node's
   page over 24 h, each from a cold browser: time to the first full paint (every
   chart drawn, every row present) and bytes transferred.  Median of RUNS.
3. live   — hub CPU (utime + stime of its process) over SECONDS with 0, 1 and 3 browsers
   on the overview and on a node's page; the cost of one browser is the difference
   divided by the number of browsers, with the event stream's bytes per second.

There is no Grafana in Debian to put beside it; the figure to compare with is the
hub's own CPU with no browser at all (phase 3, first row).

    python benchmarks/dashboard_load.py [--nodes 100] [--seconds 30] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _procs import cpu_seconds, free_block, free_port, hub_command, process
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from microrack.hub import Retention, Store
from microrack.hub._standin import FAN_AND_POWER, NODE_PAGE_CHARTS, SENSORS
from microrack.hub._standin import command as standin_command
from microrack.hub._store import Batch

console = Console(stderr=True)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
STEP = 60.0  # seconds between the history's samples
CHARTS = list(NODE_PAGE_CHARTS)


def _series() -> list[tuple[str, dict[str, str], str]]:
    out: list[tuple[str, dict[str, str], str]] = []
    for cpu in range(4):
        for mode in ("user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"):
            out.append(("node_cpu_seconds_total", {"cpu": str(cpu), "mode": mode}, "counter"))
        out.append(("node_cpu_scaling_frequency_hertz", {"cpu": str(cpu)}, "gauge"))
        out.append(("node_cpu_frequency_max_hertz", {"cpu": str(cpu)}, "gauge"))
    for m in ("MemTotal", "MemAvailable", "Cached", "Buffers", "SwapTotal", "SwapFree"):
        out.append((f"node_memory_{m}_bytes", {}, "gauge"))
    fs = {"mountpoint": "/", "device": "/dev/root", "fstype": "ext4"}
    out += [
        ("node_filesystem_size_bytes", fs, "gauge"),
        ("node_filesystem_avail_bytes", fs, "gauge"),
    ]
    for d in ("nvme0n1", "mmcblk0"):
        out += [
            ("node_disk_read_bytes_total", {"device": d}, "counter"),
            ("node_disk_written_bytes_total", {"device": d}, "counter"),
        ]
    for m in (
        "read_latency_seconds",
        "write_latency_seconds",
        "reads_per_second",
        "writes_per_second",
        "queue_depth",
    ):
        out.append((f"microrack_disk_{m}", {"device": "nvme0n1"}, "gauge"))
    out += [
        ("node_network_receive_bytes_total", {"device": "eth0"}, "counter"),
        ("node_network_transmit_bytes_total", {"device": "eth0"}, "counter"),
        *SENSORS,
        ("microrack_throttle_limit_celsius", {"kind": "soft"}, "gauge"),
        ("microrack_throttle_limit_celsius", {"kind": "hard"}, "gauge"),
        *FAN_AND_POWER,
    ]
    for flag in ("under_voltage", "freq_capped", "throttled", "soft_temp_limit"):
        out.append(("microrack_throttled", {"flag": flag, "when": "now"}, "gauge"))
    return out


def _value(name: str, labels: dict[str, str], i: int, node: int) -> float:
    t = i * STEP
    if name == "node_cpu_seconds_total":
        share = {"idle": 0.6, "user": 0.25, "system": 0.08, "iowait": 0.04}.get(
            labels["mode"], 0.01
        )
        return share * t
    if name.endswith("_bytes_total"):
        return 1e5 * t * (1 + node % 3)
    if "temp" in name and "crit" not in name:
        return 45 + 10 * ((i + node) % 60) / 60
    if name == "microrack_throttled":
        return 1.0 if labels["flag"] == "under_voltage" and (i + node) % 240 < 5 else 0.0
    table = {
        "node_cpu_scaling_frequency_hertz": 2.4e9,
        "node_cpu_frequency_max_hertz": 2.4e9,
        "node_memory_MemTotal_bytes": 8e9,
        "node_memory_MemAvailable_bytes": 5e9,
        "node_memory_Cached_bytes": 2e9,
        "node_memory_Buffers_bytes": 1e8,
        "node_memory_SwapTotal_bytes": 0.0,
        "node_memory_SwapFree_bytes": 0.0,
        "node_filesystem_size_bytes": 64e9,
        "node_filesystem_avail_bytes": 40e9,
        "node_hwmon_temp_crit_celsius": 85.0,
        "node_hwmon_chip_names": 1.0,
        "microrack_fan_rpm": 3000.0,
        "microrack_fan_duty_ratio": 0.5,
        "microrack_power_watts": 5.0 + node % 4,
    }
    if name == "microrack_throttle_limit_celsius":
        return 80.0 if labels["kind"] == "soft" else 85.0
    return table.get(name, 0.001 * (1 + i % 7))


def write_history(db: Path, nodes: int, hours: float, first_port: int) -> tuple[int, int]:
    """The history, under the names and addresses the live stand-ins will have (the hub
    pins a node's name to the address it was first seen at)."""
    store = Store(db, Retention(chunk_seconds=3600))
    wire = _series()
    n = int(hours * 3600 / STEP)
    start = time.time() - n * STEP
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(
            f"history: {nodes} nodes x {len(wire)} series x {n} samples", total=nodes
        )
        for node in range(nodes):
            samples = [
                (i + 1, start + i * STEP, [_value(m, lab, i, node) for m, lab, _ in wire])
                for i in range(n)
            ]
            store.write(
                [
                    Batch(
                        f"rack-{node:03d}",
                        "rpi-5",
                        "127.0.0.1",
                        first_port + node,
                        "history",
                        STEP,
                        n,
                        wire,
                        samples,
                    )
                ]
            )
            store.close_heads(force=True)
            bar.advance(task)
    store.close()
    return len(wire), n


class Meter:
    """Bytes of every finished response of a page (the event stream is counted apart)."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        self.requests = 0
        page.on("requestfinished", self._done)

    def _done(self, request: Any) -> None:
        if "/api/v1/events" in request.url:
            return
        try:
            sizes = request.sizes()
        except Exception:  # the page closed while the request finished
            return
        self.bytes += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        self.requests += 1


# the overview shows a card per node up to 12 nodes, a table row per node above that
OVERVIEW_READY = (
    "(n) => (document.querySelectorAll('#nodetable tbody tr').length === n"
    " || document.querySelectorAll('#cards .card').length === n)"
    " && (document.getElementById('cl-power').data || []).length === n"
    " && (document.getElementById('cl-temp').data || []).length === n"
)
# the page shows numbers: the table's rows or a node's header with its status
FIRST_PAINT = (
    "() => document.querySelectorAll('#nodetable tbody tr, .card').length > 0"
    " || document.getElementById('nv-status').textContent.length > 0"
)
NODE_READY = (
    "(ids) => ids.every(id => { const d = document.getElementById(id).data;"
    " return d && d.some(t => (t.y || []).length > 0); })"
)


def load_once(browser: Any, url: str, ready: str, arg: Any) -> dict[str, float]:
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = ctx.new_page()
    meter = Meter(page)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(FIRST_PAINT, timeout=180000, polling=50)
    first = time.perf_counter() - t0
    page.wait_for_function(ready, arg=arg, timeout=180000, polling=50)
    elapsed = time.perf_counter() - t0
    ctx.close()
    return {"first": first, "seconds": elapsed, "bytes": meter.bytes, "requests": meter.requests}


def phase_load(browser: Any, base: str, nodes: int, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cases = {
        "overview": (f"{base}/#overview", OVERVIEW_READY, nodes),
        "node_page": (f"{base}/#node=rack-000", NODE_READY, CHARTS),
    }
    # the 24 h range is the one that fits the data present: the page picks it itself
    for name, (url, ready, arg) in cases.items():
        got = [load_once(browser, url, ready, arg) for _ in range(runs)]
        out[name] = {
            "seconds_p50": statistics.median(g["seconds"] for g in got),
            "first_numbers_p50": statistics.median(g["first"] for g in got),
            "bytes": statistics.median(g["bytes"] for g in got),
            "requests": statistics.median(g["requests"] for g in got),
        }
    return out


def phase_live(
    browser: Any, base: str, pid: int, seconds: float, nodes: int
) -> list[dict[str, Any]]:
    rows = []
    for where, url in (("overview", f"{base}/#overview"), ("node page", f"{base}/#node=rack-000")):
        for k in (0, 1, 3):
            ctxs, pages = [], []
            for _ in range(k):
                ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
                page = ctx.new_page()
                page.goto(url)
                if where == "overview":
                    page.wait_for_function(OVERVIEW_READY, arg=nodes, timeout=180000)
                else:
                    page.wait_for_function(NODE_READY, arg=CHARTS, timeout=180000)
                ctxs.append(ctx)
                pages.append(page)
            c0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = cpu_seconds(pid), time.monotonic()
            rows.append({"where": where, "browsers": k, "hub_cpu_pct": (c1 - c0) / (t1 - t0) * 100})
            for ctx in ctxs:
                ctx.close()
    base_cpu = {r["where"]: r["hub_cpu_pct"] for r in rows if r["browsers"] == 0}
    for r in rows:
        r["per_browser_pct"] = (
            (r["hub_cpu_pct"] - base_cpu[r["where"]]) / r["browsers"] if r["browsers"] else None
        )
    return rows


def stream_bytes(base: str, seconds: float) -> float:
    """Bytes per second of the event stream to one client (read raw, as a browser would)."""
    import http.client
    from urllib.parse import urlparse

    u = urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", "/api/v1/events")
    r = conn.getresponse()
    total, t0 = 0, time.monotonic()
    with contextlib.suppress(TimeoutError):  # no event for 10 s counts as what came
        while time.monotonic() - t0 < seconds:
            chunk = r.read1(65536)
            if not chunk:
                break
            total += len(chunk)
    conn.close()
    return total / (time.monotonic() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"nodes": a.nodes, "hours": a.hours}
    with tempfile.TemporaryDirectory(prefix="mr-dash-") as tmp_s:
        tmp = Path(tmp_s)
        db = tmp / "hub.db"
        t0 = time.perf_counter()
        first = free_block(a.nodes)
        nseries, nsamples = write_history(db, a.nodes, a.hours, first)
        result.update(
            series_per_node=nseries,
            samples_per_series=nsamples,
            history_write_seconds=time.perf_counter() - t0,
        )
        standin = standin_command(first, name="rack", count=a.nodes, interval=1.0, series=20)
        port = free_port()
        targets = [f"127.0.0.1:{first + i}" for i in range(a.nodes)]
        hub = hub_command(db, port, targets, "--price-kwh", "0.30", "--currency", "EUR")
        base = f"http://127.0.0.1:{port}"
        with (
            process(standin, tmp / "standin.log", first + a.nodes - 1),
            process(hub, tmp / "hub.log", port) as hub_proc,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                time.sleep(5)  # every agent pulled once
                with console.status("load: overview and node page, cold browser"):
                    result["load"] = phase_load(browser, base, a.nodes, a.runs)
                console.print_json(data=result["load"])
                nodes_up = json.loads(urllib.request.urlopen(f"{base}/api/v1/nodes").read())
                up = sum(1 for n in nodes_up["nodes"] if n["status"] == "up")
                if up < a.nodes:
                    raise RuntimeError(f"only {up} of {a.nodes} stand-ins are up: see {tmp}")
                with console.status("live: hub CPU with 0, 1 and 3 browsers"):
                    result["live"] = phase_live(browser, base, hub_proc.pid, a.seconds, a.nodes)
                result["event_stream_bytes_per_second"] = stream_bytes(base, min(10.0, a.seconds))
            finally:
                browser.close()
    if a.json:
        print(json.dumps(result, indent=2))
        return 0
    t = Table(
        title=f"dashboard: {a.nodes} nodes, {a.hours:g} h of data "
        f"({result['series_per_node']} series x {result['samples_per_series']} samples a node)"
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    for page, r in result["load"].items():
        t.add_row(
            f"{page}: first numbers on screen, s (p50 of {a.runs})", f"{r['first_numbers_p50']:.2f}"
        )
        t.add_row(f"{page}: first full paint, s (p50 of {a.runs})", f"{r['seconds_p50']:.2f}")
        t.add_row(
            f"{page}: bytes transferred",
            f"{r['bytes'] / 1e6:.2f} MB in {r['requests']:.0f} requests",
        )
    for r in result["live"]:
        extra = (
            "" if r["per_browser_pct"] is None else f" ({r['per_browser_pct']:+.1f} per browser)"
        )
        t.add_row(
            f"live, {r['where']}: hub CPU % with {r['browsers']} browsers",
            f"{r['hub_cpu_pct']:.1f}{extra}",
        )
    t.add_row(
        "event stream to one browser, bytes/s", f"{result['event_stream_bytes_per_second']:,.0f}"
    )
    Console().print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
