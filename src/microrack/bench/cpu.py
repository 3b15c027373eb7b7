"""CPU workload: integer and floating-point throughput per node.

Integer work is a xorshift64 recurrence over a numpy ``uint64`` array: six
integer operations per element per round, in place, with the GIL released, so
several threads of one worker really run in parallel.  Floating point is a
numpy matrix multiply (2·n³ flops).  Dask's nanny sets ``OMP_NUM_THREADS=1``
for its workers, so one task is one core, as the single-core figure claims.

Each kernel returns a checksum that the caller can recompute locally: a number
that is fast but wrong is not a result.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from microrack.bench.engine import BenchCluster
from microrack.bench.measure import WorkloadResult, format_bytes
from microrack.errors import UsageError

__all__ = ["CpuParams", "float_kernel", "int_kernel", "node_clock", "run_cpu"]

_INT_OPS_PER_ELEMENT_ROUND = 6


@dataclass(frozen=True, slots=True)
class CpuParams:
    int_elements: int = 1 << 20
    int_rounds: int = 64
    matrix: int = 512
    matmuls: int = 8


def memory_needed(params: CpuParams, threads: int) -> dict[str, int]:
    """Bytes a worker holds at once, per argument: the matmul's three n×n float64
    matrices, and two uint64 arrays per integer lane set on each of its threads."""
    return {
        "--matrix": 3 * params.matrix**2 * 8,
        "--cpu-elements": 2 * params.int_elements * 8 * max(1, threads),
    }


def available_memory() -> int | None:
    """Runs on a worker: bytes the kernel could hand out now (MemAvailable), if known."""
    try:
        import psutil  # a dependency of distributed and of ray
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def preflight_cpu(bench: BenchCluster, params: CpuParams) -> None:
    """Before any work: every worker has the memory the chosen sizes need."""
    preflight_memory(bench, lambda w: memory_needed(params, w.nthreads))


def preflight_memory(
    bench: BenchCluster, needs: dict[str, int] | Callable[[Any], dict[str, int]]
) -> None:
    """Every worker has the bytes each argument's size needs, or one line naming it."""
    free = bench.call_everywhere(available_memory)
    for w in bench.workers:
        have = free.get(w.address)
        if have is None:
            continue
        for argument, need in (needs(w) if callable(needs) else needs).items():
            if need > have:
                raise UsageError(
                    argument,
                    f"needs {format_bytes(need)} of memory, "
                    f"{w.node} ({w.address}) has "
                    f"{format_bytes(have)} available",
                )


