"""Partitions between three network namespaces, each with a real agent (root, nft)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from faults.chaos_support import call, copy_tree, poll, write_token
from support import NetNS, Proc, kernel_lacks, microrack_cmd, require_binary, started

pytestmark = pytest.mark.integration

SUBNET = 97
AGENT_PORT = 9101
PROBE_PORT = 7000
PROBE = str(Path(__file__).resolve().parent / "probe.py")
SIGN = """
import json, sys, time, http.client
from microrack.faults import sign_headers
secret = open(sys.argv[1], "rb").read().strip()
body = sys.argv[4].encode()
c = http.client.HTTPConnection(sys.argv[2], int(sys.argv[3]), timeout=10)
c.request("POST", "/api/v1/faults", body, sign_headers(secret, "POST", "/api/v1/faults", body))
print(c.getresponse().status, flush=True)
time.sleep(3600)
"""


class Cluster:
    def __init__(self, net: NetNS, tmp: Path, secret: bytes, stack: ExitStack) -> None:
        self.net, self.tmp, self.secret, self.stack = net, tmp, secret, stack
        self.agents: dict[int, Proc] = {}

    def start_agent(self, i: int, name: str = "agent") -> Proc:
        addr = self.net.addresses[i]
        root = self.tmp / f"root{i}"
        if not root.exists():
            copy_tree("rpi4b", root)
        argv = self.net.exec_argv(
            i,
            microrack_cmd(
                "agent",
                "--listen",
                f"{addr}:{AGENT_PORT}",
                "--interval",
                "1",
                "--root",
                str(root),
                "--node",
                f"n{i}",
                "--chaos-token",
                str(self.tmp / "token"),
                "--chaos-allow",
                "partition",
                "--chaos-state",
                str(self.tmp / f"state{i}.json"),
            ),
        )
        cm = started(
            argv,
            self.tmp / f"{name}{i}-{time.monotonic_ns()}.log",
            wait=(addr, AGENT_PORT),
            timeout=60,
        )
        proc = self.stack.enter_context(cm)
        self.agents[i] = proc
        return proc

    def post(self, i: int, body: dict[str, Any]) -> tuple[int, Any]:
        return call(self.net.addresses[i], AGENT_PORT, self.secret, "POST", "/api/v1/faults", body)

    def probe(self, src: int, dst: int, n: int = 3) -> dict[str, Any]:
        argv = self.net.exec_argv(
            src, [sys.executable, PROBE, "probe", self.net.addresses[dst], str(PROBE_PORT), str(n)]
        )
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
        return dict(json.loads(out.stdout))

    def reach(self, src: int, dst: int) -> bool:
        r = self.probe(src, dst)
        return bool(r["tcp"]) and r["udp"] == 3

    def cut(self, src: int, dst: int) -> bool:
        r = self.probe(src, dst)
        return not r["tcp"] and r["udp"] == 0

    def table(self, i: int) -> str:
        out = subprocess.run(
            self.net.exec_argv(i, ["nft", "list", "ruleset"]),
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    require_binary("nft")
    with NetNS(3, subnet=SUBNET, prefix="mrcha") as net, ExitStack() as stack:
        # the test talks to the agents over the bridge
        subprocess.run(
            ["ip", "addr", "add", f"198.18.{SUBNET}.254/24", "dev", net.bridge],
            check=True,
            capture_output=True,
        )
        secret = write_token(tmp_path / "token")
        cl = Cluster(net, tmp_path, secret, stack)
        for i in range(3):
            argv = net.exec_argv(
                i, [sys.executable, PROBE, "serve", net.addresses[i], str(PROBE_PORT)]
            )
            stack.enter_context(
                started(argv, tmp_path / f"probe{i}.log", wait=(net.addresses[i], PROBE_PORT))
            )
            cl.start_agent(i)
        yield cl


def _partition(fid: str, peers: list[str], duration: float, **params: Any) -> dict[str, Any]:
    return {
        "id": fid,
        "kind": "partition",
        "duration_s": duration,
        "params": {"peers": peers, **params},
    }


def test_one_way_partition_and_heal_at_deadline(cluster: Cluster) -> None:
    a = cluster.net.addresses
    assert cluster.reach(0, 1) and cluster.reach(1, 0) and cluster.reach(0, 2)
    status, dry = cluster.post(0, {**_partition("p1", [a[1]], 6, direction="out"), "dry_run": True})
    assert status == 200 and any("hook output" in c for c in dry["commands"])
    assert "microrack_chaos" not in cluster.table(0) and cluster.reach(0, 1)
    status, fault = cluster.post(0, _partition("p1", [a[1], f"{a[2]}/32"], 6, direction="out"))
    assert status == 201, fault
    assert any("hook output" in c for c in fault["commands"])
    # group {n0} cannot open flows to {n1, n2}; they still reach n0, and n1 <-> n2 is intact
    assert cluster.cut(0, 1) and cluster.cut(0, 2)
    assert cluster.reach(1, 0) and cluster.reach(2, 0)
    assert cluster.reach(1, 2) and cluster.reach(2, 1)
    assert "microrack_chaos" in cluster.table(0)
    # healed at the deadline by itself
    poll(lambda: cluster.reach(0, 1), timeout=60, what="partition heal")
    poll(
        lambda: "microrack_chaos" not in cluster.table(0) or "hook output" not in cluster.table(0),
        timeout=30,
        what="rule removal",
    )
    assert cluster.reach(0, 2)


def test_inbound_partition_and_loss(cluster: Cluster) -> None:
    a = cluster.net.addresses
    status, fault = cluster.post(1, _partition("in1", [a[0]], 60, direction="in"))
    assert status == 201, fault
    assert cluster.cut(0, 1) and cluster.reach(1, 0)
    assert call(a[1], 9101, cluster.secret, "DELETE", "/api/v1/faults/in1")[0] == 200
    assert cluster.reach(0, 1)
    status, fault = cluster.post(
        0, _partition("half", [a[2]], 60, direction="out", protocols=["udp"], loss_pct=50)
    )
    assert status == 201, fault
    r = cluster.probe(0, 2, n=200)
    assert r["tcp"]  # only UDP is affected
    assert 0 < r["udp"] < 200, r


def test_sigkilled_agent_leaves_rules_that_its_restart_removes(cluster: Cluster) -> None:
    a = cluster.net.addresses
    status, _ = cluster.post(0, _partition("k1", [a[1]], 600, direction="both"))
    assert status == 201
    assert cluster.cut(0, 1) and cluster.cut(1, 0)
    cluster.agents[0].stop(signal.SIGKILL)
    assert cluster.cut(0, 1)  # nobody reverted it
    cluster.start_agent(0, name="restarted")
    assert "hook" not in cluster.table(0)
    assert cluster.reach(0, 1) and cluster.reach(1, 0)


def test_killed_client_does_not_keep_the_fault(cluster: Cluster) -> None:
    a = cluster.net.addresses
    body = json.dumps(_partition("c1", [a[2]], 3, direction="out"))
    with started(
        [sys.executable, "-c", SIGN, str(cluster.tmp / "token"), a[0], "9101", body],
        cluster.tmp / "client.log",
    ) as client:
        poll(lambda: "201" in client.output(), timeout=30, what="client's fault")
        client.stop(signal.SIGKILL)
    assert cluster.cut(0, 2)
    poll(lambda: cluster.reach(0, 2), timeout=60, what="revert after the client died")
    status, listed = call(a[0], 9101, cluster.secret, "GET", "/api/v1/faults")
    assert status == 200 and listed == {"node": "n0", "faults": []}


def test_the_kernel_expires_a_partition_of_a_dead_agent(cluster: Cluster) -> None:
    a = cluster.net.addresses
    status, _ = cluster.post(0, _partition("dm", [a[1]], 3, direction="out"))
    assert status == 201
    cluster.agents[0].stop(signal.SIGKILL)
    assert cluster.cut(0, 1)
    # no agent left to revert: the set elements' own timeout ends the partition
    poll(lambda: cluster.reach(0, 1), timeout=60, what="kernel-side expiry")
    assert "hook output" in cluster.table(0)  # the empty chain stays until the next start
    cluster.start_agent(0, name="restarted")
    assert "hook" not in cluster.table(0)


CONNECT = """
import socket, sys, time
best = 1e9
for _ in range(5):
    t = time.monotonic()
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
    best = min(best, time.monotonic() - t)
