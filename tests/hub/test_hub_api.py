"""The HTTP API of a running hub: nodes, query limits, JSON errors, SSE, /metrics, CLI errors."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hub_helpers import get_json, hub, node, standin, wait_until

from support import free_port, http_get, microrack_cmd

pytestmark = pytest.mark.integration


_RUNNING_DB: list[str] = []  # the store of the module's running hub


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("api")
    _RUNNING_DB[:] = [str(tmp / "hub.db")]
    port = free_port()
    with (
        standin(tmp / "agent.log", port, name="api1", interval=0.1, backdate=120),
        hub(
            tmp / "hub.log", tmp / "hub.db", "--agent", f"127.0.0.1:{port}", "--price-kwh", "0.25"
        ) as (_, base),
    ):
        wait_until("api1 stored", lambda: (n := node(base, "api1")) and n["stored_seq"] > 1000)
        yield base


def test_nodes_carry_identity_status_and_headline(running: str) -> None:
    # at 0.1 s a node is stale after 0.2 s without an answer: wait for a moment it is up,
    # rather than assume a loaded machine never lets a pull run late
    body = wait_until(
        "api1 up",
        lambda: (b := get_json(f"{running}/api/v1/nodes"))["summary"]["nodes"]["up"] == 1 and b,
    )
    (n,) = body["nodes"]
    assert n["name"] == "api1" and n["board"] == "rpi-4b" and n["address"] == "127.0.0.1"
    assert n["status"] == "up" and n["last_seen"] > 0
    h = n["headline"]
    assert 0 <= h["cpu_busy_ratio"] <= 1 and 0 < h["mem_used_ratio"] < 1
    assert 45 <= h["temp_max_celsius"] <= 50 and h["fan_rpm"] >= 2400 and h["power_watts"] >= 4.5
    s = body["summary"]
    assert s["nodes"]["up"] == 1 and s["watts"] == h["power_watts"]
    assert s["monthly_cost"] == pytest.approx(s["watts"] * 24 * 30 / 1000 * 0.25)
    # about 5 W for the two backdated minutes and since: integrated from the store
    kwh = wait_until("energy today", lambda: get_json(f"{running}/api/v1/summary")["kwh_today"])
    assert 4.5 * 120 / 3.6e6 < kwh < 5.5 * 600 / 3.6e6


def test_query_downsamples_to_at_most_points(running: str) -> None:
    for points in (1, 10, 50):
        body = get_json(
            f"{running}/api/v1/query?metric=microrack_power_watts&from=now-10m&points={points}"
        )
        (s,) = body["series"]
        assert 0 < len(s["points"]) <= points and s["raw_points"] > 1000
        assert all(4.5 <= v <= 5.5 for _, v in s["points"])
    full = get_json(
        f"{running}/api/v1/query?metric=node_network_receive_bytes_total"
        "&labels=device=eth1&node=api1&from=now-10m&points=100000&rate=1"
    )
    (s,) = full["series"]
    assert s["labels"] == {"device": "eth1"} and len(s["points"]) == s["raw_points"]
    assert all(v > 0 for _, v in s["points"])


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("", "metric"),
        ("metric=bad%20name", "metric"),
        ("metric=m&from=yesterday", "from"),
        ("metric=m&from=now&to=now-1h", "to"),
        ("metric=m&step=-5s", "step"),
        ("metric=m&points=0", "points"),
        ("metric=m&points=many", "points"),
        ("metric=m&labels=novalue", "labels"),
        ("metric=m&rate=maybe", "rate"),
    ],
)
def test_bad_query_is_json_4xx_naming_the_parameter(
    running: str, query: str, parameter: str
) -> None:
    status, body = http_get(f"{running}/api/v1/query?{query}")
    assert status == 400
    err = json.loads(body)
    assert err["parameter"] == parameter and parameter in err["error"]


def test_unknown_node_is_json_404_but_a_missing_metric_is_empty(running: str) -> None:
    status, body = http_get(f"{running}/api/v1/query?metric=microrack_power_watts&node=api2")
    assert status == 404 and json.loads(body)["parameter"] == "node"
    assert "api2" in json.loads(body)["error"]
    empty = get_json(f"{running}/api/v1/query?metric=no_such_metric&node=api1")
    assert empty["series"] == []


def test_unknown_path_is_json_404(running: str) -> None:
    status, body = http_get(f"{running}/api/v1/nope")
    assert status == 404 and "/api/v1/nope" in json.loads(body)["error"]


def test_events_stream_node_updates(running: str) -> None:
    seen: list[str] = []
    with httpx.stream("GET", f"{running}/api/v1/events", timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                seen.append(line[7:])
            if line.startswith("data: ") and seen[-1] == "node" and seen.count("node") >= 3:
                assert json.loads(line[6:])["name"] == "api1"
                break
    assert seen[:2] == ["node", "summary"]  # the current state first, then live updates


def test_metrics_report_hub_health(running: str) -> None:
    def scrape() -> dict[str, float]:
        status, body = http_get(f"{running}/metrics")
        assert status == 200
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line and not line.startswith("#")
        }

    values = wait_until(
        "api1 up in /metrics",
        lambda: (v := scrape()) and (v['microrack_hub_nodes{status="up"}'] == 1) and v,
    )
    assert values["microrack_hub_samples_stored_total"] > 1000 * 12
    assert values['microrack_hub_pulls_total{result="ok"}'] > 0
    assert values["microrack_hub_pull_seconds_total"] > 0
    assert values["microrack_hub_store_bytes"] > 0
    assert 'microrack_hub_beacons_dropped_total{reason="stale"}' in values
    assert values['microrack_hub_nodes{status="up"}'] == 1


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--listen", "localhost"], "--listen"),
        (["--agent", "127.0.0.1:http"], "--agent"),
        (["--agent", "127.0.0.1:70000"], "--agent"),
        (["--price-kwh", "-1"], "--price-kwh"),
        (["--retention-raw", "forever"], "--retention-raw"),
        (["--db", "/nonexistent/dir/hub.db"], "--db"),
        (["--beacon-key", "/nonexistent/key"], "/nonexistent/key"),
        (["--spec", "/nonexistent/cluster.yaml"], "/nonexistent/cluster.yaml"),
        (["--poll", "0s"], "--poll"),
        (["--price-kwh", "nan"], "--price-kwh"),
        (["--remote-write", "victoria:8428"], "--remote-write"),
        (["--webhook", "ftp://x/hook"], "--webhook"),
        (["--alertmanager", "http://am:99999"], "--alertmanager"),
        (["--rollup-step", "100ms"], "--rollup-step"),
        (["--retention-raw", "30d", "--retention-rollup", "7d"], "--retention-rollup"),
        (["--beacon-port", "70000"], "--beacon-port"),
        (["--beacon-group", "198.18.0.1"], "--beacon-group"),
        (["--beacon-interface", "eth0"], "--beacon-interface"),
        (["--allow", "10.0.0.0/33"], "--allow"),
        (["--allow", "everything"], "--allow"),
        (["--max-response", "lots"], "--max-response"),
        (["--max-response", "10B"], "--max-response"),
        (["--beacon-max-targets", "0"], "--beacon-max-targets"),
        (["--beacon-expiry", "never"], "--beacon-expiry"),
        (["--remote-write-format", "json"], "--remote-write-format"),
    ],
)
def test_bad_command_line_is_one_line_naming_the_flag(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    argv = microrack_cmd("hub", "--db", str(tmp_path / "h.db"), *args)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode in (1, 2)
    assert out.stderr.count("\n") == 1 and flag in out.stderr, out.stderr


def test_beacon_key_needs_allowed_networks(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("secret\n")
    argv = microrack_cmd("hub", "--db", str(tmp_path / "h.db"), "--beacon-key", str(key))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "--beacon-key" in out.stderr and "--allow" in out.stderr


def test_second_hub_on_the_same_store_is_refused(running: str, tmp_path: Path) -> None:
    db = Path(_RUNNING_DB[0])
    before = get_json(f"{running}/api/v1/nodes")["nodes"][0]["stored_seq"]
    argv = microrack_cmd("hub", "--listen", f"127.0.0.1:{free_port()}", "--db", str(db))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "in use by another running hub" in out.stderr and str(db) in out.stderr
    # the running hub goes on storing
    wait_until("still storing", lambda: node(running, "api1")["stored_seq"] > before)


def test_nan_and_inf_from_an_agent_are_stored_and_served_as_null(tmp_path: Path) -> None:
    """An agent whose JSON carries NaN/Infinity tokens (Python's json writes them) must not
    turn /api/v1/nodes, /api/v1/query or the event stream into errors browsers cannot parse."""
    t0 = time.time()
    port = free_port()

    def values(seq: int) -> str:
        return ["NaN", "Infinity", "-Infinity", "1e400", str(seq)][seq % 5]

    class Agent(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            since = int(self.path.partition("since=")[2] or 0)
            last = int((time.time() - t0) / 0.2) + 1
            samples = ",".join(
                f'{{"seq":{s},"ts":{t0 + s * 0.2},"values":[{values(s)}]}}'
                for s in range(since + 1, last + 1)
            )
            body = (
                '{"node":{"name":"odd1","board":"rpi-4b","address":"127.0.0.1",'
                f'"port":{port},"boot_id":"b","interval":0.2}},"first_seq":1,"last_seq":{last},'
                '"series":[["microrack_power_watts",{"source":"estimate"},"gauge"]],'
                f'"samples":[{samples}]}}'
            ).encode()
            with contextlib.suppress(OSError):  # the hub stopping mid-answer
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Agent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with hub(tmp_path / "hub.log", tmp_path / "hub.db", "--agent", f"127.0.0.1:{port}") as (
            _,
            base,
        ):
            wait_until("odd1 stored", lambda: (n := node(base, "odd1")) and n["stored_seq"] > 15)
            status, body = http_get(
                f"{base}/api/v1/query?metric=microrack_power_watts&from=0&to=now&points=100000"
            )
            assert status == 200, body[:300]
            points = json.loads(body)["series"][0]["points"]  # strict JSON: no NaN tokens
            got = {round((t - t0) / 0.2): v for t, v in points}
            assert got[5] is None and got[6] is None and got[7] is None and got[8] is None
            assert got[9] == 9 and got[10] is None and got[14] == 14
            status, body = http_get(f"{base}/api/v1/nodes")
            assert status == 200 and json.loads(body)["summary"]["watts"] >= 0, body[:300]
            with httpx.stream("GET", f"{base}/api/v1/events", timeout=30) as r:
                frames = [x for x in itertools.islice(r.iter_lines(), 12) if x.startswith("data:")]
            assert frames and all(json.loads(x[5:]) for x in frames)
    finally:
        server.shutdown()
        server.server_close()
