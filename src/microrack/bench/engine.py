"""The engine that runs the workloads: Dask, embedded or on a real cluster.

Without a scheduler address a ``LocalCluster`` of worker *processes* is
started (the embedded default); with one, microrack connects to it and every
worker is treated as a node.  The address is checked with a plain TCP connect
before Dask is asked, so a typo gives one line instead of a 30 s timeout.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from microrack.errors import UsageError

__all__ = ["BenchCluster", "WorkerInfo", "open_cluster", "probe_environment", "split_address"]

log = logging.getLogger(__name__)

#: Resources every embedded worker declares, so the mixed workload can annotate tasks.
MIXED_RESOURCES = ("cpu", "io", "net")


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One Dask worker, named ``node<i>`` in results so runs can be compared."""

    node: str
    address: str
    host: str
    nthreads: int
    resources: tuple[tuple[str, float], ...]


def split_address(address: str, argument: str = "--scheduler") -> tuple[str, int]:
    """``tcp://HOST:PORT`` (or ``HOST:PORT``) -> (host, port), or a UsageError."""
    text = address if "://" in address else f"tcp://{address}"
    parts = urlsplit(text)
    if parts.scheme not in {"tcp", "tls"}:
        raise UsageError(argument, f"{address!r}: only tcp:// and tls:// addresses are supported")
    try:
        port = parts.port or 8786
    except ValueError:
        raise UsageError(argument, f"{address!r} has no valid port") from None
    if not parts.hostname:
        raise UsageError(argument, f"{address!r} has no host")
    return parts.hostname, port


def _check_reachable(address: str, timeout: float) -> str:
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError("--scheduler", f"cannot reach {host}:{port} ({reason})") from None
    scheme = urlsplit(address).scheme if "://" in address else "tcp"
    full = f"{scheme}://{host}:{port}"
    kind = _identify(full, timeout)
    if kind != "Scheduler":
        raise UsageError("--scheduler", f"{host}:{port} is not a Dask scheduler ({kind})")
    return full


def _identify(address: str, timeout: float) -> str:
    """Ask the server what it is, within ``timeout`` (Client() alone can hang on a mute port)."""
    import asyncio

    from distributed.core import rpc

    async def ask() -> str:
        async with rpc(address, timeout=timeout) as remote:
            reply = await remote.identity()
        return str(reply.get("type", "no type in its identity"))

    try:
        return asyncio.run(asyncio.wait_for(ask(), timeout))
    except TimeoutError:
        return f"no Dask answer within {timeout:g} s"
    except MemoryError:  # the first bytes of another protocol, read as a frame length
        return "it does not speak Dask's protocol"
    except Exception as exc:  # any protocol error means: not a scheduler
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:120]


Call = tuple[WorkerInfo, Callable[..., Any], tuple[Any, ...]]


