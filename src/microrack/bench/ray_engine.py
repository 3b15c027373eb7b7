"""The Ray engine: the cpu and storage workloads on Ray instead of Dask.

Ray (``pip install 'microrack[ray]'``) is optional.  Each Ray node gets one
threaded actor pinned to it (``NodeAffinitySchedulingStrategy``, no CPU
reserved, ``max_concurrency`` = its CPUs + 2 so that a cleanup call gets
through while a workload runs); the workloads call plain functions through
it, exactly as they do on a Dask worker, so the numbers are comparable.

The net and mixed workloads are written against Dask's communication layer
and task stream and do not run on Ray.
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

RAY_WORKLOADS = ("cpu", "storage")


def _agent_class() -> Any:
    import ray

    @ray.remote
    class NodeAgent:
        """Runs microrack's workload functions on the node it is pinned to."""

        def call(self, fn: Callable[..., Any], *args: Any) -> Any:
            return fn(*args)

    return NodeAgent


class RayCluster(BenchCluster):
    """BenchCluster's three calls, on Ray actors (one per node)."""

    engine = "ray"
    supports = RAY_WORKLOADS

    def __init__(self, workers: list[WorkerInfo], actors: dict[str, Any], embedded: bool) -> None:
        super().__init__(None, None, workers)
        self._actors = actors
        self._embedded = embedded

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
        raise UsageError("--scheduler", f"cannot reach {host}:{port} "
                                        f"({exc.strerror or type(exc).__name__})") from None


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
            ray.init(num_cpus=local, include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:  # ray raises many types for a bad cluster address
        raise UsageError("--scheduler", f"Ray did not connect: {str(exc).splitlines()[0]}") \
            from None
    try:
        agent = _agent_class()
        workers, actors = [], {}
        alive = sorted((n for n in ray.nodes() if n.get("Alive")), key=lambda n: n["NodeID"])
        for i, n in enumerate(alive):
            cpus = max(1, int(n.get("Resources", {}).get("CPU", 1)))
            addr = f"ray://{n['NodeManagerAddress']}/{n['NodeID'][:12]}"
            workers.append(WorkerInfo(node=f"node{i}", address=addr,
                                      host=n["NodeManagerAddress"], nthreads=cpus,
                                      resources=(("CPU", float(cpus)),)))
            actors[addr] = agent.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
                max_concurrency=cpus + 2, num_cpus=0).remote()
        yield RayCluster(workers, actors, embedded=address is None)
    finally:
        ray.shutdown()
