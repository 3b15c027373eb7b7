"""Failure tolerance, agent targets and ``microrack spec describe``."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import spec_cases
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_cases import base, write

from microrack.spec import agent_targets, failure_scenarios, load_spec, tolerance
from support import microrack_cmd

PI4 = spec_cases.EXAMPLES / "cluster-pi4-13.yaml"


def test_agent_targets_follow_the_spec(tmp_path: Path) -> None:
    data = base()
    data["nodes"][1]["agent_port"] = 9200
    spec = load_spec(write(tmp_path, data))
    assert agent_targets(spec) == [
        ("n1", "198.18.0.11", 9101),
        ("n2", "198.18.0.12", 9200),
        ("n3", "198.18.0.13", 9101),
    ]


def test_tolerance_of_the_thirteen_node_cluster() -> None:
    assert tolerance(load_spec(PI4)) == {
        "consul-server": 1,
        "vault-server": 1,
        "ceph-mon": 1,
        "control-plane": 1,
        "ceph-pool:rbd": 1,
        "nfs": 0,
    }


def test_five_members_tolerate_two(tmp_path: Path) -> None:
    data = base()
    for i in (4, 5):
        node = json.loads(json.dumps(data["nodes"][2]))
        node["name"] = f"n{i}"
        node["nics"][0].update(mac=f"02:00:00:00:00:0{i}", address=f"198.18.0.1{i}", port=i)
        data["nodes"].append(node)
    data["services"]["ceph"]["pools"].append({"name": "wide", "size": 5, "min_size": 2})
    t = tolerance(load_spec(write(tmp_path, data)))
    assert t["ceph-mon"] == 2 and t["control-plane"] == 2
    assert t["ceph-pool:rbd"] == 1 and t["ceph-pool:wide"] == 3


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=9))
def test_quorum_tolerance_matches_scenarios(n: int) -> None:
    """What ``tolerance`` claims agrees with walking every loss (majority rule)."""
    spec = load_spec(PI4)
    names = [f"pi-{i:02d}" for i in range(1, 13)][:n]
    nodes = [
        node.model_copy(update={"roles": ["consul-server"] if node.name in names else []})
        for node in spec.nodes
    ]
    spec = spec.model_copy(
        update={
            "nodes": nodes,
            "services": spec.services.model_copy(
                update={"ceph": None, "nfs": None, "workloads": []}
            ),
        }
    )
    f = tolerance(spec)["consul-server"]
    assert f == (n - 1) // 2
    checked = 0
    for sc in failure_scenarios(spec, 2):
        lost_members = len(set(sc.lost) & set(names))
        ok = {o.name: o.ok for o in sc.outcomes}["consul-server"]
        if lost_members == len(sc.lost):  # every lost node was a member: the worst case
            assert ok == (lost_members <= f), sc
            checked += 1
        assert ok == (n - lost_members >= n // 2 + 1), sc
    assert checked == n + len(list(itertools.combinations(names, 2)))


def test_scenarios_name_what_breaks() -> None:
    scenarios = {sc.lost: sc for sc in failure_scenarios(load_spec(PI4), 2)}
    assert len(scenarios) == 13 + 13 * 12 // 2
    nfs = {o.name: o for o in scenarios[("pi-07",)].outcomes}["nfs"]
    assert not nfs.ok
    assert scenarios[("pi-04",)].ok
    two_servers = {o.name: o.ok for o in scenarios[("pi-01", "pi-02")].outcomes}
    assert two_servers["consul-server"] is False and two_servers["workloads"] is True


def test_describe_cli(tmp_path: Path) -> None:
    r = subprocess.run(
        microrack_cmd("spec", "describe", "--json", str(PI4)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["nodes"]) == 13
    groups = {g["name"]: g for g in out["groups"]}
    assert groups["nfs"]["broken_by_one"] == [["pi-07"]]
    assert groups["consul-server"]["survives_any_one"] is True
    assert groups["consul-server"]["survives_any_two"] is False
    r = subprocess.run(
        microrack_cmd("spec", "describe", str(PI4)),
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    assert "gpu-01" in r.stdout and "What survives losing nodes" in r.stdout
    narrow = subprocess.run(
        microrack_cmd("spec", "describe", str(PI4)),
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )
    assert narrow.returncode == 0, narrow.stderr
    assert "…" not in narrow.stdout  # wrapped, not cut: every node of a loss stays readable


def test_switch_and_power_losses_are_scenarios() -> None:
    """pi-01 and pi-03 share switch sw-a: losing it costs the three-server groups quorum."""
    spec = load_spec(PI4)
    domains = {sc.cause: sc for sc in failure_scenarios(spec, 1, domains=True) if sc.cause}
    assert set(domains) == {
        "switch sw-a",
        "switch sw-b",
        "psu usb-pd-a",
        "psu usb-pd-b",
        "psu atx-gpu",
    }
    assert domains["switch sw-a"].lost == (
        "pi-01",
        "pi-03",
        "pi-05",
        "pi-07",
        "pi-09",
        "pi-11",
        "gpu-01",
    )
    sw_a = {o.name: o.ok for o in domains["switch sw-a"].outcomes}
    assert sw_a["consul-server"] is False and sw_a["nfs"] is False
    assert domains["psu atx-gpu"].ok


def test_single_control_plane_tolerates_nothing() -> None:
    spec = load_spec(spec_cases.EXAMPLES / "cluster-pi2-5.yaml")
    assert tolerance(spec) == {"control-plane": 0, "nfs": 0}
    lost_master = {sc.lost: sc for sc in failure_scenarios(spec, 1)}[("master",)]
    assert {o.name: o.ok for o in lost_master.outcomes} == {
        "control-plane": False,
        "nfs": False,
        "netboot": False,
    }
