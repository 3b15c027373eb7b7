"""Discovery: signed beacons from a real agent, forged beacons dropped and counted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hub_helpers import hub, node, twin_agent_cmd, wait_until

from microrack import beacon
from support import free_port, http_get, started

pytestmark = pytest.mark.integration


def _send(datagram: bytes, port: int) -> None:
    s = beacon.sender_socket("127.0.0.1")
    try:
        s.sendto(datagram, (beacon.DEFAULT_GROUP, port))
    finally:
        s.close()


def _dropped(base: str) -> dict[str, float]:
    _, body = http_get(f"{base}/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("microrack_hub_beacons_dropped_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            out[reason] = float(line.rsplit(" ", 1)[1])
    return out


def test_signed_beacon_discovers_real_agent_and_forgeries_are_dropped(tmp_path: Path) -> None:
    key = tmp_path / "beacon.key"
    key.write_text("s3cret-cluster-key\n")
    bport = free_port()  # a free TCP port number is as good a UDP port as any here
    aport = free_port()
    beacons = ("--beacon-key", str(key), "--beacon-port", str(bport))
    agent = twin_agent_cmd(f"127.0.0.1:{aport}", "pi4", "beaconed", *beacons)
    with hub(
        tmp_path / "hub.log",
        tmp_path / "hub.db",
        "--beacon-key",
        str(key),
        "--beacon-port",
        str(bport),
        "--beacon-interface",
        "127.0.0.1",
        "--allow",
        "127.0.0.1/32",
    ) as (_, base):
        now = time.time()
        good = {
            "node": "ghost",
            "board": "pi4",
            "address": "127.0.0.1",
            "port": 9,
            "boot_id": "b",
            "seq": 1,
            "ts": now,
            "headline": {},
        }
        _send(json.dumps(good).encode(), bport)  # unsigned
        _send(beacon.sign(good, b"wrong-key"), bport)  # bad signature
        _send(beacon.sign({**good, "ts": now - 3600}, b"s3cret-cluster-key"), bport)  # stale
        _send(beacon.sign({"node": "x"}, b"s3cret-cluster-key"), bport)  # malformed
        wait_until(
            "four drops counted",
            lambda: (
                {k: v for k, v in _dropped(base).items() if v}
                == {"unsigned": 1.0, "bad_signature": 1.0, "stale": 1.0, "malformed": 1.0}
            ),
        )
        with started(agent, tmp_path / "agent.log", wait=("127.0.0.1", aport), timeout=60):
            n = wait_until(
                "agent discovered and pulled",
                lambda: (
                    (x := node(base, "beaconed"))
                    and x["status"] == "up"
                    and x["stored_seq"] > 2
                    and x
                ),
            )
            assert n["source"] == "beacon" and n["port"] == aport and n["board"]
        assert node(base, "ghost") is None  # nothing forged became a target
