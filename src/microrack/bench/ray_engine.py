"""The Ray engine: the same workloads on Ray instead of Dask.

Ray (``pip install 'microrack[ray]'``) is optional.  Each Ray node gets one
threaded actor pinned to it (``NodeAffinitySchedulingStrategy``, no CPU
reserved, ``max_concurrency`` = its CPUs + 2 so that a cleanup call gets
through while a workload runs); the workloads call plain functions through
it, exactly as they do on a Dask worker, so the numbers are comparable.

net: the same plain-TCP ping-pong and stream between a client actor on node A
and a server actor on node B (on a one-node cluster: two actors, two processes,
on that node), then the engine's own path — actor method calls carrying the
same payloads (Ray's object transfer) — and an all-to-all through Ray tasks
whose blocks are task results fetched by the receiving node.

mixed: the same CPU → storage → shuffle → final graph as Ray tasks (with the
``cpu``/``io``/``net`` resource annotations when every node declares them; the
embedded node does).  Each task reports where and when it ran, so makespan,
placement, utilisation, queueing delay and stragglers are computed exactly as
for Dask.  Ray has no work-stealing switch: the graph runs once and its
numbers carry ``stealing=n/a``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

from microrack.bench.engine import BenchCluster, Call, WorkerInfo
from microrack.errors import UsageError

__all__ = ["RAY_WORKLOADS", "RayCluster", "open_ray"]

RAY_WORKLOADS = ("cpu", "storage", "net", "mixed")
#: the label of the mixed run on Ray: there is no work stealing to switch
NOT_APPLICABLE = "n/a"


def _agent_class() -> Any:
    import ray

    @ray.remote
    class NodeAgent:
        """Runs microrack's workload functions on the node it is pinned to."""

        def call(self, fn: Callable[..., Any], *args: Any) -> Any:
            return fn(*args)

        def echo(self, payload: Any) -> Any:
            return payload

        def sink(self, block: Any) -> int:
            return int(memoryview(block).nbytes)

    return NodeAgent


class RayCluster(BenchCluster):
    """BenchCluster's three calls, on Ray actors (one per node)."""

    engine = "ray"
    supports = RAY_WORKLOADS

    def __init__(
        self,
        workers: list[WorkerInfo],
        actors: dict[str, Any],
        embedded: bool,
        node_ids: dict[str, str] | None = None,
    ) -> None:
        super().__init__(None, None, workers)
        self._actors = actors
        self._embedded = embedded
        self.node_ids = node_ids or {}

    def actor(self, w: WorkerInfo) -> Any:
        return self._actors[w.address]

    def extra_actor(self, w: WorkerInfo) -> Any:
        """A second agent on ``w``'s node (its own process), for a pair on one node."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return (
            _agent_class()
            .options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(
                    self.node_ids[w.address], soft=False
                ),
                max_concurrency=4,
                num_cpus=0,
            )
            .remote()
        )

    def on_node(self, w: WorkerInfo) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return NodeAffinitySchedulingStrategy(self.node_ids[w.address], soft=False)

    @property
    def embedded(self) -> bool:
        return self._embedded

    def call_all_at_once(self, calls: list[Call]) -> list[Any]:
        import ray

        refs = [self._actors[w.address].call.remote(fn, *args) for w, fn, args in calls]
        return list(ray.get(refs))

    def call_everywhere(self, fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
        import ray

        refs = {w.address: self._actors[w.address].call.remote(fn, *args) for w in self.workers}
        return {addr: ray.get(ref) for addr, ref in refs.items()}

    def close(self) -> None:
        import ray

        ray.shutdown()


def _check_reachable(address: str) -> None:
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError("--scheduler", f"{address!r}: expected HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise UsageError(
            "--scheduler", f"cannot reach {host}:{port} ({exc.strerror or type(exc).__name__})"
        ) from None


@contextlib.contextmanager
def open_ray(address: str | None = None, local: int = 2) -> Iterator[RayCluster]:
    """Connect to a Ray cluster, or start one local Ray node with ``local`` CPUs."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if address is not None:
        _check_reachable(address)
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address is None:
            # the mixed graph's annotations, as the embedded Dask workers declare them
            ray.init(
                num_cpus=local,
                include_dashboard=False,
                resources={"cpu": float(local), "io": 1.0, "net": 1.0},
                **quiet,
            )
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:  # ray raises many types for a bad cluster address
        raise UsageError(
            "--scheduler", f"Ray did not connect: {str(exc).splitlines()[0]}"
        ) from None
    try:
        agent = _agent_class()
        workers, actors, node_ids = [], {}, {}
        alive = sorted((n for n in ray.nodes() if n.get("Alive")), key=lambda n: n["NodeID"])
        for i, n in enumerate(alive):
            cpus = max(1, int(n.get("Resources", {}).get("CPU", 1)))
            addr = f"ray://{n['NodeManagerAddress']}/{n['NodeID'][:12]}"
            res = n.get("Resources", {})
            workers.append(
                WorkerInfo(
                    node=f"node{i}",
                    address=addr,
                    host=n["NodeManagerAddress"],
                    nthreads=cpus,
                    resources=tuple(
                        sorted(
                            (k, float(v))
                            for k, v in res.items()
                            if k in {"CPU", "cpu", "io", "net"}
                        )
                    ),
                )
            )
            node_ids[addr] = n["NodeID"]
            actors[addr] = agent.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
                max_concurrency=cpus + 2,
                num_cpus=0,
            ).remote()
        yield RayCluster(workers, actors, embedded=address is None, node_ids=node_ids)
    finally:
        ray.shutdown()


