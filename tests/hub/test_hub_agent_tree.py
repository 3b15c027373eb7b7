"""The hub over a real agent reading a captured Raspberry Pi 5 + NVMe tree: headline values
and built-in rules come from what the board's /sys says."""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_helpers import assert_complete, get_json, hub, node, wait_until

from support import free_port, microrack_cmd, started

pytestmark = pytest.mark.integration


def test_real_agent_on_pi5_tree(tmp_path: Path, fixtures_dir: Path) -> None:
    port = free_port()
    agent = microrack_cmd(
        "agent",
        "--listen",
        f"127.0.0.1:{port}",
        "--interval",
        "0.3",
        "--root",
        str(fixtures_dir / "trees" / "rpi5-nvme"),
        "--board",
        "pi5",
        "--node",
        "fx",
    )
    rules = tmp_path / "rules.yaml"
    # thresholds tuned to the captured tree: SoC 61.45 °C, NVMe 38.85 °C
    rules.write_text("defaults: {near_throttle_margin_celsius: 20, nvme_celsius: 30}\n")
    with (
        started(agent, tmp_path / "agent.log", wait=("127.0.0.1", port), timeout=60),
        hub(
            tmp_path / "hub.log",
            tmp_path / "hub.db",
            "--agent",
            f"127.0.0.1:{port}",
            "--rules",
            str(rules),
        ) as (_, base),
    ):
        n = wait_until("fx stored", lambda: (x := node(base, "fx")) and x["stored_seq"] > 5 and x)
        h = n["headline"]
        assert h["temp_max_celsius"] == pytest.approx(61.45)  # the NVMe drive is not the SoC
        assert h["throttle_limit_celsius"] is not None and 0 < h["mem_used_ratio"] < 1
        firing = wait_until(
            "built-in rules fire",
            lambda: (
                {
                    a["name"]: a
                    for a in get_json(f"{base}/api/v1/alerts")["alerts"]
                    if a["state"] == "firing"
                }
                if len(get_json(f"{base}/api/v1/alerts")["alerts"]) >= 2
                else None
            ),
        )
        assert firing["NvmeHot"]["value"] == pytest.approx(38.85)
        assert firing["NearThrottleLimit"]["value"] == pytest.approx(61.45)
        assert_complete(base, f"http://127.0.0.1:{port}", "fx", "node_load1", "")
