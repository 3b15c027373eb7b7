"""Scale of the hardware twin: node-steps per second for 10 000 nodes on one core.

Side by side in one run:

* ``numpy``: ``microrack.sim.Twin.step`` (all nodes as arrays, the shipped code);
* ``python``: the same equations written per node in plain Python (what a
  straightforward simulator does), on a slice of the nodes, as the peer.

Both start from the same state and must agree on the temperatures they reach
(checked and printed), so the ratio compares equal work.  Usage::

    python benchmarks/twin_scale.py [--nodes 10000] [--seconds 3] [--json]

Pin to one core for the headline figure: ``taskset -c 0 python benchmarks/twin_scale.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

from microrack.sim import Twin, board_model

BOARDS = ("pi4b", "pi5", "rk1", "vf2", "jupiter", "rock5b", "cm4", "opi5plus")
TARGET = 50e6


def build(n: int) -> Twin:
    models = [board_model(b) for b in BOARDS]
    tw = Twin([models[i % len(models)] for i in range(n)])
    rng = np.random.default_rng(0)
    tw.util[:] = rng.uniform(0, 1, n)
    tw.duty[:] = rng.uniform(0, 1, n)
    tw.auto_fan[:] = False
    tw.fan_ok[: n // 10] = 0.0  # a tenth of the fans stalled
    tw.changed()
    return tw


def python_step(tw: Twin, i: int, temp: float, dt: float) -> float:
    """One node, one step, the ``Twin.step`` equations in plain Python."""
    x = min(1.0, max(0.0, (temp - float(tw.soft_c[i])) * float(tw.inv_band[i])))
    clock = min(1.0 - x * float(tw.clock_span[i]), float(tw._clock_cap[i]))
    duty = float(tw.duty[i]) * float(tw._fan_live[i])
    p = float(tw._base_w[i]) + float(tw._dyn_up[i]) * float(tw.util[i]) * clock * clock
    g = float(tw.g_off[i]) + duty * float(tw.g_fan[i])
    teq = float(tw.ambient[i]) + p / g
    return teq + (temp - teq) * math.exp(-dt * g * float(tw.inv_c[i]))


def bench_numpy(tw: Twin, seconds: float) -> tuple[float, int]:
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        tw.step(1.0)
        steps += 1
    return steps * tw.n / (time.perf_counter() - t0), steps


def bench_python(tw: Twin, nodes: int, seconds: float) -> tuple[float, list[float], int]:
    params = [(tw.boards[i], i) for i in range(nodes)]
    temps = [float(t) for t in tw.temp[:nodes]]
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _, i in params:
            temps[i] = python_step(tw, i, temps[i], 1.0)
        steps += 1
    return steps * nodes / (time.perf_counter() - t0), temps, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    # agreement: 50 steps of each from the same start, on 500 nodes
    ref = build(args.nodes)
    start = ref.temp.copy()
    temps = [float(t) for t in start[:500]]
    for _ in range(50):
        temps = [python_step(ref, i, temps[i], 1.0) for i in range(500)]
        ref.step(1.0)
    max_diff = float(np.max(np.abs(np.array(temps) - ref.temp[:500].astype(float))))

    tw = build(args.nodes)
    vec_rate, vec_steps = bench_numpy(tw, args.seconds)
    py_rate, _, py_steps = bench_python(build(args.nodes), min(args.nodes, 2000), args.seconds)
    result = {
        "nodes": args.nodes,
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "numpy_node_steps_per_s": round(vec_rate),
        "python_node_steps_per_s": round(py_rate),
        "ratio_numpy_over_python": round(vec_rate / py_rate, 1),
        "target_node_steps_per_s": TARGET,
        "meets_target": vec_rate >= TARGET,
        "max_temp_difference_c": max_diff,
        "steps": {"numpy": vec_steps, "python": py_steps},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"twin scale, {args.nodes} nodes, CPUs {result['cpu_affinity']}")
    print(f"  numpy (microrack.sim.Twin): {vec_rate / 1e6:8.1f} M node-steps/s"
          f"  ({'meets' if vec_rate >= TARGET else 'BELOW'} the 50 M target)")
    print(f"  python per-node loop      : {py_rate / 1e6:8.2f} M node-steps/s")
    print(f"  ratio numpy / python      : {vec_rate / py_rate:8.1f} x")
    print(f"  agreement after 50 steps  : max |dT| = {max_diff:.2e} °C")


if __name__ == "__main__":
    main()
