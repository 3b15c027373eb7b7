#!/usr/bin/env python3
"""microrack agent vs Prometheus node_exporter, side by side on loopback.

Both read this machine's /proc and /sys with the same collectors enabled
(equal coverage: every node_exporter collector the agent has, on both, with
the same device filters; ``--ne-defaults`` runs node_exporter with all of its
defaults instead).  Measured, with ratios agent / node_exporter:

* median and p90 scrape latency of ``/metrics``, scraped alternately;
* CPU seconds per collection (from ``/proc/PID/stat``).  node_exporter collects,
  renders and serves on every scrape; the agent collects on its interval and
  renders the text once per collection for the scrapes that follow, so its
  cost per collection is measured at a fast interval while being scraped a
  little more often than it collects (each collection rendered and served at
  least once), with node_exporter scraped in the same loop so that both are
  measured under the same load; its cost per cached scrape separately;
* peak RSS (``VmHWM``);
* idle CPU at the default 5 s interval, left alone, in % of one core (from the
  scheduler's per-thread nanoseconds, ``/proc/PID/task/*/schedstat``), and that of
  an agent that does not collect in that time (serving and waiting alone).

Usage: ``python benchmarks/agent_vs_node_exporter.py [--scrapes 300] [--idle 60] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# node_exporter's collectors the agent has (the agent's throttled collector is left out)
COLLECTORS = [
    "cpu",
    "stat",
    "loadavg",
    "uname",
    "filefd",
    "time",
    "timex",
    "cpufreq",
    "meminfo",
    "vmstat",
    "pressure",
    "entropy",
    "os",
    "filesystem",
    "diskstats",
    "netdev",
    "netclass",
    "netstat",
    "sockstat",
    "softnet",
    "conntrack",
    "arp",
    "udp_queues",
    "thermal_zone",
    "hwmon",
    "textfile",
]
# the agent's one default Debian's 1.5 package lacks (zram), given to both
DISK_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


@contextmanager
def start(argv: list[str], port: int, log: Path):
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_port(port, proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` with its ended threads (utime+stime, in 10 ms ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_ns(pid: int) -> dict[str, int]:
    """The scheduler's CPU nanoseconds of each live thread of ``pid`` (empty without schedstat)."""
    out: dict[str, int] = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return out


