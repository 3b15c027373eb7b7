#!/usr/bin/env python3
"""The agent's cgroup collector on a node with many containers, beside node_exporter.

Builds a cgroup v2 tree (tmpfs) of a k3s node with N pods of one container each
(plus their sandboxes, QoS slices and services) in the kernel's file formats,
and measures in one run:

* the cgroup collector's CPU per collection, rendered to the text format as
  the agent serves it (``time.process_time`` over repeated collections), and
  the series it emits;
* the peak RSS of a process that imports the agent and runs the collector
  (``VmHWM``);
* the whole agent (``microrack agent --root`` over that tree, with this host's
  /proc and /sys linked in beside the synthetic /sys/fs/cgroup, every default
  collector on) collecting once a second and scraped after each collection:
  CPU per collection-and-scrape and peak RSS (``VmHWM``) — the figure the 40 MB
  budget is about;
* node_exporter's CPU per scrape with its default collectors on this host,
  the cost the agent is held to, as the ratio cgroup-collector / node_exporter.

``--workload busy`` (the default) moves every container's counters (cpu.stat,
memory.current, memory.stat, io.stat, PSI) on between collections, as running
containers do; ``idle`` leaves the tree as built, so that every value repeats.

cAdvisor is not packaged for Debian, so its per-container cost is not run here:
the CPU budget printed is node_exporter's measured scrape plus the per-container
cost google/cadvisor#2523 reports, quoted (see ``CADVISOR_CPU_PER_CONTAINER_READ_S``).

Usage: ``python benchmarks/agent_cgroups.py [--pods 200] [--rounds 50] [--agent-seconds 30]
[--workload busy|idle] [--json]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "agent"))
sys.path.insert(0, str(HERE))

import cgroup_trees as T  # noqa: E402
from agent_vs_node_exporter import (  # noqa: E402
    agent_seq,
    cpu_seconds,
    free_port,
    start,
    vm_hwm_mb,
)

# Moves every container's counters on (cpu.stat, memory, io.stat, PSI) as a running
# container's do between two collections; shared by the collector's process and the thread
# that does it for the whole agent, and never timed.
CHURN = r"""
import os, re
_NUM = {
    "cpu.stat": re.compile(r"(?m)(?<= )\d+$"),
    "memory.stat": re.compile(r"(?m)(?<= )\d+$"),
    "memory.current": re.compile(r"^\d+"),
    "io.stat": re.compile(r"(?<=bytes=)\d+|(?<=ios=)\d+"),
    "cpu.pressure": re.compile(r"(?<=total=)\d+"),
    "memory.pressure": re.compile(r"(?<=total=)\d+"),
    "io.pressure": re.compile(r"(?<=total=)\d+"),
}
def container_dirs(root):
    top = os.path.join(root, "sys/fs/cgroup")
    return [d for d, _, _ in os.walk(top) if d.endswith("a.scope")]  # not the sandboxes
def churn(dirs, step):
    bump = lambda m: str(int(m.group()) + step)
    for d in dirs:
        for name, pattern in _NUM.items():
            path = d + "/" + name
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(pattern.sub(bump, text))
"""

CHILD = (
    CHURN
    + """
import sys, time
from microrack.agent import steady_heap
from microrack.agent._collectors.cgroup import CGROUP_HELP, CgroupCollector
from microrack.agent._families import PointSink
from microrack.exposition import render_bytes
from microrack.sensors import LocalFS
steady_heap()  # as the agent does
col = CgroupCollector(LocalFS(sys.argv[1]))
keys = {}
rounds, busy = int(sys.argv[2]), sys.argv[3] == "busy"
dirs = container_dirs(sys.argv[1]) if busy else []
sink = PointSink(keys); col.collect(sink); render_bytes(sink.points, CGROUP_HELP)  # warm
cpu = 0.0
for i in range(rounds):
    if busy:
        churn(dirs, 1000 + i)  # not timed: the kernel's side
    t0 = time.process_time()
    sink = PointSink(keys)
    col.collect(sink)
    text = None  # the previous answer goes before the next is built, as in the agent
    text = render_bytes(sink.points, CGROUP_HELP)
    cpu += time.process_time() - t0
cpu /= rounds
hwm = 0.0
for line in open('/proc/self/status'):
    if line.startswith('VmHWM:'):
        hwm = int(line.split()[1]) / 1024