def int_kernel(elements: int, rounds: int, seed: int) -> dict[str, Any]:
    """xorshift64 over ``elements`` lanes for ``rounds`` rounds; ops and an XOR checksum."""
    import numpy as np

    x = (np.arange(elements, dtype=np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    x |= np.uint64(1)
    tmp = np.empty_like(x)
    s13, s7, s17 = np.uint64(13), np.uint64(7), np.uint64(17)
    t0 = time.perf_counter()
    start = time.time()
    for _ in range(rounds):
        np.left_shift(x, s13, out=tmp)
        np.bitwise_xor(x, tmp, out=x)
        np.right_shift(x, s7, out=tmp)
        np.bitwise_xor(x, tmp, out=x)
        np.left_shift(x, s17, out=tmp)
        np.bitwise_xor(x, tmp, out=x)
    seconds = time.perf_counter() - t0
    return {
        "ops": elements * rounds * _INT_OPS_PER_ELEMENT_ROUND,
        "seconds": seconds,
        "start": start,
        "end": start + seconds,
        "checksum": int(np.bitwise_xor.reduce(x)),
    }


def float_kernel(n: int, repeats: int, seed: int) -> dict[str, Any]:
    """``repeats`` n×n float64 matrix multiplies; flops and the sum of the last product."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a = rng.random((n, n))
    b = rng.random((n, n))
    c = np.empty((n, n))
    t0 = time.perf_counter()
    for _ in range(repeats):
        np.matmul(a, b, out=c)
    seconds = time.perf_counter() - t0
    return {"flops": 2 * n**3 * repeats, "seconds": seconds, "checksum": float(c.sum())}


def node_clock(root: str = "/") -> dict[str, float | None]:
    """The node's highest current CPU clock (Hz) and hottest thermal zone (°C), if exposed.

    ``root`` is where ``/sys`` is found (a hand-built tree in tests).
    """
    from microrack.sensors import LocalFS

    fs = LocalFS(root)
    freq: float | None = None
    with contextlib.suppress(OSError):
        for cpu in fs.listdir("/sys/devices/system/cpu"):
            if cpu.startswith("cpu") and cpu[3:].isdigit():
                with contextlib.suppress(OSError, ValueError):
                    khz = float(
                        fs.read_text(f"/sys/devices/system/cpu/{cpu}/cpufreq/scaling_cur_freq")
                    )
                    freq = max(freq or 0.0, khz * 1000)
    temp: float | None = None
    with contextlib.suppress(OSError):
        for zone in fs.listdir("/sys/class/thermal"):
            if zone.startswith("thermal_zone"):
                with contextlib.suppress(OSError, ValueError):
                    milli = float(fs.read_text(f"/sys/class/thermal/{zone}/temp"))
                    temp = max(temp if temp is not None else -273.0, milli / 1000)
    return {"frequency_hz": freq, "temperature_celsius": temp}


def run_cpu(
    bench: BenchCluster,
    params: CpuParams = CpuParams(),
    step: Callable[[str], None] = lambda _: None,
) -> WorkloadResult:
    """Per node: clock/temp, single-core int and float, all-core int; then the whole cluster."""
    result = WorkloadResult("cpu")
    checks: dict[str, Any] = {}
    p = params
    for w in bench.workers:
        before = bench.call(w, node_clock)
        one = bench.call(w, int_kernel, p.int_elements, p.int_rounds, 0)
        flt = bench.call(w, float_kernel, p.matrix, p.matmuls, 0)
        many = bench.call_all_at_once(
            [(w, int_kernel, (p.int_elements, p.int_rounds, i)) for i in range(w.nthreads)]
        )
        after = bench.call(w, node_clock)
        span = max(r["end"] for r in many) - min(r["start"] for r in many)
        result.add("int_single_core", one["ops"] / one["seconds"], "ops/s", node=w.node)
        result.add("int_all_cores", sum(r["ops"] for r in many) / span, "ops/s", node=w.node)
        result.add("threads", w.nthreads, "count", node=w.node)
        result.add("float_single_core", flt["flops"] / flt["seconds"], "flop/s", node=w.node)
        for when, clock in (("start", before), ("end", after)):
            if clock["frequency_hz"] is not None:
                result.add("cpu_frequency", clock["frequency_hz"], "hz", node=w.node, when=when)
            if clock["temperature_celsius"] is not None:
                result.add(
                    "temperature", clock["temperature_celsius"], "celsius", node=w.node, when=when
                )
        checks[w.node] = {
            "int": one["checksum"],
            "float": flt["checksum"],
            "int_all": [r["checksum"] for r in many],
        }
        step(w.node)
    # Every thread of every worker at once: what the cluster does together.
    together = bench.call_all_at_once(
        [
            (w, int_kernel, (p.int_elements, p.int_rounds, i))
            for w in bench.workers
            for i in range(w.nthreads)
        ]
    )
    total_ops = sum(r["ops"] for r in together)
    span = max(r["end"] for r in together) - min(r["start"] for r in together)
    result.add("int_cluster", total_ops / span, "ops/s")
    result.add("int_cluster_tasks", len(together), "count")
    result.details["checksums"] = checks
    result.details["params"] = {
        "int_elements": p.int_elements,
        "int_rounds": p.int_rounds,
        "matrix": p.matrix,
        "matmuls": p.matmuls,
    }
    step("cluster")
    return result