# --- net -------------------------------------------------------------------------------------


def ray_pingpong(peer: Any, size: int, count: int) -> dict[str, Any]:
    """Runs in the client actor: ``count`` echo calls on the peer actor, latencies in ns."""
    import time

    import ray

    payload = bytes((i * 7 + 1) % 256 for i in range(size))
    lat: list[int] = []
    ok = True
    clock = time.perf_counter_ns
    for _ in range(count):
        t0 = clock()
        echo = ray.get(peer.echo.remote(payload))
        lat.append(clock() - t0)
        ok = ok and echo == payload
    return {"latency_ns": lat, "echo_ok": ok}


def ray_throughput(peer: Any, nbytes: int, chunk: int, window: int = 4) -> dict[str, Any]:
    """Runs in the client actor: ``nbytes`` in ``chunk``-sized arrays to the peer's ``sink``.

    Up to ``window`` calls in flight, as a stream keeps several writes in the
    socket buffer; the peer counts what it received.
    """
    import os
    import time

    import numpy as np
    import ray

    block = np.frombuffer(os.urandom(chunk), dtype=np.uint8)
    sent = received = 0
    pending: list[Any] = []
    t0 = time.perf_counter()
    while sent < nbytes:
        n = min(chunk, nbytes - sent)
        pending.append(peer.sink.remote(block[:n]))
        sent += n
        if len(pending) >= window:
            received += int(ray.get(pending.pop(0)))
    received += sum(int(k) for k in ray.get(pending))
    seconds = time.perf_counter() - t0
    return {"sent": sent, "received": received, "seconds": seconds}


def _all_to_all_ray(bench: RayCluster, nbytes: int) -> dict[str, Any]:
    """Every endpoint makes a block for every other, which receives it as a task argument.

    The endpoints are the nodes; a one-node cluster gets two endpoints on its
    node, so the exchange still runs (over the local object store).
    """
    import time

    import ray

    from microrack.bench.net import make_block, receive_blocks

    ws = bench.workers if len(bench.workers) > 1 else bench.workers * 2
    make = ray.remote(make_block)
    recv = ray.remote(receive_blocks)
    blocks = {
        (i, j): make.options(scheduling_strategy=bench.on_node(a)).remote(i, j, nbytes)
        for i, a in enumerate(ws)
        for j in range(len(ws))
        if i != j
    }
    ray.wait(list(blocks.values()), num_returns=len(blocks), fetch_local=False)
    t0 = time.perf_counter()
    sinks = [
        recv.options(scheduling_strategy=bench.on_node(b)).remote(
            *[blocks[i, j] for i in range(len(ws)) if i != j]
        )
        for j, b in enumerate(ws)
    ]
    got = ray.get(sinks)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "bytes": sum(g["bytes"] for g in got),
        "crc": [g["crc"] for g in got],
        "tasks": len(blocks) + len(sinks),
        "endpoints": len(ws),
    }


