"""Every hostile stand-in mode against one real hub beside one real agent.

For every mode: the real node's stored series has no gap, ``/api/v1/nodes`` answers
200 throughout, ``/metrics`` passes ``promtool check metrics``, the hub's RSS stays
under 300 MB, the mode is refused and counted under its own node with the reason
it deserves, nothing a non-agent sent is echoed, and SIGTERM still stops the hub.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_helpers import (
    assert_complete,
    free_block,
    get_json,
    hub,
    node,
    twin_agent_cmd,
    wait_until,
)

from microrack.hub._hostile import MODES
from support import free_port, http_get, require_binary, started

pytestmark = pytest.mark.integration

# what each mode must be counted as (None: refused as an I/O error, told in `error`)
EXPECTED: dict[str, str | None] = {
    "garbage": "not_json",
    "not_json": "not_json",
    "not_object": "bad_answer",
    "huge_json": "too_large",
    "deep_json": "not_json",
    "huge_seq": "bad_seq",
    "string_values": "bad_value",
    "dict_values": "bad_value",
    "bool_and_bigint_values": "bad_value",
    "values_not_list": "bad_values",
    "nan_ts": "bad_timestamp",
    "inf_ts": "bad_timestamp",
    "huge_ts": "bad_timestamp",
    "string_ts": "bad_timestamp",
    "hostile_labels": "bad_series",
    "control_name": "bad_identity",
    "too_many_series": "too_many_series",
    "zero_interval": "bad_interval",
    "inf_interval": "bad_interval",
    "string_interval": "bad_interval",
    "name_taken": "name_taken",
    "renaming": "name_taken",
    "series_churn": "too_many_series",
    "gigantic": "too_large",
    "gigantic_chunked": "too_large",
    "http_403": None,
    "bad_status": None,
    "silent": None,
    "slow_loris": None,
}


def _rss_mb(pid: int) -> float:
    """The peak RSS so far (high-water mark): a short peak between two looks counts too."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_hostile_agents_cost_the_real_node_nothing(tmp_path: Path) -> None:
    promtool = require_binary("promtool", "/usr/bin/promtool")
    accepted = {"seq_backwards", "hostile_name", "nonfinite_values", "big_valid"}
    assert set(EXPECTED) | accepted == set(MODES)
    # four valid answers of about 6 MB each, all at once on the first pull
    modes = [*MODES, "big_valid", "big_valid", "big_valid"]
    real_port = free_port()
    base_port = free_block(len(modes))
    ports = {m: base_port + i for i, m in enumerate(MODES)}
    big_ports = [base_port + i for i, m in enumerate(modes) if m == "big_valid"]
    agent = twin_agent_cmd(f"127.0.0.1:{real_port}", "pi5", "real1", interval=0.3)
    hostile = [
        sys.executable,
        "-m",
        "microrack.hub._hostile",
        "--port",
        str(base_port),
        "--modes",
        ",".join(modes),
        "--name-taken",
        "real1",
    ]
    targets = [f"--agent=127.0.0.1:{base_port + i}" for i in range(len(modes))]
    targets.insert(0, f"--agent=127.0.0.1:{real_port}")
    with (
        started(agent, tmp_path / "agent.log", wait=("127.0.0.1", real_port), timeout=60),
        hub(tmp_path / "hub.log", tmp_path / "hub.db", *targets, "--poll", "0.5s") as (
            proc,
            base,
        ),
    ):
        # the real node is pinned to its address before anyone else claims its name
        wait_until("real1 stored", lambda: (n := node(base, "real1")) and n["stored_seq"] > 3)
        rss: list[float] = []
        with started(hostile, tmp_path / "hostile.log", wait=("127.0.0.1", base_port), timeout=60):
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                status, body = http_get(f"{base}/api/v1/nodes")
                assert status == 200, body[:300]
                rss.append(_rss_mb(proc.pid))
                time.sleep(0.5)
            nodes = get_json(f"{base}/api/v1/nodes")["nodes"]
            by_addr = {(n["address"], n["port"]): n for n in nodes}
            for mode, reason in EXPECTED.items():
                n = by_addr[("127.0.0.1", ports[mode])]
                if reason is None:
                    assert n["error"], (mode, n)
                else:
                    assert n["rejected"].get(reason, 0) > 0, (mode, n["rejected"], n["error"])
                assert "SECRET-BANNER" not in json.dumps(n), (mode, n)
                assert n["name"] != "real1", (mode, n)
            back = by_addr[("127.0.0.1", ports["seq_backwards"])]
            assert back["restarts"] > 0  # a sequence going backwards is a restart of that node
            evil = by_addr[("127.0.0.1", ports["hostile_name"])]
            assert evil["name"].startswith('evil"}') and evil["stored_seq"] > 0
            for port in big_ports:
                big = by_addr[("127.0.0.1", port)]
                assert big["stored_seq"] == 120_000 and big["rejected"] == {}, big
            odd = by_addr[("127.0.0.1", ports["nonfinite_values"])]
            assert odd["stored_seq"] > 0 and odd["rejected"] == {}, odd
            names = [n["name"] for n in nodes]
            assert names.count("real1") == 1
            real = node(base, "real1")
            assert real["error"] is None and real["rejected"] == {}
            # the hub's own /metrics stays valid Prometheus text whatever the names are
            status, page = http_get(f"{base}/metrics")
            assert status == 200
            check = subprocess.run(
                [promtool, "check", "metrics"], input=page, capture_output=True, timeout=60
            )
            assert check.returncode == 0, check.stdout + check.stderr
            assert b"\npwned" not in page and b'reason="name_taken"' in page
            print(f"hub peak RSS {max(rss):.0f} MB")
            assert max(rss) < 300, f"hub RSS reached {max(rss):.0f} MB"
            # the real node was pulled throughout: no gap in what the hub stored
            wait_until(
                "real1 stored after the hostile run",
                lambda: node(base, "real1")["stored_seq"] > real["stored_seq"],
            )
            assert_complete(base, f"http://127.0.0.1:{real_port}", "real1", "node_load1", "")
            # SIGTERM stops the hub while hostile agents hold connections open
            code = proc.stop(signal.SIGTERM, timeout=20)
            assert code != -signal.SIGKILL, "the hub did not stop on SIGTERM"
