"""The optional Ray engine: every workload on a real local Ray node."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess

import pytest

from microrack.bench import CpuParams, NetParams, StorageParams
from microrack.bench.cpu import int_kernel, run_cpu
from microrack.bench.mixed import MixedParams, expected_checksum, run_mixed
from microrack.bench.net import expected_all_to_all, run_net
from microrack.bench.storage import FILE_PREFIX, run_storage
from support import microrack_cmd, missing

pytestmark = pytest.mark.integration

CPU = CpuParams(int_elements=1 << 12, int_rounds=4, matrix=32, matmuls=1)
NET_AND_MIXED_SMALL = (
    "--round-trips",
    "50",
    "--stream-size",
    "2M",
    "--exchange-size",
    "64k",
    "--width",
    "4",
)


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
    assert got["int_all"] == [
        int_kernel(CPU.int_elements, CPU.int_rounds, i)["checksum"] for i in range(2)
    ]
    assert cpu.get("int_cluster_tasks").value == 2
    params = StorageParams(
        directory=str(tmp_path), size=1 << 20, block_size=128 << 10, queue_depth=2, runtime=0.1
    )
    st = run_storage(ray_bench, params)
    assert st.get("seq_write_bytes", node="node0").value == 1 << 20
    assert st.get("seq_read_verified_blocks", node="node0").value == 8
    assert st.get("randread_ops", node="node0", qd="2").value > 0
    assert not [p for p in os.listdir(tmp_path) if p.startswith(FILE_PREFIX)]


def test_net_on_ray_between_two_actors(ray_bench):
    params = NetParams(
        small=64, round_trips=50, stream_bytes=3 << 20, chunk=1 << 20, all_to_all_bytes=64 << 10
    )
    net = run_net(ray_bench, params)
    pair = "node0-node0"  # one Ray node: two actors, two processes on it
    assert net.details["same_node_pairs"] == {pair: True}
    for transport in ("tcp", "ray"):
        assert net.get("echo_ok", pair=pair, transport=transport).value == 1
        assert net.get("round_trips", pair=pair, transport=transport).value == 50
        assert net.get("bytes_sent", pair=pair, transport=transport).value == 3 << 20
        assert net.get("bytes_received", pair=pair, transport=transport).value == 3 << 20
        assert net.get("pingpong_latency", pair=pair, transport=transport, quantile="p50").value > 0
    assert net.get("ray_over_tcp_throughput", pair=pair).unit == "ratio"
    # two endpoints on the one node, each CRC recomputed without Ray
    assert net.details["all_to_all_endpoints"] == 2
    assert net.details["all_to_all_crc"] == list(expected_all_to_all(2, 64 << 10).values())
    assert net.get("all_to_all_bytes").value == 2 * (64 << 10)
    assert net.get("all_to_all_tasks").value == 4


def test_mixed_on_ray_reports_placement_and_no_stealing_switch(ray_bench, tmp_path):
    params = MixedParams(width=4, int_elements=1 << 10, rounds=2)
    mixed = run_mixed(ray_bench, params, str(tmp_path))
    assert mixed.get("checksum", stealing="n/a").value == expected_checksum(params, 1)
    assert mixed.get("tasks", stealing="n/a").value == 4 + 4 + 1 + 1
    assert mixed.get("work_stealing_switch").value == 0
    assert "not applicable" in mixed.details["work_stealing"]
    assert mixed.get("resource_annotations").value == 1
    placed = {
        k: mixed.get("tasks_placed", stealing="n/a", node="node0", kind=k).value
        for k in ("cpu", "io", "shuffle", "final")
    }
    assert placed == {"cpu": 4, "io": 4, "shuffle": 1, "final": 1}
    timeline = mixed.details["runs"]["n/a"]["timeline"]
    assert {t["node"] for t in timeline} == {"node0"}
    assert all(t["stop"] >= t["start"] >= 0 and t["queue"] >= 0 for t in timeline)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".microrack-bench-")]
    with pytest.raises(KeyError):
        mixed.get("makespan", stealing="on")


def test_cli_all_on_ray_runs_every_workload(tmp_path):
    if importlib.util.find_spec("ray") is None:
        missing("ray (PyPI; pip install 'microrack[ray]')")
    out = tmp_path / "ray.json"
    run = subprocess.run(
        microrack_cmd(
            "bench",
            "all",
            "--engine",
            "ray",
            "--local",
            "1",
            "--no-progress",
            "--dir",
            str(tmp_path),
            "--size",
            "1M",
            "--block-size",
            "256k",
            "--queue-depth",
            "2",
            "--runtime",
            "0.1",
            "--cpu-elements",
            "4096",
            "--matrix",
            "32",
            "--json",
            str(out),
            *NET_AND_MIXED_SMALL,
        ),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    assert "skipped" not in run.stderr
    data = json.loads(out.read_text())
    assert set(data["workloads"]) == {"cpu", "storage", "net", "mixed"}
    assert data["environment"]["engine"] == "ray"