def run_net_ray(
    bench: BenchCluster, params: Any, step: Callable[[str], None] = lambda _: None
) -> Any:
    """The net workload on Ray: TCP between actors, then Ray's own transfer, then all-to-all."""
    import ray

    from microrack.bench.measure import WorkloadResult
    from microrack.bench.net import (
        report_pair,
        start_tcp_server,
        stop_tcp_server,
        tcp_pingpong,
        tcp_throughput,
    )
    from microrack.errors import ResourceError

    assert isinstance(bench, RayCluster)
    result = WorkloadResult("net")
    samples: dict[str, dict[str, list[float]]] = {}
    same_node: dict[str, bool] = {}
    for a, b in params.pairs(bench):
        pair = f"{a.node}-{b.node}"
        server = bench.actor(b)
        client = bench.extra_actor(a) if a.address == b.address else bench.actor(a)
        same_node[pair] = a.address == b.address
        port = ray.get(server.call.remote(start_tcp_server, b.host))
        try:
            tcp_pp = ray.get(
                client.call.remote(tcp_pingpong, b.host, port, params.small, params.round_trips)
            )
            tcp_tp = ray.get(
                client.call.remote(tcp_throughput, b.host, port, params.stream_bytes, params.chunk)
            )
            ray_pp = ray.get(
                client.call.remote(ray_pingpong, server, params.small, params.round_trips)
            )
            ray_tp = ray.get(
                client.call.remote(ray_throughput, server, params.stream_bytes, params.chunk)
            )
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), OSError) else None
            if cause is None:
                raise
            raise ResourceError(f"net {pair}: {a.address} -> {b.host}: {cause}") from None
        finally:
            ray.get(server.call.remote(stop_tcp_server, port))
            if a.address == b.address:
                ray.kill(client)
        samples[pair] = report_pair(
            result, pair, params.small, {"tcp": (tcp_pp, tcp_tp), "ray": (ray_pp, ray_tp)}
        )
        step(pair)
    ata = _all_to_all_ray(bench, params.all_to_all_bytes)
    result.add("all_to_all_throughput", ata["bytes"] / ata["seconds"], "bytes/s")
    result.add("all_to_all_bytes", ata["bytes"], "bytes")
    result.add("all_to_all_tasks", ata["tasks"], "count")
    result.details.update(
        {
            "latency_samples_s": samples,
            "all_to_all_crc": ata["crc"],
            "all_to_all_block_bytes": params.all_to_all_bytes,
            "all_to_all_endpoints": ata["endpoints"],
            "workers": len(bench.workers),
            "same_node_pairs": same_node,
        }
    )
    step("all-to-all")
    return result


# --- mixed -----------------------------------------------------------------------------------


def _traced(key: str, fn: Callable[..., Any], *args: Any) -> tuple[Any, dict[str, Any]]:
    """Runs as a Ray task: ``fn(*args)`` and a task-stream-like record of where and when."""
    import time

    import ray

    start = time.time()
    value = fn(*args)
    stop = time.time()
    return value, {
        "key": key,
        "worker": ray.get_runtime_context().get_node_id(),
        "startstops": [{"action": "compute", "start": start, "stop": stop}],
    }


def run_mixed_ray(
    bench: BenchCluster, params: Any, directory: str, step: Callable[[str], None] = lambda _: None
) -> Any:
    """The mixed graph as Ray tasks, once: Ray has no work-stealing switch."""
    import time
    import uuid

    import ray

    from microrack.bench.measure import WorkloadResult
    from microrack.bench.mixed import (
        _analyse,
        mixed_cpu,
        mixed_final,
        mixed_io,
        mixed_shuffle,
        report_details,
        report_run,
    )

    assert isinstance(bench, RayCluster)
    result = WorkloadResult("mixed")
    reducers = params.reducers or len(bench.workers)
    annotate = bench.has_resources()
    node_of = {bench.node_ids[w.address]: w.node for w in bench.workers}
    threads = {w.node: w.nthreads for w in bench.workers}
    task = ray.remote(num_returns=2)(_traced)
    tag = f"{NOT_APPLICABLE.replace('/', '')}-{uuid.uuid4().hex[:8]}"

    def submit(kind: str, key: str, fn: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
        opts: dict[str, Any] = (
            {"resources": {kind: 1}} if annotate and kind in ("cpu", "io", "net") else {}
        )
        return task.options(**opts).remote(key, fn, *args)  # type: ignore[no-any-return]

    deps: dict[str, list[str]] = {}
    records = []
    t_submit = time.time()
    t0 = time.perf_counter()
    ios = []
    for i in range(params.width):
        ck, ik = f"cpu-{i}-{tag}", f"io-{i}-{tag}"
        cpu, rec = submit("cpu", ck, mixed_cpu, i, params.int_elements, params.rounds)
        records.append(rec)
        io, rec = submit("io", ik, mixed_io, directory, f"{tag}-{i}", cpu)
        records.append(rec)
        deps[ck], deps[ik] = [], [ck]
        ios.append((ik, io))
    shuffles = []
    for j in range(reducers):
        sk = f"shuffle-{j}-{tag}"
        s, rec = submit("net", sk, mixed_shuffle, j, reducers, *[io for _, io in ios])
        records.append(rec)
        deps[sk] = [k for k, _ in ios]
        shuffles.append((sk, s))
    fk = f"final-{tag}"
    final, rec = submit("final", fk, mixed_final, *[s for _, s in shuffles])
    records.append(rec)
    deps[fk] = [k for k, _ in shuffles]
    checksum = int(ray.get(final))
    makespan = time.perf_counter() - t0
    analysis = _analyse(ray.get(records), deps, t_submit, node_of, threads, params)
    report_run(result, NOT_APPLICABLE, makespan, checksum, analysis)
    step("graph")
    result.add("resource_annotations", annotate, "bool")
    result.add("work_stealing_switch", False, "bool")
    report_details(result, params, reducers, annotate, {NOT_APPLICABLE: analysis})
    result.details["work_stealing"] = (
        "not applicable: Ray has no work-stealing switch; the graph ran once, labelled stealing=n/a"
    )
    return result
