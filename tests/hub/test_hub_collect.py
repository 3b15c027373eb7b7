"""Gap-free collection from stand-in agents (real HTTP servers in their own processes).

A stand-in agent computes sample ``seq`` at ``start + (seq-1) * interval``, so
while it is stopped (SIGSTOP) or the hub is down its ring keeps the samples of
that period, like an agent behind a cut network cable.  Each test compares the
hub's stored series with the agent's own ring, sample by sample.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from hub_helpers import assert_complete, get_json, hub, node, raw_series, standin, wait_until

from support import free_port, http_get

pytestmark = pytest.mark.integration

METRIC, LABELS = "node_network_receive_bytes_total", "device=eth0"


def test_every_sample_is_stored_across_hub_restart(tmp_path: Path) -> None:
    port = free_port()
    agent = f"http://127.0.0.1:{port}"
    db = tmp_path / "hub.db"
    with standin(tmp_path / "agent.log", port, name="n1", interval=0.1, ring=5000):
        with hub(tmp_path / "hub1.log", db, "--agent", f"127.0.0.1:{port}") as (_, base):
            wait_until(
                "node n1 up with 20 samples",
                lambda: (n := node(base, "n1")) and n["status"] == "up" and n["last_seq"] >= 20,
            )
        stopped_at = get_json(f"{agent}/api/v1/samples?since=0")["last_seq"]
        time.sleep(2.0)  # ~20 samples the hub does not see while it is down
        with hub(tmp_path / "hub2.log", db, "--agent", f"127.0.0.1:{port}") as (_, base):
            wait_until(
                "hub caught up past the downtime",
                lambda: node(base, "n1")["stored_seq"] >= stopped_at + 30,
            )
            count = assert_complete(base, agent, "n1")
            assert count >= stopped_at + 30


def test_partition_sigstop_then_back_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    agent = f"http://127.0.0.1:{port}"
    with (
        standin(tmp_path / "agent.log", port, name="p1", interval=0.2, ring=5000) as ag,
        hub(tmp_path / "hub.log", tmp_path / "hub.db", "--agent", f"127.0.0.1:{port}") as (_, base),
    ):
        wait_until(
            "p1 up", lambda: (n := node(base, "p1")) and n["status"] == "up" and n["last_seq"] > 5
        )
        os.kill(ag.pid, signal.SIGSTOP)
        try:
            before = node(base, "p1")["last_seq"]
            wait_until(
                "p1 stale", lambda: node(base, "p1")["status"] in ("stale", "down"), timeout=30
            )
            wait_until("p1 down", lambda: node(base, "p1")["status"] == "down", timeout=30)
            wait_until(
                "NodeDown alert",
                lambda: any(
                    a["name"] == "NodeDown" and a["node"] == "p1" and a["state"] == "firing"
                    for a in get_json(f"{base}/api/v1/alerts")["alerts"]
                ),
            )
            time.sleep(3.0)
        finally:
            os.kill(ag.pid, signal.SIGCONT)
        wait_until("p1 up again", lambda: node(base, "p1")["status"] == "up", timeout=30)
        gone = wait_until(
            "NodeDown resolved",
            lambda: [
                a for a in get_json(f"{base}/api/v1/alerts")["resolved"] if a["name"] == "NodeDown"
            ],
        )
        assert gone[0]["node"] == "p1"
        now_seq = get_json(f"{agent}/api/v1/samples?since=0")["last_seq"]
        wait_until("caught up", lambda: node(base, "p1")["stored_seq"] >= now_seq)
        count = assert_complete(base, agent, "p1")
        assert count > before + 15  # the partition lasted more than 15 intervals


def test_changed_boot_id_keeps_both_boots(tmp_path: Path) -> None:
    port = free_port()
    agent = f"http://127.0.0.1:{port}"
    db = tmp_path / "hub.db"
    with hub(tmp_path / "hub.log", db, "--agent", f"127.0.0.1:{port}") as (_, base):
        with standin(tmp_path / "a1.log", port, name="b1", interval=0.1, boot_id=str(uuid.uuid4())):
            wait_until(
                "first boot stored", lambda: (n := node(base, "b1")) and n["stored_seq"] >= 30
            )
            first = raw_series(base, METRIC, "b1", LABELS)
            first_boot = node(base, "b1")["boot_id"]
        with standin(tmp_path / "a2.log", port, name="b1", interval=0.1, boot_id=str(uuid.uuid4())):
            wait_until("restart seen", lambda: node(base, "b1")["restarts"] == 1)
            wait_until("second boot stored", lambda: node(base, "b1")["stored_seq"] >= 20)
            n = node(base, "b1")
            assert n["boot_id"] != first_boot
            second = assert_complete(base, agent, "b1")
            stored = raw_series(base, METRIC, "b1", LABELS)
            # every sample of the first boot is still there, then every sample of the second
            assert stored[: len(first)] == first
            assert len(stored) >= len(first) + second - 1


def test_kill_9_mid_ingest_leaves_a_sound_gap_free_store(tmp_path: Path) -> None:
    port = free_port()
    agent = f"http://127.0.0.1:{port}"
    db = tmp_path / "hub.db"
    rng = random.Random(7)
    with standin(
        tmp_path / "agent.log",
        port,
        name="k1",
        interval=0.05,
        series=200,
        ring=20000,
        count=1,
        backdate=60,
    ):
        chunks = 0
        for round_no in range(6):
            with hub(
                tmp_path / f"hub{round_no}.log",
                db,
                "--agent",
                f"127.0.0.1:{port}",
                # cut heads into chunks all the time, so that kills land in that too
                "--chunk",
                "1s",
                "--maintenance",
                "300ms",
            ) as (proc, base):
                wait_until("some pulls", lambda: node(base, "k1") is not None)
                time.sleep(rng.uniform(0.5, 5.0))  # writes every 2 s, chunking every 0.3 s
                os.kill(proc.pid, signal.SIGKILL)
                proc.popen.wait(10)
            conn = sqlite3.connect(db)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            chunks += conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            conn.close()
        with hub(tmp_path / "final.log", db, "--agent", f"127.0.0.1:{port}") as (_, base):
            now_seq = get_json(f"{agent}/api/v1/samples?since=0")["last_seq"]
            wait_until("caught up", lambda: node(base, "k1")["stored_seq"] >= now_seq, timeout=120)
            count = assert_complete(base, agent, "k1")
            assert count >= now_seq
        assert chunks > 0  # the kills also hit a store that was cutting chunks


def test_store_locked_by_another_writer_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """Another process holds the database's write lock past the hub's 30 s busy timeout
    (a sqlite3 shell left in a transaction): the failed writes are retried, not lost."""
    port = free_port()
    agent = f"http://127.0.0.1:{port}"
    db = tmp_path / "hub.db"
    with (
        standin(tmp_path / "agent.log", port, name="L1", interval=0.1, ring=5000),
        hub(tmp_path / "hub.log", db, "--agent", f"127.0.0.1:{port}") as (_, base),
    ):
        wait_until("L1 stored", lambda: (n := node(base, "L1")) and n["stored_seq"] > 10)
        other = sqlite3.connect(db, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            time.sleep(40.0)  # one write waits out the busy timeout and fails; pulls go on
        finally:
            other.execute("COMMIT")
            other.close()
        now_seq = get_json(f"{agent}/api/v1/samples?since=0")["last_seq"]
        wait_until("caught up", lambda: node(base, "L1")["stored_seq"] >= now_seq, timeout=120)
        assert_complete(base, agent, "L1")
        health = http_get(f"{base}/metrics")[1].decode().splitlines()
        failures = next(x for x in health if x.startswith("microrack_hub_store_write_failures"))
        assert float(failures.split()[-1]) >= 1
    assert "store write failed" in (tmp_path / "hub.log").read_text()
