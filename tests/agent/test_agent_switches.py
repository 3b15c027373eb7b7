"""The agent process: collector switches, textfile directory, and systemd's notify protocol."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from support import free_port, http_get, microrack_cmd, started

TREE = str(Path(__file__).resolve().parent.parent / "fixtures" / "trees" / "rpi4b")


def families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def success(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("node_scrape_collector_success{"):
            name = line.split('"')[1]
            out[name] = float(line.rsplit(" ", 1)[1])
    return out


def test_switches_textfile_and_sd_notify(tmp_path: Path, artifacts_dir: Path):
    notify = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(30)
    tf = tmp_path / "textfile"
    tf.mkdir()
    (tf / "backup.prom").write_text(
        "# HELP backup_last_success_timestamp_seconds Last backup.\n"
        "# TYPE backup_last_success_timestamp_seconds gauge\n"
        "backup_last_success_timestamp_seconds 1.7e9\n"
    )
    (tf / "broken.prom").write_text("broken{ 1\n")
    port = free_port()
    argv = microrack_cmd(
        "agent",
        "--listen",
        f"127.0.0.1:{port}",
        "--root",
        TREE,
        "--interval",
        "0.3",
        "--no-collector.vmstat",
        "--collector.arp",
        "--no-collector.timex",
        f"--collector.textfile.directory={tf}",
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(notify)}
    with (
        sock,
        started(
            argv, artifacts_dir / "agent-switches.log", env=env, wait=("127.0.0.1", port)
        ) as proc,
    ):
        first = sock.recv(4096).decode()
        assert first.startswith("READY=1\n"), first
        # READY came once /metrics serves the first collection
        status, body = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        pings = [sock.recv(4096) for _ in range(3)]  # one per collection that ran
        assert set(pings) == {b"WATCHDOG=1"}
        text = body.decode()
        fams = families(text)
        assert "node_vmstat_pgfault" not in fams and "node_timex_offset_seconds" not in fams
        assert {
            "node_arp_entries",
            "node_netstat_Tcp_CurrEstab",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
            "backup_last_success_timestamp_seconds",
        } <= fams
        ok = success(text)
        assert "vmstat" not in ok and ok["arp"] == 1 and ok["textfile"] == 1
        assert "node_textfile_scrape_error 1" in text.splitlines()
        assert "# HELP backup_last_success_timestamp_seconds Last backup." in text
        snap = json.loads(http_get(f"http://127.0.0.1:{port}/api/v1/snapshot")[1])
        assert snap["errors"] == []
        proc.stop()
        assert proc.popen.returncode == 0
        rest = []
        try:
            while True:
                rest.append(sock.recv(4096))
        except TimeoutError:
            pass
        except OSError:
            pass
        assert b"STOPPING=1" in rest


def test_a_broken_proc_file_fails_only_its_collector(tmp_path: Path, artifacts_dir: Path):
    """A copy of a board tree with a garbled, a truncated and an unreadable file."""
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(TREE, tree, symlinks=True)
    (tree / "proc/vmstat").write_text("pgfault \x00\x00garbage\n")
    (tree / "proc/net/snmp").write_text("Ip: Forwarding DefaultTTL\n")  # truncated
    (tree / "proc/net/softnet_stat").write_text("zz yy\n")
    (tree / "proc/sys/kernel/random/entropy_avail").unlink()
    (tree / "proc/sys/kernel/random/entropy_avail").mkdir()  # EISDIR on read
    port = free_port()
    argv = microrack_cmd(
        "agent", "--listen", f"127.0.0.1:{port}", "--root", str(tree), "--interval", "0.3"
    )
    with started(argv, artifacts_dir / "agent-broken.log", wait=("127.0.0.1", port)) as proc:
        deadline = time.monotonic() + 30
        while True:
            status, body = http_get(f"http://127.0.0.1:{port}/metrics")
            if status == 200 and body:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        ok = success(body.decode())
        assert {n for n, v in ok.items() if v == 0} >= {"vmstat", "netstat", "softnet", "entropy"}
        assert ok["cpu"] == ok["meminfo"] == ok["sockstat"] == ok["arp"] == ok["diskstats"] == 1
        assert "node_cpu_seconds_total" in families(body.decode())
        snap = json.loads(http_get(f"http://127.0.0.1:{port}/api/v1/snapshot")[1])
        assert set(snap["errors"]) >= {"vmstat", "netstat", "softnet", "entropy"}
        assert proc.popen.poll() is None
    log = (artifacts_dir / "agent-broken.log").read_text()
    assert "Traceback" not in log
    assert log.count("collector vmstat failed") == 1  # logged once, not every collection


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--collector.vmstat.fields", "("], "--collector.vmstat.fields"),
        (["--collector.diskstats.device-exclude", "[a-"], "--collector.diskstats.device-exclude"),
        (["--collector.netdev.device-include", "*x"], "--collector.netdev.device-include"),
    ],
)
def test_a_bad_pattern_is_one_line_naming_the_flag(args, flag):
    p = subprocess.run(
        microrack_cmd("agent", "--root", TREE, "--listen", "127.0.0.1:0", *args),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "regular expression" in lines[0], p.stderr


def test_an_unknown_collector_switch_is_refused():
    p = subprocess.run(
        microrack_cmd("agent", "--collector.nosuch"), capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 2 and "--collector.nosuch" in p.stderr
