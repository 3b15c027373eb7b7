"""``microrack demo`` as a newcomer runs it: agents with fan control, a hub, a scripted story.

Checked through the hub's API while the demo runs: node 0's fan stall is
followed by throttling on that node (and only there) and by the alerts; node 1
crashes (NodeDown) and comes back with a new boot id.  Afterwards every process
the demo started is gone and its temporary directory removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from microrack.demo import hub_available
from support import free_port, microrack_cmd, wait_for_port

DURATION = 80


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours would still answer; the demo reaps its children
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False


def _holding(workdir: Path) -> list[int]:
    """Live processes whose command line names the demo's directory (agents, hub)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            with contextlib.suppress(OSError):
                if str(workdir).encode() in (d / "cmdline").read_bytes() and _alive(int(d.name)):
                    out.append(int(d.name))
    return out


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    log = tmp_path / "demo.log"
    fh = open(log, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        microrack_cmd(
            "demo",
            "--nodes",
            "3",
            "--boards",
            "pi4b,rk1,pi5",
            "--listen",
            f"127.0.0.1:{port}",
            "--duration",
            str(DURATION),
        ),
        stdout=fh,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        yield proc, port, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        fh.close()


def _started(log: Path) -> tuple[list[int], Path]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        m = re.search(r"workdir (\S+)", text)
        if m:
            pids = [int(p) for p in re.findall(r"pid (\d+)", text)]
            return pids, Path(m.group(1))
        time.sleep(0.5)
    raise AssertionError(f"demo did not start:\n{log.read_text(errors='replace')[-3000:]}")


def test_demo_fan_stall_throttles_and_alerts_then_cleans_up(demo) -> None:  # type: ignore[no-untyped-def]
    proc, port, log = demo
    pids, workdir = _started(log)
    assert workdir.is_dir() and len(pids) >= 3
    if hub_available():
        wait_for_port("127.0.0.1", port, 60, proc)
        base = f"http://127.0.0.1:{port}"
        seen: dict[tuple[str, str], float] = {}
        boots: dict[str, set[str]] = {}
        deadline = time.monotonic() + DURATION + 30
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError):
                data = _json(f"{base}/api/v1/alerts")
                for a in data["alerts"] + data["resolved"]:
                    key = (a["name"], a["node"])
                    seen[key] = min(seen.get(key, a["since"]), a["since"])
                for n in _json(f"{base}/api/v1/nodes")["nodes"]:
                    if n.get("boot_id"):
                        boots.setdefault(n["name"], set()).add(n["boot_id"])
            time.sleep(1)
        assert ("FanStalled", "pi4b-0") in seen, seen
        assert ("Throttling", "pi4b-0") in seen, seen
        # the stall came first, then the heat; the node with a working fan never throttled
        assert seen[("FanStalled", "pi4b-0")] < seen[("Throttling", "pi4b-0")]
        assert ("Throttling", "pi5-2") not in seen
        assert ("NodeDown", "rk1-1") in seen, seen
        assert len(boots.get("rk1-1", set())) == 2, boots
    else:
        # Terminal-only path (no hub installed): the live summary shows the same story.
        proc.wait(DURATION + 60)
        text = log.read_text(errors="replace")
        assert "FanStalled:pi4b-0" in text and "Throttling:pi4b-0" in text
        assert "Throttling:pi5-2" not in text and "NodeDown:rk1-1" in text
    assert proc.wait(60) == 0, log.read_text(errors="replace")[-3000:]
    assert "stopped every process" in log.read_text()
    assert not any(_alive(p) for p in pids)
    assert not _holding(workdir)  # the rebooted agent too, whose pid was never printed
    assert not workdir.exists()


def test_demo_ctrl_c_after_the_reboot_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl-C once node 1 has crashed and come back (a process started mid-run)."""
    log = tmp_path / "demo.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            microrack_cmd(
                "demo",
                "--nodes",
                "2",
                "--boards",
                "pi4b,rk1",
                "--listen",
                f"127.0.0.1:{free_port()}",
            ),
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            _, workdir = _started(log)
            deadline = time.monotonic() + 300
            back = False
            while time.monotonic() < deadline and proc.poll() is None and not back:
                time.sleep(1)
                text = log.read_text(errors="replace")
                down = text.find("rk1-1=down")
                back = down >= 0 and re.search(r"rk1-1=\d+C", text[down:]) is not None
            assert back, log.read_text(errors="replace")[-3000:]
            assert len(_holding(workdir)) >= 2
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0, log.read_text(errors="replace")[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    text = log.read_text(errors="replace")
    assert "stopped every process" in text and "rk1-1: peak" in text and "boots 2" in text
    assert not _holding(workdir)
    assert not workdir.exists()


def test_demo_bad_input_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    before = {p.name for p in Path(tempfile.gettempdir()).glob("microrack-demo-*")}
    p = subprocess.run(
        microrack_cmd("demo", "--boards", "pi4b,nosuchboard", "--duration", "5"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "nosuchboard" in p.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = subprocess.run(
            microrack_cmd(
                "demo", "--nodes", "1", "--listen", f"127.0.0.1:{port}", "--duration", "5"
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
    if hub_available():
        assert p.returncode == 1 and "--listen" in p.stderr and p.stderr.count("\n") == 1
    p = subprocess.run(
        microrack_cmd("demo", "--listen", "nowhere"), capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 2 and "--listen" in p.stderr
    after = {p.name for p in Path(tempfile.gettempdir()).glob("microrack-demo-*")}
    assert after <= before


def test_demo_without_hub_shows_the_story_in_the_terminal(tmp_path: Path) -> None:
    """The terminal-only path (no hub installed, or --no-hub): same rules on the snapshots."""
    p = subprocess.run(
        microrack_cmd(
            "demo", "--nodes", "2", "--boards", "pi4b,rk1", "--no-hub", "--duration", "50"
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    out = p.stdout
    assert "terminal only" in out
    assert "FanStalled:pi4b-0" in out and "Throttling:pi4b-0" in out
    assert "NodeDown:rk1-1" in out
    assert "FanStalled:rk1-1" not in out
    workdir = Path(re.search(r"workdir (\S+)", out).group(1))  # type: ignore[union-attr]
    assert not workdir.exists()
    assert not any(_alive(int(pid)) for pid in re.findall(r"pid (\d+)", out))


def test_an_agent_port_taken_after_the_check_is_retried_elsewhere(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Another program binds the agent's port between the demo's check and the agent's bind."""
    import http.server
    import threading

    import microrack.demo._run as run_mod

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Quiet)  # answers 501: not an agent
    taken = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    real = run_mod._port_free
    monkeypatch.setattr(run_mod, "_AGENT_PORTS", [taken, *range(29101, 32700)])
    monkeypatch.setattr(run_mod, "_port_free", lambda h, p: p == taken or real(h, p))
    demo = run_mod.Demo(
        nodes=1, boards=["pi4b"], listen=("127.0.0.1", free_port()), duration=5, use_hub=False
    )
    try:
        demo.start()
        node = demo.nodes[0]
        assert node.port != taken and node.proc is not None and node.proc.poll() is None
        snap = _json(f"http://127.0.0.1:{node.port}/api/v1/snapshot")
        assert snap["node"]["name"] == node.name
    finally:
        demo.stop()
        srv.shutdown()
    assert not demo.workdir.exists()
