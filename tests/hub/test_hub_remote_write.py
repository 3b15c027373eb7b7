"""--remote-write to a real VictoriaMetrics (Debian victoria-metrics), started late:
every sample the hub stores arrives there too, after the outage."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest
from hub_helpers import hub, node, raw_series, standin, wait_until

from support import free_port, http_get, require_binary, started

pytestmark = pytest.mark.integration


def _vm_series(vm: str, selector: str) -> list[tuple[float, float]]:
    http_get(f"{vm}/internal/force_flush")
    status, body = http_get(f"{vm}/api/v1/export?match[]={urllib.parse.quote(selector)}")
    assert status == 200, body[:300]
    points: list[tuple[float, float]] = []
    for line in body.decode().splitlines():
        row = json.loads(line)
        points += [(t / 1000, v) for t, v in zip(row["timestamps"], row["values"], strict=True)]
    return sorted(points)


def test_remote_write_survives_outage_and_matches_store(tmp_path: Path) -> None:
    vm_bin = require_binary("victoria-metrics", "/usr/bin/victoria-metrics")
    vm_port, agent_port = free_port(), free_port()
    vm = f"http://127.0.0.1:{vm_port}"
    vm_argv = [
        vm_bin,
        f"-httpListenAddr=127.0.0.1:{vm_port}",
        f"-storageDataPath={tmp_path / 'vm'}",
        "-retentionPeriod=100y",
    ]
    with (
        standin(tmp_path / "agent.log", agent_port, name="r1", interval=0.1),
        hub(
            tmp_path / "hub.log",
            tmp_path / "hub.db",
            "--agent",
            f"127.0.0.1:{agent_port}",
            "--remote-write",
            f"{vm}/api/v1/import/prometheus",
        ) as (_, base),
    ):
        wait_until(
            "samples stored while VictoriaMetrics is down",
            lambda: node(base, "r1")["stored_seq"] >= 20,
        )
        time.sleep(1.0)  # the hub retries meanwhile
        with started(vm_argv, tmp_path / "vm.log", wait=("127.0.0.1", vm_port), timeout=60):
            selector = '{__name__="node_network_receive_bytes_total",node="r1",device="eth0"}'
            first_ts = raw_series(base, "node_network_receive_bytes_total", "r1", "device=eth0")[0][
                0
            ]
            wait_until(
                "the first sample (from the outage) reached VictoriaMetrics",
                lambda: (pts := _vm_series(vm, selector)) and abs(pts[0][0] - first_ts) < 0.002,
                timeout=60,
            )
            time.sleep(4.0)
            stored = raw_series(base, "node_network_receive_bytes_total", "r1", "device=eth0")
            cutoff = stored[-1][0] - 3.0  # allow the newest batches to be in flight
            want = [(round(t, 3), v) for t, v in stored if t <= cutoff]

            def complete() -> list[tuple[float, float]] | None:
                g = [(round(t, 3), v) for t, v in _vm_series(vm, selector) if t <= cutoff + 0.0005]
                return g if len(g) >= len(want) else None

            got = wait_until("VictoriaMetrics has every stored sample", complete, timeout=60)
            assert len(want) > 30
            assert got == want
            _, metrics = http_get(f"{base}/metrics")
            assert b"microrack_hub_remote_write_samples_total" in metrics
