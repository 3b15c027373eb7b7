"""``microrack fan`` as a real process on a hand-built hwmon tree."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fan_trees import Tree, fan_flags, fan_yaml, wait_for

from support import microrack_cmd, started


def _fan(*args: str) -> subprocess.CompletedProcess[str]:
    """``microrack fan ARGS`` run to its end."""
    return subprocess.run(microrack_cmd("fan", *args), capture_output=True, text=True, timeout=120)


def _on_tree(tree: Tree, tmp_path: Path) -> list[str]:
    """The flags of a fan controller on ``tree`` with the default fan.yaml."""
    return fan_flags(tree, fan_yaml(tmp_path), tmp_path / "state.json")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_leaves_pwm_full_and_pwm_enable_restored(
    tree: Tree, tmp_path: Path, sig: int
) -> None:
    tree.set_temp(55.0)
    tree.write(tree.TACH, 1500)
    argv = microrack_cmd("-v", "fan", *_on_tree(tree, tmp_path))
    with started(argv, tmp_path / "fan.log") as proc:
        wait_for(
            lambda: tree.read(tree.ENABLE) == "1" and tree.read(tree.PWM) == "102",
            proc,
            "the curve",
        )
        code = proc.stop(sig)
    assert code == 0, proc.output()
    assert tree.read(tree.PWM) == "255"
    assert tree.read(tree.ENABLE) == "2"
    assert signal.Signals(sig).name in proc.output()


def test_once_json_reports_state(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(60.0)
    tree.write(tree.TACH, 2400)
    r = _fan(*_on_tree(tree, tmp_path), "--once", "--json")
    assert r.returncode == 0, r.stderr
    state = json.loads(r.stdout)["fans"][0]
    assert state["fan"] == "case" and state["input_celsius"] == 60.0
    assert state["duty_ratio"] == 0.5 and state["rpm"] == 2400.0 and state["failsafe"] is None
    assert tree.read(tree.PWM) == "255" and tree.read(tree.ENABLE) == "2"  # handed back


def test_dry_run_writes_nothing(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(90.0)
    r = _fan(*_on_tree(tree, tmp_path), "--once", "--json", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fans"][0]["duty_ratio"] == 1.0
    assert tree.read(tree.PWM) == "0" and tree.read(tree.ENABLE) == "2"


def test_missing_config_argument_is_a_usage_error(tmp_path: Path) -> None:
    r = _fan()
    assert r.returncode == 2 and "--config" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "argument", "code"),
    [
        (["--board", "no-such-board"], "--board", 2),
        (["--simulate", "no-such-board", "--board", "pi5"], "--simulate", 2),
        (["--config", "{cfg}", "--root", "{tmp}/nope"], "--root", 2),
        (["--config", "{cfg}", "--output", "{tmp}/x.yaml"], "--output", 2),
        (
            ["--simulate", "pi5", "--board", "pi5", "--sim-script", "{tmp}/nope.yaml"],
            "--sim-script",
            2,
        ),
        (["--config", "{cfg}", "--root", "{root}", "--plot", "{tmp}/nope/law.html"], "--plot", 2),
        (["--import-fancontrol", "{tmp}/nope"], "{tmp}/nope", 1),
    ],
)
def test_bad_arguments_are_one_line_naming_the_argument(
    tree: Tree, tmp_path: Path, argv: list[str], argument: str, code: int
) -> None:
    subst = {"cfg": str(fan_yaml(tmp_path)), "tmp": str(tmp_path), "root": str(tree.root)}
    r = _fan(*[a.format(**subst) for a in argv])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code and len(lines) == 1, r.stderr
    assert argument.format(**subst) in lines[0] and "Traceback" not in r.stderr


def test_simulated_board_default_curve(tmp_path: Path) -> None:
    r = _fan("--simulate", "pi5", "--board", "pi5", "--once", "--json")
    assert r.returncode == 0, r.stderr
    state = json.loads(r.stdout)["fans"][0]
    assert state["driver"].endswith("/pwm1") and state["failsafe"] is None
    assert 20 < state["input_celsius"] < 100


CRASH_AFTER_THREE_STEPS = """
import sys
import microrack.thermal._service as service

real = service.control_step
calls = [0]

def failing(*args, **kwargs):
    calls[0] += 1
    if calls[0] > 3:
        raise RuntimeError("simulated bug in the control law")
    return real(*args, **kwargs)

service.control_step = failing
from microrack.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_unhandled_error_in_the_process_leaves_fans_full_and_handed_back(
    tree: Tree, tmp_path: Path
) -> None:
    tree.set_temp(55.0)
    tree.write(tree.TACH, 1500)
    r = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_THREE_STEPS, "fan", *_on_tree(tree, tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "simulated bug" in r.stderr
    assert tree.read(tree.PWM) == "255" and tree.read(tree.ENABLE) == "2"
