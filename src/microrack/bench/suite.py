"""Running a chosen set of workloads with one progress bar each.

Everything the user can get wrong (the scheduler address, the directory, the
size) is checked before the first workload starts, so a mistake costs one
line and no time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from microrack.bench.cpu import CpuParams, run_cpu
from microrack.bench.engine import BenchCluster, open_cluster, probe_environment
from microrack.bench.measure import WorkloadResult
from microrack.errors import UsageError

__all__ = ["WORKLOADS", "BenchRun", "SuiteOptions", "run_suite"]

WORKLOADS = ("cpu", "storage", "net", "mixed")


@dataclass(slots=True)
class SuiteOptions:
    """Everything a run needs, as parsed from the command line."""

    workloads: tuple[str, ...]
    scheduler: str | None = None
    local: int = 2
    threads: int = 1
    cpu: CpuParams = field(default_factory=CpuParams)
    storage: Any = None  # StorageParams, imported lazily
    net: Any = None  # NetParams
    mixed: Any = None  # MixedParams
    progress: bool = True
    engine: str = "dask"


@dataclass(slots=True)
class BenchRun:
    """The outcome of one ``microrack bench`` run."""

    started: str
    environment: dict[str, Any]
    results: dict[str, WorkloadResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "microrack-bench/1",
            "started": self.started,
            "environment": self.environment,
            "workloads": {name: r.to_json() for name, r in self.results.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchRun:
        return cls(
            str(data.get("started", "")),
            dict(data.get("environment") or {}),
            {
                name: WorkloadResult.from_json(name, w)
                for name, w in (data.get("workloads") or {}).items()
            },
        )


def resolve_workloads(name: str) -> tuple[str, ...]:
    if name == "all":
        return WORKLOADS
    if name not in WORKLOADS:
        raise UsageError(
            "workload",
            f"unknown workload {name!r} (choose from {', '.join((*WORKLOADS, 'all', 'compare'))})",
        )
    return (name,)


def _steps(name: str, bench: BenchCluster, opts: SuiteOptions) -> int:
    n = len(bench.workers)
    if name == "cpu":
        return n + 1
    if name == "storage":
        from microrack.bench.storage import phase_names

        return n * len(phase_names(opts.storage))
    if name == "net":
        return len(opts.net.pairs(bench)) + 1
    return 1 if bench.engine == "ray" else 2  # Ray: no stealing switch, the graph runs once


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[now]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as p:
        yield p


def engine_workloads(engine: str, workloads: tuple[str, ...], explicit: bool) -> tuple[str, ...]:
    """The workloads ``engine`` runs; asking one it cannot run by name is an error."""
    if engine == "dask":
        return workloads
    from microrack.bench.ray_engine import RAY_WORKLOADS

    missing = [w for w in workloads if w not in RAY_WORKLOADS]
    if missing and explicit:
        raise UsageError(
            "--engine",
            f"ray runs {' and '.join(RAY_WORKLOADS)}; {', '.join(missing)} needs --engine dask",
        )
    return tuple(w for w in workloads if w in RAY_WORKLOADS)


@contextlib.contextmanager
def _open_engine(opts: SuiteOptions) -> Iterator[Any]:
    if opts.engine == "ray":
        from microrack.bench.ray_engine import open_ray

        with open_ray(opts.scheduler, opts.local * opts.threads) as bench:
            yield bench
    else:
        with open_cluster(opts.scheduler, opts.local, opts.threads) as bench:
            yield bench


def run_suite(opts: SuiteOptions) -> BenchRun:
    """Check inputs, open the engine, run each workload, return every number."""
    from microrack.bench.mixed import MixedParams, run_mixed
    from microrack.bench.net import NetParams, run_net
    from microrack.bench.storage import (
        StorageParams,
        preflight_local,
        preflight_workers,
        run_storage,
    )

    opts.storage = opts.storage or StorageParams()
    opts.net = opts.net or NetParams()
    opts.mixed = opts.mixed or MixedParams()
    if "storage" in opts.workloads and opts.scheduler is None:
        preflight_local(opts.storage)
    if "mixed" in opts.workloads and opts.scheduler is None:
        preflight_local(opts.storage, size=opts.mixed.chunk_bytes)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results: dict[str, WorkloadResult] = {}
    with _open_engine(opts) as bench:
        if "storage" in opts.workloads:
            preflight_workers(bench, opts.storage)
        if "mixed" in opts.workloads:
            preflight_workers(bench, opts.storage, size=opts.mixed.chunk_bytes)
        if "net" in opts.workloads:
            opts.net.pairs(bench)  # a bad --pair fails here, before any work
        if "cpu" in opts.workloads:
            from microrack.bench.cpu import preflight_cpu

            preflight_cpu(bench, opts.cpu)
        if "net" in opts.workloads:
            from microrack.bench.cpu import preflight_memory

            # all-to-all: a worker makes one block per peer and receives one from each
            peers = max(1, len(bench.workers) - 1)
            preflight_memory(bench, {"--exchange-size": 2 * peers * opts.net.all_to_all_bytes})
        environment = probe_environment(bench)
        runners: dict[str, Callable[[Callable[[str], None]], WorkloadResult]] = {
            "cpu": lambda step: run_cpu(bench, opts.cpu, step),
            "storage": lambda step: run_storage(bench, opts.storage, step),
            "net": lambda step: run_net(bench, opts.net, step),
            "mixed": lambda step: run_mixed(bench, opts.mixed, opts.storage.directory, step),
        }
        with _progress(opts.progress) as progress:
            for name in opts.workloads:
                task = None
                if progress is not None:
                    task = progress.add_task(name, total=_steps(name, bench, opts), now="")

                def step(what: str, task: Any = task) -> None:
                    if progress is not None:
                        progress.update(task, advance=1, now=what)

                results[name] = runners[name](step)
    return BenchRun(started, environment, results)
