"""``microrack bench`` from the command line: bad input, Ctrl-C, JSON and compare."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from microrack.bench.storage import FILE_PREFIX
from support import free_port, microrack_cmd

SMALL = [
    "--no-progress",
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
    "20",
    "--stream-size",
    "512k",
    "--exchange-size",
    "16k",
    "--width",
    "3",
]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        microrack_cmd("bench", *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], argument: str) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert argument in lines[0]
    assert proc.stdout == ""  # no table: nothing ran
    return lines[0]


def leftovers(directory: Path) -> list[str]:
    return [p for p in os.listdir(directory) if p.startswith(FILE_PREFIX)]


def test_unknown_workload():
    line = one_line_error(bench("disk", "--local", "1"), "workload")
    assert "'disk'" in line and "storage" in line


@pytest.mark.parametrize(
    "args, argument",
    [
        (["--size", "lots"], "--size"),
        (["--block-size", "0"], "--block-size"),
        (["--queue-depth", "0"], "--queue-depth"),
        (["--local", "0"], "--local"),
        (["--block-size", "1000", "--direct"], "--block-size"),
        (["--json", "/nonexistent-dir/run.json"], "--json"),
        (["--report", "/nonexistent-dir/run.html"], "--report"),
        (["--json", "/proc/run.json"], "--json"),  # a directory that takes no new file
        (["--runtime", "nan"], "--runtime"),
        (["--runtime", "inf"], "--runtime"),
    ],
)
def test_bad_values_name_the_argument(args, argument, tmp_path):
    one_line_error(bench("storage", "--dir", str(tmp_path), *args), argument)


@pytest.mark.parametrize(
    "workload, args, argument",
    [
        ("cpu", ["--matrix", "2000000"], "--matrix"),  # 96 TB of matrices
        ("cpu", ["--cpu-elements", str(1 << 42)], "--cpu-elements"),
        ("net", ["--exchange-size", "64T"], "--exchange-size"),
        ("net", ["--message-size", "1G"], "--message-size"),
    ],
)
def test_sizes_beyond_memory_fail_before_any_work(workload, args, argument):
    """A size no worker can hold is one line naming it, not a worker's MemoryError."""
    line = one_line_error(
        bench(workload, "--local", "1" if workload == "cpu" else "2", "--no-progress", *args),
        argument,
    )
    assert "memory" in line or "ping-pong" in line, line


def test_unreachable_scheduler_fails_before_any_work(tmp_path):
    port = free_port()
    line = one_line_error(
        bench("all", "--scheduler", f"tcp://127.0.0.1:{port}", "--dir", str(tmp_path)),
        "--scheduler",
    )
    assert f"127.0.0.1:{port}" in line
    assert leftovers(tmp_path) == []


def test_port_that_is_not_a_dask_scheduler(tmp_path):
    """A listener that never answers: the handshake times out instead of hanging."""
    with socket.create_server(("127.0.0.1", 0)) as mute:
        port = mute.getsockname()[1]
        line = one_line_error(bench("cpu", "--scheduler", f"127.0.0.1:{port}"), "--scheduler")
    assert "not a Dask scheduler" in line


def test_port_that_speaks_another_protocol(tmp_path):
    """A server that greets first (ssh-like): its bytes are not taken for a Dask frame."""
    import threading

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        stop = threading.Event()

        def greet() -> None:
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    continue
                with contextlib.suppress(OSError):
                    conn.sendall(b"SSH-2.0-OpenSSH_9.6 not dask at all\r\n" * 4)
                    conn.recv(4096)
                conn.close()

        t = threading.Thread(target=greet, daemon=True)
        t.start()
        try:
            line = one_line_error(bench("cpu", "--scheduler", f"127.0.0.1:{port}"), "--scheduler")
        finally:
            stop.set()
            t.join(timeout=10)
    assert "not a Dask scheduler" in line and "MemoryError" not in line, line


def test_size_larger_than_free_space(tmp_path):
    line = one_line_error(bench("storage", "--dir", str(tmp_path), "--size", "900T"), "--size")
    assert "free space" in line
    assert leftovers(tmp_path) == []


