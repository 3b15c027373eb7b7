"""A neighbour board's temperature from its agent, as one input of a shared fan."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from fan_trees import Tree

from microrack.errors import ConfigError
from microrack.sensors import LocalFS
from microrack.thermal import FanService
from support import free_port, microrack_cmd, started


def _config(tmp_path: Path, agent: str, stale: float | None = 30) -> Path:
    data = {
        "interval_s": 0.5,
        "io_timeout_s": 0.5,
        "sensors": [
            {"name": "me", "thermal_zone": "cpu-thermal", "stale_after_s": None},
            {"name": "blade2", "agent": agent, "stale_after_s": stale},
        ],
        "fans": [
            {
                "name": "shared",
                "driver": {"type": "hwmon", "chip": "pwmfan"},
                "inputs": [
                    {
                        "sensor": "me",
                        "curve": [{"temp_c": 40, "duty_pct": 0}, {"temp_c": 80, "duty_pct": 100}],
                    },
                    {
                        "sensor": "blade2",
                        "curve": [{"temp_c": 0, "duty_pct": 0}, {"temp_c": 100, "duty_pct": 100}],
                    },
                ],
                "hysteresis_c": 0,
                "spinup": {"seconds": 0},
            }
        ],
    }
    p = tmp_path / "fan.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_real_agent_of_a_simulated_neighbour(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(40.0)
    port = free_port()
    argv = microrack_cmd(
        "agent", "--simulate", "pi5", "--listen", f"127.0.0.1:{port}", "--interval", "0.5"
    )
    with started(argv, tmp_path / "agent.log", wait=("127.0.0.1", port), timeout=120):
        service = FanService.from_file(
            _config(tmp_path, f"http://127.0.0.1:{port}"), LocalFS(str(tree.root))
        )
        reading = None
        for i in range(100):  # until the agent has its first collection
            service.step(float(i))
            reading = service.fans[0].inputs[1].read(float(i))
            if reading.fault is None:
                break
            time.sleep(0.1)
        assert reading is not None and reading.fault is None, reading
        assert 15 < reading.temp_c < 100
        state = service.fans[0].state
        assert state.failsafe is None
        assert state.duty == pytest.approx(reading.temp_c / 100, abs=0.05)
    # the neighbour is gone: its input is a fault, the shared fan goes to full
    service.step(200.0)
    assert service.fans[0].state.failsafe == "blade2:missing" and tree.pwm == 255


class _Frozen(BaseHTTPRequestHandler):
    """An agent whose collector hangs: the same snapshot (same seq) for ever."""

    def do_GET(self) -> None:
        body = json.dumps({"seq": 7, "ts": 0, "headline": {"temp_max_celsius": 50.0}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def frozen_agent() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Frozen)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_neighbour_whose_sequence_stops_is_stale(
    tree: Tree, tmp_path: Path, frozen_agent: str
) -> None:
    tree.set_temp(40.0)
    service = FanService.from_file(
        _config(tmp_path, frozen_agent, stale=5), LocalFS(str(tree.root))
    )
    service.step(0.0)
    assert service.fans[0].state.failsafe is None
    assert service.fans[0].state.duty == pytest.approx(0.5)
    service.step(6.0)
    assert service.fans[0].state.failsafe == "blade2:stale" and tree.pwm == 255


def test_agent_url_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an http:// URL"):
        FanService.from_file(_config(tmp_path, "ftp://x"), LocalFS(str(tmp_path)))
