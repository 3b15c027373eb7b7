"""Every workload on a real multi-host Dask: scheduler and workers in their own namespaces.

``dask scheduler`` runs in namespace 0, one ``dask worker`` in each of
namespaces 1 and 2, all on one bridge with 198.18.77.0/24 addresses, so every
message between workers crosses two veth interfaces and the bridge.  The
``microrack bench`` client runs in namespace 0, next to the scheduler.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import NetNS, microrack_cmd, started

pytestmark = [pytest.mark.integration, pytest.mark.netns]

DASK = str(Path(sys.executable).parent / "dask")
WAIT_FOR_WORKERS = """
import sys
from distributed import Client
with Client(sys.argv[1], timeout=60) as c:
    c.wait_for_workers(int(sys.argv[2]), timeout=120)
"""


@pytest.fixture(scope="module")
def cluster(artifacts_dir, tmp_path_factory):
    logs = tmp_path_factory.mktemp("dask-logs")
    with NetNS(3, subnet=77, prefix="mrb") as ns:
        sched = f"tcp://{ns.addresses[0]}:8786"
        with started(
            ns.exec_argv(
                0,
                [DASK, "scheduler", "--host", ns.addresses[0], "--port", "8786", "--no-dashboard"],
            ),
            logs / "scheduler.log",
        ):
            workers = []
            for i in (1, 2):
                argv = ns.exec_argv(
                    i,
                    [
                        DASK,
                        "worker",
                        sched,
                        "--host",
                        ns.addresses[i],
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--resources",
                        "cpu=1 io=1 net=1",
                        "--local-directory",
                        str(logs / f"w{i}"),
                    ],
                )
                workers.append(started(argv, logs / f"worker{i}.log"))
            with workers[0], workers[1]:
                subprocess.run(
                    ns.exec_argv(0, [sys.executable, "-c", WAIT_FOR_WORKERS, sched, "2"]),
                    check=True,
                    timeout=180,
                )
                yield ns, sched


def rx_bytes(ns: NetNS, i: int) -> int:
    """Bytes received on namespace ``i``'s bridge interface (sysfs as seen inside it)."""
    out = subprocess.run(
        ns.exec_argv(i, ["cat", f"/sys/class/net/{ns.iface(i)}/statistics/rx_bytes"]),
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def test_all_workloads_cross_the_bridge(cluster, tmp_path, artifacts_dir):
    ns, sched = cluster
    rx_before = rx_bytes(ns, 2)
    out = tmp_path / "netns.json"
    html = artifacts_dir / "bench-netns.html"
    argv = ns.exec_argv(
        0,
        microrack_cmd(
            "bench",
            "all",
            "--scheduler",
            sched,
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
            "--round-trips",
            "50",
            "--stream-size",
            "2M",
            "--exchange-size",
            "32k",
            "--width",
            "4",
            "--json",
            str(out),
            "--report",
            str(html),
        ),
    )
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    # node1 (namespace 2) received both 2 MiB streams through its veth interface
    assert rx_bytes(ns, 2) - rx_before >= 2 * (2 << 20)
    workers = data["environment"]["workers"]
    hosts = sorted(w["address"].split("//")[1].rsplit(":", 1)[0] for w in workers)
    assert hosts == ns.addresses[1:]  # two workers, two hosts, neither is the scheduler's
    assert data["environment"]["embedded"] is False

    def values(workload, name, **labels):
        return [
            m["value"]
            for m in data["workloads"][workload]["measurements"]
            if m["name"] == name and labels.items() <= m["labels"].items()
        ]

    for transport in ("tcp", "dask"):
        assert values("net", "bytes_received", pair="node0-node1", transport=transport) == [2 << 20]
        assert values("net", "echo_ok", pair="node0-node1", transport=transport) == [1.0]
    assert values("net", "all_to_all_bytes") == [2 * (32 << 10)]
    assert len(values("storage", "seq_read_verified_blocks")) == 2
    assert all(v == 4 for v in values("storage", "seq_read_verified_blocks"))
    on, off = (
        values("mixed", "checksum", stealing="on"),
        values("mixed", "checksum", stealing="off"),
    )
    assert on == off and len(on) == 1
    assert values("mixed", "resource_annotations") == [1.0]
    assert values("mixed", "tasks", stealing="on") == [2 * 4 + 2 + 1]
    assert len(values("cpu", "int_single_core")) == 2


def test_wrong_scheduler_address_from_a_namespace(cluster):
    ns, _ = cluster
    argv = ns.exec_argv(
        0, microrack_cmd("bench", "cpu", "--scheduler", f"tcp://{ns.addresses[1]}:8799")
    )
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "--scheduler" in run.stderr


def test_unusable_directory_on_the_workers_names_the_worker(cluster, tmp_path):
    ns, sched = cluster
    argv = ns.exec_argv(
        0,
        microrack_cmd("bench", "storage", "--scheduler", sched, "--dir", str(tmp_path / "absent")),
    )
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    line = run.stderr.strip()
    assert "\n" not in line and line.count("--dir") == 1
    assert "node0 (tcp://198.18.77.2:" in line


def test_ctrl_c_removes_the_test_file_on_remote_workers(cluster, tmp_path):
    """The client asks every worker to stop and delete its file; none is left behind."""
    ns, sched = cluster
    argv = ns.exec_argv(
        0,
        microrack_cmd(
            "bench",
            "storage",
            "--scheduler",
            sched,
            "--no-progress",
            "--dir",
            str(tmp_path),
            "--size",
            "256M",
            "--block-size",
            "4k",
            "--buffered",
            "--runtime",
            "30",
        ),
    )
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".microrack-bench-*-node*.dat")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the test file never appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 30  # the worker thread notices the stop flag
    while list(tmp_path.glob(".microrack-bench-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob(".microrack-bench-*")) == []