print(cpu, len(sink.points), len(text), hwm)
"""
)


def build(root: Path, pods: int) -> None:
    (root / "sys/fs/cgroup").mkdir(parents=True)
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    T.v2_cgroup(root, "/", T.Usage(procs=(1,)))
    T.v2_cgroup(root, "/system.slice", T.Usage(procs=()))
    for svc in ("k3s", "ssh", "systemd-journald", "containerd", "microrack-agent"):
        T.v2_cgroup(root, f"/system.slice/{svc}.service", T.Usage())
    T.v2_cgroup(root, "/kubepods.slice", T.Usage(procs=()))
    qos_dirs = {
        "burstable": "/kubepods.slice/kubepods-burstable.slice",
        "besteffort": "/kubepods.slice/kubepods-besteffort.slice",
        "guaranteed": "/kubepods.slice",
    }
    for d in qos_dirs.values():
        T.v2_cgroup(root, d, T.Usage(procs=()))
    for i in range(pods):
        qos = ("burstable", "besteffort", "guaranteed")[i % 3]
        uid = f"{i:08x}-0000-4000-8000-{i:012x}"
        prefix = "kubepods" if qos == "guaranteed" else f"kubepods-{qos}"
        pod = f"{qos_dirs[qos]}/{prefix}-pod{uid.replace('-', '_')}.slice"
        T.v2_cgroup(root, pod, T.Usage(procs=()))
        cid, sid = f"{i:063x}a", f"{i:063x}b"
        T.v2_cgroup(root, f"{pod}/cri-containerd-{cid}.scope", T.WEB)
        T.v2_cgroup(root, f"{pod}/cri-containerd-{sid}.scope", T.Usage(procs=(2,)))
        T.containerd_state(
            root, cid, T.cri_annotations(f"app-{i}", "default", uid, "app", "example/app:1")
        )
        T.containerd_state(root, sid, T.sandbox_annotations(f"app-{i}", "default", uid))
    T.block_device(root, "259:0", "nvme0n1")


def node_exporter_cpu_per_scrape(rounds: int, tmp: Path) -> float | None:
    exe = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if exe is None:
        return None
    port = free_port()
    with start([exe, f"--web.listen-address=127.0.0.1:{port}"], port, tmp / "ne.log") as proc:
        url = f"http://127.0.0.1:{port}/metrics"
        urllib.request.urlopen(url, timeout=30).read()
        c0 = cpu_seconds(proc.pid)
        for _ in range(rounds):
            urllib.request.urlopen(url, timeout=30).read()
        return (cpu_seconds(proc.pid) - c0) / rounds


def link_host(root: Path) -> None:
    """This host's /proc and /sys (but its cgroups) under ``root``, for the whole agent."""
    (root / "proc").symlink_to("/proc")
    for entry in Path("/sys").iterdir():
        if entry.name != "fs" and not (root / "sys" / entry.name).exists():
            (root / "sys" / entry.name).symlink_to(entry)
    for name in ("etc",):
        (root / name).symlink_to("/" + name)


class Churner:
    """A thread of this process moving every container's counters on once a second."""

    def __init__(self, root: Path) -> None:
        ns: dict[str, object] = {}
        exec(CHURN, ns)  # the module's own code, shared with the child
        self._churn = ns["churn"]
        self._dirs = ns["container_dirs"](str(root))  # type: ignore[operator]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        step = 1_000_000
        while not self._stop.wait(1.0):
            step += 1
            self._churn(self._dirs, step)  # type: ignore[operator]

    def __enter__(self) -> Churner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def whole_agent(
    root: Path, seconds: float, tmp: Path, busy: bool, *, interval: float = 1.0, rows: int = 0
) -> dict[str, float]:
    """The agent over ``root``, its /metrics read after each collection.

    ``rows`` > 0: run until the agent's ring holds that many rows (its ``--buffer``), whatever
    ``seconds`` says, so that the peak includes the hour of samples it keeps for the hub.
    """
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "microrack",
        "agent",
        "--root",
        str(root),
        "--listen",
        f"127.0.0.1:{port}",
        "--interval",
        str(interval),
    ]
    if rows:
        argv += ["--buffer", str(rows)]
    with (
        start(argv, port, tmp / "agent.log") as proc,
        Churner(root) if busy else contextlib.nullcontext(),
    ):
        url = f"http://127.0.0.1:{port}/metrics"
        seq = agent_seq(port)
        while agent_seq(port) == seq:
            time.sleep(0.05)
        s0, c0, t0 = agent_seq(port), cpu_seconds(proc.pid), time.monotonic()
        last, size = s0, 0
        while (agent_seq(port) <= rows + 2) if rows else (time.monotonic() - t0 < seconds):
            now = agent_seq(port)
            if now != last:
                size = len(urllib.request.urlopen(url, timeout=30).read())
                last = now
            time.sleep(0.1)
        s1, c1 = agent_seq(port), cpu_seconds(proc.pid)
        return {
            "agent_cpu_seconds_per_collection": (c1 - c0) / max(1, s1 - s0),
            "agent_collections": s1 - s0,
            "agent_metrics_bytes": size,
            "agent_peak_rss_mb": vm_hwm_mb(proc.pid),
            "agent_ring_rows": min(rows, s1) if rows else s1,
        }