class BenchCluster:
    """A connected Dask client plus what microrack knows about its workers.

    ``call``, ``call_all_at_once`` and ``call_everywhere`` are the engine-neutral
    operations the cpu and storage workloads need; the Ray engine
    (:mod:`microrack.bench.ray_engine`) provides the same three.
    """

    engine = "dask"
    #: workloads this engine can run
    supports: tuple[str, ...] = ("cpu", "storage", "net", "mixed")

    def __init__(self, client: Any, cluster: Any | None, workers: list[WorkerInfo]) -> None:
        self.client = client
        self.cluster = cluster
        self.workers = workers

    def call(self, w: WorkerInfo, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in a thread of worker ``w`` and wait for its result."""
        return self.call_all_at_once([(w, fn, args)])[0]

    def call_all_at_once(self, calls: list[Call]) -> list[Any]:
        """Every ``(worker, fn, args)`` submitted at once; results in order.

        As many run in parallel on a worker as it has threads.
        """
        futures = [
            self.client.submit(
                fn, *args, workers=[w.address], allow_other_workers=False, pure=False
            )
            for w, fn, args in calls
        ]
        return list(self.client.gather(futures))

    def call_everywhere(self, fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
        """``fn(*args)`` on every worker, by address (quick functions only)."""
        return dict(self.client.run(fn, *args))

    @property
    def embedded(self) -> bool:
        return self.cluster is not None

    def by_node(self, node: str) -> WorkerInfo:
        for w in self.workers:
            if w.node == node or w.address == node:
                return w
        known = ", ".join(w.node for w in self.workers)
        raise UsageError("--pair", f"no worker {node!r} (known: {known})")

    def has_resources(self, names: tuple[str, ...] = MIXED_RESOURCES) -> bool:
        return all(all(dict(w.resources).get(n, 0) >= 1 for n in names) for w in self.workers)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


def _worker_infos(client: Any) -> list[WorkerInfo]:
    info = (
        client.scheduler_info(n_workers=-1)
        if _accepts_n_workers(client)
        else client.scheduler_info()
    )
    out = []
    for i, (addr, w) in enumerate(sorted(info["workers"].items())):
        out.append(
            WorkerInfo(
                node=f"node{i}",
                address=addr,
                host=w.get("host") or split_address(addr)[0],
                nthreads=int(w.get("nthreads", 1)),
                resources=tuple(
                    sorted((k, float(v)) for k, v in (w.get("resources") or {}).items())
                ),
            )
        )
    return out


def _accepts_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


@contextlib.contextmanager
def open_cluster(
    scheduler: str | None = None, local: int = 2, threads: int = 1, timeout: float = 10.0
) -> Iterator[BenchCluster]:
    """Connect to ``scheduler`` or start a LocalCluster of ``local`` worker processes."""
    if scheduler is not None:
        address = _check_reachable(scheduler, timeout=min(timeout, 5.0))
    elif local < 1:
        raise UsageError("--local", f"{local} workers: need at least 1")
    from distributed import Client, LocalCluster

    # Dask logs at INFO to stderr by default; keep our one-line errors readable
    # unless the user asked for more with -v.
    logging.getLogger("distributed").setLevel(max(logging.WARNING, logging.getLogger().level))
    cluster = None
    if scheduler is None:
        resources = {"cpu": float(threads), "io": 1.0, "net": 1.0}
        cluster = LocalCluster(
            n_workers=local,
            threads_per_worker=threads,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            resources=resources,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise UsageError(
                "--scheduler", f"{address} did not answer as a Dask scheduler ({exc})"
            ) from None
    try:
        if scheduler is not None:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise UsageError("--scheduler", f"{address} has no workers") from None
        bench = BenchCluster(client, cluster, _worker_infos(client))
        yield bench
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def worker_environment() -> dict[str, Any]:
    """Runs on a worker: what the machine is (board when the device tree says)."""
    import os

    import dask
    import distributed

    env: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "dask": dask.__version__,
        "distributed": distributed.__version__,
    }
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            env["board"] = fh.read().rstrip(b"\0").decode(errors="replace")
            break
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key.strip().lower() in {"model name", "uarch", "cpu model", "hardware"}:
                env["cpu"] = value.strip()
                break
    return env


def board_id_for(model: str) -> str | None:
    """The catalog id of a device-tree model string (longest catalog name that prefixes it)."""
    import re

    try:
        from microrack.catalog import board_ids, board_profile

        names = {i: re.sub(r"\s*\(.*\)$", "", board_profile(i).name).lower() for i in board_ids()}
    except Exception:  # the catalog is optional here: no id is better than no result
        return None
    text = model.strip().lower()
    hits = [(len(n), i) for i, n in names.items() if n and text.startswith(n)]
    return max(hits)[1] if hits else None


def probe_environment(bench: Any) -> dict[str, Any]:
    """The environment section of ``--json``: this client and every worker."""
    per_worker = bench.call_everywhere(worker_environment)
    for env in per_worker.values():
        if env.get("board"):
            env["board_id"] = board_id_for(env["board"])
    return {
        "client": worker_environment(),
        "engine": bench.engine,
        "embedded": bench.embedded,
        "workers": [
            {
                "node": w.node,
                "address": w.address,
                "nthreads": w.nthreads,
                "resources": dict(w.resources),
                **per_worker.get(w.address, {}),
            }
            for w in bench.workers
        ],
    }