def test_directory_that_does_not_exist(tmp_path):
    one_line_error(bench("storage", "--dir", str(tmp_path / "nope")), "--dir")


@contextlib.contextmanager
def read_only_dir(tmp_path: Path):
    """A directory that even root cannot write: a read-only tmpfs mount (chmod when not root)."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o500)
        yield d
        d.chmod(0o700)
        return
    from support import missing

    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        missing(f"mounting a read-only tmpfs ({mount.stderr.strip()})")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], capture_output=True)


def test_directory_not_writable(tmp_path):
    with read_only_dir(tmp_path) as d:
        line = one_line_error(bench("storage", "--dir", str(d)), "--dir")
        assert "not writable" in line


def test_bad_pair_names_the_argument():
    line = one_line_error(bench("net", "--local", "2", "--pair", "node0,node7"), "--pair")
    assert "node7" in line


def test_bad_profile_is_one_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("storage:\n  runtime: -1\n")
    line = one_line_error(bench("cpu", "--profile", str(path)), str(path))
    assert "storage.runtime" in line


def test_all_writes_json_report_and_compares(tmp_path):
    a, b, html = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "r.html"
    run = bench(
        "all",
        "--profile",
        str(EXAMPLES / "bench-quick.yaml"),
        "--no-progress",
        "--dir",
        str(tmp_path),
        "--json",
        str(a),
        "--report",
        str(html),
    )
    assert run.returncode == 0, run.stderr
    for name in ("bench cpu", "bench storage", "bench net", "bench mixed"):
        assert name in run.stdout
    data = json.loads(a.read_text())
    assert set(data["workloads"]) == {"cpu", "storage", "net", "mixed"}
    assert len(data["environment"]["workers"]) == 2
    assert "Plotly.newPlot" in html.read_text()
    assert leftovers(tmp_path) == []
    run = bench("cpu", "--local", "1", *SMALL, "--json", str(b))
    assert run.returncode == 0, run.stderr
    cmp = bench("compare", str(a), str(b))
    assert cmp.returncode == 0, cmp.stderr
    assert "int_single_core" in cmp.stdout and "B/A" in cmp.stdout
    bad = bench("compare", str(a), str(html))
    one_line_error(bad, "B.json")
    # runs with no workload in common: one line, not an empty table
    only_storage = json.loads(a.read_text())
    only_storage["workloads"] = {"storage": only_storage["workloads"]["storage"]}
    only_cpu = json.loads(a.read_text())
    only_cpu["workloads"] = {"cpu": only_cpu["workloads"]["cpu"]}
    (tmp_path / "s.json").write_text(json.dumps(only_storage))
    (tmp_path / "c.json").write_text(json.dumps(only_cpu))
    line = one_line_error(
        bench("compare", str(tmp_path / "c.json"), str(tmp_path / "s.json")), "compare"
    )
    assert "no measurement in common" in line and "(cpu)" in line and "(storage)" in line


def test_ctrl_c_removes_the_test_file(tmp_path):
    """SIGINT while the sequential write runs: the file is gone and the exit code is 130."""
    argv = microrack_cmd(
        "bench",
        "storage",
        "--local",
        "1",
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
    )
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not [p for p in leftovers(tmp_path) if not p.startswith(f"{FILE_PREFIX}probe")]:
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
    assert leftovers(tmp_path) == []


def test_progress_bar_per_workload_on_a_terminal(tmp_path):
    """On a terminal (a pty here) every workload gets its own rich progress bar."""
    import pty
    import select

    master, slave = pty.openpty()
    argv = microrack_cmd(
        "bench", "all", "--profile", str(EXAMPLES / "bench-quick.yaml"), "--dir", str(tmp_path)
    )
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 300)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        proc.wait(timeout=300)
        os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
    assert proc.returncode == 0, text[-2000:]
    for workload in ("cpu", "storage", "net", "mixed"):
        assert any(
            line.lstrip().startswith(workload) and "━" in line
            for line in text.replace("\r", "\n").splitlines()
        ), workload
    assert "bench mixed" in text  # the summary follows the bars
