"""Scale of the hardware twin: node-steps per second for 10 000 nodes on one core.

Side by side in one run:

* ``numpy``: ``microrack.sim.Twin.step`` (all nodes as arrays, the shipped code:
  two thermal masses per node, the throttle law solved with the end-of-step
  temperature, workload intensity, I/O-driven NVMe power, carrier share);
* ``previous``: the step the twin had before (one thermal mass, explicit
  throttle, NVMe power following the CPU), as numpy arrays on the same nodes,
  so the ratio shows what the richer model costs;
* ``python``: the shipped equations written per node in plain Python (what a
  straightforward simulator does), on a slice of the nodes, as the peer.

The numpy and Python paths start from the same state and must agree on the
temperatures they reach (checked and printed), so their ratio compares equal
work.  Usage::

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
    tw.io[:] = rng.uniform(0, 0.3, n)
    tw.duty[:] = rng.uniform(0, 1, n)
    tw.auto_fan[:] = False
    tw.fan_ok[: n // 10] = 0.0  # a tenth of the fans stalled
    tw.changed()
    return tw


class PreviousStep:
    """The twin's previous step (one RC per node, explicit throttle) on the same nodes."""

    def __init__(self, tw: Twin) -> None:
        f = np.float32
        n = tw.n
        self.n = n
        self.temp = tw.temp.copy()
        self.nvme_temp = tw.nvme_temp.copy()
        self.amb = tw.ambient.copy()
        self.util = tw.util.copy()
        self.duty = tw.duty.copy()
        self.fan_live = tw._fan_live.copy()
        self.base = tw._base_w.copy()
        self.dyn = tw._dyn_up.copy()
        r_off = (tw.r_js + 1.0 / tw.g_off).astype(f)
        r_full = (tw.r_js + 1.0 / (tw.g_off + tw.g_fan)).astype(f)
        self.g_off = (1.0 / r_off).astype(f)
        self.g_fan = (1.0 / r_full - 1.0 / r_off).astype(f)
        self.inv_c = tw.inv_c_sink.copy()
        self.soft = tw.soft_c.copy()
        self.neg_slope = (-tw.inv_band * tw.clock_span).astype(f)
        self.min_clock = tw.min_clock.copy()
        self.cap = tw._clock_cap.copy()
        self.nv_idle, self.nv_act = tw._nvme_idle_up.copy(), tw._nvme_act_up.copy()
        self.nv_r, self.nv_k = tw.nvme_r.copy(), tw.nvme_k.copy()
        self.nv_decay = np.exp(tw.nvme_inv_tau * f(-1.0)).astype(f)
        self.fan_w = tw.fan_w.copy()
        self.clock = np.ones(n, f)
        self.power = np.zeros(n, f)
        self.bp = np.zeros(n, f)
        self.peak = self.temp.copy()
        self.pending = np.zeros((4, n), f)
        self.buf = [np.empty(n, f) for _ in range(4)]
        self.neg_dt_inv_c = (self.inv_c * f(-1.0)).astype(f)

    def step(self) -> None:  # dt = 1 s, as the numpy benchmark
        t1, t2, g, teq = self.buf
        clock, temp, amb, util = self.clock, self.temp, self.amb, self.util
        np.subtract(temp, self.soft, out=clock)
        clock *= self.neg_slope
        clock += 1.0
        np.maximum(clock, self.min_clock, out=clock)
        np.minimum(clock, self.cap, out=clock)
        duty = t2
        np.multiply(self.duty, self.fan_live, out=duty)
        bp = self.bp
        np.multiply(util, clock, out=bp)
        bp *= clock
        bp *= self.dyn
        bp += self.base
        np.multiply(duty, self.g_fan, out=g)
        g += self.g_off
        np.divide(bp, g, out=teq)
        teq += amb
        g *= self.neg_dt_inv_c
        np.exp(g, out=g)
        temp -= teq
        temp *= g
        temp += teq
        nv = self.nvme_temp
        np.multiply(util, self.nv_act, out=t1)
        t1 += self.nv_idle
        p = self.power
        np.add(bp, t1, out=p)
        t1 *= self.nv_r
        np.subtract(temp, amb, out=teq)
        teq *= self.nv_k
        t1 += teq
        t1 += amb
        nv -= t1
        nv *= self.nv_decay
        nv += t1
        np.multiply(duty, duty, out=t1)
        t1 *= duty
        t1 *= self.fan_w
        p += t1
        np.maximum(self.peak, temp, out=self.peak)
        energy, throttled, work, busy = self.pending
        energy += p
        np.less(clock, 0.999, out=t1, casting="unsafe")
        throttled += t1
        busy += util
        np.multiply(util, clock, out=t1)
        work += t1


