"""Every workload at a small size on a real Dask LocalCluster.

Assertions are on correctness (checksums recomputed here, bytes counted by
the receiver, task counts) and on the shape and units of the results; never on
how fast this shared machine happens to be.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from microrack.bench import (
    BenchRun,
    CpuParams,
    MixedParams,
    NetParams,
    StorageParams,
    open_cluster,
    report,
)
from microrack.bench.cpu import float_kernel, int_kernel, run_cpu
from microrack.bench.engine import probe_environment
from microrack.bench.mixed import expected_checksum, run_mixed
from microrack.bench.net import expected_all_to_all, run_net
from microrack.bench.storage import FILE_PREFIX, run_storage

CPU = CpuParams(int_elements=1 << 14, int_rounds=8, matrix=64, matmuls=2)
NET = NetParams(
    small=64, round_trips=50, stream_bytes=3 << 20, chunk=1 << 18, all_to_all_bytes=64 << 10
)
MIXED = MixedParams(width=6, int_elements=1 << 12, rounds=4)


@pytest.fixture(scope="module")
def bench():
    with open_cluster(None, local=2, threads=1) as b:
        yield b


@pytest.fixture(scope="module")
def results(bench, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench-storage")
    storage = StorageParams(
        directory=str(directory), size=2 << 20, block_size=256 << 10, queue_depth=4, runtime=0.2
    )
    run = BenchRun(
        "now",
        probe_environment(bench),
        {
            "cpu": run_cpu(bench, CPU),
            "storage": run_storage(bench, storage),
            "net": run_net(bench, NET),
            "mixed": run_mixed(bench, MIXED, str(directory)),
        },
    )
    return run, storage


def test_cpu_checksums_match_local_computation(bench, results):
    cpu = results[0].results["cpu"]
    want_int = int_kernel(CPU.int_elements, CPU.int_rounds, 0)["checksum"]
    want_float = float_kernel(CPU.matrix, CPU.matmuls, 0)["checksum"]
    for w in bench.workers:
        got = cpu.details["checksums"][w.node]
        assert got["int"] == want_int
        assert math.isclose(got["float"], want_float, rel_tol=1e-9)
        assert got["int_all"] == [
            int_kernel(CPU.int_elements, CPU.int_rounds, i)["checksum"] for i in range(w.nthreads)
        ]
        for name, unit in (
            ("int_single_core", "ops/s"),
            ("int_all_cores", "ops/s"),
            ("float_single_core", "flop/s"),
        ):
            m = cpu.get(name, node=w.node)
            assert m.unit == unit and m.value > 0
    assert cpu.get("int_cluster_tasks").value == sum(w.nthreads for w in bench.workers)
    for m in cpu.all("cpu_frequency") + cpu.all("temperature"):
        assert m.label("when") in {"start", "end"} and m.unit in {"hz", "celsius"}


def test_storage_moves_and_verifies_every_block(bench, results):
    run, params = results
    st = run.results["storage"]
    size = params.file_size()
    blocks = size // params.block_size
    for w in bench.workers:
        assert st.get("seq_write_bytes", node=w.node).value == size
        assert st.get("seq_read_bytes", node=w.node).value == size
        assert st.get("seq_read_verified_blocks", node=w.node).value == blocks
        assert st.get("test_file_removed", node=w.node).value == 1
        assert st.get("direct_io", node=w.node).unit == "bool"
        for kind in ("randread", "randwrite"):
            for qd in ("1", "4"):
                assert st.get(f"{kind}_ops", node=w.node, qd=qd).value > 0
                assert st.get(f"{kind}_iops", node=w.node, qd=qd).unit == "iops"
                q = {
                    m.label("quantile"): m.value
                    for m in st.all("latency")
                    if m.label("node") == w.node and m.label("phase") == f"{kind}_qd{qd}"
                }
                assert set(q) == {"p50", "p99", "p99.9"}
                assert 0 < q["p50"] <= q["p99"] <= q["p99.9"]
    assert not [p for p in os.listdir(params.directory) if p.startswith(FILE_PREFIX)]


def test_storage_is_direct_where_the_filesystem_allows(bench, results):
    from microrack.bench.storage import _direct_supported

    run, params = results
    can = _direct_supported(params.directory)
    for w in bench.workers:
        assert run.results["storage"].get("direct_io", node=w.node).value == float(can)


def test_net_counts_every_byte_and_echo(bench, results):
    net = results[0].results["net"]
    for transport in ("tcp", "dask"):
        assert net.get("echo_ok", pair="node0-node1", transport=transport).value == 1
        assert net.get("round_trips", pair="node0-node1", transport=transport).value == 50
        assert (
            net.get("bytes_received", pair="node0-node1", transport=transport).value
            == NET.stream_bytes
        )
        assert net.get("throughput", pair="node0-node1", transport=transport).unit == "bytes/s"
        assert (
            net.get(
                "pingpong_latency", pair="node0-node1", transport=transport, quantile="p50"
            ).unit
            == "s"
        )
    n = len(bench.workers)
    expected = expected_all_to_all(n, NET.all_to_all_bytes)
    assert net.details["all_to_all_crc"] == [expected[j] for j in range(n)]
    assert net.get("all_to_all_bytes").value == n * (n - 1) * NET.all_to_all_bytes
    assert net.get("all_to_all_tasks").value == n * (n - 1) + n
    assert net.get("dask_over_tcp_throughput", pair="node0-node1").unit == "ratio"


def test_mixed_same_answer_with_and_without_stealing(bench, results):
    mixed = results[0].results["mixed"]
    reducers = len(bench.workers)
    want = expected_checksum(MIXED, reducers)
    n_tasks = 2 * MIXED.width + reducers + 1
    assert mixed.get("resource_annotations").value == 1
    for mode in ("on", "off"):
        assert mixed.get("checksum", stealing=mode).value == want
        assert mixed.get("tasks", stealing=mode).value == n_tasks
        placed = [m for m in mixed.all("tasks_placed") if m.label("stealing") == mode]
        assert sum(m.value for m in placed) == n_tasks
        assert sum(m.value for m in placed if m.label("kind") == "cpu") == MIXED.width
        timeline = mixed.details["runs"][mode]["timeline"]
        assert len(timeline) == n_tasks
        assert {t["node"] for t in timeline} <= {w.node for w in bench.workers}
        assert all(t["queue"] >= 0 and t["stop"] >= t["start"] for t in timeline)
        util = mixed.details["runs"][mode]["utilisation"]
        assert set(util) == {w.node for w in bench.workers}
        assert all(0 <= u <= 1.0 + 1e-3 for row in util.values() for u in row)
        assert mixed.get("makespan", stealing=mode).unit == "s"
    assert mixed.get("stealing_off_over_on_makespan").unit == "ratio"
    # the stealing switch is restored to what the scheduler had
    assert bench.client.run_on_scheduler(
        lambda dask_scheduler: "stealing" in dask_scheduler.periodic_callbacks
    )


def test_json_html_and_compare(results, tmp_path: Path):
    run = results[0]
    path = tmp_path / "run.json"
    report.write_json(run, str(path))
    data = json.loads(path.read_text())
    env = data["environment"]
    assert {"kernel", "python", "dask"} <= set(env["client"])
    assert [w["address"].startswith("tcp://127.0.0.1:") for w in env["workers"]] == [True, True]
    for workload in ("cpu", "storage", "net", "mixed"):
        for m in data["workloads"][workload]["measurements"]:
            assert m["unit"] and "value" in m and isinstance(m["labels"], dict)
    again = report.load_run(str(path), "A.json")
    rows = report.compare_runs(again, run)
    assert rows and all(r["ratio"] in (None, 1.0) for r in rows)
    assert {r["workload"] for r in rows} == {"cpu", "storage", "net", "mixed"}
    html = tmp_path / "run.html"
    report.write_html(run, str(html))
    text = html.read_text()
    assert "Plotly.newPlot" in text
    for section in (
        "cpu",
        "storage-seq",
        "storage-latency",
        "net-latency",
        "net-throughput",
        "mixed-on",
        "mixed-off",
        "mixed-utilisation",
    ):
        assert f'id="{section}"' in text


def test_storage_progress_advances_once_per_phase_while_a_node_runs(bench, tmp_path):
    """The storage bar has a step per phase of each node, counted while the job runs.

    The job's phases are read from the worker beside the running job; with four
    random phases of 1.5 s each, the client sees at least one phase finished
    before the node's job returns (a condition, not a speed).
    """
    import threading
    import time

    from microrack.bench.storage import phase_names, phases_done

    params = StorageParams(
        directory=str(tmp_path), size=1 << 20, block_size=256 << 10, queue_depth=2, runtime=1.5
    )
    names = phase_names(params)
    assert names == [
        "seq_write",
        "seq_read",
        "randread_qd1",
        "randread_qd2",
        "randwrite_qd1",
        "randwrite_qd2",
    ]
    steps: list[tuple[str, str]] = []
    running = threading.Event()

    def step(what: str) -> None:
        steps.append((what, threading.current_thread().name))

    first = bench.workers[0].node
    seen_mid_run: list[list[str]] = []

    def watch() -> None:
        while running.is_set():
            done = bench.call_everywhere(phases_done, params.run_id, first)
            got = max(done.values(), key=len)
            if 0 < len(got) < len(names):
                seen_mid_run.append(got)
            time.sleep(0.05)

    running.set()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run_storage(bench, params, step)
    finally:
        running.clear()
        watcher.join(timeout=60)
    assert [what for what, _ in steps] == [f"{w.node} {n}" for w in bench.workers for n in names]
    # the first phase of the first node was counted by the poller, i.e. while the job ran
    assert steps[0][1] == "storage-progress"
    assert seen_mid_run and all(got == names[: len(got)] for got in seen_mid_run)
    assert not list(tmp_path.glob(f"{FILE_PREFIX}*"))