print(best)
"""


def _netem_sent(cluster: Cluster, i: int) -> int:
    """Packets the delay band's netem qdisc of node ``i`` has sent (0 without one)."""
    out = subprocess.run(
        cluster.net.exec_argv(i, ["tc", "-s", "qdisc", "show", "dev", cluster.net.iface(i)]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    _, sep, rest = out.partition("qdisc netem 40:")
    if not sep:
        return 0
    return int(rest.split(" Sent ", 1)[1].split()[2])


def test_delay_only_toward_the_peers_or_a_422_naming_sch_netem(cluster: Cluster) -> None:
    require_binary("tc")
    modprobe = shutil.which("modprobe") or shutil.which("modprobe", path="/usr/sbin:/sbin")
    if modprobe:  # where the modules exist, load them (tc would ask the kernel for them too)
        for module in ("sch_prio", "sch_netem", "cls_u32"):
            subprocess.run([modprobe, "-q", module], capture_output=True, check=False)
    a = cluster.net.addresses
    # only ICMP is dropped (1 %): TCP to the peer passes, delayed by netem
    body = _partition("lag", [a[1]], 8, direction="out", protocols=["icmp"], loss_pct=1)
    body["params"]["delay_ms"] = 150
    status, fault = cluster.post(0, body)
    if status == 422:
        assert fault["field"] == "params.delay_ms" and "sch_netem" in fault["error"], fault
        # refused whole: nothing active, no chain of it left in the table
        listed = call(a[0], AGENT_PORT, cluster.secret, "GET", "/api/v1/faults")[1]
        assert listed["faults"] == [] and "f3_lag" not in cluster.table(0)
        missing_qdisc = fault["error"].split("lacks ")[1].split()[0]
        kernel_lacks(missing_qdisc)
    assert status == 201, fault
    assert any("netem delay 150ms" in c for c in fault["commands"])

    def connect(dst: int) -> float:
        argv = cluster.net.exec_argv(0, [sys.executable, "-c", CONNECT, a[dst], str(PROBE_PORT)])
        return float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)

    # traffic to n2 (not a peer) never enters the delay band; traffic to n1 does, and waits
    sent = _netem_sent(cluster, 0)
    connect(2)
    assert _netem_sent(cluster, 0) == sent
    assert connect(1) >= 0.150  # netem holds each SYN this long at least: a lower bound
    assert _netem_sent(cluster, 0) > sent
    # the agent's own timer takes the qdisc away at the deadline
    poll(lambda: _netem_sent(cluster, 0) == 0, timeout=60, what="netem removed")
    shown = subprocess.run(
        cluster.net.exec_argv(0, ["tc", "qdisc", "show", "dev", cluster.net.iface(0)]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "prio" not in shown.stdout


def test_inbound_delay_only_from_the_peers_or_a_422_that_leaves_nothing(cluster: Cluster) -> None:
    """direction in: an ifb device fed from the ingress qdisc; where the kernel lacks netem the
    refusal comes after the ifb and the ingress filters were made, and takes them away again."""
    from microrack.faults._spec import ifb_name

    require_binary("tc")
    a, dev = cluster.net.addresses, cluster.net.iface(1)
    ifb = ifb_name("lag-in")

    def run(*argv: str) -> str:
        out = subprocess.run(cluster.net.exec_argv(1, list(argv)), capture_output=True, text=True)
        return out.stdout

    body = _partition("lag-in", [a[0]], 8, direction="in", protocols=["icmp"], loss_pct=1)
    body["params"]["delay_ms"] = 150
    status, fault = cluster.post(1, body)
    if status == 422:
        assert fault["field"] == "params.delay_ms" and "sch_netem" in fault["error"], fault
        assert ifb not in run("ip", "-o", "link", "show")
        assert "ingress" not in run("tc", "qdisc", "show", "dev", dev, "ingress")
        listed = call(a[1], AGENT_PORT, cluster.secret, "GET", "/api/v1/faults")[1]
        assert listed["faults"] == []
        assert cluster.reach(0, 1) and cluster.reach(2, 1)
        kernel_lacks(fault["error"].split("lacks ")[1].split()[0])
    assert status == 201, fault

    def through_ifb() -> int:
        out = run("tc", "-s", "qdisc", "show", "dev", ifb)
        return int(out.split(" Sent ", 1)[1].split()[2]) if " Sent " in out else -1

    def connect(src: int) -> float:
        argv = cluster.net.exec_argv(src, [sys.executable, "-c", CONNECT, a[1], str(PROBE_PORT)])
        return float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)

    seen = through_ifb()
    connect(2)  # n2 is not a peer: its packets skip the ifb
    assert through_ifb() == seen
    assert connect(0) >= 0.150  # n0's SYN waits in n1's ifb at least this long
    assert through_ifb() > seen
    poll(lambda: ifb not in run("ip", "-o", "link", "show"), timeout=60, what="ifb removed")
    assert "ingress" not in run("tc", "qdisc", "show", "dev", dev, "ingress")
