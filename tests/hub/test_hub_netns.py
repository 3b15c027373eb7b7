"""Real agents on their own hosts (network namespaces), found from cluster.yaml; a
partition (the host's link set down) loses no sample."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from hub_helpers import assert_complete, get_json, hub, node, twin_agent_cmd, wait_until

from support import NetNS, started

pytestmark = [pytest.mark.integration, pytest.mark.netns]

SUBNET = 41
SPEC = """\
cluster: {{name: hubtest, domain: hubtest.internal}}
networks:
- {{name: lan, kind: infrastructure, cidr: 198.18.{s}.0/24, gateway: 198.18.{s}.254}}
nodes:
- name: ns-a
  board: rpi-4b
  ram_gb: 4
  nics: [{{name: eth0, mac: "02:6d:72:29:00:01", network: lan, address: 198.18.{s}.1}}]
  roles: [control-plane]
- name: ns-b
  board: rpi-5
  ram_gb: 4
  nics: [{{name: eth0, mac: "02:6d:72:29:00:02", network: lan, address: 198.18.{s}.2}}]
  roles: [worker]
"""


def test_spec_targets_and_link_down_partition(tmp_path: Path) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(SPEC.format(s=SUBNET))
    with NetNS(2, subnet=SUBNET, prefix="mh") as ns:
        subprocess.run(
            ["ip", "addr", "add", f"198.18.{SUBNET}.254/24", "dev", ns.bridge], check=True
        )
        agents = []
        for i, (name, board) in enumerate([("ns-a", "pi4"), ("ns-b", "pi5")]):
            argv = ns.exec_argv(
                i,
                twin_agent_cmd(f"{ns.addresses[i]}:9101", board, name, "--buffer", "5000"),
            )
            agents.append(
                started(argv, tmp_path / f"{name}.log", wait=(ns.addresses[i], 9101), timeout=60)
            )
        with (
            agents[0],
            agents[1],
            hub(tmp_path / "hub.log", tmp_path / "hub.db", "--spec", str(spec)) as (_, base),
        ):
            for name in ("ns-a", "ns-b"):
                wait_until(
                    f"{name} up",
                    lambda n=name: (
                        (x := node(base, n)) and x["status"] == "up" and x["stored_seq"] > 3
                    ),
                    timeout=60,
                )
            assert {n["source"] for n in get_json(f"{base}/api/v1/nodes")["nodes"]} == {"spec"}
            before = node(base, "ns-a")["stored_seq"]
            subprocess.run(["ip", "link", "set", ns.host_link(0), "down"], check=True)
            try:
                wait_until("ns-a down", lambda: node(base, "ns-a")["status"] == "down", timeout=30)
                # the other node goes on (a deadline, not one look: a pull may run late)
                wait_until("ns-b up meanwhile", lambda: node(base, "ns-b")["status"] == "up")
                assert node(base, "ns-a")["status"] == "down"
                time.sleep(3.0)
            finally:
                subprocess.run(["ip", "link", "set", ns.host_link(0), "up"], check=True)
            wait_until("ns-a up again", lambda: node(base, "ns-a")["status"] == "up", timeout=60)
            agent = f"http://{ns.addresses[0]}:9101"
            now_seq = get_json(f"{agent}/api/v1/samples?since=0")["last_seq"]
            wait_until("caught up", lambda: node(base, "ns-a")["stored_seq"] >= now_seq, timeout=60)
            count = assert_complete(
                base, agent, "ns-a", "node_cpu_seconds_total", "cpu=0,mode=user"
            )
            assert count >= before + 8  # the partition lasted more than 8 intervals
            assert node(base, "ns-a")["samples_lost"] == 0
