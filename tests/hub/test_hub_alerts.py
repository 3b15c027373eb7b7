"""Alert rules: the engine on hand-built node states, the rules file, and real notifications
to a webhook and to a real Alertmanager (Debian prometheus-alertmanager)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hub_helpers import get_json, hub, standin, wait_until

from microrack.errors import ConfigError
from microrack.hub import AlertEngine, load_rules
from microrack.hub._nodes import NodeState
from support import free_port, microrack_cmd, require_binary, started


def _node(status: str = "up", **series: float) -> NodeState:
    """A node whose latest values are ``name{k=v,...}`` -> value."""
    n = NodeState(host="127.0.0.1", port=1, source="test", name="n1", status=status)  # type: ignore[arg-type]
    for spec, v in series.items():
        name, _, rest = spec.partition("__")
        labels = (
            tuple(sorted(tuple(kv.split("=")) for kv in rest.split("__") if kv)) if rest else ()
        )
        n.latest[(name, labels)] = v  # type: ignore[index]
    return n


def _fired(engine: AlertEngine, node: NodeState, now: float) -> list[str]:
    return sorted(f"{a.rule}:{a.state}" for a in engine.evaluate([node], now))


def test_defaults_fire_and_resolve(tmp_path: Path) -> None:
    engine = AlertEngine(load_rules(None))
    hot = _node(
        **{
            "microrack_throttle_limit_celsius__kind=soft": 80.0,
            "node_thermal_zone_temp__zone=0": 76.0,
            "node_hwmon_temp_celsius__chip=nvme__sensor=temp1": 75.0,
            "microrack_throttled__flag=under_voltage__when=now": 1.0,
            "microrack_throttled__flag=throttled__when=since_boot": 1.0,
            "node_filesystem_size_bytes__mountpoint=/": 100.0,
            "node_filesystem_avail_bytes__mountpoint=/": 5.0,
            "microrack_fan_rpm__fan=fan": 0.0,
            "microrack_fan_duty_ratio__fan=fan": 0.6,
        }
    )
    assert _fired(engine, hot, 100.0) == [
        "FilesystemFull:firing",
        "NearThrottleLimit:firing",
        "NvmeHot:firing",
        "Throttling:firing",
    ]
    # 0 rpm while driven must last (spin-up, tach read before the duty is written)
    assert _fired(engine, hot, 105.0) == []
    assert _fired(engine, hot, 110.5) == ["FanStalled:firing"]
    cool = _node(
        **{
            "microrack_throttle_limit_celsius__kind=soft": 80.0,
            "node_thermal_zone_temp__zone=0": 60.0,
            "microrack_fan_rpm__fan=fan": 0.0,
            "microrack_fan_duty_ratio__fan=fan": 0.1,
        }
    )  # below the start threshold
    assert _fired(engine, cool, 101.0) == [
        "FanStalled:resolved",
        "FilesystemFull:resolved",
        "NearThrottleLimit:resolved",
        "NvmeHot:resolved",
        "Throttling:resolved",
    ]
    assert engine.firing() == []
    assert _fired(engine, _node(status="down"), 102.0) == ["NodeDown:firing"]


def test_container_oom_kill_and_throttling(tmp_path: Path) -> None:
    engine = AlertEngine(load_rules(None))
    ident = "container_id=" + "a" * 64 + "__container=web__pod=shop-1__namespace=shop"
    busy = _node(
        **{
            f"microrack_container_oom_kill_age_seconds__{ident}": 12.0,
            f"microrack_container_cpu_throttled_ratio__{ident}": 0.6,
        }
    )
    assert _fired(engine, busy, 100.0) == ["ContainerOOMKilled:firing"]
    (oom,) = engine.firing()
    assert oom.labels["container"] == "shop/shop-1/web"
    # throttling must last ten minutes before it fires
    assert _fired(engine, busy, 400.0) == []
    assert _fired(engine, busy, 701.0) == ["ContainerCPUThrottled:firing"]
    calm = _node(
        **{
            f"microrack_container_oom_kill_age_seconds__{ident}": 900.0,
            f"microrack_container_cpu_throttled_ratio__{ident}": 0.1,
        }
    )
    assert _fired(engine, calm, 702.0) == [
        "ContainerCPUThrottled:resolved",
        "ContainerOOMKilled:resolved",
    ]


def test_user_rule_waits_for_its_duration_and_defaults_switch_off(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "defaults: {node_down: false, throttling: false}\n"
        "rules:\n- name: Busy\n  metric: microrack_cpu_busy_ratio\n  op: '>'\n"
        "  value: 0.9\n  for: 30s\n  severity: critical\n  summary: '{node} {value:.0%}'\n"
    )
    engine = AlertEngine(load_rules(rules))
    names = {r.name for r in engine.rules}
    assert "NodeDown" not in names and "Throttling" not in names and "Busy" in names
    busy = _node(microrack_cpu_busy_ratio=0.95)
    assert _fired(engine, busy, 0.0) == []
    assert [a.state for a in engine.active.values()] == ["pending"]
    assert _fired(engine, busy, 29.0) == []
    assert _fired(engine, busy, 30.0) == ["Busy:firing"]
    assert engine.firing()[0].summary == "n1 95%"
    assert _fired(engine, _node(status="down"), 31.0) == []  # held while the node is down
    assert _fired(engine, _node(microrack_cpu_busy_ratio=0.2), 40.0) == ["Busy:resolved"]


def test_a_nan_reading_fires_no_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n- {name: FanNotStopped, metric: microrack_fan_rpm, op: '!=', value: 0}\n"
    )
    engine = AlertEngine(load_rules(rules))
    assert _fired(engine, _node(microrack_fan_rpm=float("nan")), 0.0) == []
    assert _fired(engine, _node(microrack_fan_rpm=1200.0), 1.0) == ["FanNotStopped:firing"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("rules:\n- name: X\n  metric: m\n  op: '=>'\n  value: 1\n", "rules[0].op"),
        ("rules:\n- name: X\n  metric: m\n  op: '>'\n  value: 1\n  for: soon\n", "rules[0].for"),
        ("defaults: {node_dwn: false}\n", "defaults.node_dwn"),
        ("rules: [\n", None),
    ],
)
def test_bad_rules_file_names_file_and_field(tmp_path: Path, text: str, field: str | None) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_rules(rules)
    assert str(rules) in str(err.value)
    if field:
        assert err.value.field == field
    out = subprocess.run(
        microrack_cmd("hub", "--rules", str(rules), "--db", str(tmp_path / "h.db")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and str(rules) in out.stderr


class _Sink:
    """A webhook receiver on loopback that keeps every JSON body it was sent."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, Any]] = []
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.bodies.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, path: str) -> list[dict[str, Any]]:
        return [a for p, b in self.bodies if p == path for a in b["alerts"]]