def python_step(tw: Twin, i: int, temp: float, sink: float, dt: float) -> tuple[float, float]:
    """One node, one step, the ``Twin.step`` equations in plain Python: (die, sink)."""
    d = math.exp(-dt * float(tw.g_js[i]) * float(tw.inv_c_die[i]))
    r_js = float(tw.r_js[i])
    a = temp * d + sink * (1.0 - d) + float(tw._base_w[i]) * r_js * (1.0 - d)
    s = float(tw.inv_band[i]) * float(tw.clock_span[i])
    b = float(tw.util[i]) * float(tw._dyn_up[i]) * r_js * (1.0 - d)
    k = 1.0 - s * (a - float(tw.soft_c[i]))
    c = 2.0 * k / (1.0 + math.sqrt(max(0.0, 1.0 + 4.0 * s * b * k)))
    c = min(max(c, float(tw.min_clock[i])), float(tw._clock_cap[i]))
    die = a + b * c * c
    duty = float(tw.duty[i]) * float(tw._fan_live[i])
    g_sa = float(tw.g_off[i]) + duty * float(tw.g_fan[i])
    g_js = float(tw.g_js[i])
    den = g_js + g_sa
    seq = (die * g_js + float(tw.ambient[i]) * g_sa) / den
    ds = math.exp(-dt * den * float(tw.inv_c_sink[i]))
    return die, seq + (sink - seq) * ds


def bench(step: object, n: int, seconds: float) -> tuple[float, int]:
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()  # type: ignore[operator]
        steps += 1
    return steps * n / (time.perf_counter() - t0), steps


def bench_python(tw: Twin, nodes: int, seconds: float) -> tuple[float, int]:
    temps = [float(t) for t in tw.temp[:nodes]]
    sinks = [float(t) for t in tw.sink_temp[:nodes]]
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for i in range(nodes):
            temps[i], sinks[i] = python_step(tw, i, temps[i], sinks[i], 1.0)
        steps += 1
    return steps * nodes / (time.perf_counter() - t0), steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    # agreement: 50 steps of each from the same start, on 500 nodes
    ref = build(args.nodes)
    k = min(500, args.nodes)
    temps = [float(t) for t in ref.temp[:k]]
    sinks = [float(t) for t in ref.sink_temp[:k]]
    for _ in range(50):
        for i in range(k):
            temps[i], sinks[i] = python_step(ref, i, temps[i], sinks[i], 1.0)
        ref.step(1.0)
    max_diff = float(np.max(np.abs(np.array(temps) - ref.temp[:k].astype(float))))

    tw = build(args.nodes)
    varying = build(args.nodes)
    duties = [varying.duty.copy(), (varying.duty * 0.9).astype(varying.duty.dtype)]

    def step_varying() -> None:  # every fan's duty changes every step (a fan curve at work)
        varying.duty[:] = duties[varying._pending_steps % 2]
        varying.step(1.0)

    prev = PreviousStep(build(args.nodes))
    # interleave the numpy steps so that machine load hits them alike
    rates: dict[str, list[float]] = {"numpy": [], "varying": [], "previous": []}
    steps = {"numpy": 0, "varying": 0, "previous": 0}
    slice_s = args.seconds / 6
    for _ in range(6):
        for name, fn in (
            ("numpy", lambda: tw.step(1.0)),
            ("varying", step_varying),
            ("previous", prev.step),
        ):
            r, s = bench(fn, args.nodes, slice_s)
            rates[name].append(r)
            steps[name] += s
    vec_rate, prev_rate = max(rates["numpy"]), max(rates["previous"])
    var_rate = max(rates["varying"])
    py_rate, py_steps = bench_python(build(args.nodes), min(args.nodes, 2000), args.seconds)
    result = {
        "nodes": args.nodes,
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "numpy_node_steps_per_s": round(vec_rate),
        "numpy_duty_changing_node_steps_per_s": round(var_rate),
        "previous_step_node_steps_per_s": round(prev_rate),
        "ratio_numpy_over_previous_step": round(vec_rate / prev_rate, 2),
        "python_node_steps_per_s": round(py_rate),
        "ratio_numpy_over_python": round(vec_rate / py_rate, 1),
        "target_node_steps_per_s": TARGET,
        "meets_target": vec_rate >= TARGET,
        "max_temp_difference_c": max_diff,
        "steps": {**steps, "python": py_steps},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"twin scale, {args.nodes} nodes, CPUs {result['cpu_affinity']}")
    print(
        f"  numpy (microrack.sim.Twin): {vec_rate / 1e6:8.1f} M node-steps/s"
        f"  ({'meets' if vec_rate >= TARGET else 'BELOW'} the 50 M target)"
    )
    print(f"  numpy, every duty changing: {var_rate / 1e6:8.1f} M node-steps/s")
    print(f"  previous one-mass step    : {prev_rate / 1e6:8.1f} M node-steps/s")
    print(f"  ratio numpy / previous    : {vec_rate / prev_rate:8.2f} x")
    print(f"  python per-node loop      : {py_rate / 1e6:8.2f} M node-steps/s")
    print(f"  ratio numpy / python      : {vec_rate / py_rate:8.1f} x")
    print(f"  agreement after 50 steps  : max |dT| = {max_diff:.2e} °C")


if __name__ == "__main__":
    main()
