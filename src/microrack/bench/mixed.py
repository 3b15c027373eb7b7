"""Mixed workload: a task graph of CPU, storage and communication work.

The graph, ``width`` wide::

    cpu-i (xorshift, uneven cost) ─▶ io-i (write, fsync, read back) ─┐
                                                                       ├─▶ shuffle-j ─▶ final
    (every shuffle task takes slice j of every io task: all-to-all)  ─┘

Tasks carry resource annotations (``cpu``, ``io``, ``net``) when every worker
declares them (the embedded cluster does; on a real cluster start workers with
``--resources "cpu=N io=1 net=1"``), otherwise the run says it went without.

The same graph runs twice, with Dask's work stealing on and off (toggled on the
scheduler, then restored), and what the scheduler did is read back from the
task stream: makespan, per-worker utilisation over time, where every task
ran, how long each waited after its inputs were ready, and stragglers.  The
final checksum must be the same both times and equal the one computed without
Dask.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from microrack.bench.engine import BenchCluster
from microrack.bench.measure import WorkloadResult

__all__ = ["MixedParams", "expected_checksum", "run_mixed"]

_KINDS = ("cpu", "io", "shuffle", "final")


@dataclass(slots=True)
class MixedParams:
    width: int = 12
    int_elements: int = 1 << 17
    rounds: int = 24
    reducers: int = 0  # 0: one per worker
    straggler_factor: float = 2.0
    bins: int = 20

    @property
    def chunk_bytes(self) -> int:
        return self.int_elements * 8


def mixed_cpu(i: int, elements: int, rounds: int) -> Any:
    """Integer work whose cost varies by task (every third is three times longer)."""
    import numpy as np

    x = (np.arange(elements, dtype=np.uint64) + np.uint64(i)) * np.uint64(0x9E3779B97F4A7C15)
    x |= np.uint64(1)
    for _ in range(rounds * (3 if i % 3 == 0 else 1)):
        x ^= x << np.uint64(13)
        x ^= x >> np.uint64(7)
        x ^= x << np.uint64(17)
    return x


def mixed_io(directory: str, name: str, arr: Any) -> Any:
    """Write the array to disk, fsync, read it back; the file is always removed."""
    import numpy as np

    path = os.path.join(directory, f".microrack-bench-{name}.dat")
    try:
        with open(path, "wb") as fh:
            fh.write(arr.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        with open(path, "rb") as fh:
            back = np.frombuffer(fh.read(), dtype=arr.dtype)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    if not np.array_equal(back, arr):
        raise OSError(f"{path}: data read back differs from data written")
    return back


def mixed_shuffle(j: int, reducers: int, *arrays: Any) -> int:
    """Slice ``j`` of every input, concatenated: its CRC32."""
    crc = 0
    for arr in arrays:
        n = len(arr)
        part = arr[j * n // reducers : (j + 1) * n // reducers]
        crc = zlib.crc32(part.tobytes(), crc)
    return crc


def mixed_final(*crcs: int) -> int:
    return sum(crcs) & 0xFFFFFFFF


def expected_checksum(params: MixedParams, reducers: int) -> int:
    """The same graph computed without Dask (and without the disk round trip)."""
    arrays = [mixed_cpu(i, params.int_elements, params.rounds) for i in range(params.width)]
    return mixed_final(*(mixed_shuffle(j, reducers, *arrays) for j in range(reducers)))


async def _set_stealing(on: bool, dask_scheduler: Any = None) -> bool | None:
    """Runs on the scheduler: switch work stealing; returns whether it was on before."""
    ext = dask_scheduler.extensions.get("stealing")
    if ext is None:
        return None
    was = "stealing" in dask_scheduler.periodic_callbacks
    if on:
        await ext.start()
    else:
        await ext.stop()
    return was


def _graph(
    bench: BenchCluster,
    params: MixedParams,
    directory: str,
    tag: str,
    reducers: int,
    annotate: bool,
) -> tuple[Any, dict[str, list[str]]]:
    c = bench.client

    def res(kind: str) -> dict[str, Any]:
        return {"resources": {kind: 1}} if annotate else {}

    deps: dict[str, list[str]] = {}
    ios = []
    for i in range(params.width):
        cpu = c.submit(
            mixed_cpu, i, params.int_elements, params.rounds, key=f"cpu-{i}-{tag}", **res("cpu")
        )
        io = c.submit(mixed_io, directory, f"{tag}-{i}", cpu, key=f"io-{i}-{tag}", **res("io"))
        deps[cpu.key], deps[io.key] = [], [cpu.key]
        ios.append(io)
    shuffles = []
    for j in range(reducers):
        s = c.submit(mixed_shuffle, j, reducers, *ios, key=f"shuffle-{j}-{tag}", **res("net"))
        deps[s.key] = [io.key for io in ios]
        shuffles.append(s)
    final = c.submit(mixed_final, *shuffles, key=f"final-{tag}")
    deps[final.key] = [s.key for s in shuffles]
    return final, deps


def _analyse(
    records: list[dict[str, Any]],
    deps: dict[str, list[str]],
    t_submit: float,
    node_of: dict[str, str],
    threads: dict[str, int],
    params: MixedParams,
) -> dict[str, Any]:
    tasks: dict[str, dict[str, Any]] = {}
    for r in records:
        key = str(r["key"])
        if key not in deps:
            continue
        compute = [s for s in r.get("startstops", []) if s["action"] == "compute"]
        if not compute:
            continue
        starts = [s["start"] for s in r["startstops"]]
        tasks[key] = {
            "key": key,
            "kind": key.split("-", 1)[0],
            "node": node_of.get(r["worker"], "?"),
            "first_start": min(starts),
            "start": compute[0]["start"],
            "stop": compute[-1]["stop"],
            "transfer": sum(
                s["stop"] - s["start"] for s in r["startstops"] if s["action"] == "transfer"
            ),
        }
    for key, t in tasks.items():
        ready = max((tasks[d]["stop"] for d in deps[key] if d in tasks), default=t_submit)
        t["queue"] = max(0.0, t["first_start"] - ready)
        t["duration"] = t["stop"] - t["start"]
    t0 = min(t_submit, *(t["first_start"] for t in tasks.values()))
    end = max(t["stop"] for t in tasks.values())
    stragglers = []
    for kind in _KINDS:
        ds = [t["duration"] for t in tasks.values() if t["kind"] == kind]
        if len(ds) >= 3:
            med = statistics.median(ds)
            stragglers += [
                t["key"]
                for t in tasks.values()
                if t["kind"] == kind and t["duration"] > params.straggler_factor * med
            ]
    width = (end - t0) / params.bins
    util: dict[str, list[float]] = {}
    for node, n in threads.items():
        row = []
        for b in range(params.bins):
            lo, hi = t0 + b * width, t0 + (b + 1) * width
            busy = sum(
                max(0.0, min(hi, t["stop"]) - max(lo, t["start"]))
                for t in tasks.values()
                if t["node"] == node
            )
            row.append(busy / (width * n) if width > 0 else 0.0)
        util[node] = row
    return {
        "tasks": tasks,
        "t0": t0,
        "end": end,
        "stragglers": stragglers,
        "utilisation": util,
        "bin_seconds": width,
    }


def run_mixed(
    bench: BenchCluster,
    params: MixedParams,
    directory: str,
    step: Callable[[str], None] = lambda _: None,
) -> WorkloadResult:
    if bench.engine == "ray":
        from microrack.bench.ray_engine import run_mixed_ray

        return run_mixed_ray(bench, params, directory, step)
    from distributed import get_task_stream

    result = WorkloadResult("mixed")
    reducers = params.reducers or len(bench.workers)
    annotate = bench.has_resources()
    node_of = {w.address: w.node for w in bench.workers}
    threads = {w.node: w.nthreads for w in bench.workers}
    before = bench.client.run_on_scheduler(_set_stealing, True)
    runs: dict[str, Any] = {}
    try:
        for mode in ("on", "off"):
            bench.client.run_on_scheduler(_set_stealing, mode == "on")
            tag = f"{mode}-{uuid.uuid4().hex[:8]}"
            with get_task_stream(bench.client) as ts:
                t_submit = time.time()
                t0 = time.perf_counter()
                final, deps = _graph(bench, params, directory, tag, reducers, annotate)
                checksum = final.result()
                makespan = time.perf_counter() - t0
                del final
            analysis = _analyse(ts.data, deps, t_submit, node_of, threads, params)
            runs[mode] = analysis
            report_run(result, mode, makespan, checksum, analysis)
            step(f"stealing {mode}")
    finally:
        if before is not None:
            bench.client.run_on_scheduler(_set_stealing, bool(before))
    result.add(
        "stealing_off_over_on_makespan",
        result.get("makespan", stealing="off").value / result.get("makespan", stealing="on").value,
        "ratio",
    )
    result.add("resource_annotations", annotate, "bool")
    report_details(result, params, reducers, annotate, runs)
    return result


def report_run(
    result: WorkloadResult, mode: str, makespan: float, checksum: int, analysis: dict[str, Any]
) -> None:
    """One run of the graph as measurements labelled ``stealing=mode`` (either engine)."""
    tasks = analysis["tasks"]
    result.add("makespan", makespan, "s", stealing=mode)
    result.add("checksum", checksum, "count", stealing=mode)
    result.add("tasks", len(tasks), "count", stealing=mode)
    result.add("stragglers", len(analysis["stragglers"]), "count", stealing=mode)
    queues = sorted(t["queue"] for t in tasks.values())
    result.add("queue_delay_mean", statistics.fmean(queues), "s", stealing=mode)
    result.add("queue_delay_max", queues[-1], "s", stealing=mode)
    for node, row in analysis["utilisation"].items():
        result.add("utilisation_mean", statistics.fmean(row), "ratio", stealing=mode, node=node)
        for kind in _KINDS:
            result.add(
                "tasks_placed",
                sum(1 for t in tasks.values() if t["node"] == node and t["kind"] == kind),
                "count",
                stealing=mode,
                node=node,
                kind=kind,
            )


def report_details(
    result: WorkloadResult,
    params: MixedParams,
    reducers: int,
    annotate: bool,
    runs: dict[str, dict[str, Any]],
) -> None:
    """Every task's placement and timing, per run, for the JSON and the timeline plot."""
    result.details.update(
        {
            "reducers": reducers,
            "width": params.width,
            "chunk_bytes": params.chunk_bytes,
            "resource_annotations": annotate,
            "runs": {
                mode: {
                    "timeline": [
                        {
                            "key": t["key"],
                            "kind": t["kind"],
                            "node": t["node"],
                            "start": t["start"] - a["t0"],
                            "stop": t["stop"] - a["t0"],
                            "queue": t["queue"],
                            "transfer": t["transfer"],
                        }
                        for t in sorted(a["tasks"].values(), key=lambda t: t["start"])
                    ],
                    "stragglers": a["stragglers"],
                    "utilisation": a["utilisation"],
                    "bin_seconds": a["bin_seconds"],
                }
                for mode, a in runs.items()
            },
        }
    )
