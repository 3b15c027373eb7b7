"""A real etcd quorum on three network namespaces under ``microrack chaos run``'s partition.

Each namespace is one node: an etcd member (Debian's etcd-server) and a real
agent that applies the partition with nftables.  The test and the chaos
command sit in the host namespace on the bridge (198.18.98.254), which the
partition does not cut: they reach every member's client URL throughout.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from faults.chaos_support import agent_argv, copy_tree, finish_json, poll, write_token
from support import NetNS, microrack_cmd, require_binary, started

pytestmark = pytest.mark.integration

SUBNET = 98
AGENT_PORT = 9101
NAMES = ["e0", "e1", "e2"]


@dataclass
class Quorum:
    net: NetNS
    tmp: Path
    spec: Path
    token: Path
    etcdctl: str

    def url(self, i: int) -> str:
        return f"http://{self.net.addresses[i]}:2379"

    def put(self, i: int, key: str, value: str = "v", timeout: float = 2.0) -> bool:
        """A write through the real etcdctl, from the host namespace."""
        p = subprocess.run(
            [
                self.etcdctl,
                "--endpoints",
                self.url(i),
                f"--command-timeout={timeout:g}s",
                "--dial-timeout=1s",
                "put",
                key,
                value,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
        )
        return p.returncode == 0 and "OK" in p.stdout

    def leader(self, ask: list[int] | None = None) -> int | None:
        """Index of the member the members ``ask`` (default all) agree lead; None: no leader."""
        import httpx

        ids, seen = {}, set()
        for i in range(3):
            doc = httpx.post(f"{self.url(i)}/v3/maintenance/status", json={}, timeout=5).json()
            ids[doc["header"]["member_id"]] = i
            if ask is None or i in ask:
                seen.add(doc.get("leader"))  # proto3 JSON leaves out a zero (no leader)
        (leader,) = seen
        return ids.get(leader)

    def partitioned(self, i: int) -> bool:
        out = subprocess.run(
            self.net.exec_argv(i, ["nft", "list", "ruleset"]),
            capture_output=True,
            text=True,
            check=True,
        )
        return "microrack_chaos" in out.stdout and "drop" in out.stdout


def _spec(tmp: Path, addresses: list[str]) -> Path:
    doc = {
        "cluster": {"name": "quorum", "domain": "quorum.test"},
        "networks": [{"name": "lan", "kind": "infrastructure", "cidr": f"198.18.{SUBNET}.0/24"}],
        "nodes": [
            {
                "name": name,
                "board": "rpi-4b",
                "ram_gb": 4,
                "nics": [
                    {
                        "name": "eth0",
                        "network": "lan",
                        "address": addr,
                        "mac": f"02:00:00:00:{SUBNET:02x}:{i + 1:02x}",
                    }
                ],
                "roles": ["etcd"],
                "agent_port": AGENT_PORT,
                "chaos": {"allow": ["partition"]},
            }
            for i, (name, addr) in enumerate(zip(NAMES, addresses, strict=True))
        ],
        # the default etcd check, with a timeout below etcd's own request timeout
        "services": {"health": {"etcd": {"timeout_s": 1.5}}},
    }
    out = tmp / "cluster.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


@pytest.fixture
def quorum(tmp_path: Path) -> Iterator[Quorum]:
    etcd = require_binary("etcd")
    etcdctl = require_binary("etcdctl")
    require_binary("nft")
    with NetNS(3, subnet=SUBNET, prefix="mrq") as net, ExitStack() as stack:
        subprocess.run(
            ["ip", "addr", "add", f"198.18.{SUBNET}.254/24", "dev", net.bridge],
            check=True,
            capture_output=True,
        )
        token = tmp_path / "token"
        write_token(token)
        cluster = ",".join(
            f"{n}=http://{a}:2380" for n, a in zip(NAMES, net.addresses, strict=True)
        )
        for i, (name, addr) in enumerate(zip(NAMES, net.addresses, strict=True)):
            argv = [
                etcd,
                "--name",
                name,
                "--data-dir",
                str(tmp_path / f"etcd{i}"),
                "--listen-client-urls",
                f"http://{addr}:2379",
                "--advertise-client-urls",
                f"http://{addr}:2379",
                "--listen-peer-urls",
                f"http://{addr}:2380",
                "--initial-advertise-peer-urls",
                f"http://{addr}:2380",
                "--initial-cluster",
                cluster,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "mrq",
                # small timeouts keep the test short; pre-vote keeps a healed member
                # from forcing an election on the majority
                "--heartbeat-interval",
                "100",
                "--election-timeout",
                "1000",
                "--pre-vote",
                "--logger",
                "zap",
            ]
            stack.enter_context(
                started(net.exec_argv(i, argv), tmp_path / f"etcd{i}.log", wait=(addr, 2379))
            )
        for i, (name, addr) in enumerate(zip(NAMES, net.addresses, strict=True)):
            root = copy_tree("rpi4b", tmp_path / f"root{i}")
            argv = agent_argv(
                f"{addr}:{AGENT_PORT}",
                root,
                name,
                tmp_path / f"state{i}.json",
                token=token,
                allow=["partition"],
            )
            stack.enter_context(
                started(
                    net.exec_argv(i, argv),
                    tmp_path / f"agent{i}.log",
                    wait=(addr, AGENT_PORT),
                    timeout=60,
                )
            )
        q = Quorum(net, tmp_path, _spec(tmp_path, net.addresses), token, etcdctl)
        poll(lambda: all(q.put(i, "ready") for i in range(3)), timeout=60, what="etcd quorum")
        yield q


def _run(q: Quorum, scenario: str, name: str) -> subprocess.Popen[str]:
    sc = q.tmp / f"{name}.yaml"
    sc.write_text(scenario)
    argv = microrack_cmd(
        "chaos",
        "run",
        str(sc),
        "--spec",
        str(q.spec),
        "--token",
        str(q.token),
        "--json",
        "--probe-every",
        "0.3",
        "--html",
        str(q.tmp / f"{name}.html"),
    )
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_majority_keeps_writing_the_minority_does_not_and_the_report_agrees(
    quorum: Quorum,
) -> None:
    q = quorum
    # cut off a follower: a cut leader forces an election the report would rightly show
    minority = next(i for i in range(3) if i != q.leader())  # a follower
    majority = [i for i in range(3) if i != minority]
    proc = _run(
        q,
        f"""
