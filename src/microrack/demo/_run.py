"""``microrack demo``: a simulated cluster on this machine, as separate processes.

N ``microrack agent --simulate BOARD --fan auto --sim-script ...`` processes on
loopback (each with its fan controller closing the loop through the twin's
``pwm1``), and ``microrack hub`` with a temporary database pulling from them.
The demo itself only starts, watches and stops processes: it kills node 1's
agent when its board "crashes" and starts it again (new boot id) when it
"reboots".  Every process it started is stopped by pid, and its temporary
directory removed, on Ctrl-C, SIGTERM or the end of ``--duration``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microrack.demo._story import Story, write_script
from microrack.errors import ResourceError, UsageError

__all__ = ["Demo", "DemoNode", "hub_available"]

DEFAULT_BOARDS = ("pi4b", "rk1", "pi5", "vf2")


def hub_available() -> bool:
    """The hub and its web stack are installed (else the demo runs terminal-only)."""
    return all(
        importlib.util.find_spec(m) is not None for m in ("microrack.hub", "starlette", "uvicorn")
    )


_AGENT_PORTS = range(29101, 32700)  # below Linux's ephemeral range (32768-60999)


def _free_port(host: str, taken: set[int]) -> int:
    """A free port outside the ephemeral range, so no client socket can be holding it."""
    for port in _AGENT_PORTS:
        if port not in taken and _port_free(host, port):
            taken.add(port)
            return port
    raise ResourceError("no free port for an agent between 29101 and 32700")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


def _get_json(url: str, timeout: float = 1.5) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


@dataclass
class DemoNode:
    index: int
    name: str
    board: str
    port: int
    role: str  # "fan stalls" | "crashes" | ""
    proc: subprocess.Popen[bytes] | None = None
    boots: int = 1
    crashed: bool = False
    peak_c: float = 0.0
    last: dict[str, Any] = field(default_factory=dict)


class Demo:
    """Start, watch and stop the demo's processes."""

    def __init__(
        self,
        *,
        nodes: int,
        boards: list[str],
        listen: tuple[str, int],
        duration: float | None,
        story: Story | None = None,
        use_hub: bool | None = None,
    ) -> None:
        if nodes < 1:
            raise UsageError("--nodes", "must be at least 1")
        from microrack.catalog import board_profile

        for b in boards:
            board_profile(b)  # UnknownBoard names the board and lists the known ones
        self.host, self.hub_port = listen
        self.duration = duration
        self.story = story or Story()
        self.use_hub = hub_available() if use_hub is None else use_hub
        self.workdir = Path(tempfile.mkdtemp(prefix="microrack-demo-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.hub: subprocess.Popen[bytes] | None = None
        self.nodes = []
        for i in range(nodes):
            board = boards[i % len(boards)]
            role = "fan stalls" if i == 0 else "crashes" if i == 1 else ""
            self.nodes.append(DemoNode(i, f"{board}-{i}", board, 0, role))
        self.local_alerts: dict[tuple[str, str], float] = {}
        self.alerts: list[dict[str, Any]] = []  # as of the last tick, one per (rule, node)
        self.raised: dict[tuple[str, str], float] = {}  # every alert that fired, and when
        self.t0 = time.monotonic()

    # -- processes
    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / log, "ab") as fh:
            p = subprocess.Popen(
                argv,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs.append(p)
        return p

    def _start_agent(self, node: DemoNode) -> None:
        script = write_script(
            self.workdir / f"{node.name}.boot{node.boots}.yaml",
            self.story,
            index=node.index,
            after_reboot=node.boots > 1,
        )
        argv = [
            sys.executable,
            "-m",
            "microrack",
            "agent",
            "--simulate",
            node.board,
            "--seed",
            str(node.index + 100 * (node.boots - 1)),
            "--node",
            node.name,
            "--listen",
            f"127.0.0.1:{node.port}",
            "--interval",
            "1",
            "--fan",
            "auto",
            "--sim-script",
            str(script),
        ]
        node.proc = self._spawn(argv, f"{node.name}.log")

    def start(self) -> None:
        """Start every agent, then the hub; raise ``ResourceError`` if one fails."""
        if self.use_hub and not _port_free(self.host, self.hub_port):
            raise ResourceError(
                f"--listen {self.host}:{self.hub_port}: address already in use; "
                "choose a free port with --listen HOST:PORT"
            )
        taken: set[int] = {self.hub_port}
        for node in self.nodes:
            node.port = _free_port("127.0.0.1", taken)
            self._start_agent(node)
        for node in self.nodes:
            for _attempt in range(5):
                assert node.proc is not None
                if _wait_port("127.0.0.1", node.port, node.proc, 60.0) and self._answers(node):
                    break
                if node.proc.poll() is None or "already in use" not in self._tail(node.name):
                    raise ResourceError(f"agent {node.name} did not start: {self._tail(node.name)}")
                # another program took the port between our check and the agent's bind
                node.port = _free_port("127.0.0.1", taken)
                self._start_agent(node)
            else:
                raise ResourceError(f"agent {node.name} did not start: {self._tail(node.name)}")
        if self.use_hub:
            argv = [
                sys.executable,
                "-m",
                "microrack",
                "hub",
                "--listen",
                f"{self.host}:{self.hub_port}",
                "--db",
                str(self.workdir / "hub.db"),
                "--poll",
                "1s",
                "--price-kwh",
                "0.30",
                "--currency",
                "EUR",
            ]
            for node in self.nodes:
                argv += ["--agent", f"127.0.0.1:{node.port}"]
            self.hub = self._spawn(argv, "hub.log")
            if not _wait_port(self.host, self.hub_port, self.hub, 60.0):
                raise ResourceError(f"hub did not start: {self._tail('hub')}")
        self.t0 = time.monotonic()

    def _answers(self, node: DemoNode) -> bool:
        """The agent on ``node.port`` is ours (not another program that holds the port)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and node.proc is not None and node.proc.poll() is None:
            snap = _get_json(f"http://127.0.0.1:{node.port}/api/v1/snapshot")
            if isinstance(snap, dict) and (snap.get("node") or {}).get("name") == node.name:
                return True
            time.sleep(0.2)
        return False

    def _tail(self, name: str) -> str:
        try:
            lines = (self.workdir / f"{name}.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        """Stop every process started (by pid), then remove the temporary directory."""
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the story
    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def tick(self) -> None:
        """Advance the scripted crash/reboot; check nothing died unexpectedly; poll nodes."""
        s = self.story
        if len(self.nodes) > 1:
            victim = self.nodes[1]
            t = self.elapsed
            if not victim.crashed and victim.boots == 1 and t >= s.crash_at_s:
                assert victim.proc is not None
                os.kill(victim.proc.pid, signal.SIGKILL)  # the board loses power
                victim.proc.wait(5)
                victim.crashed = True
            elif victim.crashed and t >= s.crash_at_s + s.crash_for_s:
                victim.boots += 1
                victim.crashed = False
                self._start_agent(victim)
        for node in self.nodes:
            if not node.crashed and node.proc is not None and node.proc.poll() is not None:
                raise ResourceError(f"agent {node.name} exited: {self._tail(node.name)}")
            snap = (
                None if node.crashed else _get_json(f"http://127.0.0.1:{node.port}/api/v1/snapshot")
            )
            node.last = snap or {}
            temp = (snap or {}).get("headline", {}).get("temp_max_celsius")
            if temp is not None:
                node.peak_c = max(node.peak_c, float(temp))
        if self.hub is not None and self.hub.poll() is not None:
            raise ResourceError(f"hub exited: {self._tail('hub')}")
        if self.hub is None:
            self._local_alerts()
        self.alerts = _one_per_node(self.hub_alerts())
        for a in self.alerts:
            if a.get("state") in ("firing", "resolved"):
                self.raised.setdefault((str(a.get("name")), str(a.get("node"))), self.elapsed)

    def _local_alerts(self) -> None:
        """The hub's FanStalled / Throttling / NodeDown rules, on the snapshots (no hub)."""
        now = self.elapsed
        for node in self.nodes:
            head = node.last.get("headline", {})
            metrics = node.last.get("metrics", [])
            stalled = any(m[0] == "microrack_fan_stall" and m[3] for m in metrics)
            checks = {
                "NodeDown": not node.last,
                "FanStalled": stalled,
                "Throttling": bool(head.get("throttled")),
            }
            for rule, on in checks.items():
                if on:
                    self.local_alerts.setdefault((rule, node.name), now)

    def hub_alerts(self) -> list[dict[str, Any]]:
        if self.hub is None:
            return [{"name": r, "node": n, "state": "firing"} for (r, n) in self.local_alerts]
        data = _get_json(f"http://{self.host}:{self.hub_port}/api/v1/alerts") or {}
        return list(data.get("alerts", [])) + list(data.get("resolved", []))


_RANK = {"firing": 0, "pending": 1, "resolved": 2}


def _one_per_node(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One alert per (rule, node): the hub keeps one per sensor (e.g. each thermal zone)."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for a in alerts:
        key = (str(a.get("name")), str(a.get("node")))
        if key not in best or (
            _RANK.get(str(a.get("state")), 3) < _RANK.get(str(best[key].get("state")), 3)
        ):
            best[key] = a
    return list(best.values())


@contextlib.contextmanager
def running(demo: Demo) -> Iterator[Demo]:
    """Start the demo; whatever happens, stop every process and clean up."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        demo.start()
        yield demo
    finally:
        # a second Ctrl-C (or SIGTERM) while stopping must not leave processes behind
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            demo.stop()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
