"""Workloads on Dask: CPU, storage, message passing and mixed scheduling.

``run_suite(SuiteOptions(...))`` opens the engine (a ``LocalCluster`` or a real
scheduler), runs the chosen workloads and returns a :class:`BenchRun` whose
every number carries its unit; :mod:`microrack.bench.report` turns it into a
table, JSON or an HTML page of plots.
"""

from microrack.bench.cpu import CpuParams
from microrack.bench.engine import BenchCluster, open_cluster
from microrack.bench.measure import Measurement, WorkloadResult, parse_size
from microrack.bench.mixed import MixedParams
from microrack.bench.net import NetParams
from microrack.bench.storage import StorageParams
from microrack.bench.suite import WORKLOADS, BenchRun, SuiteOptions, resolve_workloads, run_suite

__all__ = [
    "WORKLOADS",
    "BenchCluster",
    "BenchRun",
    "CpuParams",
    "Measurement",
    "MixedParams",
    "NetParams",
    "StorageParams",
    "SuiteOptions",
    "WorkloadResult",
    "open_cluster",
    "parse_size",
    "resolve_workloads",
    "run_suite",
]
