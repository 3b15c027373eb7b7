"""``microrack fan`` as systemd runs it: Type=notify, WatchdogSec, ExecStopPost=... --failsafe."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

from fan_trees import Tree, fan_flags, fan_yaml, wait_for
from test_fan_hung_io import fifo

from support import microrack_cmd, started


def _json_lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    # stdout and stderr share the log: a log line may follow a JSON line unbroken
    decoder = json.JSONDecoder()
    return [decoder.raw_decode(line)[0] for line in text.splitlines() if line.startswith("{")]


def _args(tree: Tree, cfg: Path, tmp_path: Path) -> list[str]:
    return fan_flags(tree, cfg, tmp_path / "run" / "fan.json")


def test_sigkill_leaves_manual_mode_and_failsafe_restores_it(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(55.0)
    tree.write(tree.TACH, 1500)
    args = _args(tree, fan_yaml(tmp_path), tmp_path)
    with started(microrack_cmd("-v", "fan", *args), tmp_path / "fan.log") as proc:
        wait_for(
            lambda: tree.read(tree.ENABLE) == "1" and tree.read(tree.PWM) == "102",
            proc,
            "the curve",
        )
        wait_for(lambda: (tmp_path / "run" / "fan.json").exists(), proc, "the state file")
        assert proc.stop(signal.SIGKILL) == -signal.SIGKILL
    # What SIGKILL alone leaves: manual mode at the last duty (no handler can run).
    assert tree.read(tree.PWM) == "102" and tree.read(tree.ENABLE) == "1"
    state = json.loads((tmp_path / "run" / "fan.json").read_text())
    assert state["modes"] == {"case": "2"}

    # ExecStopPost=microrack fan <same args> --failsafe
    r = subprocess.run(
        microrack_cmd("fan", *args, "--failsafe"), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert tree.read(tree.PWM) == "255" and tree.read(tree.ENABLE) == "2"
    assert "case" in r.stdout

    # The next start says what happened.
    with started(microrack_cmd("fan", *args), tmp_path / "fan2.log") as proc:
        wait_for(lambda: "did not exit cleanly" in proc.output(), proc, "the unclean-exit warning")
        assert "'fan --failsafe' set its fans to full" in proc.output()
        assert proc.stop(signal.SIGTERM) == 0
    assert not (tmp_path / "run" / "fan.json").exists()  # a clean exit leaves no state


def test_failsafe_without_a_state_file_leaves_full_duty(tree: Tree, tmp_path: Path) -> None:
    tree.write(tree.ENABLE, 1)
    tree.write(tree.PWM, 60)
    r = subprocess.run(
        microrack_cmd("fan", *_args(tree, fan_yaml(tmp_path), tmp_path), "--failsafe"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert tree.read(tree.PWM) == "255" and tree.read(tree.ENABLE) == "1"


def test_failsafe_on_a_board_default(tmp_path: Path) -> None:
    r = subprocess.run(
        microrack_cmd("fan", "--simulate", "pi5", "--board", "pi5", "--failsafe"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


def test_hung_sensor_process_keeps_stepping_in_failsafe(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(55.0)
    tree.write(tree.TACH, 1500)
    cfg = fan_yaml(tmp_path)
    with fifo(tree.path(tree.ZONE)):
        argv = microrack_cmd("fan", *_args(tree, cfg, tmp_path), "--json")
        with started(argv, tmp_path / "fan.log") as proc:
            wait_for(lambda: len(_json_lines(proc.output())) >= 5, proc, "five steps")
            code = proc.stop(signal.SIGTERM)
    assert code == 0, proc.output()
    steps = _json_lines(proc.output())
    # the interval is 0.2 s: failsafe from the first step on, and the loop did not stop
    assert all(s["fans"][0]["failsafe"] == "cpu:timeout" for s in steps[:5])
    assert all(s["fans"][0]["duty_ratio"] == 1.0 for s in steps[:5])
    assert tree.read(tree.PWM) == "255" and tree.read(tree.ENABLE) == "2"


def test_hung_pwm_write_process_exits_instead_of_freezing(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(55.0)
    cfg = fan_yaml(tmp_path)
    with fifo(tree.path(tree.PWM)):
        r = subprocess.run(
            microrack_cmd("fan", *_args(tree, cfg, tmp_path), "--json"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1
    assert "failed writes" in r.stderr and len(r.stderr.strip().splitlines()) >= 1
    steps = _json_lines(r.stdout)
    assert steps and all(s["fans"][0]["failsafe"] == "driver_timeout" for s in steps)


def test_notify_ready_then_one_watchdog_ping_per_step(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(55.0)
    sock_path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(30)
        env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="10000000")
        argv = microrack_cmd("fan", *_args(tree, fan_yaml(tmp_path), tmp_path), "--json")
        with started(argv, tmp_path / "fan.log", env=env) as proc:
            messages = [sock.recv(4096) for _ in range(4)]
            code = proc.stop(signal.SIGTERM)
            sock.settimeout(5)
            rest = []
            try:
                while True:
                    rest.append(sock.recv(4096))
            except TimeoutError:
                pass
    assert code == 0, proc.output()
    assert messages[0] == b"READY=1\nSTATUS=controlling 1 fan(s)"
    assert messages[1:] == [b"WATCHDOG=1"] * 3
    assert b"STOPPING=1" in rest
    pings = 1 + messages[1:].count(b"WATCHDOG=1") + rest.count(b"WATCHDOG=1")
    # each ping follows a step that ran to the end: never more pings than steps
    assert pings <= len(_json_lines(proc.output())) + 1


def test_watchdog_stops_when_the_loop_dies(tree: Tree, tmp_path: Path) -> None:
    """A loop that cannot write its fan stops pinging (then exits): systemd would restart it."""
    tree.set_temp(55.0)
    sock_path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(0.5)
        env = dict(os.environ, NOTIFY_SOCKET=str(sock_path))
        with fifo(tree.path(tree.PWM)):
            r = subprocess.run(
                microrack_cmd("fan", *_args(tree, fan_yaml(tmp_path), tmp_path), "--json"),
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )
        got = []
        try:
            while True:
                got.append(sock.recv(4096))
        except TimeoutError:
            pass
    assert r.returncode == 1
    # steps whose write failed still ran (failsafe), the fatal one did not ping
    assert got.count(b"WATCHDOG=1") == len(_json_lines(r.stdout))


def test_failsafe_reports_a_fan_it_cannot_make_safe(tree: Tree, tmp_path: Path) -> None:
    """A hung pwm1: --failsafe does not hang with it; it says so and exits 1."""
    with fifo(tree.path(tree.PWM)):
        r = subprocess.run(
            microrack_cmd("fan", *_args(tree, fan_yaml(tmp_path), tmp_path), "--failsafe"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1
    assert "fan case" in r.stderr and "no answer within" in r.stderr