name: split
duration: 14
faults:
  - {{at: 3, duration: 6, kind: partition,
     groups: [[{NAMES[minority]}], [{NAMES[majority[0]]}, {NAMES[majority[1]]}]]}}
""",
        "split",
    )
    try:
        poll(lambda: q.partitioned(minority), timeout=60, what="the partition")
        # while it lasts (the agents' rules are on): etcdctl from the host namespace
        assert all(q.put(i, f"during/{i}") for i in majority)
        assert not q.put(minority, "during/minority", timeout=1.5)
        assert q.partitioned(minority), "the partition ended while the writes were checked"
    finally:
        rep = finish_json(proc)
    # healed at the deadline: the minority member writes again
    assert not q.partitioned(minority)
    poll(lambda: q.put(minority, "after/minority"), timeout=60, what="minority writes")

    (etcd,) = [g for g in rep["groups"] if g["group"] == "etcd"]
    assert etcd["check"] == "etcd-put"
    assert etcd["measured_available"] is True and etcd["predicted_available"] is True
    assert etcd["agree"] is True and rep["agree"] is True
    members = {m["node"]: m for m in etcd["members"]}
    assert set(members) == set(NAMES)
    run = rep["run"]
    start = min(f["start_unix"] for f in run["faults"]) - run["t0_unix"]
    end = max(f["end_unix"] for f in run["faults"]) - run["t0_unix"]
    cut = members[NAMES[minority]]
    assert cut["serving"] is False and cut["predicted_serving"] is False and cut["agree"] is True
    assert cut["predicted_out"] == [[3.0, 9.0]]
    # it failed only once the partition was on, and served again after its end
    assert cut["first_failed_s"] >= start - 0.5
    assert cut["recovered_s"] is not None and cut["recovered_s"] >= end - 0.5
    assert cut["results"][0] is True and cut["results"][-1] is True
    for i in majority:
        m = members[NAMES[i]]
        assert m["checks"] > 0 and m["failed"] == 0, m
        assert m["predicted_serving"] is True and m["agree"] is True
    # the twin's own verdict for the same scenario and cluster.yaml
    twin = rep["predicted"]["faults"][0]["groups"]
    assert twin == [
        {
            "group": "etcd",
            "tolerates": 1,
            "worst_lost": 1,
            "ok": True,
            "members": NAMES,
            "cut_off": [NAMES[minority]],
        }
    ]
    from microrack.chaos import report_text

    text = report_text(rep)
    assert "group etcd (etcd-put): measured available; twin available  agree" in text
    line = next(x for x in text.splitlines() if x.startswith(f"    {NAMES[minority]}:"))
    assert "failed" in line and "recovered" in line and line.endswith("twin: cut off")
    page = (q.tmp / "split.html").read_text()
    assert "plotly" in page and NAMES[minority] in page and "cut off" in page


def test_three_way_split_loses_quorum_on_the_cluster_and_in_the_twin(quorum: Quorum) -> None:
    q = quorum
    proc = _run(
        q,
        """
