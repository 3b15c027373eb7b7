"""``chaos run --hub``: the measured side read back from a real hub, beside the twin.

Two twin-backed agents (``--simulate``) on loopback, a real hub pulling them;
a fan stall on one node (the agents run the fan controller, ``--fan auto``).
The report's measured figures come from the hub's HTTP API; they are compared
with the twin's in structure and plausibility, not value for value.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from faults.chaos_support import agent_argv, finish_json, poll, write_token
from hub.hub_helpers import hub
from support import Proc, free_port, microrack_cmd, started

pytestmark = pytest.mark.integration

BOARD = "rpi-4b"


def _spec(tmp: Path, names: list[str]) -> Path:
    doc = {
        "cluster": {"name": "twins", "domain": "twins.test"},
        "networks": [{"name": "lan", "kind": "infrastructure", "cidr": "198.18.99.0/24"}],
        "nodes": [
            {
                "name": name,
                "board": BOARD,
                "ram_gb": 4,
                "nics": [
                    {
                        "name": "eth0",
                        "network": "lan",
                        "address": f"198.18.99.{i + 1}",
                        "mac": f"02:00:00:00:99:{i + 1:02x}",
                    }
                ],
                "fan": True,
                "chaos": {"allow": ["fan_stall"]},
            }
            for i, name in enumerate(names)
        ],
    }
    out = tmp / "cluster.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def test_measured_figures_come_from_the_hub_beside_the_twins(tmp_path: Path) -> None:
    names = ["hot", "idle"]
    tok = tmp_path / "token"
    write_token(tok)
    spec = _spec(tmp_path, names)
    sc = tmp_path / "burn.yaml"
    sc.write_text(
        """
name: burn
duration: 12
faults:
  - {at: 1, duration: 10, kind: fan_stall, node: hot}
"""
    )
    with ExitStack() as stack:
        flags, pulls, agents = [], [], []
        for k, name in enumerate(names):
            port = free_port()
            argv = agent_argv(
                f"127.0.0.1:{port}",
                None,
                name,
                tmp_path / f"n{k}" / "state.json",  # its own fan override file beside it
                token=tok,
                allow=["fan_stall"],
                simulate=BOARD,
                extra=["--seed", str(k + 1), "--fan", "auto"],
            )
            agents.append(
                stack.enter_context(
                    started(argv, tmp_path / f"agent{k}.log", wait=("127.0.0.1", port))
                )
            )
            flags += ["--agent", f"{name}=http://127.0.0.1:{port}"]
            pulls += ["--agent", f"127.0.0.1:{port}"]
        _proc, hub_url = stack.enter_context(
            hub(
                tmp_path / "hub.log",
                tmp_path / "h.db",
                "--chaos-token",
                str(tok),
                "--poll",
                "1s",
                *pulls,
            )
        )
        argv = microrack_cmd(
            "chaos",
            "run",
            str(sc),
            "--spec",
            str(spec),
            "--token",
            str(tok),
            "--hub",
            hub_url,
            "--json",
            "--html",
            str(tmp_path / "burn.html"),
            *flags,
        )
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert p.returncode == 0, p.stderr
        assert "warning" not in p.stderr, p.stderr
        frozen = _frozen_run(tmp_path, argv, agents[0], hub_url)
    rep = json.loads(p.stdout)
    assert rep["measured_from"] == "hub"
    nodes = {n["name"]: n for n in rep["nodes"]}
    hot, idle = nodes["hot"], nodes["idle"]
    assert hot["faults"] == ["fan_stall"] and idle["faults"] == []
    for n in (hot, idle):
        assert n["measured_peak_temp_c"] is not None and 15 < n["measured_peak_temp_c"] < 110
        assert n["measured_energy_wh"] is not None and n["measured_energy_wh"] > 0
        assert n["measured_throttled_s"] is not None and n["measured_throttled_s"] >= 0
        # nothing took a node down: no delay measured, and none invented
        assert n["measured_nodedown_delay_s"] is None and n["predicted_nodedown_delay_s"] is None
        # the same order of magnitude as the twin's energy for the same 12 s
        predicted_wh = n["predicted_energy_wh"]
        assert predicted_wh / 4 < n["measured_energy_wh"] < predicted_wh * 4, n
    assert rep["groups"] == []  # no quorum role in this cluster
    # the hot node's agent frozen during its fault: the hub's NodeDown, timed from the fault
    fz = {n["name"]: n for n in frozen["nodes"]}
    delay = fz["hot"]["measured_nodedown_delay_s"]
    assert delay is not None and 0 < delay < frozen["predicted"]["duration_s"]
    assert fz["hot"]["predicted_nodedown_delay_s"] is None  # a fan stall downs no node in the twin
    assert fz["idle"]["measured_nodedown_delay_s"] is None  # no fault there: nothing to time
    from microrack.chaos import report_text

    text = report_text(frozen)
    assert f"NodeDown after its fault: twin none s, hub {delay:.1f} s" in text
    hot_line = next(x for x in text.splitlines() if x.startswith("  hot "))
    assert "fan_stall" in hot_line and "not measured" not in hot_line
    page = (tmp_path / "burn.html").read_text()
    assert "plotly" in page and "measured" in page and "not measured" not in page


def _frozen_run(tmp: Path, argv: list[str], agent: Proc, hub_url: str) -> dict[str, Any]:
    """The same run with the hot node's agent stopped (SIGSTOP) until the hub says NodeDown."""
    import httpx

    def node_down() -> bool:
        doc = httpx.get(f"{hub_url}/api/v1/alerts", timeout=5).json()
        return any(
            a["name"] == "NodeDown" and a["node"] == "hot"
            for a in [*doc["alerts"], *doc["resolved"]]
        )

    assert not node_down()
    html = argv.index("--html")
    argv = [*argv[:html], "--html", str(tmp / "frozen.html"), *argv[html + 2 :]]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        poll(lambda: (tmp / "n0" / "fan-override.json").exists(), what="the fan stall")
        os.kill(agent.pid, signal.SIGSTOP)
        try:
            poll(node_down, timeout=60, what="the hub's NodeDown")
        finally:
            os.kill(agent.pid, signal.SIGCONT)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return finish_json(proc)