# cAdvisor is not run here (not packaged for Debian; its release binary cannot be fetched),
# so its side is a published figure, not a measurement: google/cadvisor#2523, cAdvisor at its
# default 1 s housekeeping with -docker_only --disable_metrics disk,tcp,udp, 29 containers,
# dual-core Celeron G1610, Prometheus scraping every 15 s: "an average of 7%" of a core
# (15 % when scraped every 5 s, "~3%" at --housekeeping_interval 10s). That is 70 ms of CPU
# per second for 29 containers each read once a second: about 2.4 ms per container per read.
# (google/cadvisor#1774, v0.24.1 with 4 containers on 2 cores, "usually sitting at around
# 60-80%", is a pathology of that kernel's dentry cache, not a per-container cost.)
CADVISOR_CPU_PER_CONTAINER_READ_S = 0.07 / 29


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument(
        "--agent-seconds",
        type=float,
        default=30.0,
        help="how long the whole agent runs (0: not run)",
    )
    ap.add_argument(
        "--workload",
        choices=("busy", "idle"),
        default="busy",
        help="busy: every container's counters move between collections; "
        "idle: the tree stays as built",
    )
    ap.add_argument(
        "--full-ring",
        type=int,
        default=0,
        metavar="ROWS",
        help="instead of --agent-seconds: run the whole agent (collecting every "
        "0.25 s) until its ring holds ROWS rows (720: the default hour at 5 s)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=base) as d:
        tmp = Path(d)
        root = tmp / "root"
        build(root, args.pods)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), str(args.rounds), args.workload],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        cpu, points, size, hwm = float(out[0]), int(out[1]), int(out[2]), float(out[3])
        agent: dict[str, float] = {}
        if args.agent_seconds > 0 or args.full_ring:
            link_host(root)
            agent = whole_agent(
                root,
                args.agent_seconds,
                tmp,
                args.workload == "busy",
                interval=0.25 if args.full_ring else 1.0,
                rows=args.full_ring,
            )
        ne = node_exporter_cpu_per_scrape(args.rounds, tmp)
    containers = args.pods * 2  # what cAdvisor -docker_only tracks: the sandboxes too
    budget = None if not ne else ne + containers * CADVISOR_CPU_PER_CONTAINER_READ_S
    result = {
        "pods": args.pods,
        "containers": containers,
        "workload": args.workload,
        "cgroup_cpu_seconds_per_collection": cpu,
        "cgroup_series": points,
        "cgroup_text_bytes": size,
        "peak_rss_mb": hwm,
        "node_exporter_cpu_seconds_per_scrape": ne,
        "ratio_cgroup_to_node_exporter": None if not ne else cpu / ne,
        "cadvisor_quoted_cpu_seconds_per_container_read": CADVISOR_CPU_PER_CONTAINER_READ_S,
        "cpu_budget_seconds_per_collection": budget,
        **agent,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{args.pods} pods ({containers} containers with sandboxes), cgroup v2, "
        f"{args.workload} workload, {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"  cgroup collector: {cpu * 1e3:.1f} ms CPU per collection (rendered), "
        f"{points} series, {size / 1024:.0f} KiB of text"
    )
    print(f"  peak RSS of a process running it: {hwm:.1f} MB")
    if agent:
        print(
            f"  whole agent (every default collector, "
            f"{'0.25 s' if args.full_ring else '1 s'} interval, /metrics read after each of "
            f"{agent['agent_collections']:.0f} collections, {agent['agent_ring_rows']:.0f} rows "
            f"in its ring): "
            f"{agent['agent_cpu_seconds_per_collection'] * 1e3:.1f} ms CPU per collection, "
            f"peak RSS {agent['agent_peak_rss_mb']:.1f} MB (budget 40 MB), "
            f"{agent['agent_metrics_bytes'] / 1024:.0f} KiB /metrics"
        )
    if ne:
        print(f"  node_exporter defaults on this host: {ne * 1e3:.1f} ms CPU per scrape")
        print(f"  ratio cgroup collector / node_exporter scrape: {cpu / ne:.2f}x")
    else:
        print("  node_exporter not installed: no ratio")
    per = CADVISOR_CPU_PER_CONTAINER_READ_S
    print(
        f"  cAdvisor (quoted, not run: google/cadvisor#2523, 7 % of a core for 29 containers "
        f"at 1 s housekeeping): {per * 1e3:.1f} ms per container per read"
    )
    if budget is not None and agent:
        used = agent["agent_cpu_seconds_per_collection"]
        print(
            f"  CPU budget, node_exporter measured + {containers} containers x cAdvisor quoted: "
            f"{budget * 1e3:.0f} ms per collection; whole agent {used * 1e3:.1f} ms "
            f"({used / budget:.2f}x of it)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