name: shatter
duration: 12
faults:
  - {at: 2, duration: 5, kind: partition, groups: [[e0], [e1], [e2]]}
""",
        "shatter",
    )
    try:
        poll(lambda: all(q.partitioned(i) for i in range(3)), timeout=60, what="the partition")
        assert not any(q.put(i, f"during/{i}", timeout=1.5) for i in range(3))
    finally:
        rep = finish_json(proc)
    poll(lambda: all(q.put(i, "after") for i in range(3)), timeout=60, what="writes after heal")
    (etcd,) = [g for g in rep["groups"] if g["group"] == "etcd"]
    assert etcd["measured_available"] is False and etcd["predicted_available"] is False
    assert etcd["agree"] is True
    assert all(m["serving"] is False and m["predicted_serving"] is False for m in etcd["members"])
    assert all(m["recovered_s"] is not None for m in etcd["members"])


def test_a_cut_leader_costs_an_election_that_the_grace_forgives(quorum: Quorum) -> None:
    q = quorum
    doc = yaml.safe_load(q.spec.read_text())
    # etcd's election timeout is 1 s here: a majority member's outage of a few
    # seconds is the election, not a lost quorum
    doc["services"]["health"]["etcd"]["grace_s"] = 4
    q.spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    leader = q.leader()
    assert leader is not None
    rest = [i for i in range(3) if i != leader]
    proc = _run(
        q,
        f"""
name: behead
duration: 14
faults:
  - {{at: 3, duration: 7, kind: partition,
     groups: [[{NAMES[leader]}], [{NAMES[rest[0]]}, {NAMES[rest[1]]}]]}}
""",
        "behead",
    )
    try:
        poll(lambda: q.partitioned(leader), timeout=60, what="the partition")
        # the two left elect a leader of their own and take writes again
        poll(lambda: all(q.put(i, f"during/{i}") for i in rest), timeout=30, what="new leader")
        assert q.leader(ask=rest) in rest
        assert not q.put(leader, "during/old-leader", timeout=1.5)
    finally:
        rep = finish_json(proc)
    poll(lambda: q.put(leader, "after/old-leader"), timeout=60, what="old leader writes")
    (etcd,) = [g for g in rep["groups"] if g["group"] == "etcd"]
    members = {m["node"]: m for m in etcd["members"]}
    old = members[NAMES[leader]]
    assert old["serving"] is False and old["predicted_serving"] is False
    assert old["forgiven"] == 0 and old["recovered_s"] is not None
    for i in rest:
        m = members[NAMES[i]]
        assert m["serving"] is True and m["grace_s"] == 4, m  # any outage was the election
        assert all(b is not None and b - a <= 4 for a, b in m["outages"]), m
    assert etcd["measured_available"] is True and etcd["agree"] is True