def test_a_series_the_hub_lacks_is_not_measured_never_zero() -> None:
    from microrack.chaos._measured import summarise

    temp = [{"labels": {"type": "cpu"}, "points": [[10.0, 41.0], [11.0, 47.5], [12.0, 44.0]]}]
    flags = [
        {
            "labels": {"flag": "throttled", "when": "now"},
            "points": [[10.0, 0], [11.0, 1], [13.0, 0]],
        },
        {"labels": {"flag": "throttled", "when": "since_boot"}, "points": [[10.0, 1]]},
    ]
    power = [{"labels": {}, "points": [[10.0, 3.0], [13.6, 5.0]]}]
    alerts = [{"name": "NodeDown", "fired_at": 16.5}, {"name": "NodeDown", "fired_at": 2.0}]
    full = summarise(
        {
            "node_thermal_zone_temp": temp,
            "microrack_throttled": flags,
            "microrack_power_watts": power,
        },
        t1=14.0,
        fault_start=12.0,
        alerts=alerts,
    )
    assert full["peak_temp_c"] == 47.5
    assert full["throttled_s"] == 2.0  # 11 to 13 s; since_boot is not "now"
    assert abs(full["energy_wh"] - 3.6 * 4.0 / 3600) < 1e-9
    assert full["nodedown_delay_s"] == 4.5  # the NodeDown after the fault, not before
    empty = summarise({}, t1=14.0, fault_start=12.0, alerts=[])
    assert {
        k: empty[k] for k in ("peak_temp_c", "throttled_s", "energy_wh", "nodedown_delay_s")
    } == dict.fromkeys(("peak_temp_c", "throttled_s", "energy_wh", "nodedown_delay_s"))
    # hwmon stands in when the thermal zone series is missing
    assert summarise({"node_hwmon_temp_celsius": temp}, 14.0, None, [])["peak_temp_c"] == 47.5


def test_hostile_hub_answers_are_skipped_or_refused_never_counted() -> None:
    from microrack.chaos._measured import summarise

    junk = [
        {"labels": "x", "points": [[1.0, float("nan")], [2.0, float("inf")], ["a", 3.0], [4.0]]},
        {"points": {"t": 1}},
        "not a series",
        {"labels": {}, "points": [[5.0, True], [6.0, 50.0]]},
    ]
    alerts = [{"name": "NodeDown", "fired_at": {"x": 1}}, "alert", {"name": "NodeDown"}]
    out = summarise(
        {"node_thermal_zone_temp": junk, "microrack_power_watts": junk},
        t1=10.0,
        fault_start=1.0,
        alerts=alerts,
    )
    assert out["peak_temp_c"] == 50.0  # the one well-formed point
    assert out["energy_wh"] is None  # one point is no energy
    assert out["nodedown_delay_s"] is None


def test_a_hub_that_answers_nonsense_is_one_error_naming_it(tmp_path: Path) -> None:
    import http.server
    import threading

    from microrack.chaos import HubReadError, read_measured

    class Odd(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[1, 2]" if self.path.startswith("/api/v1/alerts") else b"{}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        with pytest.raises(HubReadError, match="api/v1/alerts: not a JSON object"):
            read_measured(url, ["n"], 0.0, 1.0, {})
    finally:
        srv.shutdown()
        srv.server_close()
    with pytest.raises(HubReadError, match=re.escape("http://127.0.0.1:9")):
        read_measured("http://127.0.0.1:9", ["n"], 0.0, 1.0, {}, timeout=1.0)
