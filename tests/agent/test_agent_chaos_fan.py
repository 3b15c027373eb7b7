"""fan_stall: the agent's fan controller holds duty 0, with its failsafe armed (plain-file tree)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from faults.chaos_support import agent_argv, call, poll, write_token
from faults.scrape import scrape, values
from support import free_port, http_get, microrack_cmd, started
from thermal.fan_trees import Tree, build_tree, fan_yaml

pytestmark = pytest.mark.integration


def _start(tmp: Path, tree: Tree, port: int, log: str) -> Any:
    argv = agent_argv(
        f"127.0.0.1:{port}",
        tree.root,
        "fan1",
        tmp / "state" / "chaos-state.json",
        token=tmp / "token",
        allow=("fan_stall",),
        interval=0.5,
        extra=("--fan", str(fan_yaml(tmp))),
    )
    return started(argv, tmp / log, wait=("127.0.0.1", port))


class Bench(NamedTuple):
    """A fan tree at 62 °C with a spinning tach, a chaos token and a free port."""

    tmp: Path
    tree: Tree
    secret: bytes
    port: int


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    tree = build_tree(tmp_path / "root")
    tree.write(tree.TACH, 3000)
    tree.set_temp(62)
    return Bench(tmp_path, tree, write_token(tmp_path / "token"), free_port())


def _duty(port: int) -> list[float]:
    return values(scrape(port), "microrack_fan_duty_ratio")


def _stall(fid: str, duration: float, **params: Any) -> dict[str, Any]:
    return {"id": fid, "kind": "fan_stall", "duration_s": duration, "params": params}


def test_fan_stall_holds_zero_until_the_limit_then_the_curve_returns(bench: Bench) -> None:
    tmp_path, tree, secret, port = bench
    override = tmp_path / "state" / "fan-override.json"
    with _start(tmp_path, tree, port, "agent.log") as proc:
        poll(lambda: 100 < tree.pwm < 255, what="curve duty")
        status, dry = call(
            "127.0.0.1",
            port,
            secret,
            "POST",
            "/api/v1/faults",
            _stall(
                "s0",
                60,
                limit_c=70,
            )
            | {"dry_run": True},
        )
        assert status == 200 and "duty 0" in dry["commands"][0]
        assert not override.exists()
        status, fault = call(
            "127.0.0.1", port, secret, "POST", "/api/v1/faults", _stall("s1", 600, limit_c=70)
        )
        assert status == 201, fault
        assert json.loads(override.read_text())["limit_c"] == 70
        poll(lambda: tree.pwm == 0, what="duty 0")
        # the failsafe stays armed: a sensor that vanishes means full duty at once
        tree.path(tree.ZONE).unlink()
        poll(lambda: tree.pwm == 255, what="failsafe during the stall")
        tree.set_temp(62)
        poll(lambda: tree.pwm == 0, what="duty 0 again")
        # the hottest sensor reaches limit_c: the fan controller ends the override itself
        tree.set_temp(71)
        poll(lambda: tree.pwm > 150, what="curve after the limit")
        poll(lambda: not override.exists(), what="override removed")
        assert "fan_stall override s1 ended" in proc.output()
        # the lease is still held by the agent until its deadline or a DELETE
        assert call("127.0.0.1", port, secret, "DELETE", "/api/v1/faults/s1")[0] == 200
        _, body = http_get(f"http://127.0.0.1:{port}/metrics")
        assert b'microrack_agent_chaos_requests_total{kind="fan_stall",outcome="ok"} 3' in body


def test_fan_stall_ends_at_its_deadline_and_a_restart_clears_it(bench: Bench) -> None:
    tmp_path, tree, secret, port = bench
    override = tmp_path / "state" / "fan-override.json"
    with _start(tmp_path, tree, port, "agent.log"):
        poll(lambda: 100 < tree.pwm < 255, what="curve duty")
        status, _ = call("127.0.0.1", port, secret, "POST", "/api/v1/faults", _stall("s2", 4))
        assert status == 201  # limit_c defaults to the curve's top (75 °C)
        assert json.loads(override.read_text())["limit_c"] == 75
        poll(lambda: tree.pwm == 0, what="duty 0")
        # the stall is in the agent's own exposition while it holds
        poll(lambda: _duty(port) == [0.0], what="duty 0 in /metrics")
        assert scrape(port)["microrack_agent_chaos_active_faults"] == 1
        poll(lambda: 100 < tree.pwm < 255, what="curve at the deadline")
        poll(lambda: not override.exists(), what="override removed")
        poll(lambda: _duty(port)[0] > 0.3, what="curve duty in /metrics")
        assert scrape(port)["microrack_agent_chaos_active_faults"] == 0
    # a stale override file (from a killed run) is dropped when the fan starts
    override.write_text(json.dumps({"id": "old", "duty": 0, "deadline_unix": 4e9, "limit_c": 99}))
    with _start(tmp_path, tree, port, "agent2.log"):
        assert not override.exists()
        poll(lambda: 100 < tree.pwm < 255, what="curve after restart")


def test_fan_stall_reaches_a_separate_fan_daemon(bench: Bench) -> None:
    tmp_path, tree, secret, port = bench
    state = tmp_path / "state" / "chaos-state.json"
    override = state.with_name("fan-override.json")
    override.parent.mkdir()
    override.write_text("{}")  # a leftover: dropped when the daemon starts
    fan = microrack_cmd(
        "fan",
        "--config",
        str(fan_yaml(tmp_path)),
        "--root",
        str(tree.root),
        "--state-file",
        str(tmp_path / "fan-state.json"),
        "--chaos-override",
        str(override),
    )
    agent = microrack_cmd(
        "agent",
        "--listen",
        f"127.0.0.1:{port}",
        "--root",
        str(tree.root),
        "--node",
        "fan2",
        "--chaos-token",
        str(tmp_path / "token"),
        "--chaos-allow",
        "fan_stall",
        "--chaos-state",
        str(state),
    )
    with (
        started(fan, tmp_path / "fan.log"),
        started(agent, tmp_path / "agent.log", wait=("127.0.0.1", port)),
    ):
        poll(lambda: 100 < tree.pwm < 255, what="curve duty")
        assert not override.exists()
        # the agent does not know the daemon's curve: limit_c is required
        status, obj = call("127.0.0.1", port, secret, "POST", "/api/v1/faults", _stall("x", 30))
        assert status == 400 and obj["field"] == "params.limit_c"
        status, _ = call(
            "127.0.0.1", port, secret, "POST", "/api/v1/faults", _stall("y", 30, limit_c=80)
        )
        assert status == 201
        poll(lambda: tree.pwm == 0, what="duty 0 from the daemon")
        assert call("127.0.0.1", port, secret, "DELETE", "/api/v1/faults/y")[0] == 200
        poll(lambda: 100 < tree.pwm < 255, what="curve after DELETE")
