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


def _victoria(tmp_path: Path, port: int, *extra: str) -> list[str]:
    """Debian's VictoriaMetrics on loopback ``port``, its data in ``tmp_path/vm``."""
    return [
        require_binary("victoria-metrics", "/usr/bin/victoria-metrics"),
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={tmp_path / 'vm'}",
        "-retentionPeriod=100y",
        *extra,
    ]


def test_remote_write_survives_outage_and_matches_store(tmp_path: Path) -> None:
    vm_port, agent_port = free_port(), free_port()
    vm = f"http://127.0.0.1:{vm_port}"
    vm_argv = _victoria(tmp_path, vm_port)
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


def _prom_series(prom: str, selector: str) -> list[tuple[float, float]]:
    q = urllib.parse.quote(f"{selector}[1h]")
    status, body = http_get(f"{prom}/api/v1/query?query={q}")
    assert status == 200, body[:300]
    result = json.loads(body)["data"]["result"]
    if not result:
        return []
    (row,) = result
    return sorted((float(t), float(v)) for t, v in row["values"])


def _compare_with_store(base: str, got_fn, name: str) -> None:
    stored = raw_series(base, "node_network_receive_bytes_total", name, "device=eth0")
    cutoff = stored[-1][0] - 3.0  # the newest batches may be in flight
    want = [(round(t, 3), v) for t, v in stored if t <= cutoff]

    def complete() -> list[tuple[float, float]] | None:
        g = [(round(t, 3), v) for t, v in got_fn() if t <= cutoff + 0.0005]
        return g if len(g) >= len(want) else None

    got = wait_until("the remote store has every stored sample", complete, timeout=60)
    assert len(want) > 10
    assert got == want


def test_remote_write_protobuf_to_a_real_prometheus_receiver(tmp_path: Path) -> None:
    prom_bin = require_binary("prometheus", "/usr/bin/prometheus")
    prom_port, agent_port = free_port(), free_port()
    prom = f"http://127.0.0.1:{prom_port}"
    (tmp_path / "prom.yml").write_text("global:\n  scrape_interval: 1m\n")
    argv = [
        prom_bin,
        f"--config.file={tmp_path / 'prom.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        "--web.enable-remote-write-receiver",
    ]
    with (
        started(argv, tmp_path / "prom.log", wait=("127.0.0.1", prom_port), timeout=60),
        standin(tmp_path / "agent.log", agent_port, name="p1", interval=0.1),
        hub(
            tmp_path / "hub.log",
            tmp_path / "hub.db",
            "--agent",
            f"127.0.0.1:{agent_port}",
            "--remote-write",
            f"{prom}/api/v1/write",
        ) as (_, base),
    ):
        wait_until("stored", lambda: node(base, "p1")["stored_seq"] >= 60)
        time.sleep(3.0)
        selector = 'node_network_receive_bytes_total{node="p1",device="eth0"}'
        _compare_with_store(base, lambda: _prom_series(prom, selector), "p1")


def test_remote_write_protobuf_to_victoriametrics_and_nothing_twice_after_restart(
    tmp_path: Path,
) -> None:
    vm_port, agent_port = free_port(), free_port()
    vm = f"http://127.0.0.1:{vm_port}"
    vm_argv = _victoria(tmp_path, vm_port, "-dedup.minScrapeInterval=0s")
    args = ("--agent", f"127.0.0.1:{agent_port}", "--remote-write", f"{vm}/api/v1/write")
    selector = '{__name__="node_network_receive_bytes_total",node="v1",device="eth0"}'
    with (
        started(vm_argv, tmp_path / "vm.log", wait=("127.0.0.1", vm_port), timeout=60),
        standin(tmp_path / "agent.log", agent_port, name="v1", interval=0.1),
    ):
        for run in range(2):
            with hub(tmp_path / f"hub{run}.log", tmp_path / "hub.db", *args) as (_, base):
                before = node(base, "v1")["stored_seq"] if run else 0
                wait_until("stored", lambda b=before: node(base, "v1")["stored_seq"] >= b + 40)
                time.sleep(2.5)
                _compare_with_store(base, lambda: _vm_series(vm, selector), "v1")
        # VictoriaMetrics keeps every sample it is sent (no deduplication here): a sample
        # sent twice across the restart would show up as a repeated timestamp
        points = _vm_series(vm, selector)
        stamps = [t for t, _ in points]
        assert len(stamps) == len(set(stamps)), "a sample was sent twice"