@pytest.mark.integration
def test_webhook_and_real_alertmanager(tmp_path: Path) -> None:
    am_bin = require_binary(
        "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"
    )
    sink = _Sink()
    am_port = free_port()
    (tmp_path / "am.yml").write_text(
        "route: {receiver: hook, group_by: [alertname, node], group_wait: 1s, group_interval: 1s,"
        " repeat_interval: 1h}\n"
        f"receivers:\n- name: hook\n  webhook_configs:\n  - url: http://127.0.0.1:{sink.port}/am\n"
        "    send_resolved: true\n"
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "- {name: FanFast, metric: microrack_fan_rpm, labels: {fan: fan0}, op: '>', value: 2000,"
        " severity: warning, summary: '{node} fan {fan} at {value:.0f} rpm'}\n"
        # 4.5 + (seq % 5) * 0.25 W: above 5.2 W for two samples of every five
        "- {name: PowerPeak, metric: microrack_power_watts, op: '>', value: 5.2, severity: info}\n"
    )
    agent_port = free_port()
    am_argv = [
        am_bin,
        f"--config.file={tmp_path / 'am.yml'}",
        f"--storage.path={tmp_path / 'am'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ]
    with (
        started(am_argv, tmp_path / "am.log", wait=("127.0.0.1", am_port)),
        standin(tmp_path / "agent.log", agent_port, name="w1", interval=0.2) as agent,
        hub(
            tmp_path / "hub.log",
            tmp_path / "hub.db",
            "--agent",
            f"127.0.0.1:{agent_port}",
            "--rules",
            str(rules),
            "--webhook",
            f"http://127.0.0.1:{sink.port}/direct",
            "--alertmanager",
            f"http://127.0.0.1:{am_port}",
        ) as (_, base),
    ):
        # Alertmanager's webhook format straight from the hub: firing, then resolved
        wait_until(
            "PowerPeak resolved by webhook",
            lambda: any(
                a["labels"]["alertname"] == "PowerPeak" and a["status"] == "resolved"
                for a in sink.alerts("/direct")
            ),
        )
        direct = [b for p, b in sink.bodies if p == "/direct"]
        assert all(b["version"] == "4" and b["status"] in ("firing", "resolved") for b in direct)
        first = next(a for a in sink.alerts("/direct") if a["labels"]["alertname"] == "PowerPeak")
        assert first["status"] == "firing" and first["labels"]["node"] == "w1"
        assert first["startsAt"].endswith("Z") and first["annotations"]["summary"]
        # the real Alertmanager holds the alert and routes it to its own webhook receiver
        held = wait_until(
            "Alertmanager holds FanFast",
            lambda: [
                a
                for a in get_json(f"http://127.0.0.1:{am_port}/api/v2/alerts")
                if a["labels"]["alertname"] == "FanFast"
            ],
        )
        assert held[0]["labels"]["node"] == "w1" and held[0]["labels"]["fan"] == "fan0"
        assert held[0]["annotations"]["summary"].startswith("w1 fan fan0 at 24")
        routed = wait_until(
            "Alertmanager notified its receiver",
            lambda: [a for a in sink.alerts("/am") if a["labels"]["alertname"] == "FanFast"],
        )
        assert routed[0]["status"] == "firing"
        # ... and learns of a resolution from the hub's endsAt: the agent stops answering
        # (NodeDown fires), then answers again (NodeDown resolves), and the receiver is told
        os.kill(agent.pid, signal.SIGSTOP)
        try:
            wait_until(
                "Alertmanager routed NodeDown firing",
                lambda: any(
                    a["labels"]["alertname"] == "NodeDown" and a["status"] == "firing"
                    for a in sink.alerts("/am")
                ),
            )
        finally:
            os.kill(agent.pid, signal.SIGCONT)
        wait_until(
            "Alertmanager routed NodeDown resolved",
            lambda: any(
                a["labels"]["alertname"] == "NodeDown" and a["status"] == "resolved"
                for a in sink.alerts("/am")
            ),
        )
        # webhook fingerprints are stable digests, one per alert identity
        fps = {
            a["fingerprint"]
            for a in sink.alerts("/direct")
            if a["labels"]["alertname"] == "PowerPeak"
        }
        assert len(fps) == 1 and all(len(f) == 16 for f in fps)
        api = get_json(f"{base}/api/v1/alerts")
        assert any(a["name"] == "FanFast" and a["state"] == "firing" for a in api["alerts"])
    sink.server.shutdown()


def test_example_rules_file_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "rules.yaml"
    engine = AlertEngine(load_rules(example))
    assert {"NodeDown", "CpuBusy", "PiUnderVoltageSinceBoot"} <= {r.name for r in engine.rules}
    node = _node(**{"microrack_throttled__flag=under_voltage__when=since_boot": 1.0})
    assert _fired(engine, node, 0.0) == ["PiUnderVoltageSinceBoot:firing"]
