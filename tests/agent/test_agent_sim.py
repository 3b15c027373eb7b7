"""``microrack agent --simulate BOARD``: the twin as the host, with fan control wired in."""

from __future__ import annotations

import json
import time

from support import free_port, http_get, microrack_cmd, started


def _metrics(port: int) -> dict[str, float]:
    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def test_simulated_pi5_with_fan_control_and_a_fault(tmp_path, artifacts_dir):
    script = tmp_path / "node.yaml"
    script.write_text(
        "speed: 20\nload:\n  - {at: 0, util: 1.0}\nfaults:\n  - {at: 0, kind: under_voltage}\n"
    )
    port = free_port()
    argv = microrack_cmd(
        "agent",
        "--listen",
        f"127.0.0.1:{port}",
        "--interval",
        "0.5",
        "--simulate",
        "pi5",
        "--seed",
        "7",
        "--sim-script",
        str(script),
        "--fan",
        "auto",
        "--node",
        "twin-1",
    )
    with started(argv, artifacts_dir / "agent-sim.log", wait=("127.0.0.1", port)):
        deadline = time.monotonic() + 60
        while True:
            m = _metrics(port)
            if (
                m.get("microrack_cpu_busy_ratio", 0) > 0.8
                and m.get('microrack_throttled{flag="under_voltage",when="now"}') == 1
            ):
                break
            assert time.monotonic() < deadline, sorted(m)[:40]
            time.sleep(0.5)
        status, body = http_get(f"http://127.0.0.1:{port}/api/v1/snapshot")
        assert status == 200
        snap = json.loads(body)
    # the fan service's points are part of every sample
    for name in (
        "microrack_fan_duty_ratio",
        "microrack_fan_rpm",
        "microrack_fan_failsafe",
        "microrack_fan_input_celsius",
    ):
        assert any(k.startswith(name + "{") for k in m), name
    assert any(k.startswith("node_hwmon_sensor_label{") and 'label="Composite"' in k for k in m)
    assert any(k.startswith("node_thermal_zone_temp{") for k in m)
    assert (
        'microrack_power_watts{source="estimate"}' in m
        or 'microrack_power_watts{source="hwmon"}' in m
    )
    assert snap["node"]["board"] == "rpi-5" and snap["node"]["name"] == "twin-1"
    assert snap["headline"]["throttled"] == 1.0


def test_simulate_bad_board_and_script(tmp_path):
    import subprocess

    p = subprocess.run(
        microrack_cmd("agent", "--simulate", "no-such-board"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "--simulate" in p.stderr and len(p.stderr.splitlines()) == 1
    p = subprocess.run(
        microrack_cmd("agent", "--simulate", "pi5", "--sim-script", str(tmp_path / "missing.yaml")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "--sim-script" in p.stderr and len(p.stderr.splitlines()) == 1
