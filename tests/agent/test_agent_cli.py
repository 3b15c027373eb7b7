"""``microrack agent`` on the command line: bad input is one line and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from support import free_port, http_get, microrack_cmd, missing, started

TREE = str(Path(__file__).resolve().parent.parent / "fixtures" / "trees" / "rpi4b")


def run_agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(microrack_cmd("agent", *args), capture_output=True, text=True, timeout=60)


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_unknown_flag():
    p = run_agent("--frobnicate")
    assert p.returncode == 2
    assert "--frobnicate" in one_line(p)


@pytest.mark.parametrize(
    "listen", ["nonsense", "127.0.0.1:99999", "127.0.0.1:", ":9101", "no-such-host.invalid:9101"]
)
def test_bad_listen(listen):
    p = run_agent("--listen", listen, "--root", TREE)
    assert p.returncode == 2
    line = one_line(p)
    assert "--listen" in line and "Traceback" not in p.stderr


def test_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run_agent("--listen", f"127.0.0.1:{port}", "--root", TREE)
    assert p.returncode == 1
    line = one_line(p)
    assert f"127.0.0.1:{port}" in line and "in use" in line


@pytest.mark.parametrize("kind", ["missing", "directory", "empty"])
def test_unreadable_key_file(tmp_path, kind):
    path = tmp_path / "key"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_text("\n")
    p = run_agent("--listen", f"127.0.0.1:{free_port()}", "--root", TREE, "--beacon-key", str(path))
    assert p.returncode == 1
    assert str(path) in one_line(p)


def test_bad_root_interval_and_board(tmp_path):
    p = run_agent("--root", str(tmp_path / "nope"))
    assert p.returncode == 2 and "--root" in one_line(p)
    for interval in ("0", "inf", "nan", "soon"):
        p = run_agent("--interval", interval)
        assert p.returncode == 2 and "--interval" in one_line(p)
    for group in ("198.18.0.1", "not-an-address"):
        p = run_agent("--beacon-group", group, "--root", TREE)
        assert p.returncode == 2 and "--beacon-group" in one_line(p)
    p = run_agent("--buffer", "0")
    assert p.returncode == 2 and "--buffer" in one_line(p)
    p = run_agent("--sim-script", str(tmp_path / "x.yaml"), "--root", TREE)
    assert p.returncode == 2 and "--sim-script" in one_line(p)
    p = run_agent(
        "--root", TREE, "--board", "no-such-board", "--listen", f"127.0.0.1:{free_port()}"
    )
    assert p.returncode == 2 and "no-such-board" in one_line(p)


def test_says_once_that_no_beacon_is_sent(artifacts_dir):
    port = free_port()
    argv = microrack_cmd(
        "agent", "--listen", f"127.0.0.1:{port}", "--root", TREE, "--interval", "0.2"
    )
    with started(argv, artifacts_dir / "agent-no-beacon.log", wait=("127.0.0.1", port)) as proc:
        for _ in range(3):
            assert http_get(f"http://127.0.0.1:{port}/metrics")[0] == 200
        code = proc.stop()
    assert code == 0  # SIGTERM is a clean stop
    out = proc.output()
    assert out.count("no beacon") == 1, out


def test_listens_on_ipv6_loopback(artifacts_dir):
    with socket.socket(socket.AF_INET6) as s:
        try:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
        except OSError:
            missing("IPv6 loopback")
    argv = microrack_cmd("agent", "--listen", f"[::1]:{port}", "--root", TREE)
    with started(argv, artifacts_dir / "agent-ipv6.log", wait=("::1", port)):
        status, body = http_get(f"http://[::1]:{port}/healthz")
    assert status == 200 and b'"ok":true' in body