class IdleMeter:
    """CPU of a process left alone: ns per thread if no thread came or went, else ticks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.ns0, self.ticks0 = thread_ns(pid), cpu_seconds(pid)

    def seconds(self) -> tuple[float, str]:
        ns1 = thread_ns(self.pid)
        if ns1 and ns1.keys() == self.ns0.keys():
            return sum(ns1[t] - self.ns0[t] for t in ns1) / 1e9, "ns"
        return cpu_seconds(self.pid) - self.ticks0, "10 ms ticks"


def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def scrape(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        r.read()
    return time.perf_counter() - t


def series_count(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def agent_seq(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
        return int(json.load(r)["seq"])


def progress(total: int, label: str):
    """A rich progress bar when rich is installed, else nothing."""
    try:
        from rich.console import Console
        from rich.progress import Progress
    except ImportError:

        class _Null:
            def advance(self, n: int = 1) -> None: ...
            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False

        return _Null()

    class _Bar:
        def __enter__(self):
            self.p = Progress(transient=True, console=Console(stderr=True))
            self.p.__enter__()
            self.t = self.p.add_task(label, total=total)
            return self

        def advance(self, n: int = 1) -> None:
            self.p.advance(self.t, n)

        def __exit__(self, *a):
            return self.p.__exit__(*a)

    return _Bar()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=300, help="scrapes of each, alternating")
    ap.add_argument(
        "--collect-seconds",
        type=float,
        default=40.0,
        help="how long the agent runs at --fast-interval to measure CPU/collection "
        "(long enough to fill its 720-sample ring)",
    )
    ap.add_argument("--fast-interval", type=float, default=0.05)
    ap.add_argument("--idle", type=float, default=60.0, help="seconds left alone at 5 s interval")
    ap.add_argument("--ne-defaults", action="store_true", help="node_exporter with all defaults")
    ap.add_argument("--board", help="pass --board to the agent (loads the catalog: power estimate)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    ne = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if ne is None:
        print("node_exporter not found (Debian: prometheus-node-exporter)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="mr-bench-"))
    ne_port, ag_port, fast_port, quiet_port = free_port(), free_port(), free_port(), free_port()
    ne_argv = [ne, f"--web.listen-address=127.0.0.1:{ne_port}"]
    agent = [sys.executable, "-m", "microrack", "agent"]
    if not args.ne_defaults:
        ne_argv += [
            "--collector.disable-defaults",
            *(f"--collector.{c}" for c in COLLECTORS),
            f"--collector.diskstats.device-exclude={DISK_EXCLUDE}",
        ]
        agent += ["--collector.disable-defaults", *(f"--collector.{c}" for c in COLLECTORS)]
    if args.board:
        agent += ["--board", args.board]
    res: dict[str, float] = {}
    with ExitStack() as stack:
        nep = stack.enter_context(start(ne_argv, ne_port, tmp / "ne.log"))
        agp = stack.enter_context(
            start([*agent, "--listen", f"127.0.0.1:{ag_port}"], ag_port, tmp / "agent.log")
        )
        ne_url, ag_url = (
            f"http://127.0.0.1:{ne_port}/metrics",
            f"http://127.0.0.1:{ag_port}/metrics",
        )
        scrape(ne_url), scrape(ag_url)  # warm up
        lat_ne: list[float] = []
        lat_ag: list[float] = []
        c_ne, c_ag = cpu_seconds(nep.pid), cpu_seconds(agp.pid)
        with progress(args.scrapes, "scraping both, alternately") as bar:
            for _ in range(args.scrapes):
                lat_ne.append(scrape(ne_url))
                lat_ag.append(scrape(ag_url))
                bar.advance()
        res["ne_cpu_per_collection_s"] = (cpu_seconds(nep.pid) - c_ne) / args.scrapes
        res["agent_cpu_per_scrape_s"] = (cpu_seconds(agp.pid) - c_ag) / args.scrapes
        res["ne_scrape_median_ms"] = statistics.median(lat_ne) * 1e3
        res["agent_scrape_median_ms"] = statistics.median(lat_ag) * 1e3
        res["ne_scrape_p90_ms"] = statistics.quantiles(lat_ne, n=10)[-1] * 1e3
        res["agent_scrape_p90_ms"] = statistics.quantiles(lat_ag, n=10)[-1] * 1e3
        ne_body = urllib.request.urlopen(ne_url).read()
        ag_body = urllib.request.urlopen(ag_url).read()
        res["ne_metrics_bytes"], res["agent_metrics_bytes"] = len(ne_body), len(ag_body)
        res["ne_series"], res["agent_series"] = series_count(ne_body), series_count(ag_body)

        # idle: both left alone; the agent collects every 5 s (its default).  Beside them an
        # agent that never collects in that time: what serving and waiting alone cost
        quiet = stack.enter_context(
            start(
                [*agent, "--listen", f"127.0.0.1:{quiet_port}", "--interval", "100000"],
                quiet_port,
                tmp / "agent-quiet.log",
            )
        )
        time.sleep(1)
        meters = {k: IdleMeter(p.pid) for k, p in (("ne", nep), ("agent", agp), ("quiet", quiet))}
        t0 = time.monotonic()
        with progress(int(args.idle), f"idle for {args.idle:g} s") as bar:
            while time.monotonic() - t0 < args.idle:
                time.sleep(1)
                bar.advance()
        span = time.monotonic() - t0
        idle = {k: m.seconds() for k, m in meters.items()}
        res["agent_idle_cpu_pct"] = idle["agent"][0] / span * 100
        res["ne_idle_cpu_pct"] = idle["ne"][0] / span * 100
        res["agent_no_collection_idle_cpu_pct"] = idle["quiet"][0] / span * 100
        res["idle_in_ns"] = float(all(u == "ns" for _, u in idle.values()))
        res["agent_idle_cpu_per_collection_s"] = idle["agent"][0] / (span / 5.0)
        res["ne_peak_rss_mb"] = vm_hwm_mb(nep.pid)
        res["agent_peak_rss_mb"] = vm_hwm_mb(agp.pid)

        # the agent's own cost per collection: a fast interval, scraped a little more often
        # than it collects, so that every collection is also rendered to text and served
        # once, as node_exporter's is on each of its scrapes (a fair per-collection figure)
        fast_argv = [
            *agent,
            "--listen",
            f"127.0.0.1:{fast_port}",
            "--interval",
            str(args.fast_interval),
        ]
        fast = stack.enter_context(start(fast_argv, fast_port, tmp / "agent-fast.log"))
        fast_url = f"http://127.0.0.1:{fast_port}/metrics"
        time.sleep(1)
        # node_exporter is scraped in the same loop, once per round: both are measured under
        # the same load of this machine (the phases before ran minutes earlier)
        s0, f0, t0 = agent_seq(fast_port), cpu_seconds(fast.pid), time.monotonic()
        n0 = cpu_seconds(nep.pid)
        fast_scrapes = 0
        while time.monotonic() - t0 < args.collect_seconds:
            scrape(fast_url)
            scrape(ne_url)
            fast_scrapes += 1
            time.sleep(args.fast_interval * 0.6)
        s1, f1, n1 = agent_seq(fast_port), cpu_seconds(fast.pid), cpu_seconds(nep.pid)
        res["ne_cpu_per_scrape_alternating_s"] = res["ne_cpu_per_collection_s"]
        res["ne_cpu_per_collection_s"] = (n1 - n0) / fast_scrapes
        res["agent_cpu_per_collection_s"] = (f1 - f0) / max(1, s1 - s0)
        res["agent_fast_collections"] = s1 - s0
        res["agent_fast_scrapes"] = fast_scrapes
        # a hub backfilling after a partition: the whole ring, three times
        pulls = [scrape(f"http://127.0.0.1:{fast_port}/api/v1/samples?since=0") for _ in range(3)]
        res["agent_full_ring_pull_ms"] = statistics.median(pulls) * 1e3
        res["agent_full_ring_samples"] = s1
        res["agent_full_ring_peak_rss_mb"] = vm_hwm_mb(fast.pid)

    res["ratio_scrape_latency"] = res["agent_scrape_median_ms"] / res["ne_scrape_median_ms"]
    res["ratio_cpu_per_collection"] = (
        res["agent_cpu_per_collection_s"] / res["ne_cpu_per_collection_s"]
    )
    res["ratio_peak_rss"] = res["agent_peak_rss_mb"] / res["ne_peak_rss_mb"]
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    rows = [
        ("median scrape latency (ms)", "ne_scrape_median_ms", "agent_scrape_median_ms", "%.2f"),
        ("p90 scrape latency (ms)", "ne_scrape_p90_ms", "agent_scrape_p90_ms", "%.2f"),
        (
            "CPU per collection (ms)",
            "ne_cpu_per_collection_s",
            "agent_cpu_per_collection_s",
            "x1e3",
        ),
        ("peak RSS (MB)", "ne_peak_rss_mb", "agent_peak_rss_mb", "%.1f"),
        ("idle CPU (% of one core)", "ne_idle_cpu_pct", "agent_idle_cpu_pct", "%.4f"),
        ("/metrics size (bytes)", "ne_metrics_bytes", "agent_metrics_bytes", "%d"),
        ("series", "ne_series", "agent_series", "%d"),
    ]
    print(f"{'':28} {'node_exporter':>14} {'agent':>10} {'ratio':>7}")
    for label, a, b, fmt in rows:
        va, vb = res[a], res[b]
        if fmt == "x1e3":
            sa, sb = f"{va * 1e3:.2f}", f"{vb * 1e3:.2f}"
        else:
            sa, sb = fmt % va, fmt % vb
        ratio = vb / va if va else float("nan")
        print(f"{label:28} {sa:>14} {sb:>10} {ratio:7.2f}")
    print(
        "CPU per collection: both measured in one loop (agent collecting every "
        f"{args.fast_interval:g} s, node_exporter scraped once per round); node_exporter per "
        f"scrape in the alternating phase: {res['ne_cpu_per_scrape_alternating_s'] * 1e3:.2f} ms"
    )
    print(
        f"agent CPU per scrape (cached text): {res['agent_cpu_per_scrape_s'] * 1e3:.2f} ms; "
        f"collections measured at {args.fast_interval:g} s: {res['agent_fast_collections']} "
        f"({res['agent_fast_scrapes']} scrapes)"
    )
    print(
        f"agent idle at 5 s: {res['agent_idle_cpu_per_collection_s'] * 1e3:.2f} ms of CPU per "
        f"collection; never collecting: {res['agent_no_collection_idle_cpu_pct']:.4f} % "
        f"(idle measured in {'ns' if res['idle_in_ns'] else '10 ms ticks'})"
    )
    kept = min(720, int(res["agent_full_ring_samples"]))
    print(
        f"agent with {kept} samples in its ring (720 = full): "
        f"peak RSS {res['agent_full_ring_peak_rss_mb']:.1f} MB, "
        f"whole-ring /api/v1/samples pull {res['agent_full_ring_pull_ms']:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
