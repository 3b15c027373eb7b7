"""Beacons on a network the test makes (namespaces on one bridge, 198.18.44.0/24): a holder
of the shared key cannot make the hub pull arbitrary hosts; targets are capped and expire."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_helpers import get_json, twin_agent_cmd, wait_until

from support import NetNS, http_get, microrack_cmd, started

pytestmark = [pytest.mark.integration, pytest.mark.netns]

SUBNET = 44
KEY = "netns-beacon-key"

# Runs inside the attacker's namespace: signed beacons (it holds the key) naming targets.
ATTACK = """
import json, math, socket, sys, time
from microrack import beacon
src, hub, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
key, flood = sys.argv[4].encode(), int(sys.argv[5])
s = beacon.sender_socket(src)
def send(**kw):
    p = {"node": "x", "board": "pi4", "address": src, "port": 9101, "boot_id": "b", "seq": 1,
         "ts": time.time(), "headline": {}}
    p.update(kw)
    s.sendto(beacon.sign(p, key), (hub, port))
deadline = time.time() + float(sys.argv[6])
while time.time() < deadline:
    send(node="ssrf-loopback", address="127.0.0.1", port=22)
    send(node="ssrf-outside", address="198.19.7.7", port=80)
    send(node="ssrf-unspecified", address="0.0.0.0", port=80)
    send(node="ssrf-neighbour", address=sys.argv[7], port=22)  # inside the network, not its own
    send(node="bad-port-0", port=0)
    send(node="bad-port-neg", port=-1)
    send(node="bad-port-big", port=70000)
    send(node="bad-addr", address="")
    send(node="nan-ts", ts=math.nan)
    send(node="inf-ts", ts=math.inf)
    for i in range(flood):
        send(node=f"flood-{i}", port=20000 + i)
    time.sleep(0.5)
"""


def _dropped(base: str) -> dict[str, float]:
    status, body = http_get(f"{base}/metrics")
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("microrack_hub_beacons_dropped_total{"):
            out[line.split('reason="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return out


def test_beacons_cannot_point_the_hub_anywhere(tmp_path: Path) -> None:
    key = tmp_path / "beacon.key"
    key.write_text(KEY + "\n")
    with NetNS(3, subnet=SUBNET, prefix="mb") as ns:
        subprocess.run(
            ["ip", "addr", "add", f"198.18.{SUBNET}.254/24", "dev", ns.bridge], check=True
        )
        for i, name in enumerate(ns.names):
            subprocess.run(
                ["ip", "-n", name, "route", "add", "224.0.0.0/4", "dev", ns.iface(i)], check=True
            )
        hub_addr, agent_addr, attacker = ns.addresses
        hub_argv = ns.exec_argv(
            0,
            microrack_cmd(
                "hub",
                "--listen",
                f"{hub_addr}:8080",
                "--db",
                str(tmp_path / "hub.db"),
                "--beacon-key",
                str(key),
                "--beacon-interface",
                hub_addr,
                "--allow",
                f"198.18.{SUBNET}.0/24",
                "--beacon-max-targets",
                "6",
                "--beacon-expiry",
                "4s",
            ),
        )
        agent_argv = ns.exec_argv(
            1,
            twin_agent_cmd(f"{agent_addr}:9101", "pi4", "beaconed", "--beacon-key", str(key)),
        )
        attack_argv = ns.exec_argv(
            2,
            [sys.executable, "-c", ATTACK, attacker, hub_addr, "9797", KEY, "20", "6", agent_addr],
        )
        base = f"http://{hub_addr}:8080"
        with (
            started(hub_argv, tmp_path / "hub.log", wait=(hub_addr, 8080), timeout=60),
            started(agent_argv, tmp_path / "agent.log", wait=(agent_addr, 9101), timeout=60),
        ):
            wait_until(
                "the real agent found by its beacon and stored",
                lambda: any(
                    n["name"] == "beaconed" and n["stored_seq"] > 2
                    for n in get_json(f"{base}/api/v1/nodes")["nodes"]
                ),
                timeout=60,
            )
            attack = subprocess.run(attack_argv, capture_output=True, timeout=60)
            assert attack.returncode == 0, attack.stderr.decode()[-2000:]
            nodes = get_json(f"{base}/api/v1/nodes")["nodes"]
            names = {n["name"] for n in nodes}
            addresses = {n["address"] for n in nodes}
            # nothing outside the allowed network, nothing with a bad port, no NaN beacon
            assert addresses <= {agent_addr, attacker}, addresses
            assert not names & {"ssrf-loopback", "ssrf-outside", "ssrf-unspecified"}
            assert "ssrf-neighbour" not in names and (agent_addr, 22) not in {
                (n["address"], n["port"]) for n in nodes
            }
            assert not names & {"bad-port-0", "bad-port-neg", "bad-port-big", "bad-addr"}
            assert not names & {"nan-ts", "inf-ts"}
            assert all(0 < n["port"] < 65536 for n in nodes)
            # capped: six targets from beacons at most, the real agent among them
            assert len(nodes) == 6 and "beaconed" in names, sorted(names)
            dropped = _dropped(base)
            assert dropped["not_allowed"] >= 3 * 6  # three SSRF beacons every round
            assert dropped["malformed"] >= 6 * 6  # bad ports, address and timestamps
            assert dropped["over_cap"] > 0
            assert dropped["address_mismatch"] >= 6
            # the attacker stopped: its targets expire, the real agent (still beaconing) stays
            wait_until(
                "flood targets expired",
                lambda: (
                    {n["name"] for n in get_json(f"{base}/api/v1/nodes")["nodes"]} == {"beaconed"}
                ),
                timeout=60,
            )
            time.sleep(1.0)
            final = get_json(f"{base}/api/v1/nodes")["nodes"]
            assert [n["name"] for n in final] == ["beaconed"]
            assert json.dumps(final).count("flood-") == 0
