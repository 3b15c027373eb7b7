"""The optional Ray engine: cpu and storage on a real local Ray node."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess

import pytest

from microrack.bench import CpuParams, StorageParams
from microrack.bench.cpu import int_kernel, run_cpu
from microrack.bench.storage import FILE_PREFIX, run_storage
from support import microrack_cmd, missing

pytestmark = pytest.mark.integration

CPU = CpuParams(int_elements=1 << 12, int_rounds=4, matrix=32, matmuls=1)


@pytest.fixture(scope="module")
def ray_bench():
    if importlib.util.find_spec("ray") is None:
        missing("ray (PyPI; pip install 'microrack[ray]')")
    from microrack.bench.ray_engine import open_ray

    with open_ray(None, local=2) as bench:
        yield bench


def test_cpu_and_storage_on_ray(ray_bench, tmp_path):
    assert ray_bench.engine == "ray" and ray_bench.embedded
    assert [w.node for w in ray_bench.workers] == ["node0"]
    w = ray_bench.workers[0]
    assert w.nthreads == 2
    cpu = run_cpu(ray_bench, CPU)
    got = cpu.details["checksums"]["node0"]
    assert got["int"] == int_kernel(CPU.int_elements, CPU.int_rounds, 0)["checksum"]
    assert got["int_all"] == [int_kernel(CPU.int_elements, CPU.int_rounds, i)["checksum"]
                              for i in range(2)]
    assert cpu.get("int_cluster_tasks").value == 2
    params = StorageParams(directory=str(tmp_path), size=1 << 20, block_size=128 << 10,
                           queue_depth=2, runtime=0.1)
    st = run_storage(ray_bench, params)
    assert st.get("seq_write_bytes", node="node0").value == 1 << 20
    assert st.get("seq_read_verified_blocks", node="node0").value == 8
    assert st.get("randread_ops", node="node0", qd="2").value > 0
    assert not [p for p in os.listdir(tmp_path) if p.startswith(FILE_PREFIX)]


def test_cli_ray_names_what_it_cannot_run(tmp_path):
    if importlib.util.find_spec("ray") is None:
        missing("ray (PyPI; pip install 'microrack[ray]')")
    run = subprocess.run(microrack_cmd("bench", "net", "--engine", "ray"), capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert "--engine" in run.stderr and "net" in run.stderr


def test_cli_all_on_ray_runs_cpu_and_storage(tmp_path):
    if importlib.util.find_spec("ray") is None:
        missing("ray (PyPI; pip install 'microrack[ray]')")
    out = tmp_path / "ray.json"
    run = subprocess.run(microrack_cmd("bench", "all", "--engine", "ray", "--local", "1",
                                       "--no-progress", "--dir", str(tmp_path), "--size", "1M",
                                       "--block-size", "256k", "--queue-depth", "2",
                                       "--runtime", "0.1", "--cpu-elements", "4096",
                                       "--matrix", "32", "--json", str(out)),
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert "does not run net, mixed; skipped" in run.stderr
    data = json.loads(out.read_text())
    assert set(data["workloads"]) == {"cpu", "storage"}
    assert data["environment"]["engine"] == "ray"
